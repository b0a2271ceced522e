"""A TLS ClientHello read as a censor's DPI box reads it: from the first bytes a client sends on
a TCP stream, the handshake message joined from as many records as it spans, no length trusted.

Structures: the record layer (RFC 8446 section 5.1), the handshake header and ClientHello
(section 4.1.2), server_name (RFC 6066 section 3), ALPN (RFC 7301 section 3.1),
supported_versions (RFC 8446 section 4.2.1), encrypted_client_hello (draft-ietf-tls-esni-22
section 5). Every length is checked against the end its enclosing structure declares before
it is used (a lie there is None, even in a message we only have the start of), then against
the bytes we have (too few is Incomplete), so no slice is ever read short.

A truncated message still answers when its server_name extension is wholly here
(complete=False): DPI boxes match the name without waiting for the rest of the hello, and a
hello longer than one TCP segment (a post-quantum key share) is what the second segment is for.
"""

from __future__ import annotations

from dataclasses import dataclass

from testbed.classify.reading import Incomplete, host_name

RECORD_HEADER_BYTES = 5  # content type (1), legacy record version (2), length (2)
CONTENT_HANDSHAKE = 22
RECORD_VERSION_MIN = 0x0300  # SSL 3.0: what some clients still put on their first record
RECORD_VERSION_MAX = 0x0304
MAX_RECORD_BYTES = 16384  # 2^14, the most plaintext a record may carry
MAX_RECORDS = 64  # a hello cut into more records than this is an evasion, not a client
HANDSHAKE_HEADER_BYTES = 4  # message type (1), length (3)
HANDSHAKE_CLIENT_HELLO = 1
MAX_MESSAGE_BYTES = 65536  # real hellos are under 2 KiB; with 64 records of 1 KiB a hello can be 64 KiB

LEGACY_VERSION_BYTES = 2
RANDOM_BYTES = 32
MAX_SESSION_ID_BYTES = 32
EXTENSION_HEADER_BYTES = 4  # type (2), length (2)

EXT_SERVER_NAME = 0x0000
EXT_ALPN = 0x0010
EXT_SUPPORTED_VERSIONS = 0x002B
EXT_ECH = 0xFE0D
NAME_TYPE_HOST_NAME = 0
ECH_OUTER = 0  # ECHClientHello.type: the outer hello carries the encrypted inner one
ECH_INNER = 1  # sent only inside the encrypted inner hello: the type byte alone
ECH_CIPHER_SUITE_BYTES = 4  # HPKE KDF id (2), AEAD id (2)
ECH_CONFIG_ID_BYTES = 1

_SHORT = Incomplete()  # the bytes stop before the field we need: read_client_hello says how many more

Span = tuple[int, int]  # [start, end) of a vector's contents


@dataclass(frozen=True)
class ClientHello:
    sni: str | None  # the first host_name, lowercased; None without one, or if it is no host name
    ech: bool  # an encrypted_client_hello extension is there (real or GREASE: they look alike)
    alpn: tuple[str, ...]
    versions: tuple[int, ...]  # supported_versions as listed (GREASE too), else the legacy version
    complete: bool  # the whole message was there; if not, the fields say what its start says
    extensions: tuple[int, ...]  # the types, in the order sent


def is_tls_start(data: bytes) -> bool:
    """The first bytes are a whole handshake record header: the flow speaks TLS. False too while
    fewer than its 5 bytes are here (a client may split there): read_client_hello's Incomplete
    says whether to wait for more."""
    return isinstance(_record_length(data, 0), int)


def read_client_hello(data: bytes) -> ClientHello | Incomplete | None:
    """The ClientHello at the start of `data`, Incomplete while its start is all there is and it
    has not shown its server name yet, None if it is not a ClientHello (module docstring)."""
    message = _handshake_message(data)
    if message is None:
        return None
    total = _message_length(message)
    if not isinstance(total, int):
        return total
    body = message[HANDSHAKE_HEADER_BYTES:total]
    hello = _client_hello(body, total - HANDSHAKE_HEADER_BYTES)
    if isinstance(hello, Incomplete):
        return Incomplete(total - len(message))
    return hello


def _uint(field: bytes) -> int:
    return int.from_bytes(field, "big")


def _could_be(field: bytes, size: int, low: int, high: int) -> bool:
    """Whether the first bytes `field` of a `size`-byte big-endian number can still make one in
    [low, high] (all of them are here when len(field) == size)."""
    missing = size - len(field)
    return _uint(field + b"\x00" * missing) <= high and _uint(field + b"\xff" * missing) >= low


