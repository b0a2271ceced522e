"""A complete netem plugin for pyroute2.

pyroute2 0.9 encodes netem's delay, jitter, random loss, duplicate, reorder, corrupt and
rate, but not the delay distribution table, the loss models (4-state `state` and
Gilbert-Elliott `gemodel`), `slot`, 64-bit latency/jitter or ECN. This module encodes the
whole of `struct tc_netem_qopt` and its attributes as in the kernel's
include/uapi/linux/pkt_sched.h, the same way iproute2's q_netem.c does, and decodes the
kernel's dump back into a NetemParams so applied state can be checked against the Plan.

`install()` registers it as pyroute2's "netem" plugin.
"""

from __future__ import annotations

import functools
import struct
from pathlib import Path

from pyroute2.netlink import NLA_F_NESTED, nla
from pyroute2.netlink.rtnl import TC_H_ROOT
from pyroute2.netlink.rtnl.tcmsg import plugins
from pyroute2.netlink.rtnl.tcmsg.common import time2tick

from testbed.compile.plan import NetemParams
from testbed.errors import Missing

parent = TC_H_ROOT
U32_MAX = 0xFFFFFFFF
NETEM_DIST_MAX = 16384
DIST_DIRS = (Path("/usr/lib/tc"), Path("/usr/lib/x86_64-linux-gnu/tc"), Path("/usr/lib64/tc"),
             Path("/usr/lib/aarch64-linux-gnu/tc"))


class DistributionMissing(Missing):
    """iproute2's table for a netem delay distribution is not installed (exit 3)."""


def pct_to_u32(percent: float) -> int:
    """tc's get_percent: a fraction of UINT32_MAX, rounded to nearest."""
    return int(round(percent / 100.0 * U32_MAX))


def u32_to_pct(value: int) -> float:
    """Back to percent, rounded to what tc prints (at most 6 significant digits)."""
    return float(f"{value / U32_MAX * 100.0:.6g}")


def as_kernel_keeps(p: NetemParams) -> NetemParams:
    """`p` as the kernel will hold it: percentages rounded through u32, no table name."""
    import dataclasses

    def fix(value):
        if isinstance(value, float):
            return u32_to_pct(pct_to_u32(value))
        if isinstance(value, tuple):
            return tuple(fix(v) for v in value)
        return value

    changes = {f.name: fix(getattr(p, f.name)) for f in dataclasses.fields(p)
               if f.name.endswith("_pct") or f.name in ("loss_state", "loss_gemodel")}
    return dataclasses.replace(p, distribution=None, **changes)


def distribution_table(name: str) -> list[int]:
    """The iproute2 table (`normal.dist` ...) netem draws jitter from, as signed 16-bit ints."""
    for directory in DIST_DIRS:
        path = directory / f"{name}.dist"
        if path.exists():
            return list(_read_table(path))
    raise DistributionMissing(
        f"netem distribution table {name}.dist not found in "
        f"{', '.join(str(d) for d in DIST_DIRS)}: apt-get install iproute2 (scripts/setup.sh installs "
        "everything)"
    )


@functools.cache  # parsed once per process: an apply reads it per netem leaf, twice (0.1 s in the VM)
def _read_table(path: Path) -> tuple[int, ...]:
    values = [int(tok) for line in path.read_text().splitlines()
              if not line.lstrip().startswith("#") for tok in line.split()]
    return tuple(values[:NETEM_DIST_MAX])


