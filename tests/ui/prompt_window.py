"""The approval window as users get it: nothing of the product's UI runs until a request
comes; the daemon (`--start-app tpm-passkey-prompt`, as the user unit runs it) starts the
GTK prompt window, which paints the request, takes the answer and exits once idle.

Read through AT-SPI (tests/ui/atspi_prompt.py, the accessibility bus GTK serves) inside a
private session bus, and answered as a person does: a click, or keys typed with xdotool
(XTEST) into the focused window. Requests come from python-fido2 over the socket transport.
Called by e2e.py after the app's walk; prints the figures docs/PERFORMANCE.md reports."""
import ctypes
import json
import os
import signal
import subprocess
import time
from pathlib import Path

from fido2.client import ClientError, DefaultClientDataCollector, Fido2Client
from fido2.server import Fido2Server
from fido2.webauthn import PublicKeyCredentialUserEntity, UserVerificationRequirement
from socket_hid import open_device

HERE = Path(__file__).resolve().parent
# The accessibility client needs PyGObject, which Debian ships for its own Python.
ATSPI_PYTHON = os.environ.get("ATSPI_PYTHON", "/usr/bin/python3")
# The approval window ignores Approve for this long after drawing a request (500 ms in the
# product; lengthened here so that the early Enter below is inside it on any machine).
ARM_MS = 4000
# What a hostile program could call itself (a process name is up to 15 bytes): the window
# must show it as these characters, not as Pango markup.
HOSTILE_NAME = "<b>py</b>&amp;"


