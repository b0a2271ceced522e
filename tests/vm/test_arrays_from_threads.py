"""A phase's workloads run in threads and read their NumPy files as they end. NumPy parses
each header with ast.literal_eval, which the VM's Python (Debian's 3.11.2, before the fix of
gh-106905) cannot run in two threads at once: a run of ru-2025-calls-degraded lost a call to
"SystemError: AST constructor recursion depth mismatch". Here threads read .npz files while
finalisers switch threads mid-parse, as unclosed files' do: testbed.measure.arrays never fails."""

from __future__ import annotations

import gc
import threading
import time

import numpy as np

from testbed.measure.arrays import load_npz


class Litter:
    """Cyclic garbage whose finaliser lets another thread run."""

    def __init__(self) -> None:
        self.me = self

    def __del__(self) -> None:
        time.sleep(0)


def _read_from_threads(reader, paths, threads: int = 4, rounds: int = 20) -> list[str]:
    errors: list[str] = []

    def run() -> None:
        try:
            for _ in range(rounds):
                for path in paths:
                    Litter()
                    reader(path)
        except Exception as exc:  # the failure under test, counted
            errors.append(repr(exc))

    workers = [threading.Thread(target=run) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return errors


def test_threads_read_arrays_at_once_without_failing(tmp_path) -> None:
    paths = []
    for k in range(4):
        path = tmp_path / f"{k}.npz"
        np.savez(path, **{f"a{i}": np.arange(10) for i in range(20)})
        paths.append(path)
    threshold = gc.get_threshold()
    gc.freeze()  # collections see only the test's own garbage: a whole session's is slow to scan
    gc.set_threshold(5)
    try:
        errors = _read_from_threads(load_npz, paths)
    finally:
        gc.set_threshold(*threshold)
        gc.unfreeze()
    assert errors == []
    assert load_npz(paths[0])["a3"].tolist() == list(range(10))
