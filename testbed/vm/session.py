"""A VM that stays up: for the life of a run, so `up`, `apply`, `exec`, `clear` and `down`
can each run inside it on a kernel with netem, or kept warm by `testbed vm up` for every
command that goes to the VM (testbed/vm/warm.py).

The guest's init serves commands through the spec directory (testbed/vm/guest_init.py,
agent mode): the host writes inbox/N.json, the guest runs it and writes N.stdout,
N.stderr and N.exit. No network, no sockets: only the 9p share. The project tree and the
directory `up` ran in are shared at boot; inputs of later commands outside them are copied.
Beside each command the host writes N.owner (its process), so that `testbed clean` can stop
a command whose host side was killed (orphaned_commands).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import time
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from testbed.kernel.process import alive, owned_by, start_time
from testbed.vm import shares
from testbed.vm.commands import Stream, copy_inputs
from testbed.vm.image import ROOT, build
from testbed.vm.machine import STATE_DIR, Machine, VMError, read_record
from testbed.vm.qemu import isatty_env

BOOT_TIMEOUT_S = 180
POWER_OFF_TIMEOUT_S = 30
RUNS_DIR = STATE_DIR / "vm-runs"


@dataclass
class VMSession:
    run_id: str
    pid: int
    started: int | None
    directory: Path  # the spec directory
    shared: tuple[Path, ...]

    RECORDS: ClassVar[Path] = RUNS_DIR  # NAME.json and NAME.console
    WHAT: ClassVar[str] = "the VM of run {name}"

    @classmethod
    def _record(cls, name: str) -> Path:
        return cls.RECORDS / f"{name}.json"

    @property
    def alive(self) -> bool:
        return alive(self.pid, self.started)

    @classmethod
    def find(cls, run_id: str):
        data = read_record(cls._record(run_id))
        if not data:
            return None
        session = cls(run_id, data["pid"], data.get("started"), Path(data["directory"]),
                      tuple(Path(p) for p in data.get("shared", [])))
        if not session.alive:
            session._forget()
            return None
        return session

    @classmethod
    def start(cls, run_id: str, progress=lambda _: None, extra: Iterable[Path] = ()):
        """Boot it, sharing the project tree, the current directory and `extra` directories."""
        build(progress=progress)
        view = shares.plan(ROOT, Path.cwd(), outputs=extra)
        progress(f"booting {cls.WHAT.format(name=run_id)}")
        cls.RECORDS.mkdir(parents=True, exist_ok=True)
        console = cls.RECORDS / f"{run_id}.console"
        # held by this process until release(): a kill -9 while it boots leaves a leftover
        machine = Machine({"mode": "agent"}, list(view.shares), console_log=console, owned=True)
        pid_record = read_record(machine.pidfile)
        session = cls(run_id, machine.proc.pid, pid_record.get("started"), machine.directory, view.shares)
        cls._record(run_id).write_text(json.dumps({"pid": session.pid, "started": session.started,
                                                   "directory": str(session.directory),
                                                   "shared": [str(p) for p in view.shares]}))
        deadline = time.monotonic() + BOOT_TIMEOUT_S
        try:
            while not (session.directory / "ready").exists():
                if machine.proc.poll() is not None or time.monotonic() > deadline:
                    tail = console.read_text(errors="replace")[-2000:] if console.exists() else ""
                    raise VMError(f"{cls.WHAT.format(name=run_id)} did not come up; its console:\n{tail}")
                time.sleep(0.1)
        except BaseException:  # Ctrl-C or SIGTERM too: nothing runs in the guest yet to clean up
            session.kill()
            raise
        return session

    def run(self, argv: list[str], inputs: tuple[Path, ...] = (), cwd: Path | None = None,
            env: dict[str, str] | None = None, timeout: float | None = None) -> int:
        """Run `argv` in the guest, streaming its output here; returns its exit code. Ctrl-C,
        SIGTERM or `timeout` (seconds) stop the command, not the VM."""
        return self._run(argv, inputs, cwd, Stream(self.directory, self._name()), env, timeout)

    def capture(self, argv: list[str]) -> tuple[int, str]:
        """Run `argv` in the guest; its exit code and its standard output."""
        stream = Stream(self.directory, self._name(), capture=True)
        code = self._run(argv, (), None, stream)
        return code, stream.captured.decode(errors="replace")

    @staticmethod
    def _name() -> str:
        return f"{time.time_ns()}-{os.getpid()}"  # processes may submit at once

    def _run(self, argv: list[str], inputs: tuple[Path, ...], cwd: Path | None, stream: Stream,
             env: dict[str, str] | None = None, timeout: float | None = None) -> int:
        view = shares.extend(shares.GuestView(self.shared, (), ROOT), cwd or Path.cwd(), inputs)
        name = stream.base.name
        copies = copy_inputs(self.directory, name, view.copies)
        command = {"argv": argv, "cwd": str(view.cwd), "copies": copies,
                   "env": {**isatty_env(), **(env or {})}}
        me = os.getpid()
        (self.directory / f"{name}.owner").write_text(json.dumps({"pid": me, "started": start_time(me)}))
        inbox = self.directory / "inbox"
        (inbox / f"{name}.tmp").write_text(json.dumps(command))
        (inbox / f"{name}.tmp").rename(inbox / f"{name}.json")
        what = f"the command in {self.WHAT.format(name=self.run_id)}"
        try:
            deadline = None if timeout is None else time.monotonic() + timeout
            try:
                return stream.follow_or_stop(lambda: self.alive, what, deadline)
            except TimeoutError:
                stream.stop(signal.SIGTERM, lambda: self.alive)
                raise VMError(f"{what} did not finish within {timeout:g} s; it was stopped") from None
        finally:
            stream.cleanup()
            self._drop_copies(name)
            (self.directory / f"{name}.owner").unlink(missing_ok=True)

    def _drop_copies(self, stem: str) -> None:
        for copied in (self.directory / "files").glob(f"{stem}-*"):
            copied.unlink(missing_ok=True)

    def release(self) -> None:
        """The run is up in the VM: it is kept up now (no process holds it; `down` ends it)."""
        pidfile = STATE_DIR / f"qemu-{self.pid}.pid"
        record = read_record(pidfile)
        if record:
            record.update(owner=None, owner_started=None)
            pidfile.write_text(json.dumps(record))

    def kill(self) -> None:
        """End QEMU at once and forget it (a guest still booting has nothing to clean up)."""
        if self.alive:
            os.kill(self.pid, signal.SIGKILL)
        self._forget()

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

    def orphaned_commands(self, owner: int | None = None, owner_started: int | None = None) -> list[int]:
        """Stop the commands whose host process is gone (killed -9: nobody follows them), or
        only those `owner` started; the owners' pids. Their files go once they have ended."""
        found = []
        for record in sorted(self.directory.glob("*.owner")):
            data = read_record(record)
            gone = not alive(data.get("pid"), data.get("started"))
            if not gone or (owner is not None and not owned_by(data.get("pid"), data.get("started"), owner,
                                                                 owner_started)):
                continue
            stream = Stream(self.directory, record.stem)
            if stream.exit_code() is None:
                stream.interrupt(signal.SIGTERM)  # it cleans up what it made in the guest
                deadline = time.monotonic() + 30
                while stream.exit_code() is None and self.alive and time.monotonic() < deadline:
                    time.sleep(0.1)
            stream.cleanup()
            self._drop_copies(record.stem)
            record.unlink(missing_ok=True)
            found.append(data.get("pid"))
        return found

    def _forget(self) -> None:
        self._record(self.run_id).unlink(missing_ok=True)
        (self.RECORDS / f"{self.run_id}.console").unlink(missing_ok=True)
        (STATE_DIR / f"qemu-{self.pid}.pid").unlink(missing_ok=True)
        shutil.rmtree(self.directory, ignore_errors=True)


def sessions(vms: Collection[int] | None = None) -> list[str]:
    """Runs that live in a testbed VM (and whose VM is still running); the records of those
    whose VM is gone are dropped (with `vms`: only records of those QEMU processes are read)."""
    names = sorted(p.stem for p in RUNS_DIR.glob("*.json")) if RUNS_DIR.exists() else []
    if vms is not None:
        names = [run for run in names if read_record(VMSession._record(run)).get("pid") in vms]
    return [run for run in names if VMSession.find(run)]

