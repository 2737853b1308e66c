#!/usr/bin/env python3
"""Plays a same-user program (run unprivileged) that wants an input device of its own.

1. /dev/uhid itself must be closed to it (only the privileged helper opens it).
2. Through the helper it gets exactly one device per connection: ours. It sends what would
   create a keyboard on a raw /dev/uhid fd — UHID_DESTROY, then UHID_CREATE2 with a
   keyboard report descriptor — and a stray 64-byte report; then checks that no device
   named like its keyboard exists and that no input (evdev) device appeared.

Prints one line per check; exits non-zero if any protection is missing.

    uhid-attack.py HELPER_SOCKET
"""
import glob
import os
import socket
import struct
import sys
import time

EVENT_SIZE = 4380
UHID_DESTROY, UHID_CREATE2 = 1, 11
# A boot keyboard (usage page Generic Desktop, usage Keyboard).
KEYBOARD = bytes.fromhex(
    "05010906a101050719e029e71500250175019508810295017508810195057501"
    "0508190129059102950175039101950675081500256505071900296581"
    "00c0")


def create2(name: bytes) -> bytes:
    ev = bytearray(EVENT_SIZE)
    struct.pack_into("<I", ev, 0, UHID_CREATE2)
    ev[4:4 + len(name)] = name
    struct.pack_into("<HHIII", ev, 260, len(KEYBOARD), 0x03, 0x1234, 0x5678, 1)
    ev[280:280 + len(KEYBOARD)] = KEYBOARD
    return bytes(ev)


def hid_names() -> list:
    names = []
    for u in glob.glob("/sys/bus/hid/devices/*/uevent"):
        with open(u) as f:
            for line in f:
                if line.startswith("HID_NAME="):
                    names.append(line.strip()[len("HID_NAME="):])
    return names


def input_devices() -> int:
    return len(glob.glob("/sys/class/input/input*"))


failed = False


def check(ok: bool, what: str) -> None:
    global failed
    print(("ok   " if ok else "FAIL ") + what, flush=True)
    failed |= not ok


try:
    open("/dev/uhid", "r+b").close()
    check(False, "/dev/uhid is closed to an unprivileged program")
except PermissionError:
    check(True, "/dev/uhid is closed to an unprivileged program")

before_inputs = input_devices()
s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
s.connect(sys.argv[1])
time.sleep(0.5)
names = hid_names()
ours = [n for n in names if n.startswith("tpm-passkey")]
check(len(ours) >= 1, f"the helper made our FIDO device for this connection ({names})")
s.send(struct.pack("<I", UHID_DESTROY))
s.send(create2(b"evil keyboard"))
s.send(bytes(64))
time.sleep(0.5)
names = hid_names()
check(not any("evil" in n for n in names), f"no device of the client's making ({names})")
check(input_devices() == before_inputs, "no input device appeared")
s.close()
time.sleep(0.5)
check(len([n for n in hid_names() if n.startswith("tpm-passkey")]) == len(ours) - 1,
      "the device went with the connection")
sys.exit(1 if failed else 0)
