"""Checks that span a whole profile, each problem located at the field that causes it:
unique class names, address-set references (also inside any/all/not and flow), flags tested
before they are set, the number of flags, and duplicate netem alone on its interface."""

from __future__ import annotations

from collections.abc import Iterator

from testbed.errors import Problem
from testbed.profile.matches import Match, walk_paths
from testbed.profile.model import Profile
from testbed.profile.yamlpos import Path_, dotted, line_of

MAX_FLAGS = 32  # bits of the conntrack mark (a 32-bit field: ct mark)
DIRECTIONS = ("uplink", "downlink")


def flags_of(profile: Profile) -> list[str]:
    """Flag names set by the profile's classes, sorted (a flag's bit is its index)."""
    return sorted({a.flag for c in profile.classes for d in DIRECTIONS if (a := c.for_direction(d)).flag})


def _references(match: Match, at: Path_) -> Iterator[tuple[Path_, str, str]]:
    """(path, kind, name) of every @set and `flagged` a match tests, at any depth."""
    for sub, node in walk_paths(match, at):
        for where, holder in ((sub, node), ((*sub, "flow"), node.flow)):
            for field in ("src", "dst"):
                for k, address in enumerate(getattr(holder, field, None) or []):
                    if address.startswith("@"):
                        yield (*where, field, k), "set", address[1:]
        if node.flagged:
            yield (*sub, "flagged"), "flag", node.flagged


def _action_path(profile: Profile, index: int, direction: str, field: str) -> Path_:
    cls = profile.classes[index]
    return ("classes", index, "both" if cls.both is not None else direction, field)


def check_profile(profile: Profile, lines: dict[Path_, int], file: str) -> list[Problem]:
    problems: list[Problem] = []

    def problem(at: Path_, message: str) -> None:
        problems.append(Problem(file, line_of(lines, at), dotted(at), message))

    seen: set[str] = set()
    set_flags = flags_of(profile)
    for index, cls in enumerate(profile.classes):
        if cls.name in seen or cls.name == "default":
            problem(("classes", index, "name"), f"class name {cls.name!r} is used twice (or is reserved)")
        seen.add(cls.name)
        for at, kind, name in _references(cls.match, ("classes", index, "match")):
            if kind == "set" and name not in profile.address_sets:
                known = ", ".join(sorted(profile.address_sets)) or "none defined"
                problem(at, f"class {cls.name!r} uses @{name}, which is not in address_sets ({known})")
            elif kind == "flag" and name not in set_flags:
                known = ", ".join(set_flags) or "no class sets a flag"
                problem(at, f"class {cls.name!r} tests flag {name!r}, which no class sets with "
                        f"`flag: {name}` ({known})")
    if len(set_flags) > MAX_FLAGS:
        first_seen: list[str] = []
        for index, cls in enumerate(profile.classes):
            for direction in DIRECTIONS:
                flag = cls.for_direction(direction).flag
                if flag and flag not in first_seen:
                    first_seen.append(flag)
                    if len(first_seen) == MAX_FLAGS + 1:
                        problem(_action_path(profile, index, direction, "flag"), f"{len(set_flags)} flags "
                                f"in all; a connection's mark holds at most {MAX_FLAGS}")
    problems += _duplicate_netem_alone(profile, lines, file)
    return problems


def _duplicate_netem_alone(profile: Profile, lines: dict[Path_, int], file: str) -> list[Problem]:
    """Current kernels refuse a duplicating netem next to any other netem in the same tree."""
    problems = []
    link_delay = bool(profile.link and profile.link.delay)
    holders: list[tuple[Path_, object]] = [(("default",), profile.default)]
    holders += [(("classes", i), c) for i, c in enumerate(profile.classes)]
    for direction in DIRECTIONS:
        netems = [(at, h) for at, h in holders if h.for_direction(direction).netem or link_delay]
        for at, holder in netems:
            action = holder.for_direction(direction)
            if action.netem and action.netem.duplicate and len(netems) > 1:
                key = "both" if holder.both is not None else direction
                path: Path_ = (*at, key, "netem", "duplicate")
                problems.append(Problem(file, line_of(lines, path), dotted(path),
                                        "duplicate needs its netem to be the only one on the interface "
                                        "(Linux refuses a duplicating netem next to other netems); "
                                        "here other classes or link.delay use netem too"))
    return problems
