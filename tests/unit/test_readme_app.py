"""The guide's "Test your own app" (docs/your-app.md): its pytest excerpt is the example's own test, word for word,
so the code people copy is code CI runs (examples/voiceapp/test_voiceapp.py)."""

from __future__ import annotations

import re

from tests.cli import ROOT


def test_the_fixture_excerpt_is_the_examples_own_test() -> None:
    section = (ROOT / "docs" / "your-app.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", section, re.DOTALL)
    assert len(blocks) == 1
    example = (ROOT / "examples" / "voiceapp" / "test_voiceapp.py").read_text()
    assert blocks[0] in example
    # the whole of what it shows: the helper, and the test through its assertions on the counts
    assert blocks[0].startswith("def call(net") and "def test_policed_replies" in blocks[0]
    assert blocks[0].rstrip().endswith('figures["sent"] - figures["received"]')
