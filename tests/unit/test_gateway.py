"""Gateway mode's pure parts: the commands it runs and undoes, and its record."""

from __future__ import annotations

import dataclasses
import json
import os

import pytest

from testbed.gateway import model, plumbing
from testbed.gateway.model import GatewayState


def _state(**changes) -> GatewayState:
    fields = dict(inside="wlan0", outside="eth0", netns=None, nat=True, sysctls={"net.ipv4.ip_forward": "0"},
                  gro={"wlan0": "on", "eth0": "fixed"}, added_clsact=["wlan0", "eth0"])
    return GatewayState(**(fields | changes))


def _lines(commands: list[plumbing.Command]) -> list[str]:
    return [c.shell() for c in commands]


def test_setup_makes_ifbs_then_redirects_then_nat_and_leaves_forwarding_for_last() -> None:
    lines = _lines(plumbing.setup(_state()))
    assert lines[:4] == ["ip link add tbgw-up type ifb", "ip link set tbgw-up up",
                         "ip link add tbgw-down type ifb", "ip link set tbgw-down up"]
    assert "ethtool -K wlan0 gro off" in lines and not any("eth0 gro" in line for line in lines)  # fixed
    assert lines.index("tc qdisc add dev eth0 clsact") < next(
        i for i, line in enumerate(lines) if line.startswith("tc filter add dev eth0 egress"))
    redirect = next(line for line in lines if line.startswith("tc filter add dev eth0"))
    assert redirect.endswith("action mirred egress redirect dev tbgw-up")  # leaving by the uplink: up
    assert next(line for line in lines if line.startswith("tc filter add dev wlan0")).endswith("dev tbgw-down")
    assert 'iifname "wlan0" oifname "eth0" masquerade' in lines[-1]
    assert not any("sysctl" in line for line in lines)  # forwarding: after the profile (lifecycle.up)
    assert plumbing.forwarding_on().shell() == "sysctl -qw net.ipv4.ip_forward=1"


def test_setup_leaves_a_clsact_that_was_there_and_can_skip_nat() -> None:
    lines = _lines(plumbing.setup(_state(added_clsact=["wlan0"], nat=False)))
    assert "tc qdisc add dev eth0 clsact" not in lines and "tc qdisc add dev wlan0 clsact" in lines
    assert not any("masquerade" in line for line in lines)


def test_teardown_undoes_exactly_what_setup_and_apply_did() -> None:
    state = _state(added_clsact=["wlan0"], sysctls={"net.ipv4.ip_forward": "0",
                                                   "net.netfilter.nf_conntrack_acct": "0"})
    lines = _lines(plumbing.teardown(state))
    assert lines[:2] == ["nft delete table inet testbed_gw", "nft delete table ip testbed_gw_nat"]
    assert "tc qdisc del dev wlan0 clsact" in lines and "tc qdisc del dev eth0 clsact" not in lines  # not ours
    assert "tc filter del dev eth0 egress pref 49213" in lines  # our filter only, by its preference
    assert lines.index("tc filter del dev wlan0 egress pref 49213") < lines.index("ip link del tbgw-down")
    assert lines[-1] == "ethtool -K wlan0 gro on"
    assert not any("sysctl" in line for line in lines)  # put back by lifecycle.down, where still ours


def test_an_unreadable_record_still_loses_its_tables_redirects_and_ifbs() -> None:
    lines = _lines(plumbing.teardown_unrecorded(["lo", "wlan0", "tbgw-up"]))
    assert "tc filter del dev wlan0 egress pref 49213" in lines and "tc filter del dev lo egress pref 49213" in lines
    assert not any("dev tbgw-up egress" in line for line in lines)
    assert lines[-2:] == ["ip link del tbgw-up", "ip link del tbgw-down"]


def test_the_mark_is_one_bit_clear_of_other_softwares_marks() -> None:
    assert bin(model.MARK).count("1") == 1
    for theirs in (0x4000, 0x8000, 0x0F00, 0xCA6C, 0x6D6F6C65, 0xFF0000, 0xFFFF0000):  # kube, cilium, wg ...
        assert not model.MARK & theirs


def test_the_redirect_selects_the_mark_bit_with_classic_bpf() -> None:
    count, *program = plumbing.MARKED.split(",")
    assert int(count) == len(program) == 4
    load, test, match, miss = (list(map(int, ins.split())) for ins in program)
    assert load == [0x20, 0, 0, 2**32 - 4096 + 20]  # ld [SKF_AD_OFF + SKF_AD_MARK]
    assert test == [0x45, 0, 1, model.MARK]  # jset #MARK
    assert match == [0x06, 0, 0, 2**32 - 1] and miss == [0x06, 0, 0, 0]  # ret -1 (act) / ret 0


def test_the_gateway_target_puts_the_trees_on_the_ifbs_and_marks_the_border() -> None:
    target = _state().target()
    assert (target.uplink_devices, target.downlink_devices) == (("tbgw-up",), ("tbgw-down",))
    assert target.border() == (("wlan0",), ("eth0",)) and target.mark == model.MARK


def test_a_record_is_claimed_once_and_round_trips(tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(model, "STATE_DIR", tmp_path)
    state = _state(netns="gw-ns", owner=os.getpid())
    assert state.claim()
    assert not _state(netns="gw-ns").claim()  # one gateway per namespace
    assert GatewayState.load("gw-ns") == state
    state.profile = "clean"
    state.save()
    assert json.loads(model.state_path("gw-ns").read_text())["profile"] == "clean"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ns-gw-ns.json"]  # no temporary files left
    assert _state().claim() and model.recorded() == [None, "gw-ns"]
    assert model.state_path(None).name == "host.json"  # no namespace name can collide with it


def test_a_record_of_another_version_still_loads(tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(model, "STATE_DIR", tmp_path)
    data = json.loads(json.dumps(dataclasses.asdict(_state())))
    model.state_path(None).write_text(json.dumps(data | {"added_in_a_later_version": 1}))
    assert GatewayState.load(None) == _state()


def test_temporary_files_of_dead_processes_are_strays(tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(model, "STATE_DIR", tmp_path)
    mine = tmp_path / f"host.json.{os.getpid()}.new"
    dead = tmp_path / "host.json.4194999.new"  # above any pid_max Linux allows by default
    for path in (mine, dead):
        path.write_text("{}")
    assert model.stray_files() == [dead]
    assert model.stray_files(4194999) == [dead]
    assert model.stray_files(4194998) == []  # `clean --pid` of another process leaves it


def test_an_up_still_running_or_dead_makes_the_gateway_busy() -> None:
    from testbed.gateway.lifecycle import Busy, usable

    assert usable(_state()) == _state() and usable(_state(owner=os.getpid())).owner == os.getpid()
    with pytest.raises(Busy) as running:
        usable(_state(owner=1))  # init: alive
    assert running.value.running
    with pytest.raises(Busy) as dead:
        usable(_state(owner=4194999))
    assert not dead.value.running and "testbed clean" in str(dead.value)


@pytest.mark.parametrize("text", ["", "nonsense", "1.2.3.4 5 6", "not-an-ip 1 2 3"])
def test_a_missing_or_odd_ssh_connection_names_no_client(text) -> None:
    from testbed.gateway.safety import _client

    assert _client(text) is None
    assert _client("192.0.2.7 50000 192.0.2.1 22") == "192.0.2.7"
