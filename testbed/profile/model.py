"""The policy language: a validated model of a profile YAML file.

A profile names traffic classes (what a censor picks out) and, per direction, what it
does to them. `uplink` is traffic leaving the inside (caller) side, `downlink` the
reverse. Classes are tried in order; the first that matches a packet decides.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from testbed.profile.types import (
    AddressList,
    BitsPerSecond,
    Bytes,
    HexBytes,
    Nanoseconds,
    Percent,
    PortList,
)

NAME_PATTERN = r"^[a-z][a-z0-9_-]{0,40}$"
PROFILE_NAME_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,40}$"  # profiles may start with a digit: 3g


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


def _shorthand(key: str):
    """Let `loss: 5%` stand for `loss: {key: 5%}`."""

    def expand(value: Any) -> Any:
        return value if isinstance(value, dict) else {key: value}

    return BeforeValidator(expand)


# --- matches ---------------------------------------------------------------------------


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
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"min {self.min} is above max {self.max}")
        if (self.max or 0) > 65535:
            raise ValueError("lengths stop at 65535 bytes")
        return self


class PayloadMatch(Strict):
    """Bytes at a fixed offset of the transport payload (after the UDP/TCP header)."""

    offset: int = Field(ge=0, le=1400, description="bytes after the UDP/TCP header")
    value: HexBytes
    mask: HexBytes | None = None

    @model_validator(mode="after")
    def _mask_width(self) -> PayloadMatch:
        if self.mask is not None and len(self.mask) != len(self.value):
            raise ValueError(
                f"mask has {len(self.mask) // 2} bytes but value has {len(self.value) // 2}; "
                "give them the same width"
            )
        return self


Protocol = Literal["udp", "tcp", "icmp", "any"]


class Match(Strict):
    """Every field given must hold (AND); `any` needs one of its items, `not` negates."""

    protocol: Protocol | None = None
    src: AddressList | None = None
    dst: AddressList | None = None
    src_port: PortList | None = None
    dst_port: PortList | None = None
    length: LengthRange | None = Field(None, description="IP packet length, bytes")
    payload_length: LengthRange | None = Field(None, description="UDP payload length, bytes")
    dscp: Annotated[list[Annotated[int, Field(ge=0, le=63)]], BeforeValidator(
        lambda v: v if isinstance(v, list) else [v])] | None = None
    payload: PayloadMatch | None = None
    flagged: str | None = Field(None, pattern=NAME_PATTERN,
                                description="the connection was flagged by an earlier packet's class")
    all: list[Match] | None = None
    any: list[Match] | None = None
    not_: Match | None = Field(None, alias="not")

    @model_validator(mode="after")
    def _consistent(self) -> Match:
        ports = self.src_port is not None or self.dst_port is not None
        if ports and self.protocol == "icmp":
            raise ValueError("ports need protocol udp or tcp, not icmp")
        if self.payload_length is not None and self.protocol != "udp":
            raise ValueError("payload_length is read from the UDP header: set protocol: udp")
        if self.payload is not None and self.protocol == "icmp":
            raise ValueError("payload offsets count from a UDP/TCP header: not for icmp")
        for name in ("all", "any"):
            items = getattr(self, name)
            if items is not None and not items:
                raise ValueError(f"'{name}' needs at least one item")
        return self


# --- actions ---------------------------------------------------------------------------


class RandomLoss(Strict):
    random: Percent
    correlation: Percent | None = None


class StateLoss(Strict):
    """netem's 4-state Markov model (GI); defaults as tc's `loss state P13`."""

    p13: Percent
    p31: Percent | None = None
    p32: Percent = 0.0
    p23: Percent = 100.0
    p14: Percent = 0.0


class GilbertElliott(Strict):
    """p: good->bad, r: bad->good; loss_in_bad is tc's `1-h`, loss_in_good its `1-k`."""

    p: Percent
    r: Percent = 100.0
    loss_in_bad: Percent = 100.0
    loss_in_good: Percent = 0.0


class Loss(Strict):
    random: Percent | None = None
    correlation: Percent | None = None
    state: StateLoss | None = None
    gemodel: GilbertElliott | None = None

    @model_validator(mode="after")
    def _one_model(self) -> Loss:
        chosen = [k for k in ("random", "state", "gemodel") if getattr(self, k) is not None]
        if len(chosen) != 1:
            raise ValueError(
                "give exactly one loss model: random (e.g. 5%), state or gemodel"
                + (f"; got {', '.join(chosen)}" if chosen else "")
            )
        if self.correlation is not None and self.random is None:
            raise ValueError("correlation goes with random loss only")
        return self


