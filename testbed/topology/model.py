"""Topology description (what to build) and state (what was built, saved per run)."""

from __future__ import annotations

import ipaddress
import itertools
import json
import os
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator, model_validator

from testbed.kernel.netns import Endpoint
from testbed.kernel.records import claim_file
from testbed.profile.types import BitsPerSecond, FieldError, Nanoseconds
from testbed.topology.runs import DEFAULT_RUN, NS_PREFIX, RUN_ID_PATTERN, STATE_DIR  # noqa: F401 - re-exported

_B36 = "0123456789abcdefghijklmnopqrstuvwxyz"
_sessions = itertools.count()


def base36(number: int, width: int = 1) -> str:
    digits = ""
    while number or len(digits) < width:
        number, digit = divmod(number, 36)
        digits = _B36[digit] + digits
    return digits


def unique_run_id(prefix: str) -> str:
    """A run id no other process picks: a letter, this process's id and a counter, base 36
    (pids fit in 5 digits; the counter wraps after 1,296 runs of one process)."""
    return f"{prefix[0]}{base36(os.getpid())}{base36(next(_sessions) % 1296, 2)}"


def made_by(run_id: str, pid: int) -> bool:
    """Whether `run_id` is one unique_run_id gave out in process `pid`."""
    return len(run_id) > 3 and run_id[1:-2] == base36(pid)
ROLE_PATTERN = r"^[a-z][a-z0-9]{0,9}$"


class LinkSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    rate: BitsPerSecond | None = None
    delay: Nanoseconds | None = None


def _host_from_text(value: Any) -> Any:
    """`server` or `server=5.9.0.2/24` (the CLI's and YAML's short form) -> a HostSpec dict."""
    if isinstance(value, str):
        name, _, address = value.partition("=")
        return {"name": name.strip(), "address": address.strip() or None}
    return value


