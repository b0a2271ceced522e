"""What each traffic class did, read from the kernel: the packets and bytes its nft rules took
and dropped (the named counters the compiler puts on every classifying rule), and what its
htb class sent, lost in its queue (netem loss, overflow) and holds queued now (tc -s).
Like tcconfig's tcshow, per class and direction; `testbed status --counters` prints it and
a scenario records it per phase."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields

from testbed.compile.compiler import DEFAULT_MINOR, FIRST_CLASS_MINOR, Target
from testbed.compile.plan import classid
from testbed.kernel import netns
from testbed.kernel.tc import format_handle

DIRECTIONS = {"up": "uplink", "down": "downlink"}


@dataclass(frozen=True)
class ClassCounts:
    traffic_class: str  # a class's name, or "default"
    direction: str  # uplink or downlink
    packets: int = 0  # what the class took (its nft rules matched)
    bytes: int = 0
    dropped: int = 0  # packets its nft rules dropped, rejected or policed away
    dropped_bytes: int = 0
    sent: int = 0  # packets its htb class sent on (tc)
    sent_bytes: int = 0
    queue_drops: int = 0  # packets lost in its queue: netem loss, a full queue
    backlog: int = 0  # packets queued now

    def minus(self, before: ClassCounts) -> ClassCounts:
        """The counts since `before` (a reading of the same class and direction)."""
        return self._combined(before, -1, backlog=self.backlog)

    def plus(self, other: ClassCounts) -> ClassCounts:
        return self._combined(other, 1, backlog=other.backlog)

    def _combined(self, other: ClassCounts, sign: int, backlog: int) -> ClassCounts:
        """Counts added or subtracted; the backlog is a level (queued now), not a count."""
        numbers = {f.name: getattr(self, f.name) + sign * getattr(other, f.name) for f in fields(self)
                   if f.name not in ("traffic_class", "direction", "backlog")}
        return ClassCounts(self.traffic_class, self.direction, backlog=backlog, **numbers)

    def as_dict(self) -> dict:
        return asdict(self)


def parse_counter_name(name: str) -> tuple[str, str, bool] | None:
    """("stun", "uplink", dropped?) from "stun.up" or "stun.up.dropped"; None for another name."""
    parts = name.split(".")
    if len(parts) not in (2, 3) or parts[1] not in DIRECTIONS or parts[2:] not in ([], ["dropped"]):
        return None
    return parts[0], DIRECTIONS[parts[1]], len(parts) == 3


def nft_counters(ns: str | None, family: str, table: str) -> list[dict]:
    """The table's named counters as nft lists them (declaration order); [] without the table."""
    result = netns.run(ns, ["nft", "-j", "list", "counters", "table", family, table], check=False)
    if result.returncode != 0:
        return []
    return [item["counter"] for item in json.loads(result.stdout).get("nftables", []) if "counter" in item]


def tc_class_stats(ns: str | None, devices: tuple[str, ...]) -> dict[str, dict[str, int]]:
    """Per htb class handle ("1:10"), summed over `devices`: sent packets and bytes, and the
    drops and backlog of its leaf qdisc."""
    out: dict[str, dict[str, int]] = {}
    with netns.route(ns) as ipr:
        for device in devices:
            found = ipr.link_lookup(ifname=device)
            if not found:
                continue
            leaf_of: dict[str, tuple[int, int]] = {}
            for msg in ipr.get_qdiscs(index=found[0]):
                stats = msg.get_attr("TCA_STATS2")
                queue = stats.get_attr("TCA_STATS_QUEUE") if stats is not None else None
                if queue is not None:
                    leaf_of[format_handle(msg["parent"])] = (queue["drops"], queue["qlen"])
            for msg in ipr.get_classes(index=found[0]):
                stats = msg.get_attr("TCA_STATS2")
                basic = stats.get_attr("TCA_STATS_BASIC") if stats else None
                if basic is None:
                    continue
                handle = format_handle(msg["handle"])
                drops, backlog = leaf_of.get(handle, (0, 0))
                entry = out.setdefault(handle, {"sent": 0, "sent_bytes": 0, "queue_drops": 0, "backlog": 0})
                entry["sent"] += basic["packets"]
                entry["sent_bytes"] += basic["bytes"]
                entry["queue_drops"] += drops
                entry["backlog"] += backlog
    return out


def read(ns: str | None, target: Target, family: str = "inet") -> list[ClassCounts]:
    """Every class's counts per direction, classes in the profile's order, "default" last;
    [] when no profile is applied."""
    counted: dict[tuple[str, str], dict[str, int]] = {}
    for counter in nft_counters(ns, family, target.table):
        parsed = parse_counter_name(counter["name"])
        if parsed is None:
            continue
        name, direction, dropped = parsed
        entry = counted.setdefault((name, direction), {})
        entry["dropped" if dropped else "packets"] = counter["packets"]
        entry["dropped_bytes" if dropped else "bytes"] = counter["bytes"]
    order = list(dict.fromkeys(name for name, _ in counted if name != "default"))
    minors = {name: FIRST_CLASS_MINOR + k for k, name in enumerate(order)} | {"default": DEFAULT_MINOR}
    out = []
    for direction in ("uplink", "downlink"):
        tc = tc_class_stats(ns, target.devices(direction))
        for name in [*order, "default"]:
            if (name, direction) in counted:
                out.append(ClassCounts(name, direction, **counted[(name, direction)],
                                       **tc.get(classid(minors[name]), {})))
    return out
