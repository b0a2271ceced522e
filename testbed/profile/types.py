"""Pydantic field types that read human units and hold canonical integers."""

from __future__ import annotations

import ipaddress
import re
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    WithJsonSchema,
)

from testbed.profile.units import (
    format_duration,
    format_percent,
    format_rate,
    parse_duration_ns,
    parse_percent,
    parse_rate_bps,
    parse_size_bytes,
)

NAME_PATTERN = r"^[a-z][a-z0-9_-]{0,40}$"
PROFILE_NAME_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,40}$"  # profiles may start with a digit: 3g


class Strict(BaseModel):
    """Unknown fields are errors (a typo must not pass silently); values are frozen; types are
    strict (`true` is not a number, "5" not an integer)."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True, strict=True)


class FieldError(ValueError):
    """A check over several fields that names the one at fault: the loader adds `path` (relative
    to the model that raised it) to the error's location, so the message points at its line."""

    def __init__(self, path: str | tuple[str | int, ...], message: str):
        super().__init__(message)
        self.path = path if isinstance(path, tuple) else (path,)


U32_MAX = 2**32 - 1
# a count of packets: the kernel keeps them in 32-bit fields (netem limit, slot packets)
Count = Annotated[int, Field(ge=1, le=U32_MAX, strict=True)]


def _schema(pattern: str, example: str, description: str) -> WithJsonSchema:
    return WithJsonSchema(
        {"type": "string", "pattern": pattern, "examples": [example], "description": description}
    )


Nanoseconds = Annotated[
    int,
    BeforeValidator(parse_duration_ns),
    PlainSerializer(format_duration, return_type=str),
    _schema(r"^[0-9.]+(ns|us|µs|ms|s|m|min|h)$", "40ms", "a duration: 40ms, 1.5s, 10m"),
]


def at_least(minimum: str) -> AfterValidator:
    """A duration of at least `minimum` (zero and shorter are refused, in the user's units)."""
    bound = parse_duration_ns(minimum)

    def check(value: int) -> int:
        if value < bound:
            raise ValueError(f"{format_duration(value) if value else '0s'} is too short: at least {minimum}")
        return value

    return AfterValidator(check)


def Duration(minimum: str) -> Any:  # noqa: N802 - reads as a type: `interval: Duration("1ms")`
    """Nanoseconds that must be at least `minimum`."""
    return Annotated[Nanoseconds, at_least(minimum)]


BitsPerSecond = Annotated[
    int,
    BeforeValidator(parse_rate_bps),
    PlainSerializer(format_rate, return_type=str),
    _schema(r"^[0-9.]+([kmgt]?bit|[kmg]ibit)$", "128kbit", "a rate in bits/s: 128kbit, 2mbit"),
]
Bytes = Annotated[
    int,
    BeforeValidator(parse_size_bytes),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "integer", "minimum": 0},
                {"type": "string", "pattern": r"^[0-9.]+\s*([KMG]i?B|B)?$"},
            ],
            "examples": ["16KiB", 1500],
            "description": "a size: 1500, 1500B, 16KiB, 1MB",
        }
    ),
]
Percent = Annotated[
    float,
    BeforeValidator(parse_percent),
    PlainSerializer(format_percent, return_type=str),
    _schema(r"^[0-9.]+%$", "5%", "a percentage with its % sign: 5%, 0.5%"),
]

_PORT_RANGE = re.compile(r"^\s*(\d+)\s*-\s*(\d+)\s*$")


def _parse_port_range(value: Any) -> tuple[int, int]:
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not a port")
    if isinstance(value, int):
        low = high = value
    elif isinstance(value, str) and value.strip().isdigit():
        low = high = int(value)
    elif isinstance(value, str) and (m := _PORT_RANGE.match(value)):
        low, high = int(m[1]), int(m[2])
    else:
        raise ValueError(f"{value!r} is not a port or a range like '590-1400'")
    for port in (low, high):
        if not 0 <= port <= 65535:
            raise ValueError(f"port {port} is outside 0-65535")
    if low > high:
        raise ValueError(f"port range {value!r} runs backwards; write '{high}-{low}'")
    return low, high


PortRange = Annotated[
    tuple[int, int],
    BeforeValidator(_parse_port_range),
    WithJsonSchema({"anyOf": [{"type": "integer"}, {"type": "string", "pattern": r"^\d+-\d+$"}]}),
]


def as_list(value: Any) -> Any:
    """A single item stands for a list of one; an empty list matches nothing: refused."""
    if value == []:
        raise ValueError("an empty list matches nothing: give at least one item, or leave the field out")
    return value if isinstance(value, list) else [value]


def _parse_address(value: Any) -> str:
    """A CIDR (v4 or v6) or '@set' reference. Host bits set is an error: it is usually a typo."""
    if not isinstance(value, str):
        raise ValueError(f"{value!r} is not an address; write a CIDR like '10.0.0.0/8' or '@setname'")
    text = value.strip()
    if text.startswith("@"):
        if not re.fullmatch(r"@[a-z][a-z0-9_]{0,40}", text):
            raise ValueError(f"{text!r}: set names are lower case letters, digits and _")
        return text
    if "%" in text:
        raise ValueError(f"{text!r}: an IPv6 zone (%...) names a local interface; nft matches addresses only")
    try:
        network = ipaddress.ip_network(text, strict=True)
    except ValueError as exc:
        try:
            loose = ipaddress.ip_network(text, strict=False)
        except ValueError:
            raise ValueError(f"{text!r} is not an IPv4/IPv6 address or CIDR") from exc
        raise ValueError(f"{text!r} has host bits set; did you mean {loose}?") from exc
    return str(network)


Address = Annotated[
    str,
    BeforeValidator(_parse_address),
    WithJsonSchema({"type": "string", "examples": ["91.108.0.0/18", "@telegram"]}),
]
AddressList = Annotated[list[Address], BeforeValidator(as_list)]
PortList = Annotated[list[PortRange], BeforeValidator(as_list)]


def _parse_hex(value: Any) -> str:
    """Payload bytes as hex: 0x2112A442 or '21 12 a4 42'. Returns lower-case hex without 0x."""
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise ValueError(f"{value!r} is not hex bytes; write e.g. '0x2112A442'")
    if isinstance(value, int):
        raise ValueError(
            f"{value!r} is a YAML integer, which loses its width; quote it as hex, e.g. '0x2112A442'"
        )
    text = value.strip().lower().replace(" ", "")
    if text.startswith("0x"):
        text = text[2:]
    if not text or not re.fullmatch(r"[0-9a-f]+", text):
        raise ValueError(f"{value!r} is not hex bytes; write e.g. '0x2112A442'")
    if len(text) % 2:
        raise ValueError(f"{value!r} has an odd number of hex digits; give whole bytes")
    if len(text) > 32:
        raise ValueError(f"{value!r} is longer than 16 bytes, the most one match can compare")
    return text


HexBytes = Annotated[
    str,
    BeforeValidator(_parse_hex),
    WithJsonSchema({"type": "string", "pattern": "^(0x)?[0-9a-fA-F]+$", "examples": ["0x2112A442"]}),
]
