"""Which `nft` command lines run through libnftables in process (kernel/nft.py), and as what."""

from __future__ import annotations

import pytest

from testbed.kernel.nft import translate


@pytest.mark.parametrize(("args", "expected"), [
    (["list", "tables"], ([], False, None, "list tables")),
    (["-t", "list", "table", "inet", "t"], (["terse"], False, None, "list table inet t")),
    (["-t", "-j", "list", "table", "inet", "t"], (["terse", "json"], False, None, "list table inet t")),
    (["-c", "-f", "-"], ([], True, "-", None)),
    (["-f", "-"], ([], False, "-", None)),
    (["-f", "/tmp/rules.nft"], ([], False, "/tmp/rules.nft", None)),
    (["-a", "list", "chain", "inet", "t", "c"], (["handle"], False, None, "list chain inet t c")),
    (["delete", "table", "inet", "t"], ([], False, None, "delete table inet t")),
])
def test_the_options_the_testbed_uses_are_translated(args, expected) -> None:
    assert translate(args) == expected


@pytest.mark.parametrize("args", [
    [],  # nothing to run: the program says so
    ["--version"],
    ["-v"],
    ["-i"],  # interactive
    ["-e", "add", "table", "inet", "t"],  # echo: not translated, so the program runs
    ["-f"],  # no file named
    ["-f", "-", "list", "tables"],  # a file and a command: the program refuses it
    ["-n", "list", "ruleset"],
])
def test_anything_else_runs_the_program(args) -> None:
    assert translate(args) is None


def test_a_file_from_stdin_needs_stdin_and_nothing_runs_without_the_binding(monkeypatch) -> None:
    from testbed.kernel import nft

    monkeypatch.setattr(nft, "binding", lambda: object())
    assert nft.handles(["-f", "-"], "table inet t {}\n") and not nft.handles(["-f", "-"], None)
    assert not nft.handles(["--version"], None)
    monkeypatch.setattr(nft, "binding", lambda: None)  # the program runs instead
    assert not nft.handles(["list", "tables"], None)
