"""Pydantic validation of parsed YAML, with every error turned into a located Problem a
person can act on: file, line, the field as written, and a plain message."""

from __future__ import annotations

import difflib
from functools import cache
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from testbed.errors import InputError, Problem
from testbed.profile.types import NAME_PATTERN, PROFILE_NAME_PATTERN, FieldError
from testbed.profile.yamlpos import Path_, dotted, line_of

M = TypeVar("M", bound=BaseModel)

# what a pattern asks for, in words
PATTERNS = {
    NAME_PATTERN: "a name is lower case letters, digits, '-' and '_', starting with a letter (at most 41)",
    PROFILE_NAME_PATTERN: "a name is lower case letters, digits, '-' and '_' (at most 41)",
    r"^[a-z][a-z0-9_]{0,40}$": "a set name is lower case letters, digits and '_', starting with a letter",
}
# errors that only say "this alternative of a union did not fit": noise next to a real reason
GENERIC = {"model_type", "model_attributes_type", "dict_type", "list_type"}
TAG_ERRORS = {"union_tag_not_found", "union_tag_invalid"}  # a discriminated union's tag (`type:`)


def _types_in(annotation: Any) -> list[Any]:
    found = [annotation]
    for arg in getattr(annotation, "__args__", ()) or ():
        found.extend(_types_in(arg))
    for meta in getattr(annotation, "__metadata__", ()) or ():
        found.extend(_types_in(meta))
    origin = getattr(annotation, "__origin__", None)
    if origin is not None:
        found.extend(_types_in(origin))
    return found


# models as a profile's author knows them: by the key that holds them
KNOWN_AS = {"Action": "uplink/downlink/both", "DefaultAction": "uplink/downlink/both",
            "Directions": "default", "DefaultDirections": "default", "TrafficClass": "a class",
            "Profile": "the profile itself",
            "LengthRange": "length", "PayloadMatch": "payload", "FlowMatch": "flow",
            "GilbertElliott": "gemodel",
            "StateLoss": "state", "NetemRate": "netem.rate", "Chance": "duplicate/corrupt",
            "Scenario": "the scenario itself", "ProbeFirst": "first", "HostSpec": "a host",
            "TopologySpec": "topology", "LinkSpec": "link", "Expectation": "expect", "Output": "output"}


@cache
def owners(model: type[BaseModel]) -> dict[str, frozenset[str]]:
    """Every field name (and alias) reachable from `model` -> the models that have it."""
    found: dict[str, set[str]] = {}
    pending, seen = [model], set()
    while pending:
        current = pending.pop()
        if current in seen:
            continue
        seen.add(current)
        for name, info in current.model_fields.items():
            found.setdefault(info.alias or name, set()).add(KNOWN_AS.get(current.__name__,
                                                                         current.__name__.lower()))
            pending += [a for a in _types_in(info.annotation)
                        if isinstance(a, type) and issubclass(a, BaseModel)]
    return {k: frozenset(v) for k, v in found.items()}


def clean_loc(loc: tuple[Any, ...], data: Any, missing: bool = False) -> Path_:
    """Keep the parts of a pydantic error location that index the user's data.

    Pydantic adds labels for union members and validators ('list[...]', 'function-after[...]');
    those are not keys the user wrote. A final plain name is kept: it is a missing field.
    """
    kept: list[str | int] = []
    cursor = data
    for index, part in enumerate(loc):
        in_dict = isinstance(cursor, dict) and part in cursor
        in_list = isinstance(cursor, list) and isinstance(part, int) and 0 <= part < len(cursor)
        if in_dict or in_list:
            kept.append(part)
            cursor = cursor[part]
        elif missing and index == len(loc) - 1 and isinstance(part, str) and part.isidentifier():
            kept.append(part)
    return tuple(kept)


def message(error: dict[str, Any], model: type[BaseModel]) -> str:
    kind = error["type"]
    text = error["msg"]
    if kind == "extra_forbidden":
        key = str(error["loc"][-1])
        known = owners(model)
        if key in known:  # a real field, in the wrong place
            return f"unknown field {key!r} here (it is a field of {', '.join(sorted(known[key]))})"
        close = difflib.get_close_matches(key, sorted(known), n=1)
        return f"unknown field {key!r}" + (f" (did you mean {close[0]!r}?)" if close else "")
    if kind in ("missing", "union_tag_not_found"):
        return "required field is missing"
    if kind == "union_tag_invalid":
        ctx = error.get("ctx") or {}
        return f"unknown type {ctx.get('tag', error['input'])!r}; use one of {ctx.get('expected_tags', '')}"
    if kind == "too_short":
        least = (error.get("ctx") or {}).get("min_length", 1)
        return f"give at least {least} item{'s' if least != 1 else ''}: an empty list does nothing here"
    if kind == "string_pattern_mismatch":
        pattern = (error.get("ctx") or {}).get("pattern", "")
        return f"{error['input']!r}: {PATTERNS.get(pattern, f'does not match {pattern}')}"
    for prefix in ("Value error, ", "Assertion failed, "):
        if text.startswith(prefix):
            text = text[len(prefix):]
    return text


def validate_document(model: type[M], data: Any, lines: dict[Path_, int], file: str,
                      context: dict | None = None) -> M:
    """Validate parsed YAML against `model`, turning every error into a located Problem.
    `context` reaches the validators (a scenario's directory, to resolve the files it names)."""
    if not isinstance(data, dict):
        raise InputError([Problem(file, lines.get((), 1), "",
                                  f"expected a mapping of fields, got {type(data).__name__}")])
    try:
        return model.model_validate(data, context=context)
    except ValidationError as exc:
        found: dict[Path_, list[tuple[str, str]]] = {}
        for error in exc.errors():
            loc = tuple(error["loc"])
            cause = (error.get("ctx") or {}).get("error")
            if isinstance(cause, FieldError):
                loc += cause.path
            elif error["type"] in TAG_ERRORS:  # the `type` field of a workload
                loc += ("type",)
            at = clean_loc(loc, data, missing=error["type"] in ("missing", "union_tag_not_found"))
            entry = (error["type"], message(error, model))
            if entry not in found.setdefault(at, []):
                found[at].append(entry)
        problems = []
        for at, entries in found.items():
            specific = [m for kind, m in entries if kind not in GENERIC]
            for text in specific or [m for _, m in entries]:
                problems.append(Problem(file, line_of(lines, at), dotted(at), text))
        raise InputError(problems) from None
