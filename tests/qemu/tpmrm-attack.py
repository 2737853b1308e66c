#!/usr/bin/env python3
"""Issue 20's E1, E2 and E3 against the daemon on the kernel's resource manager, played from
another open of /dev/tpmrm0 with raw TPM 2.0 commands (no TSS), inside the TPM guest.

The resource manager gives every open of /dev/tpmrm0 its own transient objects and
sessions, so another program should not be able to name the daemon's sessions at all: each
command naming one must be refused with TPM_RC_REFERENCE_H0 / _S0 (the TPM's "no such
session loaded"; the kernel context-saves the daemon's sessions between its commands). The
controls: the same commands on a session of the attacker's own are evaluated by the TPM
(PolicyGetDigest answers; a Sign through an unsatisfied session is a policy failure, not a
reference error), so a refusal is the resource manager's doing, not a broken attack.

    tpmrm-attack.py [--store store.sqlite] [--seconds N] [--label L]

With --store (the daemon's own account can read it) the attacker also re-derives the
daemon's root from the seed and loads the PIN-bound credential blobs, to sign through the
daemon's sessions (E1) and compute the with-UV hmac-secret (E2) — what worked on swtpm.
Without it (another account) it uses a signing key of its own. It repeats its round until
--seconds have passed and prints one line per finding: "ok …" or "FAIL …".
"""
import argparse
import os
import sqlite3
import struct
import sys
import time

DEV = "/dev/tpmrm0"
ST_NO_SESSIONS, ST_SESSIONS = 0x8001, 0x8002
TPM_RS_PW = 0x40000009
RH_OWNER, RH_NULL = 0x40000001, 0x40000007
CC = dict(GetCapability=0x17A, PolicyGetDigest=0x189, StartAuthSession=0x176,
          PolicyCommandCode=0x16C, NV_ChangeAuth=0x13B, CreatePrimary=0x131,
          Load=0x157, Sign=0x15D, HMAC=0x155, FlushContext=0x165)
REFERENCE_H0, REFERENCE_S0 = 0x910, 0x918
POLICY_FAIL_S0 = 0x99D


def tpm2b(b):
    return struct.pack(">H", len(b)) + b


class Tpm:
    def __init__(self):
        self.fd = os.open(DEV, os.O_RDWR)

    def call(self, cc, handles=(), params=b"", session=None):
        """The response code and the response bytes after the header."""
        body = b"".join(struct.pack(">I", h) for h in handles)
        if session is None:
            tag = ST_NO_SESSIONS
        else:
            handle, hmac = session
            nonce = b"" if handle == TPM_RS_PW else os.urandom(32)
            auth = struct.pack(">I", handle) + tpm2b(nonce) + bytes([0x01]) + tpm2b(hmac)
            body += struct.pack(">I", len(auth)) + auth
            tag = ST_SESSIONS
        body += params
        os.write(self.fd, struct.pack(">HII", tag, 10 + len(body), cc) + body)
        r = os.read(self.fd, 4096)
        return struct.unpack(">I", r[6:10])[0], r[10:]

    def handles(self, first):
        rc, r = self.call(CC["GetCapability"], params=struct.pack(">III", 1, first, 64))
        if rc:
            return []
        count = struct.unpack(">I", r[5:9])[0]
        return [struct.unpack(">I", r[9 + 4 * i:13 + 4 * i])[0] for i in range(count)]

    def sessions(self):
        """The session slots the TPM lists (loaded and saved: the kernel context-saves
        every client's sessions between its commands), as the low 24 bits of their handles.
        A slot holds an HMAC session (handle 0x02…) or a policy session (0x03…); the list
        does not say which, so each is named both ways."""
        out = []
        for first in (0x02000000, 0x03000000):
            out += [h & 0xFFFFFF for h in self.handles(first)
                    if h >> 24 in (2, 3) and h & 0xFFFFFF not in out]
        return out

    def policy_session(self):
        params = (tpm2b(os.urandom(16)) + tpm2b(b"") + bytes([0x01])
                  + struct.pack(">HH", 0x0010, 0x000B))
        rc, r = self.call(CC["StartAuthSession"], (RH_NULL, RH_NULL), params)
        assert rc == 0, hex(rc)
        return struct.unpack(">I", r[:4])[0]

    def create_primary(self, hierarchy, public):
        sensitive = tpm2b(tpm2b(b"") + tpm2b(b""))
        params = sensitive + tpm2b(public) + tpm2b(b"") + struct.pack(">I", 0)
        rc, r = self.call(CC["CreatePrimary"], (hierarchy,), params, (TPM_RS_PW, b""))
        return rc, (struct.unpack(">I", r[:4])[0] if rc == 0 else None)


def ecc_public(attributes, symmetric, scheme, unique_x):
    return (struct.pack(">HHI", 0x0023, 0x000B, attributes) + tpm2b(b"") + symmetric
            + scheme + struct.pack(">HH", 0x0003, 0x0010) + tpm2b(unique_x) + tpm2b(b""))


# The daemon's root (crates/tpm/src/templates.rs, in the open): restricted decryption,
# AES-128-CFB, unique.x = the seed from the store.
def root_public(seed):
    return ecc_public(0x00030472, struct.pack(">HHH", 0x0006, 128, 0x0043),
                      struct.pack(">H", 0x0010), seed)


