"""Which kernel features are here: found out in a scratch namespace before anything changes."""

from __future__ import annotations

import functools
import os
import platform
import shutil

from pyroute2 import netns as pyroute2_netns
from pyroute2.netlink.exceptions import NetlinkError

from testbed.compile.plan import NetemParams
from testbed.kernel import netem
from testbed.kernel.netns import route
from testbed.profile.errors import KernelFeatureMissing


def _kind(feature: str) -> str:
    return feature.removeprefix("sch_")


def _qdisc_args(kind: str) -> dict:
    if kind == "netem":
        return {"netem_params": NetemParams(delay_ns=1_000_000)}
    if kind == "tbf":
        return {"rate": 125000, "burst": 2000, "latency": 50000}
    if kind == "htb":
        return {"default": 1}
    return {"limit": 10}


KNOWN_QDISCS = frozenset({"sch_htb", "sch_netem", "sch_tbf", "sch_pfifo"})


@functools.cache
def available_qdiscs(features: frozenset[str] = KNOWN_QDISCS) -> frozenset[str]:
    """Which `sch_KIND` features this kernel accepts, tried on a veth in a throwaway namespace."""
    netem.install()
    name = f"tb-probe-{os.getpid()}"
    found: set[str] = set()
    pyroute2_netns.create(name)
    try:
        with route(name) as ipr:
            ipr.link("add", ifname="p0", kind="veth", peer={"ifname": "p1"})
            index = ipr.link_lookup(ifname="p0")[0]
            for feature in sorted(features):
                kind = _kind(feature)
                try:
                    ipr.tc("replace", kind, index, 0x10000, root=True, **_qdisc_args(kind))
                    found.add(feature)
                    ipr.tc("del", index=index, handle=0x10000, root=True)
                except NetlinkError:
                    continue
    finally:
        pyroute2_netns.remove(name)
    return frozenset(found)


def missing_features(features: tuple[str, ...]) -> list[str]:
    missing = []
    qdiscs = [f for f in features if f.startswith("sch_")]
    if qdiscs:
        have = available_qdiscs(KNOWN_QDISCS | frozenset(qdiscs))  # one probe per process
        missing += [f for f in qdiscs if f not in have]
    if "nftables" in features and shutil.which("nft") is None:
        missing.append("nftables")
    return missing


def require(features: tuple[str, ...]) -> None:
    """Raise KernelFeatureMissing naming every absent feature, before any change."""
    missing = missing_features(features)
    if not missing:
        return
    kernel = platform.release()
    parts = []
    for feature in missing:
        if feature == "nftables":
            parts.append("the nft program is not installed (apt-get install nftables)")
        else:
            parts.append(f"{feature} is not available on this kernel ({kernel})")
    hint = "; run with --vm" if "sch_netem" in missing else ""
    raise KernelFeatureMissing("; ".join(parts) + hint)
