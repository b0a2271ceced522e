"""The speech cache: voices synthesised and media encoded once per machine, for every run.
The testbed VM mounts the host's at the same path (testbed/vm/machine.py), so a VM run does
not make them again (about a minute per run in the emulated VM)."""

from __future__ import annotations

import os
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")

CACHE = Path(os.environ.get("TESTBED_CACHE", "/var/cache/testbed")) / "speech"
# missing, cut short, or of another format: made again
UNREADABLE = (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile)


def remembered(name: str, read: Callable[[Path], T], make: Callable[[], T],
               write: Callable[[T, Path], None]) -> T:
    """CACHE/name read back, or made and written there (`write` replaces the file atomically).
    A damaged entry is made again; a cache that cannot be written costs only the time."""
    path = CACHE / name
    try:
        return read(path)
    except UNREADABLE:
        pass
    value = make()
    try:
        CACHE.mkdir(parents=True, exist_ok=True)
        write(value, path)
    except OSError:
        pass
    return value