def _record_length(data: bytes, offset: int) -> int | Incomplete | None:
    """The length of the handshake record whose header starts at `offset`; Incomplete if the
    header is cut short but fits so far."""
    header = data[offset:offset + RECORD_HEADER_BYTES]
    if not (_could_be(header[0:1], 1, CONTENT_HANDSHAKE, CONTENT_HANDSHAKE)
            and _could_be(header[1:3], 2, RECORD_VERSION_MIN, RECORD_VERSION_MAX)
            and _could_be(header[3:5], 2, 1, MAX_RECORD_BYTES)):  # an empty handshake record is illegal
        return None
    if len(header) < RECORD_HEADER_BYTES:
        return _SHORT
    return _uint(header[3:5])


def _message_length(message: bytes) -> int | Incomplete | None:
    """The whole length (header included) of the ClientHello handshake message `message` begins."""
    header = message[:HANDSHAKE_HEADER_BYTES]
    if not (_could_be(header[0:1], 1, HANDSHAKE_CLIENT_HELLO, HANDSHAKE_CLIENT_HELLO)
            and _could_be(header[1:4], 3, 0, MAX_MESSAGE_BYTES)):
        return None
    if len(header) < HANDSHAKE_HEADER_BYTES:
        return _SHORT
    return HANDSHAKE_HEADER_BYTES + _uint(header[1:4])


def _handshake_message(data: bytes) -> bytes | None:
    """The fragments of the records at the start of `data` joined, up to the end of the first
    handshake message: all of it, or as much as `data` holds; what follows it is not read."""
    message = b""
    offset = 0
    for _ in range(MAX_RECORDS):
        length = _record_length(data, offset)
        if length is None:
            return None
        if isinstance(length, Incomplete):  # the stream stops inside a record header
            return message
        start = offset + RECORD_HEADER_BYTES
        message += data[start:start + length]
        total = _message_length(message)
        if total is None:
            return None
        if isinstance(total, int) and len(message) >= total:
            return message[:total]
        if len(data) < start + length:  # the stream stops inside this record
            return message
        offset = start + length
    return None


def _vector(buf: bytes, offset: int, prefix: int, limit: int) -> Span | Incomplete | None:
    """The contents of the vector whose `prefix`-byte length is at `offset`: None if it overruns
    `limit`, the end its enclosing structure declares; Incomplete if its length is not here."""
    start = offset + prefix
    if start > limit:
        return None
    if start > len(buf):
        return _SHORT
    end = start + _uint(buf[offset:start])
    return (start, end) if end <= limit else None


def _client_hello(body: bytes, declared: int) -> ClientHello | Incomplete | None:
    """The ClientHello whose body (`declared` bytes long) `body` is, or the start of."""
    fixed = LEGACY_VERSION_BYTES + RANDOM_BYTES
    if fixed > declared or not _could_be(body[:LEGACY_VERSION_BYTES], LEGACY_VERSION_BYTES,
                                         RECORD_VERSION_MIN, RECORD_VERSION_MAX):
        return None
    if fixed > len(body):
        return _SHORT
    legacy_version = _uint(body[:LEGACY_VERSION_BYTES])
    session_id = _vector(body, fixed, 1, declared)
    if not isinstance(session_id, tuple):
        return session_id
    if session_id[1] - session_id[0] > MAX_SESSION_ID_BYTES:
        return None
    suites = _vector(body, session_id[1], 2, declared)
    if not isinstance(suites, tuple):
        return suites
    if suites[1] == suites[0] or (suites[1] - suites[0]) % 2:  # cipher suites are 2 bytes each
        return None
    compression = _vector(body, suites[1], 1, declared)
    if not isinstance(compression, tuple):
        return compression
    if compression[1] == compression[0]:
        return None
    if compression[1] == declared:  # no extensions: TLS 1.2 and earlier may send none
        if len(body) < declared:
            return _SHORT
        return ClientHello(None, False, (), (legacy_version,), True, ())
    block = _vector(body, compression[1], 2, declared)
    if not isinstance(block, tuple):
        return block
    if block[1] != declared:  # bytes after the extensions
        return None
    return _extensions(body, block, legacy_version)


