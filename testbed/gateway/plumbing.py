"""The commands that make a gateway and undo it, as data: `gateway up --dry-run` prints
them and `up` runs exactly these.

The ip, tc and nft programs rather than netlink calls here: people read these commands (and
run them by hand), and classic-BPF bytecode, which selects the marked packets, is a thing
iproute2's tc sends and pyroute2 does not.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass

from testbed.gateway.model import (
    DOWN_IFB,
    FILTER_PREF,
    MARK,
    NAT_TABLE,
    SET_VALUE,
    TABLE,
    UP_IFB,
    GatewayState,
)

FORWARDING = "net.ipv4.ip_forward"
# Classic BPF: load the skb mark (SKF_AD_OFF + SKF_AD_MARK = -4096 + 20), test the gateway's
# bit, return -1 (match: run the action) or 0 (no match). cls_bpf takes it as "count,code jt jf k,..."
_SKF_AD_MARK = (1 << 32) - 4096 + 20
MARKED = f"4,32 0 0 {_SKF_AD_MARK},69 0 1 {MARK},6 0 0 {(1 << 32) - 1},6 0 0 0"


@dataclass(frozen=True)
class Command:
    argv: tuple[str, ...]
    stdin: str | None = None

    def shell(self) -> str:
        line = shlex.join(self.argv)
        return f"{line} <<'EOF'\n{self.stdin}EOF" if self.stdin else line


def redirects(state: GatewayState) -> tuple[tuple[str, str], ...]:
    """(real interface, ifb) for each direction: what leaves by the outside goes up."""
    return (state.outside, UP_IFB), (state.inside, DOWN_IFB)


def nat_ruleset(state: GatewayState) -> str:
    return (f"table ip {NAT_TABLE} {{\n\tchain postrouting {{\n"
            "\t\ttype nat hook postrouting priority srcnat;\n"
            f'\t\tiifname "{state.inside}" oifname "{state.outside}" masquerade\n\t}}\n}}\n')


def setup(state: GatewayState) -> list[Command]:
    """In order: the ifbs, receive offloads off (netem should see the packets the devices
    sent, not 64 kB aggregates), the redirects, masquerading. Forwarding comes on last, after
    the profile (`forwarding_on`): no flow of the devices starts unseen."""
    out = []
    for _, ifb in redirects(state):
        out += [Command(("ip", "link", "add", ifb, "type", "ifb")), Command(("ip", "link", "set", ifb, "up"))]
    out += [Command(("ethtool", "-K", name, "gro", "off")) for name, was in state.gro.items() if was == "on"]
    for device, ifb in redirects(state):
        if device in state.added_clsact:
            out.append(Command(("tc", "qdisc", "add", "dev", device, "clsact")))
        out.append(redirect(device, ifb))
    if state.nat:
        out.append(Command(("nft", "-f", "-"), nat_ruleset(state)))
    return out


def redirect(device: str, ifb: str) -> Command:
    return Command(("tc", "filter", "add", "dev", device, "egress", "pref", str(FILTER_PREF),
                    "protocol", "all", "bpf", "bytecode", MARKED,
                    "action", "mirred", "egress", "redirect", "dev", ifb))


def forwarding_on() -> Command:
    return Command(("sysctl", "-qw", f"{FORWARDING}={SET_VALUE}"))


def teardown(state: GatewayState) -> list[Command]:
    """Everything `setup` and `apply` did, undone (the sysctls aside: lifecycle.down puts
    them back first, where nothing else changed them); each step may find it never done."""
    out = _tables()
    for device, _ in redirects(state):
        out.append(_unredirect(device))
        if device in state.added_clsact:
            out.append(Command(("tc", "qdisc", "del", "dev", device, "clsact")))
    out += [Command(("ip", "link", "del", ifb)) for _, ifb in redirects(state)]
    out += [Command(("ethtool", "-K", name, "gro", "on")) for name, was in state.gro.items() if was == "on"]
    return out


def teardown_unrecorded(devices: list[str]) -> list[Command]:
    """What can be undone of a gateway whose record is unreadable: its tables, its filters
    (by their preference) on every interface, its ifbs. Offloads, clsact qdiscs and sysctls
    cannot be put back without the record."""
    return [*_tables(), *(_unredirect(d) for d in devices if d not in (UP_IFB, DOWN_IFB)),
            Command(("ip", "link", "del", UP_IFB)), Command(("ip", "link", "del", DOWN_IFB))]


def _tables() -> list[Command]:
    return [Command(("nft", "delete", "table", "inet", TABLE)),
            Command(("nft", "delete", "table", "ip", NAT_TABLE))]


def _unredirect(device: str) -> Command:
    return Command(("tc", "filter", "del", "dev", device, "egress", "pref", str(FILTER_PREF)))
