#!/usr/bin/env python3
"""Turns a capture (TPM_PASSKEY_CORPUS_DIR of a test-build daemon, see
crates/daemon/src/corpus.rs) into seed corpora under fuzz/seeds/<target>/.

    TPM_PASSKEY_CORPUS_DIR=/tmp/cap cargo nextest run -p tpm-passkey \\
        --features tpm-passkey/scripted-agent --test python_fido2 --test webauthn_rs \\
        --test cli_control --test approval_path
    python3 fuzz/seed_corpus.py /tmp/cap fuzz/seeds

Every target gets real traffic: CTAP2 requests and U2F APDUs as captured; engine
sequences (captured requests joined on 0xFF, in capture order); CTAPHID report streams
(an INIT on the broadcast channel, then each request fragmented on the allocated one);
credential IDs and key handles taken from allowLists and U2F authenticate APDUs; control
lines as captured.
"""
import hashlib
import os
import sys

from fido2 import cbor


def write(dst, target, data):
    d = os.path.join(dst, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, hashlib.sha256(data).hexdigest()[:16]), "wb") as f:
        f.write(data)


def read_all(src, target):
    d = os.path.join(src, target)
    if not os.path.isdir(d):
        return []
    paths = sorted((os.path.join(d, n) for n in os.listdir(d)), key=os.path.getmtime)
    return [open(p, "rb").read() for p in paths]


def reports(pick, cid_cmd, payload):
    """CTAPHID fragments of one message, each prefixed by the target's channel pick byte."""
    out = []
    first = bytes([cid_cmd | 0x80]) + len(payload).to_bytes(2, "big") + payload[:57]
    out.append(bytes([pick]) + (b"\0\0\0\0" + first).ljust(64, b"\0"))
    rest, seq = payload[57:], 0
    while rest:
        out.append(bytes([pick]) + (b"\0\0\0\0" + bytes([seq]) + rest[:59]).ljust(64, b"\0"))
        rest, seq = rest[59:], seq + 1
    return b"".join(out)


def main(src, dst):
    ctap2 = read_all(src, "ctap2_request")
    u2f = read_all(src, "u2f_apdu")
    for m in ctap2:
        write(dst, "ctap2_request", m)
        write(dst, "engine_sequence", m)
        write(dst, "ctaphid_roundtrip", m)
        init = reports(0, 0x06, b"\x01\x02\x03\x04\x05\x06\x07\x08")
        write(dst, "ctaphid_channels", init + reports(1, 0x10, m))
        if m[:1] == b"\x02":
            try:
                req = cbor.decode(m[1:])
            except Exception:
                continue
            for c in req.get(3, []):
                write(dst, "credential_id", bytes(c["id"]))
    for i in range(0, len(ctap2), 4):
        write(dst, "engine_sequence", b"\xff".join(ctap2[i : i + 4]))
    for a in u2f:
        write(dst, "u2f_apdu", a)
        if len(a) > 7 + 65 and a[1] == 0x02:
            handle_len = a[7 + 64]
            write(dst, "credential_id", a[7 + 65 : 7 + 65 + handle_len])
    for line in read_all(src, "control_message"):
        write(dst, "control_message", line)
    for t in sorted(os.listdir(dst)):
        print(f"{t}: {len(os.listdir(os.path.join(dst, t)))} seeds")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
