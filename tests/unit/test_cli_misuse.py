"""Command-line misuse (tests/data/cli_misuse.yaml) is refused with exit 2 and a plain message,
before anything runs and before any root check: as a user without root, and, for a few, as root."""

from __future__ import annotations

import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import yaml

from tests.cli import run_cli

CASES = yaml.safe_load((Path(__file__).parent.parent / "data" / "cli_misuse.yaml").read_text())
IDS = [" ".join(case["args"]).replace("\n", "\\n") or "(none)" for case in CASES]
# refused by option parsing or by a check before the command does anything: safe to try as root
AS_ROOT = [
    ("up", "--backend", "ovs"),
    ("try", "clean", "--seconds", "nan"),
    ("matrix", "clean", "--parallel", "0"),
    ("calls", "--stun", "--reflector"),
    ("clean", "--run", "a", "--all"),
    ("clean", "--pid", "42", "--all"),
    ("plan", "clean", "--netns", "a;b"),
    ("vm", "run", "--timeout", "inf", "--", "true"),
    ("vm", "up", "--share", "/usr/lib"),
    ("score", "/nonexistent-results", "--scores", "pesq,bogus"),
]


def _run_all(as_nobody: bool, cases: list[dict]) -> dict[tuple[str, ...], subprocess.CompletedProcess[str]]:
    """Each case's result; the processes run a few at a time (each is a fresh interpreter)."""
    with ThreadPoolExecutor(max_workers=8) as pool:
        results = pool.map(lambda case: run_cli(*case["args"], timeout=120, as_nobody=as_nobody), cases)
        return {tuple(case["args"]): result for case, result in zip(cases, results, strict=True)}


@pytest.fixture(scope="module")
def as_nobody() -> dict[tuple[str, ...], subprocess.CompletedProcess[str]]:
    return _run_all(True, CASES)


@pytest.fixture(scope="module")
def as_root() -> dict[tuple[str, ...], subprocess.CompletedProcess[str]]:
    return _run_all(False, [case for case in CASES if tuple(case["args"]) in AS_ROOT])


def _assert_refused(case: dict, result: subprocess.CompletedProcess[str]) -> None:
    assert "Traceback" not in result.stderr, result.stderr
    assert "internal error" not in result.stderr, result.stderr
    assert result.returncode == case["code"], (result.returncode, result.stderr)
    assert case["stderr"] in result.stderr, result.stderr


def test_the_table_is_large_and_well_formed() -> None:
    assert len(CASES) >= 25
    for case in CASES:
        assert set(case) == {"args", "code", "stderr"}, case
        assert all(isinstance(a, str) for a in case["args"]) and case["stderr"], case
    assert len({tuple(c["args"]) for c in CASES}) == len(CASES), "each case once"
    assert set(AS_ROOT) <= {tuple(c["args"]) for c in CASES}


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_refused_without_root(case: dict, as_nobody: dict) -> None:
    result = as_nobody[tuple(case["args"])]
    _assert_refused(case, result)
    assert "needs root" not in result.stderr, "input is checked before root"


@pytest.mark.parametrize("args", AS_ROOT, ids=[" ".join(a) for a in AS_ROOT])
def test_refused_as_root_too(args: tuple[str, ...], as_root: dict) -> None:
    case = next(c for c in CASES if tuple(c["args"]) == args)
    _assert_refused(case, as_root[args])