# A signing key of the attacker's own: ECDSA-SHA256, userWithAuth, empty authValue.
def own_signing_key():
    return ecc_public(0x00040472, struct.pack(">H", 0x0010),
                      struct.pack(">HH", 0x0018, 0x000B), b"")


def sign_params(digest):
    return tpm2b(digest) + struct.pack(">HHHIH", 0x0018, 0x000B, 0x8024, RH_NULL, 0)


def loot(store):
    """Seed, PIN index handle and blobs, parsed from the store as an attacker would."""
    db = sqlite3.connect(f"file:{store}?mode=ro", uri=True)
    state = db.execute("SELECT value FROM secrets WHERE name = 'key_store_state'").fetchone()[0]
    seed = state[1:33]
    n = struct.unpack(">H", state[33:35])[0]
    record = state[35:35 + n]
    pin = struct.unpack(">I", record[1:5])[0] if n else None
    at = 35 + n
    prf = []
    for _ in range(2):
        n = struct.unpack(">H", state[at:at + 2])[0]
        prf.append(state[at + 2:at + 2 + n])
        at += 2 + n
    blobs = [r[0] for r in db.execute("SELECT key_blob FROM credentials")]
    return seed, pin, blobs, prf[1]


def load(t, parent, blob):
    """A blob is magic(4) ‖ TPM2B(TPMT_PUBLIC) ‖ TPM2B(private): Load takes them as is."""
    n = struct.unpack(">H", blob[4:6])[0]
    public, private = blob[4:6 + n], blob[6 + n:]
    rc, r = t.call(CC["Load"], (parent,), private + public, (TPM_RS_PW, b""))
    return rc, (struct.unpack(">I", r[:4])[0] if rc == 0 else None)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--store")
    ap.add_argument("--seconds", type=float, default=0)
    ap.add_argument("--label", default=f"uid {os.getuid()}")
    a = ap.parse_args()
    t = Tpm()
    me = a.label
    keys, nv = [], []
    if a.store and os.access(a.store, os.R_OK):
        seed, pin, blobs, prf_uv = loot(a.store)
        rc, root = t.create_primary(RH_OWNER, root_public(seed))
        assert rc == 0, hex(rc)
        for b in blobs + [prf_uv]:
            rc, k = load(t, root, b)
            if rc == 0:
                keys.append(k)
        t.call(CC["FlushContext"], params=struct.pack(">I", root))
        nv = [pin] if pin else []
        print(f"ok {me}: re-derived the daemon's root and loaded {len(keys)} of its keys", flush=True)
    else:
        rc, k = t.create_primary(RH_NULL, own_signing_key())
        assert rc == 0, hex(rc)
        keys.append(k)
    nv = nv or [h for h in t.handles(0x01000000) if 0x01000000 <= h <= 0x013FFFFF]

    own = t.policy_session()
    # Controls: the attacker's own session is there for it, and is evaluated as an
    # authorization (not satisfied, so a policy failure — not a reference error).
    rc, _ = t.call(CC["PolicyGetDigest"], (own,))
    print(("ok" if rc == 0 else "FAIL") + f" {me}: control: PolicyGetDigest on its own session: {rc:#x}")
    rc, _ = t.call(CC["Sign"], (keys[0],), sign_params(b"\x07" * 32), (own, b""))
    print(("ok" if rc == POLICY_FAIL_S0 else "FAIL")
          + f" {me}: control: its own session is evaluated as an authorization: {rc:#x}")

    tried, seen, codes, end = 0, set(), set(), time.monotonic() + a.seconds
    while True:
        for slot in t.sessions():
            if slot == own & 0xFFFFFF:
                continue
            seen.add(slot)
            policy, hmac = 0x03000000 | slot, 0x02000000 | slot
            attempts = [("PolicyGetDigest", (policy,), b"", None),
                        ("PolicyCommandCode", (policy,), struct.pack(">I", CC["NV_ChangeAuth"]), None)]
            for s in (policy, hmac):
                for k in keys:
                    attempts.append(("Sign", (k,), sign_params(b"\x09" * 32), (s, b"")))
                    attempts.append(("HMAC", (k,), tpm2b(b"material") + b"\x00\x0b", (s, b"")))
                for h in nv:
                    attempts.append(("NV_ChangeAuth", (h,), tpm2b(b"\x66" * 16), (s, b"")))
            for what, handles, params, session in attempts:
                tried += 1
                try:
                    rc, _ = t.call(CC[what], handles, params, session)
                except OSError as e:
                    rc = -e.errno
                codes.add(rc)
                if rc not in (REFERENCE_H0, REFERENCE_S0):
                    named = handles[0] if session is None else session[0]
                    print(f"FAIL {me}: {what} naming the daemon's session {named:#x} answered {rc:#x}",
                          flush=True)
        if time.monotonic() >= end:
            break
        time.sleep(0.02)
    print(f"ok {me}: {tried} attempts on {len(seen)} sessions of the daemon, each refused "
          f"({', '.join(hex(c) for c in sorted(codes))})", flush=True)
    if not seen:
        print(f"FAIL {me}: no session of the daemon was listed: nothing was attacked", flush=True)


if __name__ == "__main__":
    sys.exit(main())
