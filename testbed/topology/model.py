"""Topology description (what to build) and state (what was built, saved per run)."""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from testbed.profile.types import BitsPerSecond, Nanoseconds

STATE_DIR = Path("/run/testbed")
NS_PREFIX = "tb-"
RUN_ID_PATTERN = r"^[a-z0-9]{1,8}$"
ROLE_PATTERN = r"^[a-z][a-z0-9]{0,9}$"


class LinkSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    rate: BitsPerSecond | None = None
    delay: Nanoseconds | None = None


class TopologySpec(BaseModel):
    """Hosts on the inside (caller's side) and the outside, each linked to the censor."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    backend: Literal["netns", "mininet"] = "netns"
    inside: list[str] = Field(default_factory=lambda: ["caller"])
    outside: list[str] = Field(default_factory=lambda: ["callee"])
    link: LinkSpec | None = None

    @model_validator(mode="after")
    def _names(self) -> TopologySpec:
        names = [*self.inside, *self.outside]
        if not self.inside or not self.outside:
            raise ValueError("give at least one host on each side")
        for name in names:
            if not re.fullmatch(ROLE_PATTERN, name) or name == "censor":
                raise ValueError(f"host name {name!r}: lower case, at most 10 characters, not 'censor'")
        if len(set(names)) != len(names):
            raise ValueError("host names must be unique")
        return self


@dataclass
class Interface:
    name: str
    ipv4: str  # with prefix length
    ipv6: str
    peer_node: str
    peer_interface: str


@dataclass
class Node:
    name: str
    netns: str
    side: Literal["inside", "outside", "censor"]
    interfaces: list[Interface] = field(default_factory=list)

    def address(self, family: int = 4) -> str:
        iface = self.interfaces[0]
        return (iface.ipv4 if family == 4 else iface.ipv6).split("/")[0]


@dataclass
class TopologyState:
    run_id: str
    backend: str
    nodes: dict[str, Node]
    profile: str | None = None  # the profile applied now, if any

    @property
    def censor(self) -> Node:
        return self.nodes["censor"]

    def devices(self, side: str) -> tuple[str, ...]:
        """Censor interfaces facing `side` ('inside' hosts: downlink egress)."""
        return tuple(i.name for i in self.censor.interfaces
                     if self.nodes[i.peer_node].side == side)

    def node(self, name: str) -> Node:
        if name not in self.nodes:
            raise KeyError(name)
        return self.nodes[name]

    def save(self) -> None:
        STATE_DIR.mkdir(parents=True, exist_ok=True)
        path = state_path(self.run_id)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(asdict(self), indent=2))
        tmp.replace(path)

    @classmethod
    def load(cls, run_id: str) -> TopologyState:
        data = json.loads(state_path(run_id).read_text())
        nodes = {
            name: Node(n["name"], n["netns"], n["side"], [Interface(**i) for i in n["interfaces"]])
            for name, n in data["nodes"].items()
        }
        return cls(data["run_id"], data["backend"], nodes, data.get("profile"))


def state_path(run_id: str) -> Path:
    return STATE_DIR / f"{run_id}.json"


def netns_name(run_id: str, node: str) -> str:
    return f"{NS_PREFIX}{run_id}-{node}"


def plan_addresses(spec: TopologySpec, run_id: str) -> TopologyState:
    """Names and addresses for every node and link (pure: the backends build from this).

    Addresses come from the benchmarking ranges (198.18.0.0/15, RFC 2544; 2001:2::/48,
    RFC 5180): the inside in 198.18.k.0/24, the outside in 198.19.k.0/24.
    """
    nodes: dict[str, Node] = {"censor": Node("censor", netns_name(run_id, "censor"), "censor")}
    for side, octet, prefix in (("inside", 18, "in"), ("outside", 19, "out")):
        for k, host in enumerate(getattr(spec, side)):
            censor_if = f"{prefix}{k}"
            net6 = f"2001:2:0:{octet:x}{k:02x}"
            nodes[host] = Node(host, netns_name(run_id, host), side, [
                Interface("eth0", f"198.{octet}.{k}.2/24", f"{net6}::2/64", "censor", censor_if)])
            nodes["censor"].interfaces.append(
                Interface(censor_if, f"198.{octet}.{k}.1/24", f"{net6}::1/64", host, "eth0"))
    return TopologyState(run_id, spec.backend, nodes)