def atspi(env, *args):
    out = subprocess.run([ATSPI_PYTHON, str(HERE / "atspi_prompt.py"), *args], env=env,
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, f"atspi {args}: {out.stderr.strip()}"
    return json.loads(out.stdout)


def keys(env, *steps):
    """Focuses the approval window and types: ("type", text) or ("key", name)."""
    found = subprocess.run(["xdotool", "search", "--name", "approve a request"], env=env,
                           capture_output=True, text=True, timeout=30)
    windows = found.stdout.split()
    assert windows, f"xdotool finds no approval window: {found.stderr}"
    subprocess.run(["xdotool", "windowfocus", "--sync", windows[-1]], env=env, check=True, timeout=30)
    for kind, what in steps:
        cmd = ["xdotool", "type", "--delay", "20", what] if kind == "type" else ["xdotool", "key", what]
        subprocess.run(cmd, env=env, check=True, timeout=30)


def prompt_window(args, tmp, shots, e2e):
    """Three requests, each starting the window cold: approved (a click without the PIN is
    refused; then the PIN typed and Enter), denied (Escape), and left to time out. Returns
    the painted figures (ms after the request)."""
    bus = subprocess.Popen(["dbus-daemon", "--session", "--nofork", "--print-address=1"],
                           stdout=subprocess.PIPE, text=True, start_new_session=True)
    address = bus.stdout.readline().strip()
    # The requests come from this process: it takes the hostile name (prctl PR_SET_NAME).
    libc = ctypes.CDLL(None)
    old_name = Path("/proc/self/comm").read_text().strip().encode()
    daemon = None
    try:
        daemon = e2e.ColdDaemon(args, tmp / "prompt", args.prompt, 8, {
            "DBUS_SESSION_BUS_ADDRESS": address, "TPM_PASSKEY_PROMPT_ARM_MS": str(ARM_MS)})
        env = daemon.env
        libc.prctl(15, HOSTILE_NAME.encode(), 0, 0, 0)
        server = Fido2Server(e2e.RP)
        creds = []

        def client():
            return Fido2Client(open_device(str(daemon.hid)),
                               client_data_collector=DefaultClientDataCollector("https://example.com"),
                               user_interaction=e2e.BuiltInUv())

        def register():
            options, state = server.register_begin(
                PublicKeyCredentialUserEntity(id=b"prompt-id", name="prompt", display_name="Prompt"),
                user_verification=UserVerificationRequirement.REQUIRED)
            result = client().make_credential(options.public_key)
            return server.register_complete(state, result).credential_data

        def sign_in():
            options, state = server.authenticate_begin(creds, user_verification=UserVerificationRequirement.REQUIRED)
            selection = client().get_assertion(options.public_key)
            return server.authenticate_complete(state, creds, selection.get_response(0))

        def window_pid():
            found = [p for p, n in e2e.descendants(daemon.pid).items() if n.startswith("tpm-passkey-pro")]
            return found[0] if found else None

        def round_(n, ceremony):
            left = daemon.extras()
            assert not left, f"something besides the simulator runs before request {n}: {left}"
            job = e2e.Background(ceremony)
            fig = daemon.painted(n, "the window")
            painted_at = time.monotonic()
            shown = atspi(env, "read", "20")
            rss = e2e.rss_kb(window_pid() or 0) / 1024
            return job, shown, fig, rss, painted_at

        def armed(painted_at):
            """Waits out the arming delay of the request painted at `painted_at`."""
            time.sleep(max(0.0, painted_at + ARM_MS / 1000 + 0.2 - time.monotonic()))

        def exits_once_idle(what):
            daemon.only_the_simulator(15, f"the window did not exit once idle after {what}")

        figures = []
        # 1. A registration: the window says what is asked and who asks, in the daemon's
        # words; Approve without the PIN is refused in the window; with it, it goes through.
        job, shown, fig, rss, painted_at = round_(1, register)
        requested_by = f"Requested by {HOSTILE_NAME} (process {os.getpid()})"
        for want in ("Create a passkey for example.com", requested_by, "8 attempts left."):
            assert want in shown["labels"], f"{want!r} not shown: {shown}"
        assert shown["pin"] and shown["buttons"] == ["Deny", "Approve"], shown
        atspi(env, "shot", str(shots / "prompt-window-register.png"))
        # The PIN typed and Enter at once — as a person typing into another window when it
        # came up would: inside the arming delay, nothing is approved.
        keys(env, ("type", e2e.PIN), ("key", "Return"))
        early = time.monotonic() - painted_at
        assert early < ARM_MS / 1000 - 0.5, f"the early Enter came {early:.1f} s after the paint: too late to test"
        time.sleep(0.5)
        assert job.thread.is_alive(), f"Enter {early:.1f} s after the window came up approved the request"
        armed(painted_at)
        atspi(env, "pin", "")
        atspi(env, "press", "Approve")
        shown = atspi(env, "read")
        assert "Type your PIN to approve." in shown["labels"], shown
        atspi(env, "shot", str(shots / "prompt-window-no-pin.png"))
        assert job.thread.is_alive(), "approved without the PIN"
        keys(env, ("type", e2e.PIN), ("key", "Return"))
        cred, err = job.result(timeout=60)
        assert err is None, f"the approved registration failed: {err!r}"
        creds.append(cred)
        figures.append((*fig, rss))
        exits_once_idle("an approval")
        # 2. A sign-in, denied with Escape (the PIN typed first goes nowhere).
        job, shown, fig, rss, _ = round_(2, sign_in)
        assert requested_by in shown["labels"] and shown["pin"], shown
        atspi(env, "pin", e2e.PIN)
        keys(env, ("key", "Escape"))
        _, err = job.result(timeout=60)
        assert isinstance(err, ClientError) and "DENIED" in repr(err), f"a denial, not {err!r}"
        figures.append((*fig, rss))
        exits_once_idle("a denial")
        # 3. Nobody answers: the request times out, the window goes with it.
        job, shown, fig, rss, _ = round_(3, sign_in)
        _, err = job.result(timeout=60)
        assert isinstance(err, ClientError) and "TIMEOUT" in repr(err), f"a timeout, not {err!r}"
        figures.append((*fig, rss))
        exits_once_idle("a timeout")
        # Idle: the product's wake-ups over 5 s (daemon and simulator, every thread).
        woke, woken = e2e.idle_wakeups(daemon.pid)
        idle_rss = daemon.rss_mb()
        for n, (asked, sent, rss) in enumerate(figures, 1):
            print(f"prompt window {n}: painted {asked} ms after the request ({sent} ms after the daemon "
                  f"sent it); the window {rss:.1f} MB RSS while shown")
        print(f"idle, no window: daemon + simulator {idle_rss:.1f} MB RSS, {woke} context switches in 5 s")
        assert woke == 0, f"the idle product woke {woke} times in 5 s: {woken}"
        (shots / "prompt-window.txt").write_text(
            "".join(f"{a} {s} {r:.1f}\n" for a, s, r in figures) + f"idle {idle_rss:.1f} MB {woke} switches\n")
        return figures
    finally:
        libc.prctl(15, old_name, 0, 0, 0)
        if daemon is not None:
            daemon.stop()
        os.killpg(bus.pid, signal.SIGTERM)
        bus.wait(10)