class HostSpec(BaseModel):
    """A host and, optionally, its own IPv4 address: put a server inside a censor's address set
    (a Telegram or Hetzner range) so the profile's address match sees real-looking traffic."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    name: str
    address: str | None = Field(None, description="IPv4 address/prefix (default /24); the censor "
                                "takes another address of that prefix")

    @field_validator("address")
    @classmethod
    def _address(cls, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            iface = ipaddress.IPv4Interface(value if "/" in value else f"{value}/24")
        except ValueError as exc:
            raise ValueError(f"{value!r} is not an IPv4 address with an optional /prefix: {exc}") from None
        if iface.network.prefixlen > 30:
            raise ValueError(f"{value}: the prefix must leave room for the censor (at most /30)")
        if iface.ip in (iface.network.network_address, iface.network.broadcast_address):
            raise ValueError(f"{value}: that is the network's own or broadcast address")
        return str(iface)


Host = Annotated[HostSpec, BeforeValidator(_host_from_text)]


class TopologySpec(BaseModel):
    """Hosts on the inside (caller's side) and the outside, each linked to the censor."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    backend: Literal["netns", "mininet"] = "netns"
    inside: list[Host] = Field(default_factory=lambda: [HostSpec(name="caller")], min_length=1)
    outside: list[Host] = Field(default_factory=lambda: [HostSpec(name="callee")], min_length=1)
    link: LinkSpec | None = None
    nat: bool = Field(False, description="a route from the hosts to this machine and its network, through "
                      "the censor and NAT (IPv4), as Mininet's --nat: for apps whose servers are real")

    @property
    def names(self) -> list[str]:
        return [h.name for h in (*self.inside, *self.outside)]

    @model_validator(mode="after")
    def _names(self) -> TopologySpec:
        seen: dict[str, tuple[str, int]] = {}
        for side in ("inside", "outside"):
            for k, host in enumerate(getattr(self, side)):
                if not re.fullmatch(ROLE_PATTERN, host.name) or host.name == "censor":
                    raise FieldError((side, k, "name"), f"host name {host.name!r}: lower case letters and "
                                     "digits, at most 10 characters, not 'censor'")
                if host.name in seen:
                    raise FieldError((side, k, "name"), f"host name {host.name!r} is used twice")
                seen[host.name] = (side, k)
        addresses = _link_addresses(self)
        networks = [(name, ipaddress.IPv4Interface(a).network) for name, a in addresses.items()]
        for k, (name, net) in enumerate(networks):
            for other_name, other in networks[:k]:
                if net.overlaps(other):
                    raise FieldError((*seen[name], "address"), f"host addresses {net} ({name}) and {other} "
                                     f"({other_name}) overlap; give each host its own prefix")
        return self

    def _addresses(self) -> list[str]:
        return list(_link_addresses(self).values())


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

    def endpoint(self) -> Endpoint:
        return Endpoint(self.name, self.netns, self.address(4), self.address(6))


@dataclass
class NatLink:
    """The censor's link to this machine's own namespace (topology `nat: true`): the hosts'
    traffic to anything beyond the topology leaves through it, masqueraded."""

    censor_interface: str  # nat0, an outside interface of the censor: the profile holds there
    host_interface: str  # tb-RUN-nat, in this machine's namespace
    censor_ipv4: str  # with prefix length
    host_ipv4: str


def nat_table(run_id: str) -> str:
    """The nft table (family ip) that masquerades a run's traffic in this machine's namespace."""
    return f"testbed_nat_{run_id}"


@dataclass
class TopologyState:
    run_id: str
    backend: str
    nodes: dict[str, Node]
    profile: str | None = None  # the profile applied now, if any
    owner: int | None = None  # pid of the process that holds the run (None: kept up by `testbed up`)
    owner_started: int | None = None  # its start time, so a reused pid is not taken for it
    nat: NatLink | None = None

    @property
    def censor(self) -> Node:
        return self.nodes["censor"]

    def devices(self, side: str) -> tuple[str, ...]:
        """Censor interfaces facing `side` ('inside' hosts: downlink egress); the NAT link is
        outside: what goes beyond the topology crosses the border too."""
        found = tuple(i.name for i in self.censor.interfaces if self.nodes[i.peer_node].side == side)
        return found + ((self.nat.censor_interface,) if self.nat and side == "outside" else ())

    def node(self, name: str) -> Node:
        if name not in self.nodes:
            raise KeyError(name)
        return self.nodes[name]

    def endpoint(self, name: str) -> Endpoint:
        return self.node(name).endpoint()

    def claim(self) -> bool:
        """Create this run's state file, atomically: False when the run id is taken."""
        return claim_file(state_path(self.run_id), json.dumps(asdict(self), indent=2))

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
        nat = NatLink(**data["nat"]) if data.get("nat") else None
        return cls(data["run_id"], data["backend"], nodes, data.get("profile"), data.get("owner"),
                   data.get("owner_started"), nat)


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
    addresses = _link_addresses(spec)
    for side, octet, prefix in (("inside", 18, "in"), ("outside", 19, "out")):
        for k, host in enumerate(getattr(spec, side)):
            censor_if = f"{prefix}{k}"
            net6 = f"2001:2:0:{octet:x}{k:02x}"
            host_v4 = ipaddress.IPv4Interface(addresses[host.name])
            censor_v4 = next(ip for ip in host_v4.network.hosts() if ip != host_v4.ip)
            length = host_v4.network.prefixlen
            nodes[host.name] = Node(host.name, netns_name(run_id, host.name), side, [
                Interface("eth0", str(host_v4), f"{net6}::2/64", "censor", censor_if)])
            nodes["censor"].interfaces.append(
                Interface(censor_if, f"{censor_v4}/{length}", f"{net6}::1/64", host.name, "eth0"))
    return TopologyState(run_id, spec.backend, nodes)


def _link_addresses(spec: TopologySpec) -> dict[str, str]:
    """Each host's IPv4 address/prefix: its own, or 198.18.k.2/24 inside, 198.19.k.2/24 outside."""
    out = {}
    for side, octet in (("inside", 18), ("outside", 19)):
        for k, host in enumerate(getattr(spec, side)):
            out[host.name] = host.address or f"198.{octet}.{k}.2/24"
    return out
