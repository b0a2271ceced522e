"""docs/ARCHITECTURE.md stays true: every code block that names a file is in that file."""

from __future__ import annotations

import re

import pytest

from tests.cli import ROOT

DOC = ROOT / "docs" / "ARCHITECTURE.md"
BLOCK = re.compile(r'```python title="([^"]+)"\n(.*?)```', re.DOTALL)


def _blocks() -> list[tuple[str, str]]:
    return BLOCK.findall(DOC.read_text())


def test_the_document_has_its_worked_examples() -> None:
    files = [name for name, _ in _blocks()]
    assert "testbed/scenario/workloads/ping.py" in files and "testbed/cli/results.py" in files


@pytest.mark.parametrize(("name", "code"), _blocks(), ids=[name for name, _ in _blocks()])
def test_each_example_is_the_current_code(name: str, code: str) -> None:
    assert code in (ROOT / name).read_text(), f"docs/ARCHITECTURE.md shows code that {name} no longer has"


def test_every_path_the_document_names_exists() -> None:
    for path in set(re.findall(r"`((?:testbed|tests|docs)/[\w/.]+)`", DOC.read_text())):
        assert (ROOT / path).exists(), path