class Chance(Strict):
    percent: Percent
    correlation: Percent | None = None


class Reorder(Strict):
    percent: Percent
    correlation: Percent | None = None
    gap: int | None = Field(None, ge=1, description="send every gap-th packet at once")


class NetemRate(Strict):
    rate: BitsPerSecond
    packet_overhead: int = Field(0, ge=-1000, le=1000)
    cell_size: int = Field(0, ge=0, le=65535)
    cell_overhead: int = Field(0, ge=-1000, le=1000)


class Slot(Strict):
    """Deliver in bursts: packets wait for the next slot (Wi-Fi/LTE-like aggregation)."""

    min: Nanoseconds
    max: Nanoseconds | None = None
    packets: int | None = Field(None, ge=1)
    bytes: Bytes | None = None

    @model_validator(mode="after")
    def _ordered(self) -> Slot:
        if self.max is not None and self.max < self.min:
            raise ValueError("slot max is below min")
        return self


Distribution = Literal["uniform", "normal", "pareto", "paretonormal"]


class Netem(Strict):
    delay: Nanoseconds | None = None
    jitter: Nanoseconds | None = None
    distribution: Distribution | None = None
    delay_correlation: Percent | None = None
    loss: Annotated[Loss, _shorthand("random")] | None = None
    duplicate: Annotated[Chance, _shorthand("percent")] | None = None
    corrupt: Annotated[Chance, _shorthand("percent")] | None = None
    reorder: Annotated[Reorder, _shorthand("percent")] | None = None
    rate: Annotated[NetemRate, _shorthand("rate")] | None = None
    slot: Slot | None = None
    limit: int | None = Field(None, ge=1, le=10_000_000, description="queue limit, packets")
    ecn: bool = False

    @model_validator(mode="after")
    def _consistent(self) -> Netem:
        if self.jitter and not self.delay:
            raise ValueError("jitter needs a delay (netem varies the delay around it)")
        if self.distribution not in (None, "uniform") and not self.jitter:
            raise ValueError("a delay distribution needs jitter")
        if self.delay_correlation is not None and not self.jitter:
            raise ValueError("delay_correlation needs jitter")
        if self.reorder is not None and not self.delay:
            raise ValueError("reorder needs a delay: netem reorders by sending some packets at once")
        if self.ecn and self.loss is None:
            raise ValueError("ecn marks instead of dropping: it needs a loss model")
        return self


class Shape(Strict):
    rate: BitsPerSecond
    ceil: BitsPerSecond | None = None
    burst: Bytes | None = None
    method: Literal["htb", "tbf"] = "htb"
    latency: Nanoseconds | None = Field(None, description="tbf only: longest wait in the queue")

    @model_validator(mode="after")
    def _consistent(self) -> Shape:
        if self.ceil is not None and self.ceil < self.rate:
            raise ValueError("ceil is below rate")
        if self.method == "tbf" and self.ceil is not None:
            raise ValueError("ceil is an htb setting; tbf has only rate and burst")
        if self.method == "htb" and self.latency is not None:
            raise ValueError("latency is a tbf setting; set method: tbf")
        return self


class Police(Strict):
    rate: BitsPerSecond
    burst: Bytes
    per: Literal["aggregate", "flow"] = "aggregate"
    idle_timeout: Nanoseconds | None = Field(None, description="per-flow state is forgotten after")

    @model_validator(mode="after")
    def _consistent(self) -> Police:
        if self.idle_timeout is not None and self.per != "flow":
            raise ValueError("idle_timeout applies to per: flow")
        if self.burst <= 0:
            raise ValueError("burst must be above zero")
        return self


class After(Strict):
    """Act only once a connection has carried this much (conntrack counters)."""

    bytes: Bytes | None = None
    packets: int | None = Field(None, ge=1)
    original_bytes: Bytes | None = None
    original_packets: int | None = Field(None, ge=1)
    reply_bytes: Bytes | None = None
    reply_packets: int | None = Field(None, ge=1)

    @model_validator(mode="after")
    def _one(self) -> After:
        given = [k for k, v in self.__dict__.items() if v is not None]
        if len(given) != 1:
            raise ValueError(
                "give exactly one counter: bytes, packets, original_bytes, original_packets, "
                "reply_bytes or reply_packets"
            )
        return self

    @property
    def counter(self) -> tuple[str, str, int]:
        """(ct direction or '', 'bytes'|'packets', threshold)."""
        for key, value in self.__dict__.items():
            if value is not None:
                direction, _, unit = key.rpartition("_")
                return direction, unit, value
        raise AssertionError("validated to hold one counter")


