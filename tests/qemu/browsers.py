#!/usr/bin/env python3
"""Real browsers against the daemon's virtual FIDO device, through the kernel's hidraw node
(run inside the qemu guest by tests/qemu/browsers.sh; standard library only).

Debian's Chromium (headless, driven over the DevTools protocol on a pipe) and Firefox ESR
(headless, driven over Marionette) each open tests/qemu/browser-page.html on
http://localhost (a secure context) as the desktop user, and through their own WebAuthn
stacks: register a discoverable credential with UV and PRF, are refused by the excludeList,
sign in with an allowList and discoverable (the page verifies every signature with
WebCrypto against the registered key), and evaluate PRF twice with one salt and once with
another. Each step prints one JSON line; the first failure exits 1 naming the step.

    browsers.py --page PAGE --as-user "setpriv ..." --home DIR [--only chromium|firefox]
"""
import argparse
import functools
import http.server
import json
import os
import queue
import shlex
import socket
import subprocess
import sys
import threading
import time

STRACE = False
PORT = 8000
URL = f"http://localhost:{PORT}/browser-page.html"
UP, UV, AT = 0x01, 0x04, 0x40


class Failed(Exception):
    pass


def serve(directory):
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=directory)
    handler.log_message = lambda *a: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", PORT), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


class Chromium:
    """Chromium with --remote-debugging-pipe: DevTools commands on its fd 3, answers on fd 4,
    each a JSON text ended by NUL."""

    def __init__(self, as_user, home, log):
        as_user = traced(as_user, log)
        to_browser_r, self.to_browser = os.pipe()
        self.from_browser, from_browser_w = os.pipe()

        def fds():
            os.dup2(to_browser_r, 3)
            os.dup2(from_browser_w, 4)

        profile = os.path.join(home, "chromium-profile")
        cmd = as_user + [
            "chromium", "--headless=new", "--no-sandbox", "--disable-gpu",
            "--disable-dev-shm-usage", "--no-first-run", "--no-default-browser-check",
            "--remote-debugging-pipe", f"--user-data-dir={profile}",
            # Its FIDO stack's own account of each request, for the failure report.
            "--enable-logging=stderr", "--vmodule=*/fido/*=2,*/webauthn/*=2", "about:blank",
        ]
        env = dict(os.environ, HOME=home)
        self.log = log.name
        self.proc = subprocess.Popen(cmd, preexec_fn=fds, close_fds=False, env=env,
                                     stdout=log, stderr=log)
        os.close(to_browser_r)
        os.close(from_browser_w)
        self.next_id = 0
        self.answers = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()
        self.session = None

    def _read(self):
        buf = b""
        while True:
            chunk = os.read(self.from_browser, 65536)
            if not chunk:
                self.answers.put(None)
                return
            buf += chunk
            while b"\0" in buf:
                msg, buf = buf.split(b"\0", 1)
                m = json.loads(msg)
                if "id" in m:
                    self.answers.put(m)

    def send(self, method, params=None, timeout=120):
        self.next_id += 1
        msg = {"id": self.next_id, "method": method, "params": params or {}}
        if self.session and not method.startswith("Target."):
            msg["sessionId"] = self.session
        os.write(self.to_browser, json.dumps(msg).encode() + b"\0")
        deadline = time.time() + timeout
        while True:
            try:
                m = self.answers.get(timeout=max(0.1, deadline - time.time()))
            except queue.Empty:
                raise Failed(f"chromium: no answer to {method}")
            if m is None:
                raise Failed("chromium exited")
            if m["id"] == self.next_id:
                if "error" in m:
                    raise Failed(f"chromium: {method}: {m['error']}")
                return m["result"]

    def log_text(self):
        with open(self.log, errors="replace") as f:
            return f.read()

    def evaluate(self, expression):
        r = self.send("Runtime.evaluate", {"expression": expression, "returnByValue": True,
                                           "awaitPromise": True, "userGesture": True})
        if "exceptionDetails" in r:
            raise Failed(f"chromium: {expression}: {r['exceptionDetails']}")
        return r["result"].get("value")

    def open(self, url):
        targets = self.send("Target.getTargets", timeout=180)["targetInfos"]
        page = next(t for t in targets if t["type"] == "page")
        self.session = self.send("Target.attachToTarget",
                                 {"targetId": page["targetId"], "flatten": True})["sessionId"]
        self.send("Emulation.setFocusEmulationEnabled", {"enabled": True})
        self.send("Page.navigate", {"url": url})
        wait_for(lambda: self.evaluate("document.readyState === 'complete' && !!window.go"))

    def start(self, op, args):
        # A user gesture: the click runs with a transient activation.
        self.evaluate(f"window.pending = {json.dumps([op, args])}; "
                      "document.getElementById('go').click(); true")

    def result(self):
        return self.evaluate("window.result")

    def close(self):
        try:
            self.send("Browser.close", timeout=10)
        except Failed:
            pass
        stop(self.proc)