def get_parameters(kwarg: dict) -> dict:
    """Called by pyroute2 with the tc() keywords; `netem_params` carries a NetemParams."""
    p: NetemParams = kwarg["netem_params"]
    usec = lambda ns: ns // 1000  # noqa: E731 - tc's tick conversion takes microseconds
    opts: dict = {
        "delay": min(int(time2tick(usec(p.delay_ns))), U32_MAX),
        "limit": p.limit,
        "loss": pct_to_u32(p.loss_pct),
        "gap": p.gap,
        "duplicate": pct_to_u32(p.duplicate_pct),
        "jitter": min(int(time2tick(usec(p.jitter_ns))), U32_MAX),
        "attrs": [],
    }
    attrs = opts["attrs"]
    if p.delay_correlation_pct or p.loss_correlation_pct or p.duplicate_correlation_pct:
        attrs.append(["TCA_NETEM_CORR", {
            "delay_corr": pct_to_u32(p.delay_correlation_pct),
            "loss_corr": pct_to_u32(p.loss_correlation_pct),
            "dup_corr": pct_to_u32(p.duplicate_correlation_pct),
        }])
    if p.reorder_pct:
        attrs.append(["TCA_NETEM_REORDER", {
            "probability": pct_to_u32(p.reorder_pct),
            "correlation": pct_to_u32(p.reorder_correlation_pct),
        }])
    if p.ecn:
        attrs.append(["TCA_NETEM_ECN", 1])
    if p.corrupt_pct:
        attrs.append(["TCA_NETEM_CORRUPT", {
            "probability": pct_to_u32(p.corrupt_pct),
            "correlation": pct_to_u32(p.corrupt_correlation_pct),
        }])
    if p.loss_state:
        p13, p31, p32, p23, p14 = (pct_to_u32(v) for v in p.loss_state)
        attrs.append(["TCA_NETEM_LOSS", {"attrs": [["NETEM_LOSS_GI", {
            "p13": p13, "p31": p31, "p32": p32, "p14": p14, "p23": p23}]]}])
    if p.loss_gemodel:
        gp, gr, one_minus_h, one_minus_k = p.loss_gemodel
        attrs.append(["TCA_NETEM_LOSS", {"attrs": [["NETEM_LOSS_GE", {
            "p": pct_to_u32(gp), "r": pct_to_u32(gr),
            "h": U32_MAX - pct_to_u32(one_minus_h),  # tc takes 1-h, the kernel wants h
            "k1": pct_to_u32(one_minus_k)}]]}])
    if p.rate_bps:
        rate_bytes = p.rate_bps // 8
        if rate_bytes >= 1 << 32:
            attrs.append(["TCA_NETEM_RATE64", rate_bytes])
        attrs.append(["TCA_NETEM_RATE", {
            "rate": min(rate_bytes, U32_MAX), "packet_overhead": p.packet_overhead,
            "cell_size": p.cell_size, "cell_overhead": p.cell_overhead}])
    if p.distribution:
        table = distribution_table(p.distribution)
        attrs.append(["TCA_NETEM_DELAY_DIST", struct.pack(f"={len(table)}h", *table)])
    if p.delay_ns:
        attrs.append(["TCA_NETEM_LATENCY64", p.delay_ns])
    if p.jitter_ns:
        attrs.append(["TCA_NETEM_JITTER64", p.jitter_ns])
    if p.slot:
        min_ns, max_ns, packets, size = p.slot
        attrs.append(["TCA_NETEM_SLOT", {
            "min_delay": min_ns, "max_delay": max_ns, "max_packets": packets,
            "max_bytes": size, "dist_delay": 0, "dist_jitter": 0}])
    return opts


def fix_request(request: dict) -> None:
    request.pop("netem_params", None)


class options(nla):  # noqa: N801 - pyroute2 looks the class up by this name
    nla_map = (
        ("TCA_NETEM_UNSPEC", "none"),
        ("TCA_NETEM_CORR", "netem_corr"),
        ("TCA_NETEM_DELAY_DIST", "cdata"),
        ("TCA_NETEM_REORDER", "netem_chance"),
        ("TCA_NETEM_CORRUPT", "netem_chance"),
        ("TCA_NETEM_LOSS", "netem_loss"),
        ("TCA_NETEM_RATE", "netem_rate"),
        ("TCA_NETEM_ECN", "uint32"),
        ("TCA_NETEM_RATE64", "uint64"),
        ("TCA_NETEM_PAD", "hex"),
        ("TCA_NETEM_LATENCY64", "int64"),
        ("TCA_NETEM_JITTER64", "int64"),
        ("TCA_NETEM_SLOT", "netem_slot"),
        ("TCA_NETEM_SLOT_DIST", "cdata"),
        ("TCA_NETEM_PRNG_SEED", "uint64"),
    )
    fields = (
        ("delay", "I"),
        ("limit", "I"),
        ("loss", "I"),
        ("gap", "I"),
        ("duplicate", "I"),
        ("jitter", "I"),
    )

    class netem_corr(nla):  # noqa: N801
        fields = (("delay_corr", "I"), ("loss_corr", "I"), ("dup_corr", "I"))

    class netem_chance(nla):  # noqa: N801
        fields = (("probability", "I"), ("correlation", "I"))

    class netem_rate(nla):  # noqa: N801
        fields = (("rate", "I"), ("packet_overhead", "i"), ("cell_size", "I"),
                  ("cell_overhead", "i"))

    class netem_slot(nla):  # noqa: N801
        fields = (("min_delay", "q"), ("max_delay", "q"), ("max_packets", "i"),
                  ("max_bytes", "i"), ("dist_delay", "q"), ("dist_jitter", "q"))

    class netem_loss(nla):  # noqa: N801
        nla_flags = NLA_F_NESTED
        nla_map = (
            ("NETEM_LOSS_UNSPEC", "none"),
            ("NETEM_LOSS_GI", "gimodel"),
            ("NETEM_LOSS_GE", "gemodel"),
        )

        class gimodel(nla):  # noqa: N801
            fields = (("p13", "I"), ("p31", "I"), ("p32", "I"), ("p14", "I"), ("p23", "I"))

        class gemodel(nla):  # noqa: N801
            fields = (("p", "I"), ("r", "I"), ("h", "I"), ("k1", "I"))


