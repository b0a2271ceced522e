"""A VM that stays up for the life of a run, so `up`, `apply`, `exec`, `clear` and `down`
can each run inside it on a kernel with netem.

The guest's init serves commands through the shared tree: the host writes
`.testbed-vm/session-RUN/inbox/N.json`, the guest runs it and writes `N.out` as output
arrives and `N.exit` at the end. No network, no sockets: only the 9p share.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from testbed.vm import qemu
from testbed.vm.image import ROOT, build

BOOT_TIMEOUT_S = 180


SESSION_DIR = qemu.PID_DIR / "vm-runs"


def _state_file(run_id: str) -> Path:
    return SESSION_DIR / f"{run_id}.json"


def _alive(pid: int) -> bool:
    try:
        return "qemu" in Path(f"/proc/{pid}/cmdline").read_text()
    except FileNotFoundError:
        return False


@dataclass
class VMSession:
    run_id: str
    pid: int
    directory: Path

    @classmethod
    def find(cls, run_id: str) -> VMSession | None:
        path = _state_file(run_id)
        if not path.exists():
            return None
        data = json.loads(path.read_text())
        session = cls(run_id, data["pid"], Path(data["directory"]))
        if not _alive(session.pid):
            session._forget()
            return None
        return session

    @classmethod
    def start(cls, run_id: str, progress=lambda _: None) -> VMSession:
        image = build(progress=progress)
        directory = ROOT / qemu.SPEC_DIR / f"session-{run_id}"
        shutil.rmtree(directory, ignore_errors=True)
        directory.mkdir(parents=True)
        (directory / "spec.json").write_text(json.dumps({"agent": True}))
        progress("booting the testbed VM for this run")
        argv = qemu.qemu_argv(image, qemu._accel(image),
                              qemu._kernel_args(f"{qemu.SPEC_DIR}/{directory.name}"), False)
        with (directory / "console.log").open("wb") as console:
            proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=console, stderr=subprocess.STDOUT,
                                    start_new_session=True)
        qemu._register(proc.pid)
        session = cls(run_id, proc.pid, directory)
        SESSION_DIR.mkdir(parents=True, exist_ok=True)
        _state_file(run_id).write_text(json.dumps({"pid": proc.pid, "directory": str(directory)}))
        deadline = time.monotonic() + BOOT_TIMEOUT_S
        while not (directory / "ready").exists():
            if proc.poll() is not None or time.monotonic() > deadline:
                tail = (directory / "console.log").read_text(errors="replace")[-2000:]
                session.stop()
                raise qemu.VMError(f"the VM for run {run_id} did not come up; its console:\n{tail}")
            time.sleep(0.1)
        return session

    def run(self, argv: list[str], cwd: str = ".") -> int:
        """Run `argv` in the guest, streaming its output here; returns its exit code."""
        name = f"{time.time_ns()}"
        inbox = self.directory / "inbox"
        tmp = inbox / f"{name}.tmp"
        tmp.write_text(json.dumps({"argv": argv, "cwd": cwd}))
        tmp.rename(inbox / f"{name}.json")
        out_path, exit_path = self.directory / f"{name}.out", self.directory / f"{name}.exit"
        offset = 0
        try:
            while True:
                finished = exit_path.exists()
                if out_path.exists():
                    with out_path.open("rb") as out:
                        out.seek(offset)
                        chunk = out.read()
                    offset += len(chunk)
                    sys.stdout.buffer.write(chunk)
                    sys.stdout.flush()
                if finished:
                    return int(exit_path.read_text())
                if not _alive(self.pid):
                    raise qemu.VMError(f"the VM of run {self.run_id} stopped during the command")
                time.sleep(0.05)
        finally:
            out_path.unlink(missing_ok=True)
            exit_path.unlink(missing_ok=True)

    def stop(self) -> None:
        """Power the VM off (kill it if it does not go within 30 s) and forget it."""
        if _alive(self.pid):
            inbox = self.directory / "inbox"
            if inbox.exists():
                (inbox / "zz-poweroff.tmp").write_text(json.dumps({"argv": ["poweroff"]}))
                (inbox / "zz-poweroff.tmp").rename(inbox / "zz-poweroff.json")
            deadline = time.monotonic() + 30
            while _alive(self.pid) and time.monotonic() < deadline:
                time.sleep(0.1)
            if _alive(self.pid):
                os.kill(self.pid, signal.SIGKILL)
        self._forget()

    def _forget(self) -> None:
        _state_file(self.run_id).unlink(missing_ok=True)
        (qemu.PID_DIR / f"qemu-{self.pid}.pid").unlink(missing_ok=True)
        shutil.rmtree(self.directory, ignore_errors=True)


def sessions() -> list[str]:
    """Runs that live in a testbed VM (and whose VM is still running)."""
    return [run for run in sorted(p.stem for p in SESSION_DIR.glob("*.json")) if VMSession.find(run)]