class Firefox:
    """Firefox with Marionette: 'LENGTH:JSON' messages on a local TCP port; commands are
    [0, id, name, params], answers [1, id, error, result]."""

    MARIONETTE_PORT = 2828
    ELEMENT = "element-6066-11e4-a52e-4f735466cecf"

    def __init__(self, as_user, home, log):
        profile = os.path.join(home, "firefox-profile")
        os.makedirs(profile, exist_ok=True)
        with open(os.path.join(profile, "user.js"), "w") as f:
            for name, value in [
                ("marionette.port", self.MARIONETTE_PORT),
                ("browser.shell.checkDefaultBrowser", False),
                ("datareporting.policy.dataSubmissionEnabled", False),
                ("toolkit.telemetry.reportingpolicy.firstRun", False),
                ("app.update.disabledForTesting", True),
                ("browser.startup.homepage_override.mstone", "ignore"),
                # The security key only: no software token stands in for ours.
                ("security.webauth.webauthn_enable_softtoken", False),
                ("security.webauth.webauthn_enable_usbtoken", True),
            ]:
                f.write(f"user_pref({json.dumps(name)}, {json.dumps(value)});\n")
        owner = home_owner(home)
        for d, _, files in os.walk(profile):
            os.chown(d, *owner)
            for n in files:
                os.chown(os.path.join(d, n), *owner)
        cmd = traced(as_user, log) + ["firefox-esr", "--headless", "--marionette", "--no-remote",
                         "--profile", profile, "about:blank"]
        env = dict(os.environ, HOME=home, MOZ_HEADLESS="1")
        self.log = log.name
        self.proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=log)
        self.sock = None
        deadline = time.time() + 180
        while self.sock is None:
            try:
                self.sock = socket.create_connection(("127.0.0.1", self.MARIONETTE_PORT))
            except OSError:
                if time.time() > deadline or self.proc.poll() is not None:
                    raise Failed("firefox: Marionette did not start")
                time.sleep(0.5)
        self.sock.settimeout(180)
        self.buf = b""
        self._receive()  # the greeting
        self.next_id = 0
        self.send("WebDriver:NewSession", {"capabilities": {"alwaysMatch": {}}})

    def _receive(self):
        while b":" not in self.buf:
            self.buf += self._chunk()
        length, rest = self.buf.split(b":", 1)
        while len(rest) < int(length):
            rest += self._chunk()
        msg, self.buf = rest[: int(length)], rest[int(length):]
        return json.loads(msg)

    def _chunk(self):
        chunk = self.sock.recv(65536)
        if not chunk:
            raise Failed("firefox: Marionette closed")
        return chunk

    def send(self, name, params=None):
        self.next_id += 1
        body = json.dumps([0, self.next_id, name, params or {}]).encode()
        self.sock.sendall(str(len(body)).encode() + b":" + body)
        while True:
            m = self._receive()
            if m[0] == 1 and m[1] == self.next_id:
                if m[2]:
                    raise Failed(f"firefox: {name}: {m[2]}")
                return m[3]

    def log_text(self):
        with open(self.log, errors="replace") as f:
            return f.read()

    def script(self, body, args=()):
        return self.send("WebDriver:ExecuteScript", {"script": body, "args": list(args)})["value"]

    def open(self, url):
        self.send("WebDriver:Navigate", {"url": url})
        wait_for(lambda: self.script("return document.readyState === 'complete' && !!window.go"))

    def start(self, op, args):
        self.script("window.pending = arguments[0];", [[op, args]])
        element = self.send("WebDriver:FindElement", {"using": "css selector", "value": "#go"})
        # A real click (WebDriver's element click): the page gets a user activation.
        self.send("WebDriver:ElementClick", {"id": element["value"][self.ELEMENT]})

    def result(self):
        return self.script("return window.result;")

    def close(self):
        try:
            self.send("Marionette:Quit")
        except (Failed, OSError):
            pass
        stop(self.proc)


def traced(as_user, log):
    """With --strace: the browser under strace, its opens and ioctls in <browser>.strace
    (what it reads to find the FIDO device: sysfs files, udev's database, hidraw ioctls)."""
    if not STRACE:
        return as_user
    out = log.name.replace(".log", ".strace")
    return ["strace", "-f", "-qq", "-e", "trace=openat,ioctl", "-o", out] + as_user


def home_owner(home):
    st = os.stat(home)
    return st.st_uid, st.st_gid


def stop(proc):
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def wait_for(check, seconds=180):
    deadline = time.time() + seconds
    while time.time() < deadline:
        if check():
            return
        time.sleep(0.2)
    raise Failed("timed out")


def ceremony(browser, op, args, seconds=180):
    """One WebAuthn call through the page; its outcome ({ok: ...} or {error, message})."""
    browser.start(op, args)
    out = {}

    def done():
        out["r"] = browser.result()
        return out["r"] is not None

    wait_for(done, seconds)
    return out["r"]


