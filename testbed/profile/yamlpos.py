"""Safe, bounded YAML loading that remembers the line of every key.

A profile or scenario is read once, at most MAX_YAML_BYTES of it, from a regular file
only (a FIFO or /dev/zero would never end), decoded as UTF-8 with the line of any bad
byte named, and parsed once by PyYAML's safe loader with two bounds its own loader lacks:
nesting depth (deeply nested brackets would exhaust the stack) and the size of the
document once aliases are expanded (a "billion laughs" alias bomb). Every refusal is an
InputError naming the file and, where there is one, the line: exit 2, in bounded time.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any

import yaml

from testbed.errors import InputError, Problem

Path_ = tuple[str | int, ...]

MAX_YAML_BYTES = int(os.environ.get("TESTBED_MAX_YAML_BYTES", 1 << 20))  # 1 MiB: a profile is text
MAX_DEPTH = 64  # deeper than any profile or scenario needs; far below Python's recursion limit
MAX_NODES = 500_000  # nodes after alias expansion: 10x what 1 MiB of plain YAML can hold
STR = "tag:yaml.org,2002:str"


def refuse(file: str, message: str, line: int | None = None, field: str = "") -> InputError:
    return InputError([Problem(file, line, field, message)])


def _kind(mode: int) -> str:
    for test, name in ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO"), (stat.S_ISCHR, "a device"),
                       (stat.S_ISBLK, "a device"), (stat.S_ISSOCK, "a socket")):
        if test(mode):
            return name
    return "not a regular file"


def read_bounded(path: Path, limit: int, what: str = "file") -> bytes:
    """The bytes of a regular file of at most `limit` bytes; InputError for anything else."""
    file = str(path)
    try:
        info = os.stat(path)
    except FileNotFoundError:
        raise refuse(file, "no such file") from None
    except ValueError:  # a NUL byte in the name
        raise refuse(repr(file), "a file name cannot contain a NUL byte") from None
    except OSError as exc:
        raise refuse(file, f"cannot read: {exc.strerror}") from None
    if not stat.S_ISREG(info.st_mode):
        raise refuse(file, f"is {_kind(info.st_mode)}, not a {what}")
    if info.st_size > limit:
        raise refuse(file, f"is {info.st_size:,} bytes; a {what} may have at most {limit:,} "
                           "(TESTBED_MAX_YAML_BYTES sets another bound)")
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)  # never blocks, even if it became a FIFO
        with os.fdopen(fd, "rb") as f:
            data = f.read(limit + 1)
    except OSError as exc:
        raise refuse(file, f"cannot read: {exc.strerror}") from None
    if len(data) > limit:
        raise refuse(file, f"grew past {limit:,} bytes while being read")
    return data


def decode(data: bytes, file: str) -> str:
    """UTF-8 text without NUL; a bad byte is named with its line and column."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        before = data[:exc.start]
        column = exc.start - (before.rfind(b"\n") + 1) + 1
        raise refuse(file, f"is not UTF-8 text: byte 0x{data[exc.start]:02x} at column {column}",
                     before.count(b"\n") + 1) from None
    if "\0" in text:
        at = text.index("\0")
        raise refuse(file, "contains a NUL byte: not a text file", text.count("\n", 0, at) + 1)
    return text


