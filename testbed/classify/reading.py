"""What a reader makes of a flow's first bytes. Every reader answers one of three ways:

- its answer (a ClientHello, a host name): the bytes so far say what the flow is;
- `Incomplete`: the bytes so far begin a message of its kind but do not yet say what it
  names: read more of the flow (a DPI box holds its verdict for the next segment);
- None: the bytes are not a message of its kind, or one too broken to read: stop reading.

A reader never raises and never trusts a length: whatever the bytes, one of the three.
"""

from __future__ import annotations

import string
from dataclasses import dataclass

MAX_HOST_NAME_BYTES = 255  # RFC 1035 section 2.3.4, as RFC 6066 section 3 and RFC 3986 take it
HOST_NAME_BYTES = frozenset((string.ascii_letters + string.digits + "-._").encode())


@dataclass(frozen=True)
class Incomplete:
    needed: int | None = None  # how many more bytes the message needs, when its lengths say


def host_name(raw: bytes) -> str | None:
    """`raw` lowercased if it is a name a blocklist can hold (letters, digits, '-', '.', '_'; 1 to
    255 bytes); None for anything else: a NUL, a space, a non-ASCII byte (IDNs travel as
    punycode), so that no reader ever hands on a name a C-string matcher would read shorter."""
    if not 0 < len(raw) <= MAX_HOST_NAME_BYTES or not HOST_NAME_BYTES.issuperset(raw):
        return None
    return raw.decode("ascii").lower()
