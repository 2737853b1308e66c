#!/usr/bin/env python3
"""The app end to end, in a real WebKitGTK window driven through tauri-driver and
WebKitWebDriver (run under Xvfb), against the real daemon on its own swtpm. python-fido2
is the FIDO client, over the daemon's socket transport.

    e2e.py --app target/debug/tpm-passkey-app --daemon target/debug/tpm-passkey --shots DIR

Walks: the enrolment wizard (TPM facts, PIN), a registration approved with the PIN, a
sign-in with a wrong then the right PIN, a denied sign-in, a sign-in left to time out, the
Activity log, and deleting the passkey. Each step saves DIR/NN-name.png. Then, with the app
not running, three prompts that make the daemon start it (the cold-start latency), after
each of which it exits once idle. Any mismatch raises (non-zero exit).
"""
import argparse
import json
import re
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from selenium import webdriver
from selenium.common.exceptions import StaleElementReferenceException, TimeoutException
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import WebDriverWait

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "python"))
from fido2.client import ClientError, DefaultClientDataCollector, Fido2Client, UserInteraction  # noqa: E402
from fido2.server import Fido2Server  # noqa: E402
from fido2.webauthn import (  # noqa: E402
    PublicKeyCredentialRpEntity, PublicKeyCredentialUserEntity, ResidentKeyRequirement,
    UserVerificationRequirement)
from socket_hid import open_device  # noqa: E402
from prompt_window import prompt_window  # noqa: E402

PIN = "246810"
PROMPT_TIMEOUT = 10
RP = PublicKeyCredentialRpEntity(id="example.com", name="Example")


class BuiltInUv(UserInteraction):
    def request_uv(self, permissions, rp_id):
        return True


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Background:
    """Runs a FIDO ceremony in a thread; .result() is its value or its exception."""

    def __init__(self, fn):
        self.value, self.error = None, None
        self.thread = threading.Thread(target=self._run, args=(fn,), daemon=True)
        self.thread.start()

    def _run(self, fn):
        try:
            self.value = fn()
        except Exception as e:  # the test inspects it
            self.error = e

    def result(self, timeout=60):
        self.thread.join(timeout)
        assert not self.thread.is_alive(), "the FIDO client is still waiting"
        return self.value, self.error