class BoundedLoader(yaml.SafeLoader):
    """PyYAML's safe loader, refusing while it composes nesting deeper than MAX_DEPTH and an
    alias inside its own anchor (a cycle; named at the alias's line)."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self.depth = 0
        self.open_anchors: set[str] = set()

    def compose_node(self, parent: Any, index: Any) -> Any:
        event = self.peek_event()
        if isinstance(event, yaml.AliasEvent) and event.anchor in self.open_anchors:
            raise yaml.composer.ComposerError(None, None, "an alias refers to its own anchor",
                                              event.start_mark)
        self.depth += 1
        anchor = getattr(event, "anchor", None) if not isinstance(event, yaml.AliasEvent) else None
        if anchor:
            self.open_anchors.add(anchor)
        try:
            if self.depth > MAX_DEPTH:
                raise yaml.composer.ComposerError(None, None, f"nesting deeper than {MAX_DEPTH} levels",
                                                  event.start_mark)
            return super().compose_node(parent, index)
        finally:
            self.depth -= 1
            self.open_anchors.discard(anchor)


class SelfReference(ValueError):
    def __init__(self, line: int):
        super().__init__("an alias refers to its own anchor")
        self.line = line


def expanded_size(root: yaml.Node) -> int:
    """Nodes in the document once every alias is expanded; linear time (sizes are shared).
    Raises SelfReference for an alias inside its own anchor."""
    sizes: dict[int, int] = {}
    pending: set[int] = set()

    def size(node: yaml.Node) -> int:
        key = id(node)
        if key in sizes:
            return sizes[key]
        if key in pending:
            raise SelfReference(node.start_mark.line + 1)
        pending.add(key)
        total = 1
        if isinstance(node, yaml.SequenceNode):
            total += sum(size(item) for item in node.value)
        elif isinstance(node, yaml.MappingNode):
            total += sum(size(k) + size(v) for k, v in node.value)
        pending.discard(key)
        sizes[key] = min(total, MAX_NODES + 1)  # past the bound the exact count does not matter
        return sizes[key]

    return size(root)


def load_yaml_with_lines(path: Path) -> tuple[Any, dict[Path_, int]]:
    """Parse `path` safely, within bounds. Returns the data and a map from key path to 1-based line."""
    file = str(path)
    text = decode(read_bounded(path, MAX_YAML_BYTES, "YAML file"), file)
    try:
        loader = BoundedLoader(text)
    except yaml.reader.ReaderError as exc:  # a control character: YAML allows printable text only
        line = text.count("\n", 0, exc.position) + 1
        raise refuse(file, f"character #x{exc.character:04x} is not allowed in YAML (a control character)",
                     line) from None
    try:
        root = loader.get_single_node()
        if root is None:
            return None, {}
        try:
            if expanded_size(root) > MAX_NODES:
                raise refuse(file, f"its aliases expand to more than {MAX_NODES:,} values (an alias bomb?)",
                             root.start_mark.line + 1)
        except SelfReference as exc:
            raise refuse(file, str(exc), exc.line) from None
        lines: dict[Path_, int] = {}
        problems: list[Problem] = []
        _walk(root, (), lines, problems, file)  # before constructing, which rewrites merged mappings
        if problems:
            raise InputError(problems)
        data = loader.construct_document(root)
    except yaml.MarkedYAMLError as exc:
        raise refuse(file, f"YAML syntax: {_syntax(exc)}", _line(exc)) from None
    except yaml.YAMLError as exc:
        raise refuse(file, f"YAML: {exc}") from None
    except RecursionError:  # a merge chain or mapping deeper than the bound let through
        raise refuse(file, "YAML nested too deeply") from None
    finally:
        loader.dispose()
    return data, lines


def _syntax(exc: yaml.MarkedYAMLError) -> str:
    """PyYAML's two halves ("while scanning a quoted scalar", "found unexpected end of stream")."""
    return ", ".join(part for part in (exc.context, exc.problem) if part)


def _line(exc: yaml.MarkedYAMLError) -> int | None:
    """Where the mistake is: for an unterminated quote, where it opened; else where it was found."""
    opened = exc.context and "quoted scalar" in exc.context
    mark = (exc.context_mark if opened else None) or exc.problem_mark or exc.context_mark
    return mark.line + 1 if mark else None


def _merged(value_node: yaml.Node) -> list[yaml.MappingNode]:
    """The mappings a merge key (`<<: *base` or `<<: [*a, *b]`) brings in."""
    if isinstance(value_node, yaml.MappingNode):
        return [value_node]
    if isinstance(value_node, yaml.SequenceNode):
        return [n for n in value_node.value if isinstance(n, yaml.MappingNode)]
    return []


def _walk(node: yaml.Node, at: Path_, lines: dict[Path_, int], problems: list[Problem], file: str) -> None:
    lines.setdefault(at, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        seen: set[Any] = set()
        merges = []
        for key_node, value_node in node.value:
            key = key_node.value
            if key_node.tag == "tag:yaml.org,2002:merge" or key == "<<":
                merges += _merged(value_node)
                continue
            if key_node.tag != STR or not isinstance(key_node, yaml.ScalarNode):
                problems.append(Problem(file, key_node.start_mark.line + 1, dotted(at + (str(key),)),
                                        "Keys should be strings: every field has a name (quote it: '5')"))
                continue
            if key in seen:
                problems.append(Problem(file, key_node.start_mark.line + 1, dotted(at + (key,)),
                                        "key appears twice"))
            seen.add(key)
            lines[at + (key,)] = key_node.start_mark.line + 1
            _walk(value_node, at + (key,), lines, problems, file)
        for merged in merges:  # merged keys: their lines are the anchor's; explicit keys win
            for key_node, value_node in merged.value:
                if key_node.value not in seen:
                    lines.setdefault(at + (key_node.value,), key_node.start_mark.line + 1)
                    _walk(value_node, at + (key_node.value,), lines, problems, file)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _walk(item, at + (index,), lines, problems, file)


def dotted(at: Path_) -> str:
    out = ""
    for part in at:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def line_of(lines: dict[Path_, int], at: Path_) -> int | None:
    """The line of the deepest known prefix of `at`."""
    for end in range(len(at), -1, -1):
        if at[:end] in lines:
            return lines[at[:end]]
    return None
