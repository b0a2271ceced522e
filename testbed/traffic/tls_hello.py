"""What the `https` client does to its own ClientHello before it leaves: where to split it
(the way zapret and GoodbyeDPI cut the first flight into two TCP segments), and a GREASE
ECH extension added, as Chromium adds one to every hello, for a stack that has no ECH.

Pure functions over the TLS record the client's ssl library produced; no network here.
"""

from __future__ import annotations

import random
import struct

ECH_EXTENSION = 0xFE0D  # encrypted_client_hello (RFC 9849)
PADDING_EXTENSION = 21
RECORD_HEADER = 5  # content type, version, length
HANDSHAKE_HEADER = 4  # message type, 24-bit length


class NotAClientHello(ValueError):
    """The bytes are not one whole ClientHello in one TLS record."""


def _extensions(record: bytes) -> tuple[bytes, list[tuple[int, bytes]]]:
    """The hello's fields before its extensions, and its extensions in order."""
    if len(record) < RECORD_HEADER + HANDSHAKE_HEADER or record[0] != 0x16 or record[5] != 0x01:
        raise NotAClientHello("not a TLS handshake record holding a ClientHello")
    if int.from_bytes(record[3:5], "big") != len(record) - RECORD_HEADER:
        raise NotAClientHello("the hello is not one whole record")
    body = record[RECORD_HEADER + HANDSHAKE_HEADER:]
    p = 34 + 1 + body[34]  # version, random, session id
    p += 2 + int.from_bytes(body[p:p + 2], "big")  # cipher suites
    p += 1 + body[p]  # compression methods
    end = p + 2 + int.from_bytes(body[p:p + 2], "big")
    if end != len(body):
        raise NotAClientHello("the extension block's length does not match the hello's")
    found, q = [], p + 2
    while q < end:
        kind, length = struct.unpack_from("!HH", body, q)
        found.append((kind, body[q + 4:q + 4 + length]))
        q += 4 + length
    return body[:p], found


def _assemble(record: bytes, head: bytes, extensions: list[tuple[int, bytes]]) -> bytes:
    block = b"".join(struct.pack("!HH", kind, len(value)) + value for kind, value in extensions)
    hello = head + struct.pack("!H", len(block)) + block
    message = b"\x01" + len(hello).to_bytes(3, "big") + hello
    return record[:3] + struct.pack("!H", len(message)) + message


def with_grease_ech(record: bytes, seed: int | None = None) -> bytes:
    """The hello with an outer ECH extension appended, shaped as Chromium's GREASE ECH
    (HKDF-SHA256, AES-128-GCM, a random config id, a 32-byte `enc`, a 208-byte payload),
    and OpenSSL's padding extension dropped (it pads only short hellos). A server that has
    no ECH ignores the extension; the client's own transcript no longer matches, so the
    handshake then fails, which is why the workload reports `answered` apart from it."""
    rng = random.Random(seed)
    head, extensions = _extensions(record)
    ech = (b"\x00" + struct.pack("!HH", 1, 1) + bytes([rng.randrange(256)])
           + struct.pack("!H", 32) + rng.randbytes(32) + struct.pack("!H", 208) + rng.randbytes(208))
    kept = [(kind, value) for kind, value in extensions if kind not in (PADDING_EXTENSION, ECH_EXTENSION)]
    return _assemble(record, head, [*kept, (ECH_EXTENSION, ech)])


def split_offset(record: bytes, split_at: int | str, server_name: str | None) -> int:
    """Where the first segment ends: a byte count, or `sni` for the middle of the server
    name (so that neither segment holds it whole)."""
    if split_at == "sni":
        if not server_name:
            raise ValueError("split_at: sni needs a server name")
        start = record.find(server_name.encode("ascii"))
        if start < 0:
            raise ValueError(f"the hello does not carry {server_name!r}")
        return start + max(1, len(server_name) // 2)
    assert isinstance(split_at, int)
    return min(max(split_at, 1), len(record) - 1)
