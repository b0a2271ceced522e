"""Property-based fuzzing of the two input languages: whatever the bytes, loading a profile
or a scenario either works (exit 0) or raises InputError whose every problem names its
file and line (exit 2). Anything else (a traceback, exit 1) fails the property.

Two sources of inputs: byte-level mutations of every catalog profile and scenario, and
documents generated from the JSON Schema with wrong values put in. In-process, the same
code the CLI runs (main maps InputError to 2 and nothing else to it)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from testbed.compile.compiler import compile_profile
from testbed.errors import InputError
from testbed.profile.loader import PROFILE_DIR, catalog, load_profile
from testbed.profile.schema import profile_json_schema
from testbed.scenario.loader import SCENARIO_DIR, load_scenario
from testbed.scenario.model import Scenario

PROFILES = [p for p in catalog() if p.stat().st_size < 20_000]
SCENARIOS = sorted(SCENARIO_DIR.rglob("*.yaml"))
# 800 examples a test keep the four under 60 s on CI; TESTBED_FUZZ_EXAMPLES=20000 for a long campaign
FUZZ = settings(max_examples=int(os.environ.get("TESTBED_FUZZ_EXAMPLES", 800)), deadline=None,
                suppress_health_check=[HealthCheck.too_slow])
JUNK = st.one_of(st.none(), st.booleans(), st.integers(-10**20, 10**20), st.floats(allow_nan=True),
                 st.text(max_size=12), st.sampled_from(["", "%", "10.0.0.0/33", "fe80::%eth0/64", "-1ms",
                                                        "1e400", ".nan", "@nope", "0x", "65536", "99999999tbit"]),
                 st.lists(st.integers(), max_size=3), st.dictionaries(st.text(max_size=4), st.integers(), max_size=2))


def _located(exc: InputError) -> None:
    assert exc.problems
    for problem in exc.problems:
        assert problem.file, problem
        assert problem.line is not None or problem.field, f"no line or field: {problem}"


def _load_profile_text(data: bytes, directory: Path) -> None:
    path = directory / "fuzzed.yaml"
    path.write_bytes(data)
    try:
        compile_profile(load_profile(path))
    except InputError as exc:
        _located(exc)


def _load_scenario_text(data: bytes, directory: Path) -> None:
    path = directory / "fuzzed.yaml"
    path.write_bytes(data)
    try:
        load_scenario(path)
    except InputError as exc:
        _located(exc)


@st.composite
def mutated(draw, sources: list[Path]) -> bytes:
    data = bytearray(draw(st.sampled_from(sources)).read_bytes())
    for _ in range(draw(st.integers(1, 4))):
        where = draw(st.integers(0, max(0, len(data) - 1)))
        kind = draw(st.sampled_from(["flip", "insert", "delete", "duplicate-line", "swap-chars"]))
        if kind == "flip" and data:
            data[where] = draw(st.integers(0, 255))
        elif kind == "insert":
            data[where:where] = draw(st.binary(min_size=1, max_size=8)) if draw(st.booleans()) else \
                draw(st.sampled_from([b":", b"- ", b"[", b"{", b"&a ", b"*a", b"\t", b"  ", b"\n", b"\"", b"%"]))
        elif kind == "delete":
            del data[where:where + draw(st.integers(1, 40))]
        elif kind == "duplicate-line":
            lines = bytes(data).split(b"\n")
            k = draw(st.integers(0, len(lines) - 1))
            data = bytearray(b"\n".join([*lines[:k + 1], lines[k], *lines[k + 1:]]))
        elif kind == "swap-chars" and len(data) > where + 1:
            data[where], data[where + 1] = data[where + 1], data[where]
    return bytes(data)


@FUZZ
@given(mutated(PROFILES))
def test_mutated_profiles_load_or_name_their_line(data: bytes) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "data").symlink_to(PROFILE_DIR / "data")  # relative address-set files resolve
        _load_profile_text(data, Path(tmp))


@FUZZ
@given(mutated(SCENARIOS))
def test_mutated_scenarios_load_or_name_their_line(data: bytes) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        _load_scenario_text(data, Path(tmp))


@st.composite
def from_schema(draw, node: dict, defs: dict, depth: int = 0):
    """A document shaped by the schema, with a wrong value put in here and there."""
    if "$ref" in node:
        node = defs[node["$ref"].split("/")[-1]]
    if depth > 6 or draw(st.integers(0, 9)) == 0:
        return draw(JUNK)
    for key in ("anyOf", "oneOf"):
        if key in node:
            return draw(from_schema(draw(st.sampled_from(node[key])), defs, depth + 1))
    kind = node.get("type")
    if kind == "object" or "properties" in node:
        properties = node.get("properties", {})
        names = draw(st.lists(st.sampled_from(sorted(properties)), unique=True, max_size=len(properties))) \
            if properties else []
        names += [n for n in node.get("required", []) if n not in names]
        return {n: draw(from_schema(properties.get(n, {}), defs, depth + 1)) for n in names}
    if kind == "array":
        return draw(st.lists(from_schema(node.get("items", {}), defs, depth + 1), max_size=3))
    if "enum" in node:
        return draw(st.sampled_from(node["enum"]))
    if "const" in node:
        return node["const"]
    if kind == "string":
        return draw(st.sampled_from(node.get("examples", []) or ["x"]) | st.text(max_size=10))
    if kind == "integer":
        return draw(st.integers(-5, 70000))
    if kind == "number":
        return draw(st.floats(-10, 1e6, allow_nan=False))
    if kind == "boolean":
        return draw(st.booleans())
    return draw(JUNK)


PROFILE_SCHEMA = profile_json_schema()
SCENARIO_SCHEMA = Scenario.model_json_schema(by_alias=True)


@FUZZ
@given(from_schema(PROFILE_SCHEMA, PROFILE_SCHEMA.get("$defs", {})))
def test_profiles_from_the_schema_with_wrong_values(document) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        _load_profile_text(yaml.safe_dump(document).encode(), Path(tmp))


@FUZZ
@given(from_schema(SCENARIO_SCHEMA, SCENARIO_SCHEMA.get("$defs", {})))
def test_scenarios_from_the_schema_with_wrong_values(document) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        _load_scenario_text(yaml.safe_dump(document).encode(), Path(tmp))
