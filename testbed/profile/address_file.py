"""Address-set files: one IPv4 or IPv6 prefix per line, `#` starts a comment.

Read as a stream (millions of lines are fine) from regular files only, with every line
bounded, so a binary file, a device (/dev/zero) or a FIFO is refused in bounded time and
memory. A file that is not an address list at all is named, never quoted: a profile that
says `file: /etc/shadow` must not print a line of it. Later bad lines (in a file that is
an address list) are quoted, cut to a short excerpt.
"""

from __future__ import annotations

import ipaddress
import os
import stat
from pathlib import Path

from testbed.errors import InputError, Problem

MAX_SET_FILE_BYTES = int(os.environ.get("TESTBED_MAX_SET_BYTES", 256 << 20))  # 10 M lines of prefixes
MAX_LINE_BYTES = 256  # a prefix and a comment
EXCERPT = 40  # characters of a bad line shown in an error
MAX_PROBLEMS = 10


def _excerpt(text: str) -> str:
    return repr(text if len(text) <= EXCERPT else text[:EXCERPT] + "...")


def _field(set_name: str) -> str:
    return f"address_sets.{set_name}"


def _not_a_list(file: str, set_name: str, why: str, line: int | None = None) -> InputError:
    return InputError([Problem(file, line, _field(set_name), f"is not an address list: {why}")])


def parse_prefix(entry: str) -> str:
    """A prefix as nft writes it; ValueError with a reason that does not repeat the entry."""
    if "%" in entry:
        raise ValueError("an IPv6 zone (%...) names a local interface; give the address only")
    try:
        return str(ipaddress.ip_network(entry, strict=True))
    except ValueError:
        pass
    try:
        loose = ipaddress.ip_network(entry, strict=False)
    except ValueError:
        raise ValueError("not an IPv4 or IPv6 prefix") from None
    raise ValueError(f"host bits set; did you mean {loose}?")


def _open(path: Path, set_name: str):
    """A regular file of bounded size, opened without ever blocking."""
    file = str(path)
    try:
        info = os.stat(path)
    except ValueError:
        raise _not_a_list(repr(file), set_name, "a file name cannot contain a NUL byte") from None
    except OSError as exc:
        raise InputError([Problem(file, None, _field(set_name), f"cannot read: {exc.strerror}")]) from None
    if not stat.S_ISREG(info.st_mode):
        raise _not_a_list(file, set_name, "not a regular file (a directory, device, FIFO or socket)")
    if info.st_size > MAX_SET_FILE_BYTES:
        raise _not_a_list(file, set_name, f"{info.st_size:,} bytes, above the bound of "
                          f"{MAX_SET_FILE_BYTES:,} (TESTBED_MAX_SET_BYTES sets another)")
    return os.fdopen(os.open(path, os.O_RDONLY | os.O_NONBLOCK), "rb")


def _lines(stream, file: str, set_name: str):
    """(line number, text) of a text file, every line bounded."""
    read = 0
    number = 0
    while raw := stream.readline(MAX_LINE_BYTES + 1):
        number += 1
        read += len(raw)
        why = None
        if read > MAX_SET_FILE_BYTES:
            why = f"it grew past {MAX_SET_FILE_BYTES:,} bytes while being read"
        elif len(raw) > MAX_LINE_BYTES:
            why = f"line {number} is longer than {MAX_LINE_BYTES} bytes"
        elif b"\0" in raw:
            why = "it holds NUL bytes (a binary file)"
        if why:
            raise _not_a_list(file, set_name, why, number)
        try:
            yield number, raw.decode("utf-8")
        except UnicodeDecodeError:
            raise _not_a_list(file, set_name, f"line {number} is not UTF-8 text", number) from None


def read_prefix_file(path: Path, set_name: str) -> tuple[str, ...]:
    """The prefixes of an address-set file (InputError naming file and line otherwise)."""
    file = str(path)
    prefixes: list[str] = []
    problems: list[Problem] = []
    with _open(path, set_name) as stream:
        for number, text in _lines(stream, file, set_name):
            entry = text.split("#", 1)[0].strip()
            if not entry:
                continue
            try:
                prefixes.append(parse_prefix(entry))
            except ValueError as exc:
                if not prefixes:  # the first entry already is not a prefix: name the file, quote nothing
                    raise _not_a_list(file, set_name, f"its first entry (line {number}) is not an IPv4 "
                                      "or IPv6 prefix", number) from None
                problems.append(Problem(file, number, _field(set_name), f"{_excerpt(entry)}: {exc}"))
                if len(problems) >= MAX_PROBLEMS:
                    break
    if problems:
        raise InputError(problems)
    if not prefixes:
        raise InputError([Problem(file, None, _field(set_name), "the file lists no prefixes")])
    return tuple(prefixes)
