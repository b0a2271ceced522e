"""The Plan: kernel objects per interface and direction, as plain frozen data.

nftables classifies (it sets `meta priority` to an htb class id, or drops/rejects/polices);
tc treats (an htb tree per egress interface, a netem/tbf/pfifo leaf per class).
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
from dataclasses import dataclass, field
from typing import Any, Literal

Direction = Literal["uplink", "downlink"]
PFIFO_LIMIT = 1000  # packets: a veth's txqueuelen, which pfifo takes by default (sch_fifo.c)
NETEM_LIMIT = 1000  # packets: netem's own default queue limit (tc-netem(8))


@dataclass(frozen=True)
class NetemParams:
    """Canonical netem settings; percentages in [0, 100], times in ns."""

    limit: int = NETEM_LIMIT
    delay_ns: int = 0
    jitter_ns: int = 0
    delay_correlation_pct: float = 0.0
    distribution: str | None = None
    loss_pct: float = 0.0
    loss_correlation_pct: float = 0.0
    loss_state: tuple[float, float, float, float, float] | None = None  # p13 p31 p32 p23 p14
    loss_gemodel: tuple[float, float, float, float] | None = None  # p r 1-h 1-k
    duplicate_pct: float = 0.0
    duplicate_correlation_pct: float = 0.0
    corrupt_pct: float = 0.0
    corrupt_correlation_pct: float = 0.0
    reorder_pct: float = 0.0
    reorder_correlation_pct: float = 0.0
    gap: int = 0
    rate_bps: int = 0
    packet_overhead: int = 0
    cell_size: int = 0
    cell_overhead: int = 0
    slot: tuple[int, int, int, int] | None = None  # min_ns max_ns packets bytes
    ecn: bool = False


@dataclass(frozen=True)
class HtbClass:
    classid: str  # "1:a" (hex minor, as tc writes it)
    parent: str
    rate_bps: int
    ceil_bps: int
    burst_bytes: int | None = None
    label: str = ""


@dataclass(frozen=True)
class PfifoLeaf:
    """A plain FIFO under an htb class: traffic the profile leaves alone."""

    parent: str
    handle: str
    limit: int = PFIFO_LIMIT
    kind: Literal["pfifo"] = field(default="pfifo", init=False)


@dataclass(frozen=True)
class NetemLeaf:
    parent: str
    handle: str
    netem: NetemParams
    kind: Literal["netem"] = field(default="netem", init=False)


@dataclass(frozen=True)
class TbfLeaf:
    parent: str
    handle: str
    rate_bps: int
    burst_bytes: int
    latency_ns: int
    kind: Literal["tbf"] = field(default="tbf", init=False)


Leaf = PfifoLeaf | NetemLeaf | TbfLeaf  # the qdisc under an htb class, one type per kind


@dataclass(frozen=True)
class InterfacePlan:
    device: str
    direction: Direction
    default_minor: int
    classes: tuple[HtbClass, ...]
    leaves: tuple[Leaf, ...]

    @property
    def root_handle(self) -> str:
        return "1:"


@dataclass(frozen=True)
class NftSet:
    name: str
    type: str  # e.g. "ipv4_addr" or "ipv4_addr . ipv4_addr"
    flags: tuple[str, ...] = ()
    timeout_s: int | None = None
    elements: tuple[str, ...] = ()


@dataclass(frozen=True)
class NftRule:
    text: str
    comment: str = ""


@dataclass(frozen=True)
class NftChain:
    name: str
    hook: str
    priority: int
    rules: tuple[NftRule, ...]


@dataclass(frozen=True)
class NftPlan:
    table: str
    family: str
    sets: tuple[NftSet, ...]
    chains: tuple[NftChain, ...]
    counters: tuple[str, ...] = ()  # named counters (testbed/kernel/counters.py reads them)


@dataclass(frozen=True)
class ReadTest:
    """One test the reader answers per flow, with the bit of the connection's mark that says yes."""

    bit: int
    kind: str  # tls_sni, http_host, tls_ech, tls
    patterns: tuple[str, ...]  # for tls_sni and http_host
    packets: int
    reassembly: str
    owner: str  # the first class that asks it, for people reading the plan


@dataclass(frozen=True)
class ReaderPlan:
    """The userspace reader's part (testbed/compile/reading.py): what it tests, and the two
    forms of the rules that queue packets to it (nft where the kernel has `queue`, else xt)."""

    queue: int
    fail: str  # open: the kernel passes packets while no reader listens; closed: drops them
    decided_bit: int
    tests: tuple[ReadTest, ...]
    queue_chain: NftChain
    iptables: tuple[tuple[str, ...], ...]  # iptables arguments, one rule each
    iptables_chain: str


def nft_names(devices: tuple[str, ...]) -> str:
    """Interface names as an nft match takes them: one quoted, or a set."""
    quoted = [f'"{d}"' for d in devices]
    return quoted[0] if len(quoted) == 1 else "{ " + ", ".join(quoted) + " }"


def counter_name(traffic_class: str, direction: str, dropped: bool = False) -> str:
    """The named nft counter of what a class (or "default") took in a direction, or of what
    it dropped: "stun.up", "stun.up.dropped". Class names hold no dot: the name parses back."""
    return f"{traffic_class}.{'up' if direction == 'uplink' else 'down'}" + (".dropped" if dropped else "")


@dataclass(frozen=True)
class Plan:
    profile: str
    interfaces: tuple[InterfacePlan, ...]
    nft: NftPlan
    features: tuple[str, ...] = field(default_factory=tuple)  # kernel features needed
    reader: ReaderPlan | None = None  # what the userspace reader tests, if the profile reads

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)

    @functools.cached_property
    def digest(self) -> str:
        """Short content hash: stored on the nft table so a re-apply can see it is a no-op.
        The dataclass repr holds every field and is deterministic; it is far cheaper than
        JSON for plans with address sets of 10,000s of entries."""
        return hashlib.sha256(repr(self).encode()).hexdigest()[:16]

    def interface(self, device: str) -> InterfacePlan:
        for item in self.interfaces:
            if item.device == device:
                return item
        raise KeyError(device)


def classid(minor: int, major: int = 1) -> str:
    return f"{major:x}:{minor:x}"
