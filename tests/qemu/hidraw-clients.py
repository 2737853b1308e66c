#!/usr/bin/env python3
"""Several FIDO clients on the one hidraw node at once.

Each process opens /dev/hidrawN itself, takes its own CTAPHID channel with INIT and then
interleaves multi-frame PINGs and CBOR getInfo calls with the others. hidraw hands every
input report to every open reader, exactly as with a USB key, so each client skips frames
of other channels, as libfido2 and the browsers do (python-fido2's HID layer instead gives up
with "Wrong channel", which is why this speaks CTAPHID, §11.2.4, directly). A reply on the
wrong channel, a garbled echo or a silent channel fails the run.

    hidraw-clients.py DEVICE PROCESSES ROUNDS [PING_BYTES]

PING_BYTES (300 by default) up to 7609, CTAPHID's longest message: 129 reports each way,
more than uhid queues (32) or hidraw keeps for a reader (64) — the daemon paces its replies
as a USB bus would (crates/hid/src/uhid/pace.rs).

HIDRAW_WRITE_PACE_MS paces this client's own writes (one report per that many ms), as a USB
bus paces writes to a real key. uhid has no such pacing: a client that writes more than 32
reports faster than the daemon reads them loses some (the kernel logs "Output queue is
full"), and the daemon answers ERR_MSG_TIMEOUT. CI saw that once with one 7,609-byte
request, in the TCG guest under load (docs/DESIGN.md "The uhid transport").
"""
import os
import select
import struct
import subprocess
import sys
import time

BROADCAST = 0xFFFFFFFF
INIT, PING, CBOR, KEEPALIVE, ERROR = 0x86, 0x81, 0x90, 0xBB, 0xBF
ERR_CHANNEL_BUSY = 0x06


class Busy(Exception):
    pass


PACE = float(os.environ.get("HIDRAW_WRITE_PACE_MS", "0")) / 1000


def send(fd: int, cid: int, cmd: int, data: bytes) -> None:
    frame = struct.pack(">IBH", cid, cmd, len(data)) + data[:57]
    os.write(fd, b"\0" + frame.ljust(64, b"\0"))
    rest, seq = data[57:], 0
    while rest:
        if PACE:
            time.sleep(PACE)
        os.write(fd, b"\0" + (struct.pack(">IB", cid, seq) + rest[:59]).ljust(64, b"\0"))
        rest, seq = rest[59:], seq + 1


def read_frame(fd: int) -> bytes:
    if not select.select([fd], [], [], 5)[0]:
        raise TimeoutError("no report for 5 s")
    return os.read(fd, 64)


def receive(fd: int, cid: int, cmd: int) -> bytes:
    while True:
        f = read_frame(fd)
        got_cid, got_cmd = struct.unpack(">IB", f[:5])
        if got_cid != cid or got_cmd == KEEPALIVE:
            continue  # another client's channel (or a keepalive): not ours
        if got_cmd == ERROR and f[7] == ERR_CHANNEL_BUSY:
            raise Busy()
        if got_cmd == ERROR:
            raise RuntimeError(f"CTAPHID error 0x{f[7]:02x}")
        if got_cmd != cmd:
            raise RuntimeError(f"cmd 0x{got_cmd:02x}, wanted 0x{cmd:02x}")
        (length,) = struct.unpack(">H", f[5:7])
        data, seq = f[7:7 + length], 0
        while len(data) < length:
            f = read_frame(fd)
            if struct.unpack(">I", f[:4])[0] != cid:
                continue
            if f[4] != seq:
                raise RuntimeError(f"sequence {f[4]}, wanted {seq}")
            data += f[5:5 + length - len(data)]
            seq += 1
        return data


def call(fd: int, cid: int, cmd: int, data: bytes) -> bytes:
    """One transaction; ERR_CHANNEL_BUSY (another channel's transaction is running,
    §11.2.9.1) means: wait a moment and send it again, as browsers do."""
    for _ in range(200):
        send(fd, cid, cmd, data)
        try:
            return receive(fd, cid, cmd)
        except Busy:
            time.sleep(0.01)
    raise RuntimeError("busy for 200 tries")


def client(path: str, index: int, rounds: int, length: int = 300) -> str:
    fd = os.open(path, os.O_RDWR)
    nonce = os.urandom(8)
    send(fd, BROADCAST, INIT, nonce)
    while True:  # other clients' INIT answers share the broadcast channel
        reply = receive(fd, BROADCAST, INIT)
        if reply[:8] == nonce:
            break
    (cid,) = struct.unpack(">I", reply[8:12])
    for r in range(rounds):
        payload = (f"{index}:{r}:{os.getpid()};".encode() * 800)[:length]
        if call(fd, cid, PING, payload) != payload:
            return f"client {index}: ping {r} echoed something else"
        info = call(fd, cid, CBOR, b"\x04")  # authenticatorGetInfo
        if info[0] != 0 or bytes.fromhex("7d1f5c2e934a4b6ea10c3f6258e49127") not in info:
            return f"client {index}: getInfo {r} wrong"
    os.close(fd)
    return "ok"


def main() -> int:
    if sys.argv[1] == "--client":
        print(client(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])))
        return 0
    path, n, rounds = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    length = int(sys.argv[4]) if len(sys.argv) > 4 else 300
    # Separate processes (the guest has no /dev/shm for multiprocessing), started together.
    procs = [
        subprocess.Popen([sys.executable, __file__, "--client", path, str(i), str(rounds),
                          str(length)],
                         stdout=subprocess.PIPE, text=True)
        for i in range(n)
    ]
    results = [p.communicate()[0].strip() or f"client {i}: no answer"
               for i, p in enumerate(procs)]
    print("\n".join(results))
    return 0 if all(r == "ok" for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