def run(name, browser, keys, report):
    def step(label, op, args, check, seconds=180):
        t0 = time.time()
        r = ceremony(browser, op, args, seconds)
        line = {"browser": name, "step": label, "seconds": round(time.time() - t0, 2), "result": r}
        report(line)
        problem = check(r)
        if problem:
            raise Failed(f"{name} {label}: {problem}: {json.dumps(r)}")
        return r.get("ok")

    def need_ok(extra):
        return lambda r: ("error " + r.get("error", "?")) if "ok" not in r else extra(r["ok"])

    user = f"{name}-alice"
    browser.open(URL)

    def registered(ok):
        if ok["flags"] & (UP | UV | AT) != UP | UV | AT:
            return f"flags {ok['flags']:#x}: not UP, UV and AT"
        if ok["alg"] != -7:
            return "not ES256"
        if ok["rk"] is not True:
            return "credProps.rk is not true"
        if ok["prf"] is not True:
            return "prf.enabled is not true"
        return None

    reg = step("register (rk, uv, prf)", "register",
               {"name": user, "rk": True, "uv": True, "prf": True}, need_ok(registered))
    keys[reg["id"]] = reg["publicKey"]

    def excluded(r):
        # WebAuthn §6.3.2 step 3: CTAP2_ERR_CREDENTIAL_EXCLUDED becomes InvalidStateError.
        if r.get("error") == "InvalidStateError":
            return None
        # Chromium first shows its "already registered" sheet, which only a person closes;
        # headless, the page gives up instead. What the authenticator answered is then in
        # Chromium's FIDO log: CTAP2_ERR_CREDENTIAL_EXCLUDED (0x19 = 25).
        if r.get("error") == "AbortError" and "CTAP error response code 25" in browser.log_text():
            return None
        return "neither InvalidStateError nor the authenticator's CREDENTIAL_EXCLUDED"

    step("excludeList refuses a second registration", "register",
         {"name": user, "rk": True, "uv": True, "exclude": [reg["id"]],
          "timeout": 10000, "abortAfter": 20000}, excluded)

    def signed(expect_id):
        def check(ok):
            if not ok["verified"]:
                return "the signature does not verify"
            if ok["flags"] & (UP | UV) != UP | UV:
                return f"flags {ok['flags']:#x}: not UP and UV"
            if expect_id and ok["id"] != expect_id:
                return "another credential"
            return None
        return check

    step("sign in, allowList", "signIn", {"allow": [reg["id"]], "uv": True, "keys": keys},
         need_ok(signed(reg["id"])))

    def discoverable(ok):
        problem = signed(None)(ok)
        if problem:
            return problem
        # The chosen account's own user handle came back with it (WebAuthn §6.3.3 step 7).
        if not ok["userHandle"] or not ok["userHandle"].endswith("-alice"):
            return "no user handle"
        return None

    step("sign in, discoverable", "signIn", {"allow": [], "uv": True, "keys": keys},
         need_ok(discoverable))

    outputs = []

    def prf(ok):
        problem = signed(reg["id"])(ok)
        if problem:
            return problem
        if not ok["prf"]:
            return "no PRF output"
        outputs.append(ok["prf"])
        return None

    for salt in ["salt one", "salt one", "salt two"]:
        step(f"PRF ({salt})", "signIn",
             {"allow": [reg["id"]], "uv": True, "keys": keys, "prfSalt": salt}, need_ok(prf))
    if outputs[0] != outputs[1] or outputs[0] == outputs[2]:
        raise Failed(f"{name}: PRF is not a function of the salt: {outputs}")
    report({"browser": name, "step": "done", "credential": reg["id"]})


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--page", required=True, help="the directory holding browser-page.html")
    ap.add_argument("--as-user", required=True, help="the command prefix that runs as the desktop user")
    ap.add_argument("--home", required=True, help="the desktop user's home (profiles go there)")
    ap.add_argument("--logs", required=True, help="where each browser's own output goes")
    ap.add_argument("--only", choices=["chromium", "firefox"])
    ap.add_argument("--strace", action="store_true", help="record each browser's opens and ioctls")
    a = ap.parse_args()
    global STRACE
    STRACE = a.strace
    as_user = shlex.split(a.as_user)
    server = serve(a.page)
    keys = {}

    def report(line):
        print(json.dumps(line), flush=True)

    ok = True
    for name, kind in [("chromium", Chromium), ("firefox", Firefox)]:
        if a.only and a.only != name:
            continue
        with open(os.path.join(a.logs, f"{name}.log"), "w") as log:
            browser = None
            try:
                browser = kind(as_user, a.home, log)
                run(name, browser, keys, report)
            except Failed as e:
                report({"browser": name, "failed": str(e)})
                ok = False
                log.flush()
                print(f"--- the last lines of {name}'s own log", flush=True)
                with open(log.name, errors="replace") as f:
                    print("".join(f.readlines()[-60:]), flush=True)
            finally:
                if browser:
                    browser.close()
    server.shutdown()
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
