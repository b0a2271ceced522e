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
            "ru-2021-twitter-throttle-by-address", "ru-2025-16kb-freeze", "ru-tspu-quic-block", "ru-2023-vpn-block",
            "ru-2018-telegram-ip-block", "ru-2025-mobile-whitelist", "ir-throttle-curfew", "uae-voip-block",
            "ru-2021-twitter-throttle", "ru-tspu-ech-block", "ru-2025-mobile-whitelist-sni"}


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


def test_docs_are_generated_from_the_current_catalog() -> None:
    """docs/profiles.md and docs/metrics.md must be regenerated (`testbed
    docs`) when a profile, a signature or a workload's metrics change."""
    from testbed.scenario.docs import stale

    assert stale() == [], "stale generated docs: run `testbed docs`"


def test_action_summaries_read_as_plain_language() -> None:
    from testbed.profile.actions import Action
    from testbed.report.describe import describe_action

    freeze = Action.model_validate({"drop": True, "after": {"reply_bytes": "16KiB"}})
    assert describe_action(freeze) == "drop once the connection has carried 16KiB from the side that answered"
    residual = Action.model_validate({"drop": True, "residual": {"duration": "10m", "scope": "host"}})
    assert describe_action(residual) == "drop; then block the host for 10 min"
    police = Action.model_validate({"police": {"rate": "150kbit", "burst": "16KiB", "per": "flow",
                                               "idle_timeout": "10m"}})
    assert describe_action(police) == "police to 150kbit per flow, burst 16KiB, state kept 10 min idle"
    assert describe_action(Action()) == "pass"


def test_long_sets_are_abbreviated_in_the_docs_only() -> None:
    from testbed.report.catalog import _abbreviated

    script = "\t\telements = {\n" + "".join(f"\t\t\t10.0.{i}.0/24,\n" for i in range(100)) + "\t\t}\n"
    text = _abbreviated(script)
    assert "10.0.5.0/24" in text and "10.0.6.0/24" not in text
    assert "# ... 94 more" in text


def test_merge_refuses_a_file_that_is_not_a_signature_record(tmp_path) -> None:
    from testbed.errors import InputError
    from testbed.report.catalog import merge_measured

    (tmp_path / "x.json").write_text('{"profile": "clean"}')
    with pytest.raises(InputError, match="needs profile, passed, checks"):
        merge_measured(tmp_path, tmp_path / "merged.json")
    (tmp_path / "x.json").write_text("not json")
    with pytest.raises(InputError, match="x.json"):
        merge_measured(tmp_path, tmp_path / "merged.json")
    assert not (tmp_path / "merged.json").exists()


def test_try_hint_puts_the_callee_inside_a_matched_range() -> None:
    import ipaddress

    from testbed.profile.loader import resolve_profile_path
    from testbed.scenario.trial import address_hint
    from testbed.topology.model import HostSpec

    assert address_hint(load_profile(resolve_profile_path("clean"))) is None
    hint = address_hint(load_profile(resolve_profile_path("ru-2021-twitter-throttle-by-address")))
    assert hint is not None
    example = hint.rsplit(" ", 1)[-1]
    assert ipaddress.ip_address(example) in ipaddress.ip_network("104.244.40.0/21")
    HostSpec(name="callee", address=example)  # a usable host address
