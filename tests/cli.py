"""The one way tests run the `testbed` command: a real process, as a user would start it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
NOBODY = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]  # util-linux


def run_cli(*args: str, timeout: float = 300, cwd: Path = ROOT, env: dict[str, str] | None = None,
            as_nobody: bool = False, netns: str | None = None) -> subprocess.CompletedProcess[str]:
    """`testbed ARGS` (python -m testbed.cli), output captured; `as_nobody`: as a user without root;
    `netns`: in that network namespace (as this machine, for the gateway)."""
    full = {**os.environ, "COLUMNS": "200", **(env or {})}
    full.pop("TESTBED_TTY", None)
    argv = [*(["ip", "netns", "exec", netns] if netns else []), *(NOBODY if as_nobody else []),
            sys.executable, "-m", "testbed.cli", *args]
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout, cwd=cwd, env=full)


def popen(*args: str, cwd: Path = ROOT, netns: str | None = None, **kwargs) -> subprocess.Popen[str]:
    """`testbed ARGS` started in the background (for signals and kill -9); `netns` as run_cli's.
    In a namespace, `ip netns exec` execs the program: the pid is testbed's own."""
    prefix = ["ip", "netns", "exec", netns] if netns else []
    return subprocess.Popen([*prefix, sys.executable, "-m", "testbed.cli", *args], cwd=cwd, text=True, **kwargs)


def clean_process(pid: int, started: int | None) -> subprocess.CompletedProcess[str]:
    """`testbed clean` of what one process this test started (and killed) made, named by its pid
    and its start time read while it ran, so that what an earlier process with the same pid
    left (a user's run: pids wrap at pid_max, 32768 here) stays."""
    assert started is not None, f"process {pid} was gone before its start time was read"
    return run_cli("clean", "--pid", str(pid), "--pid-started", str(started))
