"""A program for test_forkserver.py, run as `python3 -m tests.unit.forked_program MODE`: it
says where it runs, then does what MODE asks. Importing it does nothing (the fork server
imports every program before it forks it)."""

import os
import signal
import sys
import time


def main(mode: str) -> int:
    print(f"ready {os.getpid()} {os.readlink('/proc/self/ns/net')}", flush=True)
    if mode == "echo":  # stdin back, upper-cased, and a word on stderr
        sys.stdout.write(sys.stdin.read().upper())
        print("said on stderr", file=sys.stderr)
        return 0
    if mode == "exit":
        return int(sys.stdin.readline())
    if mode == "sleep":
        time.sleep(60)
        return 0
    if mode == "interrupt":  # Ctrl-C, as the terminal sends it: KeyboardInterrupt, as anew
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(5)
        return 0
    if mode == "raise":
        raise RuntimeError("a bug in a program")
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
