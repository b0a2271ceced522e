"""Gateway mode's pure parts: the commands it runs and undoes, and its record."""

from __future__ import annotations

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


def test_setup_makes_ifbs_then_redirects_then_nat_and_turns_forwarding_on_last() -> None:
    lines = _lines(plumbing.setup(_state()))
    assert lines[:4] == ["ip link add tbgw-up type ifb", "ip link set tbgw-up up",
                         "ip link add tbgw-down type ifb", "ip link set tbgw-down up"]
    assert "ethtool -K wlan0 gro off" in lines and not any("eth0 gro" in line for line in lines)  # fixed
    assert lines.index("tc qdisc add dev eth0 clsact") < next(
        i for i, line in enumerate(lines) if line.startswith("tc filter add dev eth0 egress"))
    redirect = next(line for line in lines if line.startswith("tc filter add dev eth0"))
    assert redirect.endswith("action mirred egress redirect dev tbgw-up")  # leaving by the uplink: up
    assert next(line for line in lines if line.startswith("tc filter add dev wlan0")).endswith("dev tbgw-down")
    assert 'iifname "wlan0" oifname "eth0" masquerade' in lines[-2]
    assert lines[-1] == "sysctl -qw net.ipv4.ip_forward=1"  # only once the NAT is in place


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
    assert "ethtool -K wlan0 gro on" in lines
    assert lines[-2:] == ["sysctl -qw net.ipv4.ip_forward=0", "sysctl -qw net.netfilter.nf_conntrack_acct=0"]


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
    assert sorted(p.name for p in tmp_path.iterdir()) == ["gw-ns.json"]  # no temporary files left
    assert _state().claim() and model.recorded() == [None, "gw-ns"]


@pytest.mark.parametrize("text", ["", "nonsense", "1.2.3.4 5 6", "not-an-ip 1 2 3"])
def test_a_missing_or_odd_ssh_connection_names_no_interface(text) -> None:
    from testbed.gateway.safety import ssh_interface

    assert ssh_interface(None, text) is None
