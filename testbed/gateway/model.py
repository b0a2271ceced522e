"""A gateway's record: where it is, what it changed, and what to put back.

The record is written before each change, so `testbed gateway down` and `testbed clean`
can undo a gateway whose `up` was killed half way. Undoing is idempotent.
"""

from __future__ import annotations

import dataclasses
import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

from testbed.compile.compiler import Target
from testbed.kernel.records import claim_file

STATE_DIR = Path("/run/testbed/gateway")
UP_IFB, DOWN_IFB = "tbgw-up", "tbgw-down"  # one gateway per network namespace
TABLE = "testbed_gw"  # the profile's table (inet)
NAT_TABLE = "testbed_gw_nat"  # masquerading (ip)
# The skb mark bit nft sets on a packet crossing the border, and on which tc redirects it into
# an ifb. Bit 12: clear of the marks of kube-proxy (0x4000, 0x8000), Cilium (0x0f00),
# WireGuard's wg-quick (0xca6c), Mullvad (0x6d6f6c65), Tailscale (0xff0000) and Calico
# (0xffff0000). This machine's own packets that carry it would meet the profile's default
# class: `up` warns when a routing rule or an nft rule here uses it.
MARK = 0x00001000
FILTER_PREF = 49213  # the tc filter's preference on a real interface's egress: ours to delete
SET_VALUE = "1"  # what a gateway sets its sysctls to (ip_forward, nf_conntrack_acct)


@dataclass
class GatewayState:
    inside: str
    outside: str
    netns: str | None  # the named namespace it lives in; None: this machine's own
    nat: bool
    sysctls: dict[str, str]  # each sysctl a gateway sets, as it was before: put back by `down`
    gro: dict[str, str] = field(default_factory=dict)  # interface -> "on"/"off" before `up`
    added_clsact: list[str] = field(default_factory=list)  # interfaces that had no clsact
    profile: str | None = None
    owner: int | None = None  # the `up` in progress; None once it finished
    owner_started: int | None = None

    def target(self) -> Target:
        return Target((UP_IFB,), (DOWN_IFB,), TABLE, (self.inside,), (self.outside,), MARK)

    def claim(self) -> bool:
        """Create the record, atomically: False when a gateway is already up here."""
        return claim_file(state_path(self.netns), json.dumps(asdict(self), indent=2))

    def save(self) -> None:
        path = state_path(self.netns)
        tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(asdict(self), indent=2))
        tmp.replace(path)

    @classmethod
    def load(cls, netns: str | None) -> GatewayState:
        """The record; fields of another testbed version are left out (a version upgrade
        while a gateway is up must not make it impossible to take down)."""
        data = json.loads(state_path(netns).read_text())
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


def state_path(netns: str | None) -> Path:
    return STATE_DIR / ("host.json" if netns is None else f"ns-{netns}.json")


def recorded() -> list[str | None]:
    """The namespaces with a gateway record (None: this machine's own)."""
    if not STATE_DIR.exists():
        return []
    names = sorted(p.name.removesuffix(".json") for p in STATE_DIR.glob("*.json"))
    return [None if n == "host" else n.removeprefix("ns-")
            for n in names if n == "host" or n.startswith("ns-")]


def stray_files(pid: int | None = None) -> list[Path]:
    """Temporary files of processes that are gone (killed between writing and renaming); with
    `pid`, only that process's (`testbed clean --pid` takes nothing another process left)."""
    out = []
    for path in STATE_DIR.glob("*.json.*") if STATE_DIR.exists() else []:
        writer = path.name.rsplit(".", 2)[-2]
        if writer.isdigit() and not Path(f"/proc/{writer}").exists() and pid in (None, int(writer)):
            out.append(path)
    return out


class UnnamedNamespace(Exception):
    """This process is in a network namespace that `ip netns` does not name and that is not
    this machine's own (an `unshare -n` shell): a gateway there could not be found again."""


def current_netns() -> str | None:
    """The name of the namespace this process is in (as `ip netns` knows it), or None for
    this machine's own (that of process 1); UnnamedNamespace for any other."""
    mine = os.stat("/proc/self/ns/net")
    netns_dir = Path("/run/netns")
    for path in sorted(netns_dir.iterdir()) if netns_dir.exists() else []:
        try:
            found = path.stat()
        except OSError:
            continue
        if (found.st_dev, found.st_ino) == (mine.st_dev, mine.st_ino):
            return path.name
    try:
        init = os.stat("/proc/1/ns/net")
    except OSError:  # process 1 hidden from us (a sandbox, a user without root): take it as ours
        return None
    if (init.st_dev, init.st_ino) != (mine.st_dev, mine.st_ino):
        raise UnnamedNamespace("this process runs in a network namespace that `ip netns` does not name "
                               "and that is not this machine's own; run testbed gateway in this machine's "
                               "namespace or in one made with `ip netns add`")
    return None
