"""Load profiles from YAML: validate, resolve address-set files, name every problem's line."""

from __future__ import annotations

import difflib
import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from pydantic import BaseModel

from testbed.errors import InputError, Problem
from testbed.profile.address_file import read_prefix_file
from testbed.profile.checks import check_profile
from testbed.profile.model import AddressSetFile, Profile
from testbed.profile.validation import validate_document
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
    lines: dict = field(default_factory=dict, compare=False, repr=False)  # key path -> line, for errors


def _read_prefix_file(base: Path, set_name: str, ref: AddressSetFile, lines: dict[Path_, int],
                      profile_file: str) -> tuple[str, ...]:
    at: Path_ = ("address_sets", set_name, "file")

    def located(message: str) -> InputError:
        return InputError([Problem(profile_file, line_of(lines, at), dotted(at), message)])

    if "\0" in ref.file:
        raise located("a file name cannot hold a NUL byte")
    path = base / ref.file
    if not path.exists():
        raise located(f"no such file: {path}")
    if not path.is_file():  # a directory, device, FIFO or socket: never opened
        raise located(f"is not an address list: {path} is not a regular file")
    return read_prefix_file(path, set_name)


def load_profile(path: str | Path) -> LoadedProfile:
    """Load and validate one profile file. Raises InputError naming file, line and field."""
    source = Path(path)
    data, lines = load_yaml_with_lines(source)
    profile = validate_document(Profile, data, lines, str(source))
    problems = check_profile(profile, lines, str(source))
    if problems:
        raise InputError(problems)
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
    return LoadedProfile(profile, source, sets, digest.hexdigest(), tuple(files), lines)


def resolve_yaml(name_or_path: str, directory: Path, kind: str) -> Path:
    """A path as given, or a bare name looked up as NAME.yaml in `directory`."""
    if not name_or_path.strip():
        raise InputError.single(f"give a {kind}: a name in {directory.name}/ or a path to a YAML file")
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
