"""Every malformed profile gives its own specific error, located, through the real CLI path."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from testbed.compile.compiler import compile_profile
from testbed.errors import InputError
from testbed.profile.loader import load_profile
from tests.cli import run_cli

CORPUS = sorted((Path(__file__).parent.parent / "data" / "bad_profiles").glob("*.yaml"))


def _expectation(path: Path) -> tuple[int | None, str]:
    """`# expect: L: text` on line 1; L counts lines of the body below that comment."""
    header = path.read_text().splitlines()[0]
    expect = header.removeprefix("# expect: ")
    found = re.match(r"^(\d+): (.*)$", expect)
    if found:
        return int(found[1]) + 1, found[2]
    return None, expect


def test_corpus_is_large_enough() -> None:
    assert len(CORPUS) >= 220


@pytest.mark.parametrize("path", CORPUS, ids=[p.stem for p in CORPUS])
def test_each_bad_profile_names_file_line_field(path: Path) -> None:
    line, text = _expectation(path)
    with pytest.raises(InputError) as caught:
        compile_profile(load_profile(path))
    messages = [str(p) for p in caught.value.problems]
    wanted = f"{path}:{line}: {text}" if line else text
    assert any(m.startswith(wanted) if line else wanted in m for m in messages), messages


def test_errors_are_distinct() -> None:
    first_errors = set()
    for path in CORPUS:
        with pytest.raises(InputError) as caught:
            compile_profile(load_profile(path))
        first_errors.add(str(caught.value.problems[0]).split(":", 1)[1])
    assert len(first_errors) == len(CORPUS)


def test_cli_exit_code_2_and_no_traceback() -> None:
    path = CORPUS[5]
    result = run_cli("plan", str(path))
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert str(path) in result.stderr