class Residual(Strict):
    """After the class's drop/reject fires, keep blocking for `duration`."""

    duration: Nanoseconds
    scope: Literal["flow", "pair", "host"] = "pair"

    @model_validator(mode="after")
    def _positive(self) -> Residual:
        if self.duration < 1_000_000_000:
            raise ValueError("residual blocking is counted in whole seconds: give at least 1s")
        return self


class Action(Strict):
    """What happens to a class's packets in one direction. Empty: let them pass untouched."""

    netem: Netem | None = None
    shape: Shape | None = None
    police: Police | None = None
    drop: bool = False
    reject: bool = False
    after: After | None = None
    residual: Residual | None = None
    flag: str | None = Field(None, pattern=NAME_PATTERN,
                             description="flag the connection (conntrack mark) for `flagged` matches")

    @model_validator(mode="after")
    def _consistent(self) -> Action:
        if self.drop and self.reject:
            raise ValueError("choose drop or reject, not both")
        blocking = self.drop or self.reject
        treats = [k for k in ("netem", "shape", "police") if getattr(self, k) is not None]
        if blocking and treats:
            raise ValueError(f"{'drop' if self.drop else 'reject'} leaves nothing for {treats[0]}")
        if self.residual is not None and not blocking:
            raise ValueError("residual blocking follows a drop or reject: add drop: true")
        if self.shape and self.shape.method == "tbf" and self.netem:
            raise ValueError("tbf shaping and netem cannot share a class; use shape.method: htb")
        return self

    @property
    def is_pass(self) -> bool:
        return self == Action()


class Directions(Strict):
    uplink: Action | None = None
    downlink: Action | None = None
    both: Action | None = None

    @model_validator(mode="after")
    def _exclusive(self) -> Directions:
        if self.both is not None and (self.uplink is not None or self.downlink is not None):
            raise ValueError("give 'both', or 'uplink'/'downlink', not both forms")
        return self

    def for_direction(self, direction: Literal["uplink", "downlink"]) -> Action:
        chosen = self.both if self.both is not None else getattr(self, direction)
        return chosen if chosen is not None else Action()


class TrafficClass(Directions):
    name: str = Field(pattern=NAME_PATTERN)
    description: str | None = None
    match: Match = Field(default_factory=Match)


class Link(Strict):
    rate: BitsPerSecond | None = None
    delay: Nanoseconds | None = None


class AddressSetFile(Strict):
    file: str = Field(description="path relative to the profile: one prefix per line, # comments")


Confidence = Literal["documented", "measured", "guessed"]


class Profile(Strict):
    name: str = Field(pattern=PROFILE_NAME_PATTERN)
    title: str
    description: str = ""
    provenance: list[str] = Field(default_factory=list)
    confidence: Confidence
    tags: list[str] = Field(default_factory=list)
    link: Link | None = None
    address_sets: dict[str, AddressList | AddressSetFile] = Field(default_factory=dict)
    classes: list[TrafficClass] = Field(default_factory=list)
    default: Directions = Field(default_factory=Directions)

    @model_validator(mode="after")
    def _references(self) -> Profile:
        for set_name, members in self.address_sets.items():
            if not re.fullmatch(r"[a-z][a-z0-9_]{0,40}", set_name):
                raise ValueError(f"address set name {set_name!r}: use lower case letters, digits, _")
            if isinstance(members, list) and any(m.startswith("@") for m in members):
                raise ValueError(f"address set {set_name!r} cannot refer to other sets")
        for direction in ("uplink", "downlink"):
            action = self.default.for_direction(direction)
            if action.residual or action.after:
                raise ValueError("the default class cannot have residual or after: it has no match")
            if action.flag:
                raise ValueError("the default class cannot flag connections: flag them in a class")
        if self.link and self.link.delay:
            for holder in (self.default, *self.classes):
                for direction in ("uplink", "downlink"):
                    shape = holder.for_direction(direction).shape
                    if shape and shape.method == "tbf":
                        raise ValueError("link.delay needs netem on every class, which tbf shaping "
                                         "cannot share; use shape.method: htb")
        return self


def walk(match: Match) -> Iterator[Match]:
    """A match and every match nested in its all/any/not, depth first."""
    yield match
    for child in (match.all or []) + (match.any or []) + ([match.not_] if match.not_ else []):
        yield from walk(child)


def flag_references(match: Match) -> list[str]:
    """Flags a match (and its children) tests."""
    return [m.flagged for m in walk(match) if m.flagged]


def set_references(match: Match) -> list[str]:
    """Names of the address sets a match (and its children) refers to."""
    return [a[1:] for m in walk(match) for a in (m.src or []) + (m.dst or []) if a.startswith("@")]
