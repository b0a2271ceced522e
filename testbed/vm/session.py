"""A VM that stays up for the life of a run, so `up`, `apply`, `exec`, `clear` and `down`
can each run inside it on a kernel with netem.

The guest's init serves commands through the spec directory (testbed/vm/guest_init.py,
agent mode): the host writes inbox/N.json, the guest runs it and writes N.stdout,
N.stderr and N.exit. No network, no sockets: only the 9p share. The project tree and the
directory `up` ran in are shared at boot; inputs of later commands outside them are copied.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import time
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path

from testbed.kernel.process import alive
from testbed.vm import shares
from testbed.vm.commands import Stream, copy_inputs
from testbed.vm.image import ROOT, build
from testbed.vm.machine import STATE_DIR, Machine, VMError, read_record
from testbed.vm.qemu import isatty_env

BOOT_TIMEOUT_S = 180
POWER_OFF_TIMEOUT_S = 30
RUNS_DIR = STATE_DIR / "vm-runs"


def _record(run_id: str) -> Path:
    return RUNS_DIR / f"{run_id}.json"


@dataclass
class VMSession:
    run_id: str
    pid: int
    started: int | None
    directory: Path  # the spec directory
    shared: tuple[Path, ...]

    @property
    def alive(self) -> bool:
        return alive(self.pid, self.started)

    @classmethod
    def find(cls, run_id: str) -> VMSession | None:
        data = read_record(_record(run_id))
        if not data:
            return None
        session = cls(run_id, data["pid"], data.get("started"), Path(data["directory"]),
                      tuple(Path(p) for p in data.get("shared", [])))
        if not session.alive:
            session._forget()
            return None
        return session

    @classmethod
    def start(cls, run_id: str, progress=lambda _: None) -> VMSession:
        build(progress=progress)
        view = shares.plan(ROOT, Path.cwd())
        progress("booting the testbed VM for this run")
        RUNS_DIR.mkdir(parents=True, exist_ok=True)
        console = RUNS_DIR / f"{run_id}.console"
        # held by this process until release(): a kill -9 while it boots leaves a leftover
        machine = Machine({"mode": "agent"}, list(view.shares), console_log=console, owned=True)
        pid_record = read_record(machine.pidfile)
        session = cls(run_id, machine.proc.pid, pid_record.get("started"), machine.directory, view.shares)
        _record(run_id).write_text(json.dumps({"pid": session.pid, "started": session.started,
                                               "directory": str(session.directory),
                                               "shared": [str(p) for p in view.shares]}))
        deadline = time.monotonic() + BOOT_TIMEOUT_S
        while not (session.directory / "ready").exists():
            if machine.proc.poll() is not None or time.monotonic() > deadline:
                tail = console.read_text(errors="replace")[-2000:] if console.exists() else ""
                session.stop()
                raise VMError(f"the VM for run {run_id} did not come up; its console:\n{tail}")
            time.sleep(0.1)
        return session

    def run(self, argv: list[str], inputs: tuple[Path, ...] = (), cwd: Path | None = None) -> int:
        """Run `argv` in the guest, streaming its output here; returns its exit code."""
        return self._run(argv, inputs, cwd, Stream(self.directory, self._name()))

    def capture(self, argv: list[str]) -> tuple[int, str]:
        """Run `argv` in the guest; its exit code and its standard output."""
        stream = Stream(self.directory, self._name(), capture=True)
        code = self._run(argv, (), None, stream)
        return code, stream.captured.decode(errors="replace")

    @staticmethod
    def _name() -> str:
        return f"{time.time_ns()}"

    def _run(self, argv: list[str], inputs: tuple[Path, ...], cwd: Path | None, stream: Stream) -> int:
        view = shares.extend(shares.GuestView(self.shared, (), ROOT), cwd or Path.cwd(), inputs)
        name = stream.base.name
        copies = copy_inputs(self.directory, name, view.copies)
        command = {"argv": argv, "cwd": str(view.cwd), "copies": copies, "env": isatty_env()}
        inbox = self.directory / "inbox"
        (inbox / f"{name}.tmp").write_text(json.dumps(command))
        (inbox / f"{name}.tmp").rename(inbox / f"{name}.json")
        try:
            return stream.follow(lambda: self.alive, f"the command in run {self.run_id}'s VM")
        finally:
            stream.cleanup()

    def release(self) -> None:
        """The run is up in the VM: it is kept up now (no process holds it; `down` ends it)."""
        pidfile = STATE_DIR / f"qemu-{self.pid}.pid"
        record = read_record(pidfile)
        if record:
            record.update(owner=None, owner_started=None)
            pidfile.write_text(json.dumps(record))

    def stop(self) -> None:
        """Power the VM off (kill it if it does not go within 30 s) and forget it."""
        if self.alive:
            inbox = self.directory / "inbox"
            if inbox.exists():
                (inbox / "zz-poweroff.tmp").write_text(json.dumps({"argv": ["poweroff"]}))
                (inbox / "zz-poweroff.tmp").rename(inbox / "zz-poweroff.json")
            deadline = time.monotonic() + POWER_OFF_TIMEOUT_S
            while self.alive and time.monotonic() < deadline:
                time.sleep(0.1)
            if self.alive:
                os.kill(self.pid, signal.SIGKILL)
        self._forget()

    def _forget(self) -> None:
        _record(self.run_id).unlink(missing_ok=True)
        (RUNS_DIR / f"{self.run_id}.console").unlink(missing_ok=True)
        (STATE_DIR / f"qemu-{self.pid}.pid").unlink(missing_ok=True)
        shutil.rmtree(self.directory, ignore_errors=True)


def sessions(vms: Collection[int] | None = None) -> list[str]:
    """Runs that live in a testbed VM (and whose VM is still running); the records of those
    whose VM is gone are dropped (with `vms`: only records of those QEMU processes are read)."""
    names = sorted(p.stem for p in RUNS_DIR.glob("*.json")) if RUNS_DIR.exists() else []
    if vms is not None:
        names = [run for run in names if read_record(_record(run)).get("pid") in vms]
    return [run for run in names if VMSession.find(run)]
