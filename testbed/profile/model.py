"""The policy language: a validated model of a profile YAML file.

A profile names traffic classes (what a censor picks out, testbed/profile/matches.py) and,
per direction, what it does to them (testbed/profile/actions.py). `uplink` is traffic
leaving the inside (caller) side, `downlink` the reverse. Classes are tried in order; the
first that matches a packet decides.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator, Field, StringConstraints, model_validator

from testbed.profile.actions import Directions
from testbed.profile.matches import Match
from testbed.profile.types import (
    NAME_PATTERN,
    PROFILE_NAME_PATTERN,
    AddressList,
    BitsPerSecond,
    Nanoseconds,
    Strict,
)


class TrafficClass(Directions):
    name: str = Field(pattern=NAME_PATTERN)
    description: str | None = None
    match: Match = Field(default_factory=Match)


class Link(Strict):
    rate: BitsPerSecond | None = None
    delay: Nanoseconds | None = None


SET_NAME_PATTERN = r"^[a-z][a-z0-9_]{0,40}$"
SetName = Annotated[str, StringConstraints(pattern=SET_NAME_PATTERN)]


def _no_set_references(members: list[str]) -> list[str]:
    if any(m.startswith("@") for m in members):
        raise ValueError("an address set lists prefixes; it cannot refer to other sets")
    return members


SetMembers = Annotated[AddressList, AfterValidator(_no_set_references)]


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
    address_sets: dict[SetName, SetMembers | AddressSetFile] = Field(
        default_factory=dict, description="name -> prefixes: a list, or {file: path}")
    classes: list[TrafficClass] = Field(default_factory=list)
    default: Directions = Field(default_factory=Directions)

    @model_validator(mode="after")
    def _references(self) -> Profile:
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


