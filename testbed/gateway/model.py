"""A gateway's record: where it is, what it changed, and what to put back.

The record is written before each change, so `testbed gateway down` and `testbed clean`
can undo a gateway whose `up` was killed half way. Undoing is idempotent.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

from testbed.compile.compiler import Target

STATE_DIR = Path("/run/testbed/gateway")
UP_IFB, DOWN_IFB = "tbgw-up", "tbgw-down"  # one gateway per network namespace
TABLE = "testbed_gw"  # the profile's table (inet)
NAT_TABLE = "testbed_gw_nat"  # masquerading (ip)
# The skb mark bit nft sets on a packet crossing the border. Other software's bits: kube-proxy
# 0x4000/0x8000, WireGuard 0xca6c, Tailscale 0xff0000; a packet of theirs that shared it would
# only detour through the ifb's default class.
MARK = 0x04000000
FILTER_PREF = 49213  # the tc filter's preference on a real interface's egress: ours to delete


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
        STATE_DIR.mkdir(parents=True, exist_ok=True)
        path = state_path(self.netns)
        tmp = path.with_suffix(f".{os.getpid()}.new")
        tmp.write_text(json.dumps(asdict(self), indent=2))
        try:  # a hard link appears whole or not at all: a kill -9 never leaves half a record
            os.link(tmp, path)
        except FileExistsError:
            return False
        finally:
            tmp.unlink()
        return True

    def save(self) -> None:
        path = state_path(self.netns)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(asdict(self), indent=2))
        tmp.replace(path)

    @classmethod
    def load(cls, netns: str | None) -> GatewayState:
        return cls(**json.loads(state_path(netns).read_text()))


def state_path(netns: str | None) -> Path:
    return STATE_DIR / f"{netns or '.host'}.json"  # a leading dot: no namespace name has one


def recorded() -> list[str | None]:
    """The namespaces with a gateway record (None: this machine's own)."""
    if not STATE_DIR.exists():
        return []
    names = [p.stem for p in STATE_DIR.glob("*.json")]
    return [None if n == ".host" else n for n in sorted(names)]


def current_netns() -> str | None:
    """The name of the namespace this process is in (as `ip netns` knows it), or None for any
    other, taken to be this machine's own."""
    mine = os.stat("/proc/self/ns/net")
    netns_dir = Path("/run/netns")
    for path in sorted(netns_dir.iterdir()) if netns_dir.exists() else []:
        try:
            found = path.stat()
        except OSError:
            continue
        if (found.st_dev, found.st_ino) == (mine.st_dev, mine.st_ino):
            return path.name
    return None
