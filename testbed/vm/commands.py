"""The host side of one command run in the guest: copy its inputs in, stream its output
out (stdout to stdout, stderr to stderr, as it comes), pass signals on, return its code.

Files in the spec directory, named after the command's stem: STEM.stdout, STEM.stderr,
STEM.exit (written last, atomically), STEM.interrupt (the host asks the command to stop).
"""

from __future__ import annotations

import shutil
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path

from testbed.errors import EnvironmentFailure, InputError, Interrupted
from testbed.vm.shares import MAX_COPIED_BYTES

POLL_S = 0.05
INTERRUPT_GRACE_S = 30  # how long an interrupted command gets to clean up in the guest


class CommandLost(EnvironmentFailure):
    pass


def copy_inputs(spec_dir: Path, stem: str, files: tuple[Path, ...]) -> list[dict]:
    """Copy input files into the spec directory; the guest puts them at their own paths."""
    total = sum(f.stat().st_size for f in files if f.is_file())
    if total > MAX_COPIED_BYTES:
        raise InputError.single(f"the inputs outside the shared directories take {total >> 20} MiB; "
                                f"the VM takes at most {MAX_COPIED_BYTES >> 20} MiB that way: move them "
                                "under the current directory")
    copies = []
    for k, path in enumerate(files):
        if not path.is_file():
            continue  # the command itself says what is wrong with a missing input
        name = f"{stem}-{k}"
        shutil.copyfile(path, spec_dir / "files" / name)
        copies.append({"from": f"files/{name}", "to": str(path)})
    return copies


class Stream:
    """Follow STEM.stdout and STEM.stderr to this process's own, until STEM.exit appears."""

    def __init__(self, spec_dir: Path, stem: str, quiet: bool = False, capture: bool = False) -> None:
        self.base = spec_dir / stem
        self.offsets = {".stdout": 0, ".stderr": 0}
        self.quiet = quiet
        self.capture = capture  # keep stdout here (self.captured) instead of printing it
        self.captured = b""

    def _pump(self) -> None:
        if self.quiet:
            return
        for suffix, sink in ((".stdout", sys.stdout.buffer), (".stderr", sys.stderr.buffer)):
            path = self.base.with_name(self.base.name + suffix)
            if not path.exists():
                continue
            with path.open("rb") as f:
                f.seek(self.offsets[suffix])
                chunk = f.read()
            if chunk:
                self.offsets[suffix] += len(chunk)
                if self.capture and suffix == ".stdout":
                    self.captured += chunk
                    continue
                sink.write(chunk)
                sink.flush()

    def exit_code(self) -> int | None:
        path = self.base.with_name(self.base.name + ".exit")
        return int(path.read_text()) if path.exists() else None

    def interrupt(self, signum: int) -> None:
        self.base.with_name(self.base.name + ".interrupt").write_text(str(signum))

    def follow(self, alive: Callable[[], bool], what: str, deadline: float | None = None) -> int:
        """The command's exit code once it ends. Raises CommandLost if the VM stops first and
        TimeoutError past `deadline` (time.monotonic())."""
        while True:
            code = self.exit_code()
            self._pump()
            if code is not None:
                return code
            if not alive():
                raise CommandLost(f"the VM stopped before {what} finished (did the guest crash?)")
            if deadline is not None and time.monotonic() > deadline:
                raise TimeoutError
            time.sleep(POLL_S)

    def follow_or_stop(self, alive: Callable[[], bool], what: str, deadline: float | None = None) -> int:
        """follow(); on Ctrl-C or SIGTERM here, the command is asked to stop (and given time to
        clean up) before the interrupt goes on."""
        try:
            return self.follow(alive, what, deadline)
        except KeyboardInterrupt:
            self.stop(signal.SIGINT, alive)
            raise
        except Interrupted as exc:
            self.stop(exc.signum, alive)
            raise

    def started(self) -> bool:
        """The guest has begun the command (it opens its output files just before)."""
        return any(self.base.with_name(self.base.name + s).exists() for s in (".stdout", ".stderr"))

    def stop(self, signum: int, alive: Callable[[], bool]) -> int | None:
        """Ask the command to stop (as with `signum`) and wait a while for it to clean up; a
        command the guest has not begun (it is still booting) has nothing to clean up."""
        if not self.started():
            return None
        self.interrupt(signum)
        try:
            return self.follow(alive, "the interrupted command", time.monotonic() + INTERRUPT_GRACE_S)
        except (TimeoutError, CommandLost):
            return None

    def cleanup(self) -> None:
        for suffix in (".stdout", ".stderr", ".exit", ".interrupt"):
            self.base.with_name(self.base.name + suffix).unlink(missing_ok=True)
