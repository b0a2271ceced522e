"""Shaping and policing measured with iperf3 through the censor (host kernel: htb, tbf, nft)."""

from __future__ import annotations

import pytest

from testbed.traffic.iperf import run_iperf

from .conftest import apply_profile, profile_dict

RATE = 1_000_000
TCP_GOODPUT_SHARE = 1448 / 1514  # payload of a full frame with TCP timestamps


def _both(state):
    return state.endpoint("caller"), state.endpoint("callee")


@pytest.mark.parametrize("method", ["htb", "tbf"])
@pytest.mark.parametrize("reverse", [False, True], ids=["uplink", "downlink"])
def test_shaping_1mbit_gives_tcp_within_5_percent(topo, tmp_path, method, reverse) -> None:
    apply_profile(topo, profile_dict("shape", default={"both": {"shape": {"rate": "1mbit", "method": method}}}),
                  tmp_path)
    caller, callee = _both(topo)
    result = run_iperf(caller, callee, seconds=6, reverse=reverse)
    expected = RATE * TCP_GOODPUT_SHARE
    assert result.received_bps == pytest.approx(expected, rel=0.05)


def test_unshaped_path_is_far_faster(topo) -> None:
    caller, callee = _both(topo)
    assert run_iperf(caller, callee, seconds=2).received_bps > 50 * RATE


def test_nft_policing_drops_above_rate(topo, tmp_path) -> None:
    """nft's byte limit: bucket = one second at the rate + burst (nft_limit.c), then the rate."""
    burst = 16384
    seconds = 8
    apply_profile(topo, profile_dict("police", classes=[{
        "name": "udp", "match": {"protocol": "udp"},
        "both": {"police": {"rate": "1mbit", "burst": burst}}}]), tmp_path)
    caller, callee = _both(topo)
    result = run_iperf(caller, callee, seconds=seconds, udp_rate_bps=5 * RATE, length=1000)
    payload_share = 1000 / 1028  # the limit counts IP bytes; iperf3 counts UDP payload
    floor = RATE * payload_share * 0.95
    ceiling = RATE * payload_share + (RATE + burst * 8) / seconds * 1.05
    assert floor <= result.received_bps <= ceiling, result
    assert result.lost_percent > 70


def test_topology_base_link_rate() -> None:
    from testbed.scenario.session import Experiment
    from testbed.topology.model import LinkSpec, TopologySpec

    with Experiment(TopologySpec(link=LinkSpec(rate="2mbit")), label="h") as session:
        caller, callee = _both(session.state)
        result = run_iperf(caller, callee, seconds=5)
        assert result.received_bps == pytest.approx(2 * RATE * TCP_GOODPUT_SHARE, rel=0.05)
