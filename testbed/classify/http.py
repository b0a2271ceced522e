"""The Host of an HTTP/1.x request, read as a censor's DPI box reads it from the first bytes a
client sends: the request line, then header lines up to the first Host (RFC 9112 sections 3
and 5, RFC 9110 section 7.2), within the first 8 KiB.

Lines end in CRLF or a bare LF (servers take both). The answer is the Host's host part,
lowercased, port and IPv6 brackets taken off; "" when the request names no host a blocklist
could hold: its header block ends without a Host, or the Host is empty or no host name (a
space, a non-ASCII byte, a port that is not digits). A header line no server takes is None, as
a request: a NUL or other control byte in it, a name that is not a token, a line folded onto
the one before (obsolete).
"""

from __future__ import annotations

import ipaddress
import string

from testbed.classify.reading import Incomplete, host_name

METHODS = (b"GET", b"HEAD", b"POST", b"PUT", b"DELETE", b"OPTIONS", b"PATCH", b"CONNECT", b"TRACE")
VERSIONS = (b"HTTP/1.0", b"HTTP/1.1")
MAX_HEADER_BYTES = 8192  # nginx's default large_client_header_buffers line: what a reader buffers
HOST = b"host"
TOKEN_BYTES = frozenset((string.ascii_letters + string.digits + "!#$%&'*+-.^_`|~").encode())  # RFC 9110 5.6.2
TARGET_BYTES = frozenset(range(0x21, 0x7F))  # visible ASCII
VALUE_BYTES = frozenset(b"\t" + bytes(range(0x20, 0x7F)) + bytes(range(0x80, 0x100)))  # field-vchar, SP, HTAB
PORT_BYTES = frozenset(string.digits.encode())
IPV6_BYTES = frozenset((string.hexdigits + ":.").encode())


def read_http_host(data: bytes) -> str | Incomplete | None:
    """The Host the request at the start of `data` names (module docstring), Incomplete while
    the bytes so far begin a request and its Host line has not come yet, None if not HTTP/1.x."""
    *lines, partial = data[:MAX_HEADER_BYTES].split(b"\n")
    for index, line in enumerate(lines):
        if index == 0:
            if not _is_request_line(line, whole=True):
                return None
        elif line in (b"", b"\r"):  # the end of the header block
            return ""
        elif not _is_header(line, whole=True):
            return None
        else:
            name, _, value = line.removesuffix(b"\r").partition(b":")
            if name.lower() == HOST:
                return _host(value)
    if len(data) >= MAX_HEADER_BYTES:
        return None
    fits = _is_request_line(partial, whole=False) if not lines else _is_header(partial, whole=False)
    return Incomplete() if fits else None


def _is_request_line(line: bytes, whole: bool) -> bool:
    """Whether `line` (its LF taken off) is a request line, or if not `whole` the start of one."""
    parts = line.removesuffix(b"\r").split(b" ")
    if len(parts) > 3 or (whole and len(parts) < 3):
        return False
    method = parts[0]
    if not (method in METHODS if len(parts) > 1 else any(m.startswith(method) for m in METHODS)):
        return False
    if len(parts) > 1 and not TARGET_BYTES.issuperset(parts[1]):
        return False
    if len(parts) > 2:
        version = parts[2]
        known = version in VERSIONS if whole else any(v.startswith(version) for v in VERSIONS)
        return bool(parts[1]) and known
    return True


def _is_header(line: bytes, whole: bool) -> bool:
    """Whether `line` (its LF taken off) is a header line, or if not `whole` the start of one or
    of the empty line that ends the block."""
    name, colon, value = line.removesuffix(b"\r").partition(b":")
    if not colon:
        return not whole and TOKEN_BYTES.issuperset(name)
    return bool(name) and TOKEN_BYTES.issuperset(name) and VALUE_BYTES.issuperset(value)


def _host(value: bytes) -> str:
    """The host part of a Host value (RFC 9110 section 7.2: uri-host [":" port]), "" if none."""
    value = value.strip(b" \t")
    if value.startswith(b"["):
        literal, bracket, port = value[1:].partition(b"]")
        return _ipv6(literal) if bracket and _is_port(port) else ""
    name, colon, port = value.partition(b":")
    return (host_name(name) or "") if _is_port(colon + port) else ""


def _is_port(rest: bytes) -> bool:
    """Whether what follows the host is nothing or ":" and a port (empty is allowed)."""
    return rest == b"" or (rest[:1] == b":" and len(rest) <= 6 and PORT_BYTES.issuperset(rest[1:]))


def _ipv6(literal: bytes) -> str:
    """An IPv6 literal lowercased as written, "" if it is none."""
    if not IPV6_BYTES.issuperset(literal):
        return ""
    text = literal.decode("ascii").lower()
    try:
        ipaddress.IPv6Address(text)
    except ipaddress.AddressValueError:
        return ""
    return text
