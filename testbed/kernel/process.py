"""Is a process still the one we recorded? Pids are reused, so a record keeps the process's
start time too (/proc/PID/stat field 22, clock ticks since boot) and both must match."""

from __future__ import annotations

import subprocess
from pathlib import Path


def start_time(pid: int) -> int | None:
    """The process's start time, or None when there is no such process or it has exited and
    waits to be reaped (a zombie: its parent, a test or a session, has not collected it)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[1].split()  # after the name, which may hold spaces
    return None if fields[0] == "Z" else int(fields[19])


def alive(pid: int | None, started: int | None) -> bool:
    """`pid` runs and is the process recorded (when its start time was recorded)."""
    if pid is None:
        return False
    now = start_time(pid)
    return now is not None and (started is None or now == started)


def owned_by(owner: int | None, owner_started: int | None, pid: int, started: int | None) -> bool:
    """Whether a record's owner (`owner`, started at `owner_started`) is process `pid`, and,
    when its start time `started` is given, that very process rather than an earlier one
    with the same pid (pid_max is 32768 on many machines: a test suite wraps it)."""
    return owner == pid and (started is None or owner_started == started)


def stop(process: subprocess.Popen, grace_s: float = 2.0) -> bool:
    """Ask a program to stop (SIGTERM), kill it after `grace_s`; whether it was still running."""
    if process.poll() is not None:
        return False
    process.terminate()
    try:
        process.wait(grace_s)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
    return True