class E2E:
    def __init__(self, args):
        self.args = args
        self.tmp = Path(tempfile.mkdtemp(prefix="tpm-passkey-ui-"))
        self.shots = Path(args.shots)
        self.shots.mkdir(parents=True, exist_ok=True)
        self.n = 0
        self.control = self.tmp / "control.sock"
        self.hid = self.tmp / "hid.sock"
        self.procs = []
        self.server = Fido2Server(RP)
        self.creds = []

    # --- processes -------------------------------------------------------------------
    def start(self):
        self.daemon = subprocess.Popen(
            [self.args.daemon, "daemon", "--simulator", "--state-dir", str(self.tmp / "state"),
             "--control", str(self.control), "--hid", f"socket:{self.hid}",
             "--prompt-timeout-secs", str(PROMPT_TIMEOUT)],
            stdout=open(self.tmp / "daemon.log", "w"), stderr=subprocess.STDOUT)
        self.procs.append(self.daemon)
        for _ in range(150):
            if self.control.exists() and self.hid.exists():
                break
            time.sleep(0.2)
        else:
            raise RuntimeError("the daemon did not start: " + (self.tmp / "daemon.log").read_text())
        (self.tmp / "home").mkdir()
        self.open_window({})

    def agent_pid(self):
        """The connected approval agent's pid, from the daemon's status."""
        out = subprocess.run([self.args.daemon, "status", "--json", "--control", str(self.control)],
                             capture_output=True, text=True, timeout=30)
        info = json.loads(out.stdout).get("agent_info") or {}
        return info.get("pid")

    def wait_gone(self, pid, patience=10):
        """Waits until process `pid` has exited and the daemon has let its agent slot go."""
        if pid is None:
            return
        deadline = time.monotonic() + patience
        while time.monotonic() < deadline and Path(f"/proc/{pid}").exists():
            time.sleep(0.1)
        if Path(f"/proc/{pid}").exists():
            os.kill(pid, 15)
        deadline = time.monotonic() + patience
        while time.monotonic() < deadline and self.agent_pid() == pid:
            time.sleep(0.1)
        assert self.agent_pid() != pid, "the old app still holds the approval agent slot"

    def open_window(self, extra_env):
        """A fresh app window through a tauri-driver of its own (`extra_env` reaches the app)."""
        port = free_port()
        env = dict(os.environ, TPM_PASSKEY_CONTROL=str(self.control), TPM_PASSKEY_NO_DAEMON_START="1",
                   XDG_CONFIG_HOME=str(self.tmp / "config"), HOME=str(self.tmp / "home"), **extra_env)
        driver = subprocess.Popen([self.args.tauri_driver, "--port", str(port), "--native-port", str(free_port())], env=env,
                                  stdout=open(self.tmp / "driver.log", "w"), stderr=subprocess.STDOUT)
        self.procs.append(driver)
        caps = {"browserName": "wry", "tauri:options": {"application": self.args.app}}
        for _ in range(100):
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                    break
            except OSError:
                time.sleep(0.1)
        opts = webdriver.common.options.ArgOptions()
        for k, v in caps.items():
            opts.set_capability(k, v)
        for attempt in range(3):  # WebKitWebDriver may still be coming up
            try:
                self.web = webdriver.Remote(command_executor=f"http://127.0.0.1:{port}", options=opts)
                break
            except Exception:
                if attempt == 2:
                    raise
                time.sleep(1)
        self.web.set_window_size(920, 660)

    def stop(self):
        try:
            self.web.quit()
        except Exception:
            pass
        for p in reversed(self.procs):
            p.terminate()
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()

    # --- helpers ---------------------------------------------------------------------
    def shot(self, name):
        self.n += 1
        time.sleep(0.3)  # let transitions settle
        self.web.save_screenshot(str(self.shots / f"{self.n:02d}-{name}.png"))

    def wait(self, timeout):
        # Views re-render by replacing their nodes: a stale node means "look again".
        return WebDriverWait(self.web, timeout, ignored_exceptions=(StaleElementReferenceException,))

    def el(self, css, timeout=15):
        return self.wait(timeout).until(
            lambda d: next((e for e in d.find_elements(By.CSS_SELECTOR, css) if e.is_displayed()), None),
            f"no visible {css}")

    def text_of(self, css, want, timeout=15, job=None):
        try:
            self.wait(timeout).until(
                lambda d: (job and job.error and self.fail(job.error)) or want in self.inner_text(css))
        except TimeoutException:
            shown = [self.web.execute_script("return arguments[0].innerText", e)
                     for e in self.web.find_elements(By.CSS_SELECTOR, css)]
            raise AssertionError(f"{css}: wanted {want!r}, shows {shown!r}")

    def inner_text(self, css):
        # innerText, as the user reads it (WebKitWebDriver's element text drops some
        # ellipsised blocks).
        return self.web.execute_script("return arguments[0].innerText", self.el(css))

    @staticmethod
    def fail(error):
        raise AssertionError(f"the FIDO client failed first: {error!r}")

    def gone(self, css, timeout=30):
        self.wait(timeout).until(
            lambda d: not any(e.is_displayed() for e in d.find_elements(By.CSS_SELECTOR, css)), f"{css} stays")

    def client(self):
        return Fido2Client(open_device(str(self.hid)),
                           client_data_collector=DefaultClientDataCollector("https://example.com"),
                           user_interaction=BuiltInUv())

    def register(self, user=(b"alice-id", "alice", "Alice")):
        options, state = self.server.register_begin(
            PublicKeyCredentialUserEntity(id=user[0], name=user[1], display_name=user[2]),
            resident_key_requirement=ResidentKeyRequirement.REQUIRED,
            user_verification=UserVerificationRequirement.REQUIRED)
        result = self.client().make_credential(options.public_key)
        return self.server.register_complete(state, result).credential_data

    def sign_in(self):
        options, state = self.server.authenticate_begin(self.creds, user_verification=UserVerificationRequirement.REQUIRED)
        selection = self.client().get_assertion(options.public_key)
        return self.server.authenticate_complete(state, self.creds, selection.get_response(0))

    def discoverable_sign_in(self):
        """A sign-in without an allowList: which account, and whether the authenticator
        says the person chose it (userSelected)."""
        options, state = self.server.authenticate_begin(None, user_verification=UserVerificationRequirement.REQUIRED)
        selection = self.client().get_assertion(options.public_key)
        first = selection.get_assertions()[0]
        return selection.get_response(0).response.user_handle, first.user_selected

    def cli(self, *args):
        return subprocess.run([self.args.daemon, *args, "--control", str(self.control)],
                              capture_output=True, text=True, timeout=60)

    # --- the walk --------------------------------------------------------------------
    def run(self):
        # Enrolment wizard.
        self.text_of("#wizard-title", "Welcome to tpm-passkey")
        self.text_of("#wizard-tpm", "Simulated")
        # The TPM path in the daemon's words (issue 20): the private embedded simulator.
        self.text_of("#wizard-path", "embedded simulator, reachable only through this daemon")
        self.text_of("#view-wizard", "IBM")
        self.text_of("#state-pill", "Simulated TPM")
        self.shot("wizard-tpm")
        self.el("#wizard-next").click()
        self.el("#wizard-pin").send_keys("12")
        self.el("#wizard-pin2").send_keys("12")
        self.el("#wizard-set-pin").click()
        self.text_of("#pin-error", "at least 4")
        self.el("#wizard-pin").clear()
        self.el("#wizard-pin").send_keys(PIN)
        self.el("#wizard-pin2").clear()
        self.el("#wizard-pin2").send_keys(PIN)
        self.shot("wizard-pin")
        self.el("#wizard-set-pin").click()
        self.text_of("#wizard-title", "You're ready")
        # The built-in test site: two prompts (register, sign in), each with the PIN.
        self.el("#wizard-try").click()
        self.text_of("#prompt-title", "Create a passkey for tpm-passkey.test")
        self.text_of("#prompt-client", "tpm-passkey test sign-in")
        self.el("#prompt-pin").send_keys(PIN, Keys.ENTER)
        self.text_of("#prompt-title", "Sign in to tpm-passkey.test")
        self.el("#prompt-pin").send_keys(PIN, Keys.ENTER)
        self.text_of("#wizard-try-result", "It works")
        self.shot("wizard-ready")
        self.el("#wizard-done").click()
        self.text_of("#passkeys-empty", "No passkeys yet")
        self.shot("passkeys-empty")

        # A registration, approved with the PIN.
        reg = Background(self.register)
        self.text_of("#prompt-title", "Create a passkey for example.com", job=reg)
        self.text_of("#prompt-client", "Requested by python")
        # Enter with an empty PIN field does not approve.
        self.el("#prompt-pin").send_keys(Keys.ENTER)
        self.text_of("#prompt-pin-note", "Type your PIN to approve")
        self.el("#prompt-pin").send_keys(PIN)
        latency = self.el("#prompt-layer").get_attribute("data-latency-ms")
        print(f"prompt display latency (daemon sent → frame shown): {latency} ms")
        (self.shots / "prompt-latency-ms.txt").write_text(f"{latency}\n")
        self.shot("prompt-register")
        self.el("#prompt-pin").send_keys(Keys.ENTER)
        cred, err = reg.result()
        assert err is None, f"registration failed: {err!r}"
        self.creds.append(cred)
        self.gone("#prompt-layer")

        # A sign-in: wrong PIN first (the TPM counts it), then the right one.
        sign = Background(self.sign_in)
        self.text_of("#prompt-title", "Sign in to example.com", job=sign)
        self.el("#prompt-pin").send_keys("999999", Keys.ENTER)
        self.text_of("#prompt-pin-note", "Wrong PIN. 7 attempts left")
        self.shot("prompt-wrong-pin")
        self.el("#prompt-pin").send_keys(PIN, Keys.ENTER)
        value, err = sign.result()
        assert err is None and value is not None, f"sign-in failed: {err!r}"
        self.gone("#prompt-layer")

        # A denied sign-in: the client hears NOT_ALLOWED.
        deny = Background(self.sign_in)
        self.text_of("#prompt-title", "Sign in to example.com")
        self.shot("prompt-sign-in")
        self.el("#prompt-deny").click()
        _, err = deny.result()
        assert isinstance(err, ClientError), f"a denied sign-in must fail: {err!r}"
        self.gone("#prompt-layer")

        # A sign-in nobody answers: it times out and the prompt goes away by itself.
        late = Background(self.sign_in)
        self.text_of("#prompt-time", "s left to answer")
        self.gone("#prompt-layer", timeout=PROMPT_TIMEOUT + 10)
        _, err = late.result()
        assert isinstance(err, ClientError), f"an unanswered sign-in must fail: {err!r}"

        # Two accounts for the site: a discoverable sign-in lists both in the prompt, the
        # person picks one, and the site gets exactly that one. (Without userSelected: this
        # client is python3, and the daemon sends it only to the Chromium family, which then
        # skips its own chooser — issue 24.)
        bob = Background(lambda: self.register((b"bob-id", "bob", "Bob")))
        self.text_of("#prompt-title", "Create a passkey for example.com", job=bob)
        self.el("#prompt-pin").send_keys(PIN, Keys.ENTER)
        _, err = bob.result()
        assert err is None, f"registration failed: {err!r}"
        self.gone("#prompt-layer")
        pick = Background(self.discoverable_sign_in)
        self.text_of("#prompt-detail", "Choose the account", job=pick)
        self.text_of("#prompt-accounts", "alice (Alice)")
        self.el("#prompt-account-1").click()  # listed second: alice (bob is the newest)
        self.el("#prompt-pin").send_keys(PIN)
        self.shot("prompt-choose-account")
        self.el("#prompt-pin").send_keys(Keys.ENTER)
        (handle, selected), err = pick.result()
        assert err is None and handle == b"alice-id" and not selected, (handle, selected, err)
        self.gone("#prompt-layer")
        # Bob leaves again, so that the passkey list below holds alice alone.
        listed = json.loads(self.cli("list", "--json").stdout)
        bob_id = next(p["id"] for p in listed if p["user_name"] == "bob")
        pin_file = self.tmp / "pin"
        pin_file.write_text(PIN + "\n")
        gone = self.cli("delete", bob_id, "--pin-file", str(pin_file))
        assert gone.returncode == 0, gone.stderr

        # Activity: each of them, with the application that asked.
        self.el("#tab-activity").click()
        self.text_of("#activity-integrity", "The log is intact")
        for sel in ['tr[data-event="register"][data-outcome="ok"]',
                    'tr[data-event="sign_in"][data-outcome="ok"]',
                    'tr[data-outcome="wrong_pin"]',
                    'tr[data-event="sign_in"][data-outcome="denied"]',
                    'tr[data-event="sign_in"][data-outcome="timeout"]']:
            self.el(sel)
        self.text_of("#activity-table", "python")
        self.shot("activity")
        Select = webdriver.support.select.Select
        Select(self.el("#activity-filter")).select_by_value("refused")
        rows = self.web.find_elements(By.CSS_SELECTOR, "#activity-table tbody tr")
        assert {r.get_attribute("data-outcome") for r in rows} == {"denied", "timeout"}, [r.text for r in rows]
        self.shot("activity-refused")

        # Passkeys: listed by site; deleted with confirmation and the PIN.
        self.el("#tab-passkeys").click()
        self.text_of("#passkey-list", "example.com")
        self.text_of("#passkey-list", "Alice")
        self.shot("passkeys")
        self.el("#passkey-list .cred button").click()
        self.text_of("#confirm-title", "Delete this passkey?")
        self.el("#confirm-pin").send_keys(PIN)
        self.shot("passkey-delete")
        self.el("#confirm-ok").click()
        self.text_of("#passkeys-empty", "No passkeys yet")

        # Settings, as a user finds them; a site rule that blocks example.com.
        self.el("#tab-settings").click()
        self.el("#always-uv")
        assert self.el("#always-uv").is_selected()
        self.shot("settings")
        # Prompt limits: the defaults are shown, and a stricter limit saves without the PIN.
        self.text_of("#limits-summary", "After 4 prompts for one site")
        self.text_of("#cooldowns", "No cool-down in force")
        self.web.execute_script("document.getElementById('limits-save').scrollIntoView({block: 'center'})")
        self.el("#limits-per-site").clear()
        self.el("#limits-per-site").send_keys("3")
        self.el("#limits-save").click()
        self.text_of("#limits-summary", "After 3 prompts for one site")
        # Step-up by risk: with "Always require PIN" on it has nothing to add, and says so.
        self.text_of("#stepup-summary", "Every passkey already needs your PIN")
        # Attestation: not enrolled on this TPM, so self-attestation and the switch is off.
        self.text_of("#attestation-state", "Not enrolled")
        assert not self.el("#attestation-on").is_enabled(), "no switch without a certificate"
        self.web.execute_script("document.getElementById('attestation-state').scrollIntoView({block: 'center'})")
        self.shot("settings-attestation")
        self.el("#rule-site").send_keys("example.com")
        Select(self.el("#rule-kind")).select_by_value("block")
        self.el("#rule-add").click()
        self.text_of("#site-rules", "Blocked")
        self.web.execute_script("document.getElementById('site-rules').scrollIntoView({block: 'center'})")
        self.shot("settings-site-rule")
        # The blocked site is refused at once, without a prompt.
        blocked = Background(self.register)
        _, err = blocked.result(timeout=20)
        assert isinstance(err, ClientError), f"a blocked site must be refused: {err!r}"
        assert not self.el("#main").find_elements(By.CSS_SELECTOR, "#prompt-layer:not([hidden])")
        self.el("#tab-activity").click()
        # Audited as the registration it was, refused because of the site.
        self.el('tr[data-event="register"][data-outcome="blocked_site"]')

        # One trusted approval path: another program asking to be the agent is refused,
        # and the app says so (the attempt is in the activity log).
        other = subprocess.run([self.args.daemon, "agent", "--approve-all", "--control", str(self.control)],
                               capture_output=True, text=True, timeout=30)
        assert other.returncode != 0 and "another approval agent is connected" in other.stderr, other.stderr
        self.text_of("#banner-agent", "tried to take over approvals and was refused")
        self.shot("agent-contested")
        self.el("#tab-passkeys").click()
        self.el("#tab-activity").click()
        self.el('tr[data-event="agent_refused"][data-outcome="denied"]')

    def dark(self):
        """The same app with the desktop in dark mode (GTK_THEME=Adwaita:dark): WebKitGTK
        reports prefers-color-scheme: dark and the CSS follows."""
        old_app = self.agent_pid()
        self.web.quit()
        self.procs.pop().terminate()
        # The next window's app becomes the approval agent only once this one has gone: the
        # daemon keeps the slot while its connection lives (closing a window may leave a
        # slow app behind on a loaded machine), so wait for it, then end it if need be.
        self.wait_gone(old_app)
        self.open_window({"GTK_THEME": "Adwaita:dark"})
        self.text_of("#state-pill", "Simulated TPM")
        assert self.web.execute_script("return matchMedia('(prefers-color-scheme: dark)').matches"), \
            "the window did not follow the dark desktop theme"
        self.el("#tab-activity").click()
        self.el('tr[data-outcome="blocked_site"]')
        self.shot("dark-activity")
        # The built-in test sign-in from the CLI: a prompt in dark mode.
        cli = subprocess.Popen([self.args.daemon, "test-sign-in", "--control", str(self.control)],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self.text_of("#prompt-title", "Create a passkey for tpm-passkey.test")
        self.el("#prompt-pin").send_keys(PIN)
        self.shot("dark-prompt")
        self.el("#prompt-pin").send_keys(Keys.ENTER)
        self.text_of("#prompt-title", "Sign in to tpm-passkey.test")
        self.el("#prompt-pin").send_keys(PIN, Keys.ENTER)
        out, _ = cli.communicate(timeout=60)
        assert cli.returncode == 0 and "test sign-in passed" in out, out
        # Escape denies: the requester hears that it was not approved.
        cli = subprocess.Popen([self.args.daemon, "test-sign-in", "--control", str(self.control)],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self.text_of("#prompt-title", "Create a passkey for tpm-passkey.test")
        self.el("#prompt-pin").send_keys(Keys.ESCAPE)
        out, _ = cli.communicate(timeout=60)
        assert cli.returncode != 0 and "not approved" in out, out
        self.gone("#prompt-layer")
        # …as a denial, not a timeout.
        self.el("#tab-passkeys").click()
        self.el("#tab-activity").click()
        self.el('tr[data-rp="tpm-passkey.test"][data-event="register"][data-outcome="denied"]')

    def forgot_pin(self):
        """Settings → "I forgot my PIN": the typed words erase everything without the PIN,
        and the wizard greets the user again."""
        self.el("#tab-settings").click()
        self.el("#reset-forgot").click()
        self.text_of("#confirm-title", "Forgot your PIN?")
        assert not self.el("#confirm-phrase").get_attribute("value")
        self.el("#confirm-phrase").send_keys("erase all passkeys")
        self.shot("forgot-pin")
        self.el("#confirm-ok").click()
        self.text_of("#wizard-title", "Welcome to tpm-passkey")


def descendants(pid):
    """Every process below `pid` (children, their children …), as {pid: name}."""
    parents = {}
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                stat = (d / "stat").read_text()
                name = stat[stat.index("(") + 1:stat.rindex(")")]
                parents[int(d.name)] = (int(stat[stat.rindex(")") + 2:].split()[1]), name)
            except (OSError, ValueError):
                pass
    found, frontier = {}, {pid}
    while frontier:
        frontier = {p for p, (pp, _) in parents.items() if pp in frontier and p not in found}
        found.update({p: parents[p][1] for p in frontier})
    return found


def rss_kb(pid):
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def thread_switches(pid):
    """Context switches so far of each thread of `pid`, as {"name (tid)": count}."""
    out = {}
    try:
        tasks = list(Path(f"/proc/{pid}/task").iterdir())
    except OSError:
        return out  # the process is gone
    for t in tasks:
        try:
            status = (t / "status").read_text().splitlines()
            name = (t / "comm").read_text().strip()
        except OSError:
            continue  # a thread that just ended
        out[f"{name} ({t.name})"] = sum(int(line.split()[1]) for line in status
                                       if line.startswith(("voluntary_ctxt", "nonvoluntary_ctxt")))
    return out


def idle_wakeups(root, secs=5):
    """The wake-ups of `root` and every process below it over `secs`: (total, {thread: n})
    naming each thread that woke."""
    product = [root, *descendants(root)]
    first = {p: thread_switches(p) for p in product}
    time.sleep(secs)
    woken = {f"{p}/{t}": n - first[p].get(t, 0) for p in product
             for t, n in thread_switches(p).items() if n != first[p].get(t, 0)}
    return sum(woken.values()), woken


class ColdDaemon:
    """A daemon on its embedded simulator that starts `start_app` when a request finds no
    agent (as the user unit runs it), with a PIN set and nothing else running: where the
    cold-start measurements begin. `extra_env` reaches the daemon and what it starts; a
    GDK_GL of the test's own does not (what starts must choose as it does for users)."""

    PAINTED = re.compile(r"prompt painted since_asked_ms=(\d+) since_sent_ms=(\d+)")
    ANSI = re.compile(r"\x1b\[[0-9;]*m")

    def __init__(self, args, tmp, start_app, prompt_timeout_secs, extra_env=None):
        (tmp / "home").mkdir(parents=True)
        self.control, self.hid, self.log = tmp / "control.sock", tmp / "hid.sock", tmp / "daemon.log"
        self.env = dict(os.environ, TPM_PASSKEY_LOG="info", TPM_PASSKEY_NO_DAEMON_START="1",
                        XDG_CONFIG_HOME=str(tmp / "config"), HOME=str(tmp / "home"), **(extra_env or {}))
        self.env.pop("GDK_GL", None)
        self.proc = subprocess.Popen(
            [args.daemon, "daemon", "--simulator", "--state-dir", str(tmp / "state"),
             "--control", str(self.control), "--hid", f"socket:{self.hid}",
             "--prompt-timeout-secs", str(prompt_timeout_secs), "--start-app", start_app],
            env=self.env, stdout=open(self.log, "w"), stderr=subprocess.STDOUT)
        self.pid = self.proc.pid
        try:
            for _ in range(150):
                if self.control.exists() and self.hid.exists():
                    break
                time.sleep(0.2)
            pin = tmp / "pin"
            pin.write_text(PIN + "\n")
            subprocess.run([args.daemon, "pin", "set", "--new-pin-file", str(pin), "--control", str(self.control)],
                           check=True, capture_output=True, timeout=60, env=self.env)
        except BaseException:
            self.stop()
            raise

    def log_text(self):
        return self.ANSI.sub("", self.log.read_text())

    def painted(self, n, what):
        """(since_asked_ms, since_sent_ms) of the n-th prompt painted (1-based), waiting for it."""
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and len(self.PAINTED.findall(self.log_text())) < n:
            time.sleep(0.05)
        found = self.PAINTED.findall(self.log_text())
        assert len(found) >= n, f"{what} never painted the prompt:\n" + self.log_text()[-3000:]
        return tuple(map(int, found[n - 1]))

    def extras(self):
        """What runs below the daemon besides its simulator."""
        return {p: n for p, n in descendants(self.pid).items() if n != "swtpm"}

    def only_the_simulator(self, patience, what):
        """Waits until nothing but the simulator runs below the daemon."""
        deadline = time.monotonic() + patience
        while self.extras() and time.monotonic() < deadline:
            time.sleep(0.2)
        left = self.extras()
        assert not left, f"{what}: {left}"

    def rss_mb(self):
        """The daemon's and everything's below it."""
        return sum(rss_kb(p) for p in [self.pid, *descendants(self.pid)]) / 1024

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def cold_start(args, tmp, shots, rounds=3):
    """The app is not resident: a daemon with `--start-app tpm-passkey-app` starts it,
    hidden, for each prompt (the user unit starts the approval window instead:
    prompt_window.py; the app's cold start is still measured). The window paints the prompt
    and reports how long after the request (`prompt painted since_asked_ms=…` in the app's log: no WebDriver
    reaches an app the daemon started); nobody answers, the prompt times out, the window
    hides and the app exits once idle with its WebKit processes, leaving the daemon and its
    simulator. Returns the figures; raises if the app or a WebKit process stays."""
    daemon = ColdDaemon(args, tmp / "cold", args.app, 5, {"TPM_PASSKEY_APP_IDLE_EXIT_SECS": "2"})
    try:
        server = Fido2Server(RP)

        def register():
            options, _ = server.register_begin(
                PublicKeyCredentialUserEntity(id=b"cold-id", name="cold", display_name="Cold"),
                user_verification=UserVerificationRequirement.REQUIRED)
            client = Fido2Client(open_device(str(daemon.hid)),
                                 client_data_collector=DefaultClientDataCollector("https://example.com"),
                                 user_interaction=BuiltInUv())
            return client.make_credential(options.public_key)

        figures = []
        for i in range(rounds):
            before = daemon.extras()
            assert not before, f"something besides the simulator runs before round {i}: {before}"
            job = Background(register)
            since_asked, since_sent = daemon.painted(i + 1, "the started app")
            _, err = job.result(timeout=60)
            assert err is not None, "nobody answered, yet the registration went through"
            # The app exits once idle, its WebKit processes with it.
            daemon.only_the_simulator(30, "the app did not exit once idle")
            figures.append((since_asked, since_sent, daemon.rss_mb()))
        # Idle now: the product's wake-ups over 5 s (daemon and simulator, every thread).
        woke, woken = idle_wakeups(daemon.pid)
        for n, (asked, sent, rss) in enumerate(figures, 1):
            print(f"cold start {n}: prompt painted {asked} ms after the request ({sent} ms after the daemon sent it); "
                  f"idle afterwards: daemon + simulator {rss:.1f} MB RSS, no app")
        print(f"idle, no app: {woke} context switches in 5 s (daemon and simulator, all threads)")
        assert woke == 0, f"the idle product woke {woke} times in 5 s: {woken}"
        (shots / "cold-start.txt").write_text(
            "".join(f"{a} {s} {r:.1f}\n" for a, s, r in figures) + f"idle-switches-5s {woke}\n")
        return figures
    finally:
        daemon.stop()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--app", required=True)
    ap.add_argument("--daemon", required=True)
    ap.add_argument("--only-prompt", action="store_true", help="run only the prompt window's part")
    ap.add_argument("--prompt", help="the prompt window (default: tpm-passkey-prompt beside --app)")
    ap.add_argument("--shots", required=True)
    ap.add_argument("--tauri-driver", default=shutil.which("tauri-driver") or os.path.expanduser("~/.cargo/bin/tauri-driver"))
    args = ap.parse_args()
    args.app, args.daemon = os.path.abspath(args.app), os.path.abspath(args.daemon)
    args.prompt = os.path.abspath(args.prompt or os.path.join(os.path.dirname(args.app), "tpm-passkey-prompt"))
    e = E2E(args)
    if args.only_prompt:
        prompt_window(args, e.tmp, e.shots, sys.modules[__name__])
        return
    try:
        e.start()
        e.run()
        e.dark()
        e.forgot_pin()
        e.stop()
        cold_start(args, e.tmp, e.shots)
        prompt_window(args, e.tmp, e.shots, sys.modules[__name__])
        print(f"ui e2e: passed; {e.n} screenshots in {e.shots}")
    except BaseException:
        for log in ("daemon.log", "driver.log", "cold/daemon.log", "prompt/daemon.log"):
            p = e.tmp / log
            if p.exists():
                print(f"--- {log}\n{p.read_text()[-4000:]}", file=sys.stderr)
        try:
            e.shot("failure")
        except Exception:
            pass
        raise
    finally:
        e.stop()


if __name__ == "__main__":
    main()
