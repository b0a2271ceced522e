"""Run one command in a fresh testbed VM, or an interactive shell.

The command sees the project tree, the current directory and the output directories at
their own paths (testbed/vm/shares.py), so it runs with its argv unchanged; its stdout and
stderr stream back separately as they come, and its exit code is returned. QEMU is always
ended: on return, on timeout, on Ctrl-C or SIGTERM (the command is first asked to stop,
as with the same signal, and given time to clean up), and when the guest dies.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterable
from pathlib import Path

from testbed.vm import shares
from testbed.vm.commands import Stream
from testbed.vm.image import ROOT
from testbed.vm.machine import Machine, VMError

KVM_PROBE_TIMEOUT_S = 25
POWER_OFF_S = 3  # how long a guest whose command ended gets to power off by itself


def run(argv: list[str], cwd: Path | None = None, inputs: Iterable[Path] = (), outputs: Iterable[Path] = (),
        env: dict[str, str] | None = None, timeout: float | None = None, accel: str | None = None,
        quiet: bool = False) -> int:
    """Run `argv` as root in a fresh VM, in `cwd`; returns its exit code."""
    outputs = [Path(o) for o in outputs]
    view = shares.plan(ROOT, cwd or Path.cwd(), inputs, outputs)
    for output in outputs:
        output.mkdir(parents=True, exist_ok=True)
    spec = {"mode": "run", "argv": argv, "cwd": str(view.cwd), "env": env or {}}
    machine = Machine(spec, list(view.shares), accel=accel, copies=view.copies)
    stream = Stream(machine.directory, "command", quiet=quiet)
    wait_s = 0.0
    try:
        deadline = None if timeout is None else time.monotonic() + timeout
        try:
            code = stream.follow_or_stop(lambda: machine.alive, "the command", deadline)
        except TimeoutError:
            raise VMError(f"the VM command did not finish within {timeout:g} s; the VM was stopped") from None
        wait_s = POWER_OFF_S
        return code
    except VMError as exc:
        tail = machine.console_tail()
        if tail and "did not finish" not in str(exc):
            raise VMError(f"{exc}; the console's last lines:\n{tail}") from None
        raise
    finally:
        machine.stop(wait_s)


def shell(cwd: Path | None = None, accel: str | None = None) -> int:
    """An interactive root shell in the VM, in `cwd` (exit or Ctrl-D to leave)."""
    view = shares.plan(ROOT, cwd or Path.cwd())
    machine = Machine({"mode": "shell", "cwd": str(view.cwd)}, list(view.shares), accel=accel,
                      interactive=True)
    try:
        return machine.proc.wait()
    finally:
        machine.stop()


def isatty_env() -> dict[str, str]:
    """Tell the guest whether our output is a terminal, so it formats for one or not."""
    return {"TESTBED_TTY": "1" if sys.stdout.isatty() else "0"}
