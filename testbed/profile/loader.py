"""Load profiles from YAML: validate, resolve address-set files, name every problem's line."""

from __future__ import annotations

import difflib
import hashlib
import ipaddress
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from testbed.errors import InputError, Problem
from testbed.profile.matches import flag_references, set_references
from testbed.profile.model import AddressSetFile, Profile
from testbed.profile.yamlpos import Path_, dotted, line_of, load_yaml_with_lines

M = TypeVar("M", bound=BaseModel)

PROFILE_DIR = Path(__file__).resolve().parents[2] / "profiles"


@dataclass(frozen=True)
class LoadedProfile:
    profile: Profile
    source: Path
    address_sets: dict[str, tuple[str, ...]]
    sha256: str
    files: tuple[Path, ...] = ()  # every file read: the profile and its address lists


def _field_names(model: type[BaseModel], seen: set[type] | None = None) -> set[str]:
    """Every field name (and alias) reachable from `model`, for 'did you mean' hints."""
    seen = seen if seen is not None else set()
    if model in seen:
        return set()
    seen.add(model)
    names: set[str] = set()
    for name, info in model.model_fields.items():
        names.add(info.alias or name)
        for arg in _types_in(info.annotation):
            if isinstance(arg, type) and issubclass(arg, BaseModel):
                names |= _field_names(arg, seen)
    return names


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


def _clean_loc(loc: tuple[Any, ...], data: Any, missing: bool = False) -> Path_:
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


def _message(error: dict[str, Any], vocabulary: set[str]) -> str:
    kind = error["type"]
    message = error["msg"]
    if kind == "extra_forbidden":
        key = str(error["loc"][-1])
        close = difflib.get_close_matches(key, sorted(vocabulary), n=1)
        return f"unknown field {key!r}" + (f" (did you mean {close[0]!r}?)" if close else "")
    if kind == "missing":
        return "required field is missing"
    for prefix in ("Value error, ", "Assertion failed, "):
        if message.startswith(prefix):
            message = message[len(prefix):]
    return message


def validate_document(model: type[M], data: Any, lines: dict[Path_, int], file: str) -> M:
    """Validate parsed YAML against `model`, turning every error into a located Problem."""
    if not isinstance(data, dict):
        raise InputError([Problem(file, lines.get((), 1), "",
                                  f"expected a mapping of fields, got {type(data).__name__}")])
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        vocabulary = _field_names(model)
        problems = []
        seen: set[tuple[str, str]] = set()
        for error in exc.errors():
            at = _clean_loc(error["loc"], data, missing=error["type"] == "missing")
            message = _message(error, vocabulary)
            if (dotted(at), message) in seen:
                continue
            seen.add((dotted(at), message))
            problems.append(Problem(file, line_of(lines, at), dotted(at), message))
        raise InputError(problems) from None


def _read_prefix_file(base: Path, set_name: str, ref: AddressSetFile, lines: dict[Path_, int],
                      profile_file: str) -> tuple[str, ...]:
    path = (base / ref.file).resolve()
    field = f"address_sets.{set_name}.file"
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise InputError([Problem(profile_file, line_of(lines, ("address_sets", set_name)), field,
                                  f"cannot read {ref.file}: {exc.strerror}")]) from None
    prefixes: list[str] = []
    problems: list[Problem] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        entry = raw.split("#", 1)[0].strip()
        if not entry:
            continue
        try:
            prefixes.append(str(ipaddress.ip_network(entry, strict=True)))
        except ValueError as exc:
            problems.append(Problem(str(path), number, set_name, f"{entry!r}: {exc}"))
        if len(problems) >= 10:
            break
    if problems:
        raise InputError(problems)
    if not prefixes:
        raise InputError([Problem(str(path), None, set_name, "the file lists no prefixes")])
    return tuple(prefixes)


def _cross_check(profile: Profile, lines: dict[Path_, int], file: str) -> None:
    """Checks that span fields: unique class names, address-set references that resolve."""
    problems: list[Problem] = []
    seen: set[str] = set()
    for index, cls in enumerate(profile.classes):
        at: Path_ = ("classes", index, "name")
        if cls.name in seen or cls.name == "default":
            problems.append(Problem(file, line_of(lines, at), dotted(at),
                                    f"class name {cls.name!r} is used twice (or is reserved)"))
        seen.add(cls.name)
        for ref in set_references(cls.match):
            if ref not in profile.address_sets:
                known = ", ".join(sorted(profile.address_sets)) or "none defined"
                where: Path_ = ("classes", index, "match", "dst")
                if ("classes", index, "match", "dst") not in lines:
                    where = ("classes", index, "match")
                problems.append(Problem(file, line_of(lines, where), dotted(where),
                                        f"class {cls.name!r} uses @{ref}, which is not in "
                                        f"address_sets ({known})"))
    problems += _flags_set_before_use(profile, lines, file)
    problems += _duplicate_netem_alone(profile, lines, file)
    if problems:
        raise InputError(problems)


