"""The README's shell blocks, as the tests that run them as written read them."""

from __future__ import annotations

import re

from tests.cli import ROOT


def shell_lines(after: str, before: str | None = None) -> list[str]:
    """Every command line of the ```sh blocks between the marker `after` and the next
    section (or the marker `before`), without its trailing comment."""
    text = (ROOT / "README.md").read_text()
    assert after in text, f"the README has no {after!r}"
    section = text.split(after, 1)[1].split("\n## ", 1)[0]
    if before is not None:
        section = section.split(before, 1)[0]
    blocks = re.findall(r"```sh\n(.*?)```", section, re.DOTALL)
    return [line.split("  #", 1)[0].strip() for block in blocks for line in block.splitlines() if line.strip()]
