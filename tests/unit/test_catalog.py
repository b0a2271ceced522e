"""The catalog's promises that need no kernel: every profile is complete, honest about its
source, and has a signature scenario that exercises it and asserts something."""

from __future__ import annotations

from pathlib import Path

import pytest

from testbed.compile.compiler import compile_profile
from testbed.profile.loader import catalog, load_profile
from testbed.scenario.loader import SIGNATURE_DIR, load_scenario, resolve_scenario_path, signature_path

PROFILES = catalog()
REQUIRED = {"clean", "3g", "lossy-wifi", "satellite", "ru-2025-calls-degraded", "ru-2025-calls-blocked",
            "ru-2021-twitter-throttle", "ru-2025-16kb-freeze", "ru-tspu-quic-block", "ru-2023-vpn-block",
            "ru-2018-telegram-ip-block", "ru-2025-mobile-whitelist", "ir-throttle-curfew", "uae-voip-block"}


def test_the_catalog_has_every_technique() -> None:
    assert {p.stem for p in PROFILES} >= REQUIRED


@pytest.mark.parametrize("path", PROFILES, ids=[p.stem for p in PROFILES])
def test_profile_is_documented_and_compiles(path: Path) -> None:
    loaded = load_profile(path)
    profile = loaded.profile
    assert profile.name == path.stem
    assert profile.provenance, "say where the technique comes from"
    assert "should observe" in profile.description, "tell a student what to look for"
    compile_profile(loaded)


@pytest.mark.parametrize("path", PROFILES, ids=[p.stem for p in PROFILES])
def test_profile_has_a_signature_that_uses_it(path: Path) -> None:
    scenario_path = signature_path(path.stem)
    assert scenario_path.exists(), f"write {scenario_path}"
    loaded = load_scenario(scenario_path)
    assert loaded.scenario.name == path.stem
    assert any(p.source.resolve() == path.resolve() for p in loaded.profiles.values())
    assert len(loaded.scenario.expect) >= 3


def test_signatures_are_reachable_by_profile_name_and_nothing_is_orphaned() -> None:
    assert resolve_scenario_path("ru-tspu-quic-block") == SIGNATURE_DIR / "ru-tspu-quic-block.yaml"
    assert resolve_scenario_path("ru-2025-calls").parent.name == "scenarios"  # a scenario wins
    orphans = {p.stem for p in SIGNATURE_DIR.glob("*.yaml")} - {p.stem for p in PROFILES}
    assert not orphans
