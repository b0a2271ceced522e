"""The policy language: a validated model of a profile YAML file.

A profile names traffic classes (what a censor picks out, testbed/profile/matches.py) and,
per direction, what it does to them (testbed/profile/actions.py). `uplink` is traffic
leaving the inside (caller) side, `downlink` the reverse. Classes are tried in order; the
first that matches a packet decides.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BeforeValidator,
    Discriminator,
    Field,
    StringConstraints,
    Tag,
    model_validator,
)

from testbed.profile.actions import DefaultDirections, Directions
from testbed.profile.matches import Match, reads
from testbed.profile.types import (
    NAME_PATTERN,
    PROFILE_NAME_PATTERN,
    Address,
    BitsPerSecond,
    FieldError,
    Nanoseconds,
    Strict,
    as_list,
)

DEFAULT_READ_PACKETS = 3  # a two-segment ClientHello (Chromium's, post-quantum) and one more
MAX_READ_PACKETS = 16  # what a reader holds per undecided flow stays small


class ReadOptions(Strict):
    """How the reader looks at a flow for this class's reading fields (tls_sni, http_host, ...)."""

    packets: int = Field(DEFAULT_READ_PACKETS, ge=1, le=MAX_READ_PACKETS,
                         description="data packets of the client's side read at most")
    reassembly: Literal["none", "full"] = Field(
        "full", description="none: each packet read alone (TSPU's throttle); full: segments joined "
                            "until the message is whole or `packets` is reached (TSPU's blocker)")
    fail: Literal["open", "closed"] = Field(
        "open", description="with the reader down, flows pass unread (open) or are dropped (closed)")


class TrafficClass(Directions):
    name: str = Field(pattern=NAME_PATTERN)
    description: str | None = None
    match: Match = Field(default_factory=Match)
    read: ReadOptions | None = None

    @model_validator(mode="after")
    def _read_needs_reading(self) -> TrafficClass:
        if self.read is not None and not reads(self.match):
            raise FieldError("read", "read options apply to tls_sni, http_host, tls_ech or tls in the match, "
                             "and this class's match has none")
        return self

    def read_options(self) -> ReadOptions:
        return self.read or ReadOptions()


class Link(Strict):
    rate: BitsPerSecond | None = None
    delay: Nanoseconds | None = None


class AddressSetFile(Strict):
    file: str = Field(description="path relative to the profile: one prefix per line, # comments")


SET_NAME_PATTERN = r"^[a-z][a-z0-9_]{0,40}$"
SetName = Annotated[str, StringConstraints(pattern=SET_NAME_PATTERN)]


def _prefix_only(member: str) -> str:
    if member.startswith("@"):
        raise ValueError("an address set lists prefixes; it cannot refer to other sets")
    return member


SetMembers = Annotated[list[Annotated[Address, AfterValidator(_prefix_only)]], BeforeValidator(as_list)]


def _set_kind(value: Any) -> str:
    """An address set is a list of prefixes or {file: path}: validate it as the one it looks like."""
    return "a file" if isinstance(value, dict) else "a list of prefixes"  # tags: never a YAML key


AddressSet = Annotated[
    Annotated[SetMembers, Tag("a list of prefixes")] | Annotated[AddressSetFile, Tag("a file")],
    Discriminator(_set_kind)]


Confidence = Literal["documented", "measured", "guessed"]


class Profile(Strict):
    name: str = Field(pattern=PROFILE_NAME_PATTERN)
    title: str
    description: str = ""
    provenance: list[str] = Field(default_factory=list)
    confidence: Confidence
    tags: list[str] = Field(default_factory=list)
    link: Link | None = None
    address_sets: dict[SetName, AddressSet] = Field(
        default_factory=dict, description="name -> prefixes: a list, or {file: path}")
    classes: list[TrafficClass] = Field(default_factory=list)
    default: DefaultDirections = Field(default_factory=DefaultDirections)

    @model_validator(mode="after")
    def _link_delay_and_tbf(self) -> Profile:
        if self.link and self.link.delay:
            holders = [(("classes", i), c) for i, c in enumerate(self.classes)]
            for at, holder in [(("default",), self.default), *holders]:
                for direction in ("uplink", "downlink"):
                    shape = holder.for_direction(direction).shape
                    if shape and shape.method == "tbf":
                        key = "both" if holder.both is not None else direction
                        raise FieldError((*at, key, "shape", "method"), "link.delay needs netem on every "
                                         "class, which tbf shaping cannot share; use shape.method: htb")
        return self

    @model_validator(mode="after")
    def _one_fail_mode(self) -> Profile:
        """One reader serves every class, and the kernel either bypasses it or drops when it is down."""
        modes = {}
        for index, cls in enumerate(self.classes):
            if reads(cls.match):
                mode = cls.read_options().fail
                if modes and mode not in modes:
                    first = next(iter(modes.values()))
                    raise FieldError(("classes", index, "read", "fail"), f"fail: {mode}, but class "
                                     f"{first!r} reads with fail: {next(iter(modes))}; one reader serves "
                                     "every class: give them one fail mode")
                modes.setdefault(mode, cls.name)
        return self

    def reading_classes(self) -> list[TrafficClass]:
        return [cls for cls in self.classes if reads(cls.match)]