def decode(opts: nla) -> NetemParams:
    """The kernel's view of a netem qdisc (from a dump) as NetemParams.

    The distribution table is not dumped by the kernel; `distribution` stays None.
    """
    corr = opts.get_attr("TCA_NETEM_CORR")
    reorder = opts.get_attr("TCA_NETEM_REORDER")
    corrupt = opts.get_attr("TCA_NETEM_CORRUPT")
    rate = opts.get_attr("TCA_NETEM_RATE")
    rate64 = opts.get_attr("TCA_NETEM_RATE64")
    slot = opts.get_attr("TCA_NETEM_SLOT")
    loss = opts.get_attr("TCA_NETEM_LOSS")
    state = gemodel = None
    if loss is not None:
        gi = loss.get_attr("NETEM_LOSS_GI")
        ge = loss.get_attr("NETEM_LOSS_GE")
        if gi is not None:
            state = tuple(u32_to_pct(gi[k]) for k in ("p13", "p31", "p32", "p23", "p14"))
        if ge is not None:
            gemodel = (u32_to_pct(ge["p"]), u32_to_pct(ge["r"]), u32_to_pct(U32_MAX - ge["h"]),
                       u32_to_pct(ge["k1"]))
    rate_bytes = rate64 if rate64 else (rate["rate"] if rate else 0)
    return NetemParams(
        limit=opts["limit"],
        delay_ns=opts.get_attr("TCA_NETEM_LATENCY64") or 0,
        jitter_ns=opts.get_attr("TCA_NETEM_JITTER64") or 0,
        delay_correlation_pct=u32_to_pct(corr["delay_corr"]) if corr else 0.0,
        distribution=None,
        loss_pct=u32_to_pct(opts["loss"]),
        loss_correlation_pct=u32_to_pct(corr["loss_corr"]) if corr else 0.0,
        loss_state=state,
        loss_gemodel=gemodel,
        duplicate_pct=u32_to_pct(opts["duplicate"]),
        duplicate_correlation_pct=u32_to_pct(corr["dup_corr"]) if corr else 0.0,
        corrupt_pct=u32_to_pct(corrupt["probability"]) if corrupt else 0.0,
        corrupt_correlation_pct=u32_to_pct(corrupt["correlation"]) if corrupt else 0.0,
        reorder_pct=u32_to_pct(reorder["probability"]) if reorder else 0.0,
        reorder_correlation_pct=u32_to_pct(reorder["correlation"]) if reorder else 0.0,
        gap=opts["gap"],
        rate_bps=rate_bytes * 8,
        packet_overhead=rate["packet_overhead"] if rate else 0,
        cell_size=rate["cell_size"] if rate else 0,
        cell_overhead=rate["cell_overhead"] if rate else 0,
        slot=(slot["min_delay"], slot["max_delay"], slot["max_packets"], slot["max_bytes"])
        if slot else None,
        ecn=bool(opts.get_attr("TCA_NETEM_ECN")),
    )


def install() -> None:
    """Make pyroute2 use this module for netem qdiscs."""
    import sys

    plugins["netem"] = sys.modules[__name__]
