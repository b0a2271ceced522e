"""Reading NumPy files from any thread of a process.

NumPy parses each array's header with ast.literal_eval, and CPython 3.11 before 3.11.5 (the
testbed VM runs Debian's 3.11.2) keeps the AST converter's recursion depth in state the
whole interpreter shares (gh-106905): two threads parsing at once fail with "SystemError:
AST constructor recursion depth mismatch". A phase's workloads run in threads and all end
together, so every read here takes one lock, and an .npz is read whole inside it.
"""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np

_READING = threading.Lock()


def load_npz(path: Path | str) -> dict[str, np.ndarray]:
    """Every array of an .npz, by name."""
    with _READING, np.load(path) as data:
        return {name: data[name] for name in data.files}


def load_npy(path: Path | str) -> np.ndarray:
    with _READING:
        return np.load(path)
