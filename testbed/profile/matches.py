"""What a censor picks out: a traffic class's match, a tree of fields and combinators."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BeforeValidator, Field, model_validator

from testbed.profile.names import check_pattern
from testbed.profile.types import (
    NAME_PATTERN,
    AddressList,
    Bytes,
    FieldError,
    HexBytes,
    PortList,
    Strict,
    as_list,
)

MAX_LENGTH = 65535
NamePatterns = Annotated[list[Annotated[str, AfterValidator(check_pattern)]], BeforeValidator(as_list)]


class LengthRange(Strict):
    min: Bytes | None = None
    max: Bytes | None = None

    @model_validator(mode="before")
    @classmethod
    def _from_text(cls, value: Any) -> Any:
        if isinstance(value, str) and "-" in value:
            low, _, high = value.partition("-")
            return {"min": low.strip(), "max": high.strip()}
        if isinstance(value, int | str):
            return {"min": value, "max": value}
        return value

    @model_validator(mode="after")
    def _ordered(self) -> LengthRange:
        if self.min is None and self.max is None:
            raise ValueError("give min, max or both")
        for name in ("min", "max"):
            if (getattr(self, name) or 0) > MAX_LENGTH:
                raise FieldError(name, f"lengths stop at {MAX_LENGTH} bytes (an IP packet's 16-bit length)")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise FieldError("max", f"min {self.min} is above max {self.max}")
        return self


class PayloadMatch(Strict):
    """Bytes at a fixed offset of the transport payload (after the UDP/TCP header)."""

    offset: int = Field(ge=0, le=1400, description="bytes after the UDP/TCP header")
    value: HexBytes
    mask: HexBytes | None = None

    @model_validator(mode="after")
    def _mask_width(self) -> PayloadMatch:
        if self.mask is not None and len(self.mask) != len(self.value):
            raise FieldError("mask", f"mask has {len(self.mask) // 2} bytes but value has "
                             f"{len(self.value) // 2}; give them the same width")
        return self


Protocol = Literal["udp", "tcp", "icmp", "any"]


def _some(name: str):
    """`all: []` and `any: []` would match everything or nothing: refused."""

    def check(value: Any) -> Any:
        if value == []:
            raise ValueError(f"'{name}' needs at least one item")
        return value

    return check


class FlowMatch(Strict):
    """The connection a packet belongs to, as its first packet opened it (conntrack's original
    tuple): `src` is the side that opened it. A class matching `flow: {dst_port: 5000}` takes
    both directions of connections to port 5000, the replies from 5000 included, where
    `dst_port: 5000` takes only the packets sent to 5000."""

    protocol: Literal["udp", "tcp"] | None = None
    src: AddressList | None = Field(None, description="the address that opened the connection")
    dst: AddressList | None = Field(None, description="the address it was opened to")
    src_port: PortList | None = None
    dst_port: PortList | None = None

    @model_validator(mode="after")
    def _something(self) -> FlowMatch:
        if all(getattr(self, name) is None for name in ("protocol", "src", "dst", "src_port", "dst_port")):
            raise ValueError("give protocol, src, dst, src_port or dst_port")
        return self


class Match(Strict):
    """Every field given must hold (AND); `any` needs one of its items, `not` negates."""

    protocol: Protocol | None = None
    src: AddressList | None = None
    dst: AddressList | None = None
    src_port: PortList | None = None
    dst_port: PortList | None = None
    length: LengthRange | None = Field(None, description="IP packet length, bytes")
    payload_length: LengthRange | None = Field(None, description="UDP payload length, bytes")
    dscp: Annotated[list[Annotated[int, Field(ge=0, le=63)]], BeforeValidator(as_list)] | None = None
    payload: PayloadMatch | None = None
    flagged: str | None = Field(None, pattern=NAME_PATTERN,
                                description="the connection was flagged by an earlier packet's class")
    flow: FlowMatch | None = Field(None, description="the packet's connection, both ways, by the tuple of "
                                                     "its first packet")
    # read from the flow's first data packets by the userspace reader (testbed/classify)
    tls_sni: NamePatterns | None = Field(None, description="the TLS ClientHello's server name: "
                                         "name, *.suffix, *suffix, *substring*")
    http_host: NamePatterns | None = Field(None, description="the HTTP request's Host header, same patterns")
    tls_ech: bool | None = Field(None, description="the ClientHello carries Encrypted Client Hello (0xfe0d)")
    tls: bool | None = Field(None, description="the flow opens with a TLS ClientHello")
    all: Annotated[list[Match], BeforeValidator(_some("all"))] | None = None
    any: Annotated[list[Match], BeforeValidator(_some("any"))] | None = None
    not_: Match | None = Field(None, alias="not")

    @model_validator(mode="after")
    def _consistent(self) -> Match:
        ports = self.src_port is not None or self.dst_port is not None
        if ports and self.protocol == "icmp":
            raise FieldError("protocol", "ports need protocol udp or tcp, not icmp")
        if self.payload_length is not None and self.protocol != "udp":
            raise FieldError("payload_length", "payload_length is read from the UDP header: set "
                             "protocol: udp")
        if self.payload is not None and self.protocol == "icmp":
            raise FieldError("payload", "payload offsets count from a UDP/TCP header: not for icmp")
        for name in READ_FIELDS:
            if getattr(self, name) is not None and self.protocol not in (None, "tcp"):
                raise FieldError(name, f"{name} is read from a TCP stream: set protocol: tcp or leave "
                                 "protocol out")
        return self


READ_FIELDS = ("tls_sni", "http_host", "tls_ech", "tls")  # what the reader, not nft, decides


def reads(match: Match) -> bool:
    """Does the match, at any depth, test what only the reader can see?"""
    return any(getattr(node, name) is not None for _, node in walk_paths(match) for name in READ_FIELDS)


def walk_paths(match: Match, at: tuple = ()) -> Iterator[tuple[tuple, Match]]:
    """(path, match) for a match and every match nested in it, depth first; a path reads as
    the YAML does: (..., "any", 1, "not")."""
    yield at, match
    for key in ("all", "any"):
        for k, child in enumerate(getattr(match, key) or []):
            yield from walk_paths(child, (*at, key, k))
    if match.not_ is not None:
        yield from walk_paths(match.not_, (*at, "not"))