MAX_FLAGS = 32  # bits of the conntrack mark


def _flags_set_before_use(profile: Profile, lines: dict[Path_, int], file: str) -> list[Problem]:
    """A `flagged` match needs a class that sets that flag; flags are bits of a 32-bit mark."""
    problems = []
    set_flags = flags_of(profile)
    for index, cls in enumerate(profile.classes):
        for ref in flag_references(cls.match):
            if ref not in set_flags:
                at: Path_ = ("classes", index, "match", "flagged")
                if at not in lines:
                    at = ("classes", index, "match")
                known = ", ".join(set_flags) or "no class sets a flag"
                problems.append(Problem(file, line_of(lines, at), dotted(at),
                                        f"class {cls.name!r} tests flag {ref!r}, which no class sets "
                                        f"with `flag: {ref}` ({known})"))
    if len(set_flags) > MAX_FLAGS:
        problems.append(Problem(file, None, "classes", f"{len(set_flags)} flags; at most {MAX_FLAGS}"))
    return problems


def flags_of(profile: Profile) -> list[str]:
    """Flag names set by the profile's classes, sorted (a flag's bit is its index)."""
    return sorted({a.flag for c in profile.classes for d in ("uplink", "downlink")
                   if (a := c.for_direction(d)).flag})


def _duplicate_netem_alone(profile: Profile, lines: dict[Path_, int], file: str) -> list[Problem]:
    """Current kernels refuse a duplicating netem next to any other netem in the same tree."""
    problems = []
    link_delay = bool(profile.link and profile.link.delay)
    holders = [("default", profile.default), *((f"classes[{i}]", c) for i, c in enumerate(profile.classes))]
    for direction in ("uplink", "downlink"):
        netems = [(where, h) for where, h in holders if h.for_direction(direction).netem or link_delay]
        for where, holder in netems:
            action = holder.for_direction(direction)
            if action.netem and action.netem.duplicate and len(netems) > 1:
                key = "both" if holder.both is not None else direction
                at: Path_ = (*_path(where), key, "netem", "duplicate")
                problems.append(Problem(file, line_of(lines, at), dotted(at),
                                        "duplicate needs its netem to be the only one on the interface "
                                        "(Linux refuses a duplicating netem next to other netems); "
                                        "here other classes or link.delay use netem too"))
    return problems


def _path(where: str) -> Path_:
    if where == "default":
        return ("default",)
    return ("classes", int(where[len("classes["):-1]))


def load_profile(path: str | Path) -> LoadedProfile:
    """Load and validate one profile file. Raises InputError naming file, line and field."""
    source = Path(path)
    data, lines = load_yaml_with_lines(source)
    profile = validate_document(Profile, data, lines, str(source))
    _cross_check(profile, lines, str(source))
    sets: dict[str, tuple[str, ...]] = {}
    files = [source]
    for name, members in profile.address_sets.items():
        if isinstance(members, AddressSetFile):
            sets[name] = _read_prefix_file(source.parent, name, members, lines, str(source))
            files.append(source.parent / members.file)
        else:
            sets[name] = tuple(members)
        if not sets[name]:
            raise InputError([Problem(str(source), line_of(lines, ("address_sets", name)),
                                      f"address_sets.{name}", "the set is empty")])
    digest = hashlib.sha256(source.read_bytes())
    for name in sorted(sets):
        digest.update("\n".join(sets[name]).encode())
    return LoadedProfile(profile, source, sets, digest.hexdigest(), tuple(files))


def resolve_yaml(name_or_path: str, directory: Path, kind: str) -> Path:
    """A path as given, or a bare name looked up as NAME.yaml in `directory`."""
    candidate = Path(name_or_path)
    if candidate.exists() or candidate.suffix in (".yaml", ".yml") or "/" in name_or_path:
        return candidate
    named = directory / f"{name_or_path}.yaml"
    if named.exists():
        return named
    known = sorted(p.stem for p in directory.glob("*.yaml"))
    close = difflib.get_close_matches(name_or_path, known, n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    raise InputError([Problem(name_or_path, None, "", f"no such {kind} file, nor a name in "
                                                      f"{directory.name}/{hint}")])


def resolve_profile_path(name_or_path: str) -> Path:
    return resolve_yaml(name_or_path, PROFILE_DIR, "profile")


def catalog() -> list[Path]:
    return sorted(PROFILE_DIR.glob("*.yaml"))
