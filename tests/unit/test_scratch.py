"""Scratch directories carry their process's pid: clean removes those of dead processes only."""

from __future__ import annotations

import os
import tempfile

from testbed.kernel import scratch

DEAD = 4194999  # above the default pid_max: no process has it


def test_a_scratch_directory_is_named_by_its_process_and_removed_on_the_way_out(tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    with scratch.scratch("calls") as path:
        assert path.is_dir() and path.name.startswith(f"testbed-scratch-{os.getpid()}.calls-")
        assert scratch.leftovers() == []  # its process lives
    assert not path.exists()


def test_clean_takes_the_directories_of_dead_processes_only(tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    dead = tmp_path / f"testbed-scratch-{DEAD}.webrtc-s1x00-abcd"
    other_dead = tmp_path / f"testbed-scratch-{DEAD - 1}.calls-abcd"
    live = tmp_path / f"testbed-scratch-{os.getpid()}.calls-abcd"
    unrelated = tmp_path / "testbed-scratch-notapid"
    for path in (dead, other_dead, live, unrelated):
        (path / "inner").mkdir(parents=True)
    assert scratch.remove_leftovers(pid=DEAD) == [f"scratch directory {dead}"]  # --pid: that process's only
    assert scratch.leftovers() == [other_dead]
    scratch.remove_leftovers()
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([live.name, unrelated.name])