def _extension_spans(body: bytes, block: Span) -> tuple[list[tuple[int, Span]], bool] | None:
    """(type, contents) of each extension of `block` wholly in `body`, in order, and whether
    they are all of them."""
    spans: list[tuple[int, Span]] = []
    seen: set[int] = set()
    offset, end = block
    while offset < end:  # each turn moves on by at least a header
        contents = _vector(body, offset + 2, 2, end)
        if contents is None:
            return None
        if isinstance(contents, Incomplete):
            return spans, False
        kind = _uint(body[offset:offset + 2])
        if kind in seen:  # RFC 8446 section 4.2: at most one of each type
            return None
        if contents[1] > len(body):
            return spans, False
        seen.add(kind)
        spans.append((kind, contents))
        offset = contents[1]
    return spans, True


def _extensions(body: bytes, block: Span, legacy_version: int) -> ClientHello | Incomplete | None:
    """The ClientHello its extensions make, once the server name is among them or all are here."""
    found = _extension_spans(body, block)
    if found is None:
        return None
    spans, whole = found
    contents = {kind: body[start:end] for kind, (start, end) in spans}
    if not whole and EXT_SERVER_NAME not in contents:
        return _SHORT
    names = _server_names(contents[EXT_SERVER_NAME]) if EXT_SERVER_NAME in contents else ()
    alpn = _protocols(contents[EXT_ALPN]) if EXT_ALPN in contents else ()
    versions = (_supported_versions(contents[EXT_SUPPORTED_VERSIONS])
                if EXT_SUPPORTED_VERSIONS in contents else (legacy_version,))
    if names is None or alpn is None or versions is None:
        return None
    if EXT_ECH in contents and not _ech_well_formed(contents[EXT_ECH]):
        return None
    return ClientHello(sni=host_name(names[0]) if names else None, ech=EXT_ECH in contents, alpn=alpn,
                       versions=versions, complete=whole, extensions=tuple(kind for kind, _ in spans))


def _whole_list(ext: bytes, prefix: int) -> Span | None:
    """The contents of the non-empty list that must fill extension `ext` exactly."""
    span = _vector(ext, 0, prefix, len(ext))  # never Incomplete: the limit is what we have
    if not isinstance(span, tuple) or span[1] != len(ext) or span[0] == span[1]:
        return None
    return span


def _entries(ext: bytes, head: int, prefix: int) -> list[tuple[bytes, bytes]] | None:
    """The (head, value) entries of the list that fills extension `ext`: each a `head`-byte
    field then a non-empty `prefix`-length vector; None if one is empty or overruns."""
    span = _whole_list(ext, 2)
    if span is None:
        return None
    entries: list[tuple[bytes, bytes]] = []
    offset = span[0]
    while offset < len(ext):  # each turn moves on by at least head + prefix + 1 bytes
        value = _vector(ext, offset + head, prefix, len(ext))
        if not isinstance(value, tuple) or value[0] == value[1]:
            return None
        entries.append((ext[offset:offset + head], ext[value[0]:value[1]]))
        offset = value[1]
    return entries


def _server_names(ext: bytes) -> tuple[bytes, ...] | None:
    """The host_name entries of a server_name extension's ServerNameList, in order."""
    entries = _entries(ext, 1, 2)
    if entries is None:
        return None
    return tuple(value for kind, value in entries if kind[0] == NAME_TYPE_HOST_NAME)


def _protocols(ext: bytes) -> tuple[str, ...] | None:
    """The protocol names of an ALPN extension, in order (bytes outside ASCII escaped)."""
    entries = _entries(ext, 0, 1)
    if entries is None:
        return None
    return tuple(value.decode("ascii", "backslashreplace") for _, value in entries)


def _supported_versions(ext: bytes) -> tuple[int, ...] | None:
    """The versions a client's supported_versions extension offers, in its order of preference."""
    span = _whole_list(ext, 1)
    if span is None or (span[1] - span[0]) % 2:
        return None
    return tuple(_uint(ext[i:i + 2]) for i in range(span[0], span[1], 2))


def _ech_well_formed(ext: bytes) -> bool:
    """An encrypted_client_hello extension's framing holds: an inner one is its type byte alone;
    an outer one names an HPKE suite and config, then carries `enc` and a non-empty payload."""
    if ext == bytes([ECH_INNER]):
        return True
    if ext[:1] != bytes([ECH_OUTER]):
        return False
    enc = _vector(ext, 1 + ECH_CIPHER_SUITE_BYTES + ECH_CONFIG_ID_BYTES, 2, len(ext))
    if not isinstance(enc, tuple):
        return False
    payload = _vector(ext, enc[1], 2, len(ext))
    return isinstance(payload, tuple) and payload[1] == len(ext) and payload[0] < payload[1]
