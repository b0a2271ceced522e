"""The warm VM: one testbed VM kept up by `testbed vm up` (until `testbed vm down`), so that
commands that go to the VM (`testbed run`, `try`, `calls` ... and `testbed vm run`) start at
once instead of booting one each (10-40 s under TCG).

It shares the project tree, the directory `vm up` ran in and the directories given with
--share, fixed at boot (9p); a command whose working directory or outputs lie elsewhere
boots a VM of its own, as without it. Commands run side by side in it, each in its own
processes; like a run's, it is kept up (no process holds it), `testbed clean` leaves it and
stops only commands whose host process was killed, and `testbed clean --all` stops it.
"""

from __future__ import annotations

import fcntl
import time
from collections.abc import Iterable
from pathlib import Path
from typing import ClassVar

from testbed.vm import shares
from testbed.vm.machine import STATE_DIR
from testbed.vm.session import VMSession

NAME = "warm"
PRELOAD_TIMEOUT_S = 120  # the guest's command server imports the testbed (about 20 s under TCG)


class WarmVM(VMSession):
    RECORDS: ClassVar[Path] = STATE_DIR / "vm-warm"
    WHAT: ClassVar[str] = "the warm testbed VM"

    def serves(self, cwd: Path, outputs: Iterable[Path] = ()) -> bool:
        """Whether a command run in `cwd` writing into `outputs` sees them here as in a VM of
        its own: each under one of the shares (a working directory the guest cannot share,
        such as /tmp, is its own in either)."""
        under = [Path(o).resolve() for o in outputs]
        if shares.shareable(cwd.resolve()):
            under.append(cwd.resolve())
        return all(any(p == s or s in p.parents for s in self.shared) for p in under)


def find() -> WarmVM | None:
    return WarmVM.find(NAME)


def up(extra: Iterable[Path] = (), progress=lambda _: None) -> tuple[WarmVM, bool]:
    """The warm VM, booted now unless it is up already; whether it was booted now."""
    WarmVM.RECORDS.mkdir(parents=True, exist_ok=True)
    with (WarmVM.RECORDS / "up.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # two `vm up` at once boot one VM
        running = find()
        if running is not None:
            return running, False
        session = WarmVM.start(NAME, progress=progress, extra=[Path(p).resolve() for p in extra])
        try:
            progress("loading the testbed in it (once: later commands start at once)")
            deadline = time.monotonic() + PRELOAD_TIMEOUT_S
            while not (session.directory / "zygote.ready").exists() and time.monotonic() < deadline:
                time.sleep(0.1)  # past the deadline it serves anyway: commands wait for the imports
        except BaseException:
            session.kill()
            raise
        session.release()
        return session, True


def down() -> bool:
    """Stop the warm VM (its running commands are asked to end first); whether one was up."""
    running = find()
    if running is None:
        return False
    running.stop()
    return True
