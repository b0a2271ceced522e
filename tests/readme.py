"""The shell blocks of the README and the guide (docs/), as the tests that run them as
written read them."""

from __future__ import annotations

import re

from tests.cli import ROOT


def shell_lines(after: str, before: str | None = None, page: str = "README.md") -> list[str]:
    """Every command line of the ```sh blocks of `page` between the marker `after` and the
    next section (or the marker `before`), without its trailing comment."""
    text = (ROOT / page).read_text()
    assert after in text, f"{page} has no {after!r}"
    section = text.split(after, 1)[1].split("\n## ", 1)[0]
    if before is not None:
        section = section.split(before, 1)[0]
    blocks = re.findall(r"```sh\n(.*?)```", section, re.DOTALL)
    return [line.split("  #", 1)[0].strip() for block in blocks for line in block.splitlines() if line.strip()]
