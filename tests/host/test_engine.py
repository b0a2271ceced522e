"""The apply engine against the host kernel: verify, idempotence, pasted commands, clear, probing."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from testbed.compile.render import nft_ruleset, shell_script
from testbed.errors import KernelFeatureMissing
from testbed.kernel import apply as engine
from testbed.kernel import netns, probe

from .conftest import plan_for, profile_dict

DATA = Path(__file__).parent.parent / "data" / "profiles"
HOST_PROFILE = profile_dict("mix", classes=[
    {"name": "stun", "match": {"protocol": "udp", "payload": {"offset": 4, "value": "0x2112A442"}},
     "both": {"shape": {"rate": "2mbit", "ceil": "4mbit"}}},
    {"name": "bucket", "match": {"protocol": "tcp", "dst_port": 8080},
     "both": {"shape": {"rate": "512kbit", "method": "tbf", "burst": "8KiB"}}},
    {"name": "freeze", "match": {"protocol": "tcp", "src": "@dc"}, "downlink": {"drop": True, "after": {"reply_bytes": "16KiB"}}},
    {"name": "police", "match": {"protocol": "tcp", "dst_port": 443},
     "both": {"police": {"rate": "150kbit", "burst": "16KiB", "per": "flow", "idle_timeout": "10m"}}},
], address_sets={"dc": ["198.19.0.0/24", "2001:db8::/32"]})


def _root_kind(state, device: str) -> str:
    with netns.route(state.censor.netns) as ipr:
        index = ipr.link_lookup(ifname=device)[0]
        return next(m.get_attr("TCA_KIND") for m in ipr.get_qdiscs(index=index) if m["parent"] == 0xFFFFFFFF)


def _tables(state) -> str:
    return netns.run(state.censor.netns, ["nft", "list", "tables"]).stdout


def test_apply_verifies_and_second_apply_is_a_no_op(topo, tmp_path) -> None:
    plan = plan_for(topo, HOST_PROFILE, tmp_path)
    assert engine.apply(plan, topo.censor.netns).changed is True
    assert engine.differences(plan, topo.censor.netns) == []
    assert engine.apply(plan, topo.censor.netns).changed is False


def test_tc_json_shows_the_profile_values(topo, tmp_path) -> None:
    import json

    plan = plan_for(topo, HOST_PROFILE, tmp_path)
    engine.apply(plan, topo.censor.netns)
    qdiscs = json.loads(netns.run(topo.censor.netns, ["tc", "-j", "qdisc", "show", "dev", "out0"]).stdout)
    by_handle = {q["handle"]: q for q in qdiscs}
    assert by_handle["1:"]["kind"] == "htb" and by_handle["1:"]["options"]["default"] == "0x2"
    assert by_handle["11:"]["kind"] == "tbf" and by_handle["11:"]["options"]["rate"] == 64000  # bytes/s


def test_pasted_commands_build_the_same_state(topo, tmp_path) -> None:
    """`testbed plan` output, run by a shell, is what the engine itself would build."""
    plan = plan_for(topo, HOST_PROFILE, tmp_path)
    script = shell_script(plan, netns=topo.censor.netns)
    subprocess.run(["sh", "-e"], input=script, text=True, check=True, capture_output=True)
    assert engine.differences(plan, topo.censor.netns) == []
    assert engine.apply(plan, topo.censor.netns).changed is False


def test_clear_restores_the_interfaces(topo, tmp_path) -> None:
    before = (_root_kind(topo, "out0"), _tables(topo))
    plan = plan_for(topo, HOST_PROFILE, tmp_path)
    engine.apply(plan, topo.censor.netns)
    assert _root_kind(topo, "out0") == "htb"
    engine.clear(plan, topo.censor.netns)
    assert (_root_kind(topo, "out0"), _tables(topo)) == before


def test_another_profile_replaces_the_first(topo, tmp_path) -> None:
    first = plan_for(topo, HOST_PROFILE, tmp_path)
    engine.apply(first, topo.censor.netns)
    second = plan_for(topo, profile_dict("other", default={"both": {"shape": {"rate": "1mbit"}}}), tmp_path)
    assert engine.apply(second, topo.censor.netns).changed
    assert engine.differences(second, topo.censor.netns) == []


def test_missing_feature_is_named_before_any_change(topo, tmp_path) -> None:
    import dataclasses

    plan = dataclasses.replace(plan_for(topo, HOST_PROFILE, tmp_path), features=("sch_htb", "sch_bogus"))
    before = (_root_kind(topo, "out0"), _tables(topo))
    with pytest.raises(KernelFeatureMissing, match="sch_bogus is not available on this kernel"):
        engine.apply(plan, topo.censor.netns)
    assert (_root_kind(topo, "out0"), _tables(topo)) == before


def test_netem_profile_on_this_kernel(topo) -> None:
    """Where netem is absent (this host) the error names it and nothing changes; where it is
    present (the VM), the profile applies and reads back."""
    plan = plan_for(topo, Path("profiles/ru-2025-calls-degraded.yaml"))
    before = (_root_kind(topo, "out0"), _tables(topo))
    if "sch_netem" in probe.available_qdiscs():
        assert engine.apply(plan, topo.censor.netns).changed
        assert engine.differences(plan, topo.censor.netns) == []
    else:
        with pytest.raises(KernelFeatureMissing, match=r"sch_netem is not available .*--where vm"):
            engine.apply(plan, topo.censor.netns)
        assert (_root_kind(topo, "out0"), _tables(topo)) == before


@pytest.mark.parametrize("source", [*sorted(Path("profiles").glob("*.yaml")), DATA / "everything.yaml",
                                    DATA / "tbf.yaml"], ids=lambda p: p.stem)
def test_every_ruleset_is_accepted_by_the_kernel(topo, source) -> None:
    plan = plan_for(topo, source)
    result = netns.run(topo.censor.netns, ["nft", "-c", "-f", "-"], stdin=nft_ruleset(plan.nft, plan.digest),
                       check=False)
    assert result.returncode == 0, result.stderr


def test_ten_thousand_prefixes_load_and_match(topo, tmp_path) -> None:
    """A Telegram-2018-sized block list: 10,000 /24s in one interval set, plus the callee."""
    import ipaddress
    import time

    prefixes = [str(ipaddress.ip_network((0x0B000000 + (i << 8), 24))) for i in range(10_000)]
    prefixes.append("198.19.0.0/24")
    listing = tmp_path / "blocked.txt"
    listing.write_text("\n".join(prefixes) + "\n")
    profile = tmp_path / "big.yaml"
    profile.write_text("name: big\ntitle: big\nconfidence: guessed\naddress_sets:\n  blocked: {file: blocked.txt}\n"
                       "classes:\n  - name: blocked\n    match: {dst: '@blocked'}\n    uplink: {drop: true}\n")
    plan = plan_for(topo, profile)
    started = time.perf_counter()
    engine.apply(plan, topo.censor.netns)
    print(f"applied 10,001 prefixes in {time.perf_counter() - started:.3f} s")
    result = subprocess.run(netns.command(topo.nodes["caller"].netns, ["ping", "-c1", "-W1", topo.nodes["callee"].address()]),
                            capture_output=True)
    assert result.returncode == 1, "the callee's prefix is in the set: its traffic must be dropped"
