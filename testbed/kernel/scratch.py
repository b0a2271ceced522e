"""Scratch directories named by the process that made them, so that `testbed clean` can
remove those of a process killed with -9 (a TemporaryDirectory cleans up on every exit but
that one) and leave those of live processes alone."""

from __future__ import annotations

import re
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from testbed.kernel.process import alive

PREFIX = "testbed-scratch-"
_NAME = re.compile(rf"^{PREFIX}(\d+)\.")


@contextmanager
def scratch(kind: str) -> Iterator[Path]:
    """A fresh directory under the temporary directory, removed on the way out."""
    import os

    with tempfile.TemporaryDirectory(prefix=f"{PREFIX}{os.getpid()}.{kind}-") as path:
        yield Path(path)


def leftovers(pid: int | None = None) -> list[Path]:
    """Scratch directories whose process is gone (of process `pid` only, when given)."""
    out = []
    for path in sorted(Path(tempfile.gettempdir()).glob(f"{PREFIX}*")):
        found = _NAME.match(path.name)
        if found is None:
            continue
        owner = int(found.group(1))
        if (pid is None or owner == pid) and not alive(owner, None):
            out.append(path)
    return out


def remove_leftovers(pid: int | None = None) -> list[str]:
    removed = []
    for path in leftovers(pid):
        shutil.rmtree(path, ignore_errors=True)
        removed.append(f"scratch directory {path}")
    return removed
