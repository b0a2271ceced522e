"""Every netem feature of the language, applied through the engine, read back with `tc -j`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from testbed.compile.plan import NetemParams
from testbed.kernel import apply as engine
from testbed.kernel import netns
from tests.host.conftest import plan_for

PROFILES = Path(__file__).parent.parent / "data" / "profiles"


def expected_tc_json(p: NetemParams) -> dict:
    """What iproute2 prints for `p` (fractions for percentages, seconds for times, bytes/s)."""
    out: dict = {"limit": p.limit, "ecn": p.ecn, "gap": p.gap}
    if p.delay_ns:
        out["delay"] = {"delay": p.delay_ns / 1e9, "jitter": p.jitter_ns / 1e9,
                        "correlation": p.delay_correlation_pct / 100}
    if p.loss_pct:
        out["loss-random"] = {"loss": p.loss_pct / 100, "correlation": p.loss_correlation_pct / 100}
    if p.loss_state:
        out["loss-state"] = dict(zip(("p13", "p31", "p32", "p23", "p14"), (v / 100 for v in p.loss_state),
                                     strict=True))
    if p.loss_gemodel:
        out["loss-gemodel"] = dict(zip(("p", "r", "1-h", "1-k"), (v / 100 for v in p.loss_gemodel), strict=True))
    for key, pct, corr in (("duplicate", p.duplicate_pct, p.duplicate_correlation_pct),
                           ("reorder", p.reorder_pct, p.reorder_correlation_pct),
                           ("corrupt", p.corrupt_pct, p.corrupt_correlation_pct)):
        if pct:
            out[key] = {key: pct / 100, "correlation": corr / 100}
    if p.rate_bps:
        out["rate"] = {"rate": p.rate_bps // 8}
        for key, value in (("packetoverhead", p.packet_overhead), ("cellsize", p.cell_size),
                           ("celloverhead", p.cell_overhead)):
            if value:
                out["rate"][key] = value
    if p.slot:
        out["slot"] = {"min-delay": p.slot[0] / 1e9, "max-delay": p.slot[1] / 1e9}
        if p.slot[2]:
            out["slot"]["packets"] = p.slot[2]
        if p.slot[3]:
            out["slot"]["bytes"] = p.slot[3]
    return out


def _approx(expected):
    if isinstance(expected, dict):
        return {k: _approx(v) for k, v in expected.items()}
    if isinstance(expected, float):
        return pytest.approx(expected, rel=1e-4, abs=1e-6)
    return expected


@pytest.mark.parametrize("name", ["everything", "duplicate"])
def test_every_netem_leaf_reads_back_as_planned(topo, name) -> None:
    plan = plan_for(topo, PROFILES / f"{name}.yaml")
    assert engine.apply(plan, topo.censor.netns).changed
    assert engine.differences(plan, topo.censor.netns) == []
    checked = set()
    for item in plan.interfaces:
        shown = json.loads(netns.run(topo.censor.netns, ["tc", "-j", "qdisc", "show", "dev", item.device]).stdout)
        by_handle = {q["handle"]: q for q in shown}
        for leaf in item.leaves:
            if leaf.kind != "netem":
                continue
            options = by_handle[leaf.handle]["options"]
            wanted = expected_tc_json(leaf.netem)
            assert {k: options.get(k) for k in wanted} == _approx(wanted), (item.device, leaf.handle)
            checked.update(k for k in wanted if k not in ("limit", "ecn", "gap"))
            checked.update(k for k in ("ecn",) if wanted["ecn"])
            if leaf.netem.distribution:
                checked.add(f"distribution-{leaf.netem.distribution}")
            if leaf.netem.limit != 1000:
                checked.add("limit")
            if leaf.netem.gap:
                checked.add("gap")
    if name == "everything":
        assert checked >= {"delay", "loss-random", "loss-state", "loss-gemodel", "reorder", "corrupt", "rate",
                           "slot", "ecn", "limit", "gap", "distribution-normal", "distribution-pareto"}
    else:
        assert "duplicate" in checked


@pytest.mark.parametrize("distribution", ["uniform", "normal", "pareto", "paretonormal"])
def test_each_distribution_applies(topo, tmp_path, distribution) -> None:
    from tests.host.conftest import apply_profile, profile_dict

    plan = apply_profile(topo, profile_dict("dist", default={"both": {"netem": {
        "delay": "40ms", "jitter": "10ms", "distribution": distribution, "delay_correlation": "10%"}}}), tmp_path)
    assert engine.differences(plan, topo.censor.netns) == []
    shown = json.loads(netns.run(topo.censor.netns, ["tc", "-j", "qdisc", "show", "dev", "out0"]).stdout)
    delay = next(q for q in shown if q["handle"] == "2:")["options"]["delay"]
    assert delay == _approx({"delay": 0.04, "jitter": 0.01, "correlation": 0.1})


def test_a_missing_distribution_table_is_exit_3_before_anything_changes(topo, tmp_path, monkeypatch) -> None:
    """iproute2's tables are read before the first change: a missing one is a missing file
    of the machine (exit 3, naming the package), not a half-applied profile or a crash."""
    from testbed.kernel import netem
    from tests.host.conftest import profile_dict

    plan = plan_for(topo, profile_dict("dist", default={"both": {"netem": {
        "delay": "40ms", "jitter": "10ms", "distribution": "pareto"}}}), tmp_path)

    def kernel_state() -> list[str]:
        ns = topo.censor.netns
        return [netns.run(ns, ["tc", "-j", "qdisc", "show", "dev", item.device]).stdout for item in plan.interfaces] \
            + [netns.run(ns, ["nft", "list", "tables"]).stdout]

    before = kernel_state()
    monkeypatch.setattr(netem, "DIST_DIRS", (tmp_path / "no-tables",))
    with pytest.raises(netem.DistributionMissing, match=r"pareto\.dist.*apt-get install iproute2") as raised:
        engine.apply(plan, topo.censor.netns)
    assert raised.value.exit_code == 3
    assert kernel_state() == before
