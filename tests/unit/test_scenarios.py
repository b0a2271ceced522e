"""Scenario loading: the catalog loads; each malformed scenario gives its own located error."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from testbed.errors import InputError
from testbed.scenario.loader import SCENARIO_DIR, load_scenario

CORPUS = sorted((Path(__file__).parent.parent / "data" / "bad_scenarios").glob("*.yaml"))


def test_every_scenario_in_the_repository_loads() -> None:
    scenarios = sorted(SCENARIO_DIR.glob("*.yaml"))
    assert scenarios
    for path in scenarios:
        loaded = load_scenario(path)
        assert loaded.scenario.phases and loaded.scenario.workloads


def test_headline_scenario_tells_the_story() -> None:
    loaded = load_scenario(SCENARIO_DIR / "ru-2025-calls.yaml")
    assert [p.name for p in loaded.scenario.phases] == ["baseline", "restricted", "lifted"]
    assert loaded.profiles["restricted"].profile.name == "ru-2025-calls-degraded"
    checks = {(e.phase, e.check) for e in loaded.scenario.expect}
    assert ("restricted", "voip.mos_cq < 2.5") in checks and ("restricted", "chat.delivered >= 0.99") in checks


def test_corpus_is_large_enough() -> None:
    assert len(CORPUS) >= 140


@pytest.mark.parametrize("path", CORPUS, ids=[p.stem for p in CORPUS])
def test_each_bad_scenario_names_file_line_field(path: Path) -> None:
    expect = path.read_text().splitlines()[0].removeprefix("# expect: ")
    found = re.match(r"^(\d+): (.*)$", expect)
    assert found, "every scenario expectation names its line"
    wanted = f"{path}:{int(found[1]) + 1}: {found[2]}"
    with pytest.raises(InputError) as caught:
        load_scenario(path)
    messages = [str(p) for p in caught.value.problems]
    assert any(m.startswith(wanted) for m in messages), messages


def test_errors_are_distinct() -> None:
    firsts = set()
    for path in CORPUS:
        with pytest.raises(InputError) as caught:
            load_scenario(path)
        firsts.add(str(caught.value.problems[0]).split(":", 2)[2])
    assert len(firsts) == len(CORPUS)
