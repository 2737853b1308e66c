#!/usr/bin/env python3
"""Runs a command on a fresh pseudo-terminal and types a PIN at each PIN prompt.

libfido2's tools read PINs with readpassphrase(3) from the controlling terminal and flush
pending input first (TCSAFLUSH), so a PIN piped in ahead of time is lost. This waits for
each prompt ("Enter PIN for ...:", "Enter new PIN ...:", "Enter the same PIN again:")
before it types.

    pty-answer.py PIN_FILE COMMAND [ARG...]

The command's terminal output goes to stdout; the exit status is the command's.
"""
import os
import pty
import re
import select
import sys

PROMPT = re.compile(rb"PIN[^\n]*: ?$")


def main() -> int:
    if len(sys.argv) < 3:
        print(__doc__, file=sys.stderr)
        return 2
    with open(sys.argv[1], "rb") as f:
        pin = f.readline().rstrip(b"\n")
    pid, fd = pty.fork()
    if pid == 0:
        try:
            os.execvp(sys.argv[2], sys.argv[2:])
        finally:
            os._exit(127)
    pending = b""
    while True:
        ready, _, _ = select.select([fd], [], [], 120)
        if not ready:
            print("pty-answer: no output for 120 s, giving up", file=sys.stderr)
            os.kill(pid, 9)
            break
        try:
            chunk = os.read(fd, 4096)
        except OSError:  # EIO: the child closed the terminal
            break
        if not chunk:
            break
        sys.stdout.buffer.write(chunk)
        sys.stdout.flush()
        pending += chunk
        if PROMPT.search(pending):
            os.write(fd, pin + b"\n")
            pending = b""
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status)


if __name__ == "__main__":
    sys.exit(main())
