"""JSON Schema of the profile language, as editors should see it.

Pydantic describes the validated shapes; the YAML also accepts shorthands that the
model expands before validating (`loss: 5%`, `dst_port: 443` for a one-item list,
`length: 100-1400`). Those alternatives are added here so the schema accepts exactly
what the loader accepts.
"""

from __future__ import annotations

from typing import Any

from testbed.profile.model import Profile

SCALAR_OR_LIST = {"src", "dst", "src_port", "dst_port", "dscp"}
SHORTHANDS: dict[str, dict[str, Any]] = {
    "loss": {"type": "string", "pattern": r"^[0-9.]+%$"},
    "duplicate": {"type": "string", "pattern": r"^[0-9.]+%$"},
    "corrupt": {"type": "string", "pattern": r"^[0-9.]+%$"},
    "reorder": {"type": "string", "pattern": r"^[0-9.]+%$"},
    "rate": {"type": "string", "pattern": r"^[0-9.]+([kmgt]?bit|[kmg]ibit)$"},
    "length": {"anyOf": [{"type": "integer"}, {"type": "string", "pattern": r"^\d+(\s*-\s*\d+)?$"}]},
    "payload_length": {"anyOf": [{"type": "integer"}, {"type": "string", "pattern": r"^\d+(\s*-\s*\d+)?$"}]},
}


def _widen(node: Any) -> None:
    if isinstance(node, dict):
        for name, prop in (node.get("properties") or {}).items():
            if name in SCALAR_OR_LIST:
                node["properties"][name] = {"anyOf": [prop, *_items(prop)]}
            elif name in SHORTHANDS and "$ref" in str(prop):
                node["properties"][name] = {"anyOf": [prop, SHORTHANDS[name]]}
        for value in node.values():
            _widen(value)
    elif isinstance(node, list):
        for value in node:
            _widen(value)


def _items(prop: dict[str, Any]) -> list[dict[str, Any]]:
    """The item schemas of an (optional) array property: a single item is accepted too."""
    found = []
    for option in prop.get("anyOf", [prop]):
        if option.get("type") == "array":
            found.append(option["items"])
    return found


def profile_json_schema() -> dict[str, Any]:
    schema = Profile.model_json_schema(by_alias=True)
    _widen(schema)
    return schema
