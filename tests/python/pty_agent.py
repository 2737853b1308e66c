#!/usr/bin/env python3
"""Runs `tpm-passkey agent` (the terminal approval agent) on a fresh pseudo-terminal — its
controlling terminal — and answers each prompt like a person at the keyboard.

    pty_agent.py TRANSCRIPT ANSWERS -- COMMAND [ARG...]

ANSWERS is a JSON list of [text to wait for, keys to type]; keys may hold "\\r" (Enter)
and "\\u001b" (Escape). Each answer is typed once its text has appeared after the previous
answer. Everything the agent writes to the terminal is appended to TRANSCRIPT as it comes,
so that the test reads it while this runs; the exit status is the agent's.
"""
import json
import os
import pty
import select
import sys
import time


def main() -> int:
    transcript, answers = sys.argv[1], json.loads(sys.argv[2])
    command = sys.argv[sys.argv.index("--") + 1 :]
    pid, fd = pty.fork()
    if pid == 0:
        try:
            os.execvp(command[0], command)
        finally:
            os._exit(127)
    seen = b""
    with open(transcript, "ab", buffering=0) as out:
        while True:
            ready, _, _ = select.select([fd], [], [], 60)
            if not ready:
                break
            try:
                chunk = os.read(fd, 4096)
            except OSError:  # EIO: the agent closed the terminal
                break
            if not chunk:
                break
            out.write(chunk)
            seen += chunk
            if answers and answers[0][0].encode() in seen:
                text, keys = answers.pop(0)
                seen = seen[seen.index(text.encode()) + len(text.encode()) :]
                time.sleep(0.2)  # a person reads before typing
                for k in keys:
                    os.write(fd, k.encode())
                    time.sleep(0.01)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status)


if __name__ == "__main__":
    sys.exit(main())
