"""CLI commands that need no root: profiles list/show/validate/schema, plan."""

from __future__ import annotations

import json

import jsonschema
import yaml

from testbed.profile.loader import catalog
from tests.cli import run_cli as _cli


def test_schema_is_valid_json_schema_and_accepts_the_catalog() -> None:
    result = _cli("profiles", "schema")
    assert result.returncode == 0
    schema = json.loads(result.stdout)
    jsonschema.Draft202012Validator.check_schema(schema)
    for path in catalog():
        jsonschema.validate(yaml.safe_load(path.read_text()), schema)


def test_list_shows_every_catalog_profile_with_confidence() -> None:
    result = _cli("profiles", "list")
    assert result.returncode == 0
    for path in catalog():
        name = yaml.safe_load(path.read_text())["name"]
        assert name in result.stdout
    assert "documented" in result.stdout and "guessed" in result.stdout


def test_show_and_validate() -> None:
    shown = _cli("profiles", "show", "ru-2021-twitter-throttle-by-address")
    assert shown.returncode == 0 and "Xue et al." in shown.stdout
    valid = _cli("profiles", "validate", *map(str, catalog()))
    assert valid.returncode == 0 and valid.stdout.count(": ok") == len(catalog())
    everything = _cli("profiles", "validate")  # no argument: the whole catalog
    assert everything.returncode == 0 and everything.stdout.count(": ok") == len(catalog())
    by_name = _cli("profiles", "validate", "3g", "nonexistent")
    assert by_name.returncode == 2 and "3g.yaml: ok" in by_name.stdout and "nonexistent" in by_name.stderr
    assert "signature: " in _cli("profiles", "show", "ru-tspu-quic-block").stdout


def test_docs_check_reports_freshness() -> None:
    result = _cli("profiles", "docs", "--check")
    assert result.returncode == 0 and "up to date" in result.stdout


def test_plan_text_and_json() -> None:
    text = _cli("plan", "ru-2025-calls-degraded", "--netns", "tb-main-censor")
    assert text.returncode == 0
    assert "ip netns exec tb-main-censor tc qdisc replace dev out0 parent 1:10 handle 10: netem" in text.stdout
    plan = json.loads(_cli("plan", "ru-2025-calls-degraded", "--json").stdout)
    assert plan["profile"] == "ru-2025-calls-degraded" and "sch_netem" in plan["features"]


def test_unknown_catalog_name_suggests_a_close_one() -> None:
    result = _cli("plan", "ru-2021-twitter-throtle")
    assert result.returncode == 2 and "did you mean 'ru-2021-twitter-throttle'" in result.stderr


def test_commands_needing_root_say_so_after_checking_their_input() -> None:
    """As a user without root: a good command says it needs root (exit 3); a bad option is
    named first (exit 2), root or not."""
    needs = _cli("up", as_nobody=True)
    assert needs.returncode == 3 and "needs root" in needs.stderr
    bad = _cli("up", "--backend", "ovs", as_nobody=True)
    assert bad.returncode == 2 and "ovs" in bad.stderr and "root" not in bad.stderr
    seconds = _cli("try", "clean", "--seconds", "nan", as_nobody=True)
    assert seconds.returncode == 2 and "nan" in seconds.stderr


def test_schema_accepts_the_shorthands_and_refuses_unknown_fields() -> None:
    import pytest

    from testbed.profile.schema import profile_json_schema

    schema = profile_json_schema()
    doc = {"name": "x", "title": "t", "confidence": "guessed", "classes": [
        {"name": "a", "match": {"protocol": "udp", "dst_port": 443, "length": "100-1400"},
         "both": {"netem": {"delay": "10ms", "loss": "5%", "rate": "1mbit"}}}]}
    jsonschema.validate(doc, schema)
    doc["classes"][0]["both"]["netem"]["dealy"] = "5ms"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(doc, schema)
