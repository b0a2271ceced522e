"""Which kernel features are here: found out in a scratch namespace before anything changes."""

from __future__ import annotations

import functools
import os
import platform
import shutil

from pyroute2 import netns as pyroute2_netns
from pyroute2.netlink.exceptions import NetlinkError

from testbed.compile.plan import NetemParams
from testbed.errors import KernelFeatureMissing, ProgramMissing
from testbed.kernel import netem
from testbed.kernel.netns import create, route
from testbed.kernel.tc import ROOT_HANDLE, delete_root

PROBE_PREFIX = "tb.probe-"  # not tb-: no run id can claim it (run ids have no dot)


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
    name = f"{PROBE_PREFIX}{os.getpid()}"
    found: set[str] = set()
    create(name)
    try:
        with route(name) as ipr:
            ipr.link("add", ifname="p0", kind="veth", peer={"ifname": "p1"})
            index = ipr.link_lookup(ifname="p0")[0]
            for feature in sorted(features):
                kind = _kind(feature)
                try:
                    ipr.tc("replace", kind, index, ROOT_HANDLE, root=True, **_qdisc_args(kind))
                    found.add(feature)
                    delete_root(ipr, index)
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
    """Raise Missing naming every absent feature, before any change."""
    missing = missing_features(features)
    if "nftables" in missing:
        raise ProgramMissing("nft", "nftables", "the censor classifies with nftables")
    if not missing:
        return
    hint = "; use --where vm (the testbed VM's stock kernel has it)" if "sch_netem" in missing else ""
    raise KernelFeatureMissing(f"{', '.join(missing)} {'is' if len(missing) == 1 else 'are'} not "
                               f"available on this kernel ({platform.release()}){hint}")
