"""nft classification on real packets: payload offsets, conntrack byte counters, reject, residual,
and traffic between two hosts of one side left alone."""

from __future__ import annotations

import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from testbed.kernel import netns
from testbed.scenario.session import Experiment
from testbed.topology.model import TopologySpec

from .conftest import apply_profile, profile_dict
from .helpers import class_packets, send_udp, tcp_download, udp_round_trips


def test_stun_cookie_steers_only_stun_packets_into_its_class(topo, tmp_path) -> None:
    apply_profile(topo, profile_dict("stun", classes=[{
        "name": "stun", "match": {"protocol": "udp", "payload": {"offset": 4, "value": "0x2112A442"}},
        "both": {"shape": {"rate": "50mbit"}}}]), tmp_path)
    caller, callee_ip, censor = topo.nodes["caller"].netns, topo.nodes["callee"].address(), topo.censor.netns
    before = class_packets(censor, "out0")
    send_udp(caller, callee_ip, 3478, 200, stun=True)
    send_udp(caller, callee_ip, 3478, 300, stun=False)
    after = class_packets(censor, "out0")
    assert after["1:10"] - before["1:10"] == 200
    assert 300 <= after["1:2"] - before["1:2"] < 320  # plus the odd IPv6 housekeeping packet


def test_conntrack_byte_counter_freezes_download_at_16kib(topo, tmp_path) -> None:
    apply_profile(topo, profile_dict("freeze", classes=[{
        "name": "freeze", "match": {"protocol": "tcp", "src_port": 8000},
        "downlink": {"drop": True, "after": {"reply_bytes": "16KiB"}}}]), tmp_path)
    got = tcp_download(topo.nodes["callee"].netns, topo.nodes["caller"].netns,
                       topo.nodes["callee"].address(), size=1_000_000)
    # conntrack counts whole IP packets (SYN-ACK and 52-byte headers too): the payload that
    # got through is 16 KiB less those headers, and at most one full segment short of it
    assert 16384 - 2 * 1448 <= got <= 16384, got


@pytest.mark.parametrize(("match", "answered"), [
    ({"protocol": "udp", "dst_port": 5000}, 50),  # per packet: the replies come from 5000, to the client's port
    ({"flow": {"protocol": "udp", "dst_port": 5000}}, 0),  # the connection: its replies too
])
def test_a_flow_match_takes_the_replies_and_a_port_match_does_not(topo, tmp_path, match, answered) -> None:
    """A class dropping what comes back (downlink) of traffic to UDP port 5000: with
    `dst_port` it sees only the requests (which go up) and drops nothing; with `flow` it
    takes the connection both ways and drops every answer."""
    apply_profile(topo, profile_dict("replies", classes=[{"name": "app", "match": match,
                                                          "downlink": {"drop": True}}]), tmp_path)
    got = udp_round_trips(topo.nodes["caller"].netns, topo.nodes["callee"].netns,
                          topo.nodes["callee"].address(), 5000, 50)
    assert got == answered


def test_download_without_freeze_completes(topo) -> None:
    got = tcp_download(topo.nodes["callee"].netns, topo.nodes["caller"].netns,
                       topo.nodes["callee"].address(), size=1_000_000)
    assert got == 1_000_000


def test_reject_answers_tcp_with_reset(topo, tmp_path) -> None:
    apply_profile(topo, profile_dict("reject", classes=[{
        "name": "web", "match": {"protocol": "tcp", "dst_port": 9999}, "uplink": {"reject": True}}]), tmp_path)
    code = ("import socket,sys\ntry:\n socket.create_connection((sys.argv[1], 9999), timeout=3)\n"
            "except ConnectionRefusedError:\n print('refused')\nexcept OSError as e:\n print(type(e).__name__)")
    result = netns.run(topo.nodes["caller"].netns, [sys.executable, "-c", code, topo.nodes["callee"].address()])
    assert result.stdout.strip() == "refused"


def _ping(state, wait_s: float = 1) -> bool:
    result = subprocess.run(netns.command(state.nodes["caller"].netns,
                                          ["ping", "-c1", "-W", str(wait_s), state.nodes["callee"].address()]),
                            capture_output=True)
    return result.returncode == 0


def test_residual_block_follows_a_trigger_and_expires(topo, tmp_path) -> None:
    apply_profile(topo, profile_dict("residual", classes=[{
        "name": "trigger", "match": {"protocol": "udp", "dst_port": 7000},
        "uplink": {"drop": True, "residual": {"duration": "3s", "scope": "pair"}}}]), tmp_path)
    assert _ping(topo)
    send_udp(topo.nodes["caller"].netns, topo.nodes["callee"].address(), 7000, 1, stun=False)
    started = time.monotonic()
    assert not _ping(topo), "after the trigger, the pair must be blocked (ICMP too)"
    time.sleep(max(0.0, 3.6 - (time.monotonic() - started)))
    assert _ping(topo), "the block must expire after its duration"


@pytest.mark.parametrize("family", [socket.AF_INET6])
def test_ipv6_is_classified_too(topo, tmp_path, family) -> None:
    apply_profile(topo, profile_dict("v6", classes=[{
        "name": "udp", "match": {"protocol": "udp", "dst_port": 4000}, "uplink": {"shape": {"rate": "20mbit"}}}]),
        tmp_path)
    before = class_packets(topo.censor.netns, "out0")
    send_udp(topo.nodes["caller"].netns, topo.nodes["callee"].address(), 4000, 10, stun=False)
    code = ("import socket,sys\ns=socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)\n"
            "[s.sendto(b'x'*20, (sys.argv[1], 4000)) for _ in range(10)]")
    netns.run(topo.nodes["caller"].netns, [sys.executable, "-c", code, topo.nodes["callee"].address(6)])
    after = class_packets(topo.censor.netns, "out0")
    assert after["1:10"] - before["1:10"] == 20


def test_chat_is_delivered_on_a_clean_path_and_not_through_a_block(topo, tmp_path) -> None:
    from testbed.traffic.chat import run_chat

    clean = run_chat(topo.endpoint("caller"), topo.endpoint("callee"), count=20, interval_s=0.05)
    assert clean.connected and clean.delivery_ratio == 1.0 and clean.latency_p95_ms < 50
    apply_profile(topo, profile_dict("chatblock", classes=[{
        "name": "xmpp", "match": {"protocol": "tcp", "dst_port": 5222}, "uplink": {"drop": True}}]), tmp_path)
    blocked = run_chat(topo.endpoint("caller"), topo.endpoint("callee"), count=5, interval_s=0.05, deadline_s=1.0)
    assert blocked.delivered == 0


def test_stun_framed_calls_are_blocked_while_chat_is_delivered(topo, tmp_path) -> None:
    """The August 2025 story in miniature: call media dropped by its STUN framing, text fine."""
    from testbed.measure.call import stream_metrics
    from testbed.measure.emodel import CODECS, call_quality
    from testbed.traffic.calls import run_calls
    from testbed.traffic.chat import run_chat

    apply_profile(topo, profile_dict("calls-blocked", classes=[{
        "name": "stun", "match": {"protocol": "udp", "payload": {"offset": 4, "value": "0x2112A442"}},
        "both": {"drop": True}}]), tmp_path)
    framed = run_calls(topo.endpoint("caller"), topo.endpoint("callee"), "opus-webrtc", calls=2, seconds=3,
                       framing="stun", dtx=True)
    assert all(t.sent.size > 0 and t.received.size == 0 for t in framed.traces)
    plain = run_calls(topo.endpoint("caller"), topo.endpoint("callee"), "opus-webrtc", calls=1, seconds=3)
    codec = CODECS["opus-webrtc"]
    metrics = [stream_metrics(t, codec) for t in plain.traces]
    clean_ceiling = call_quality(codec, 0.0, 1.0, 0.0).mos_lq  # the codec's own impairment, nothing else
    assert all(m.network_loss.loss_percent == 0 and m.quality.mos_lq == pytest.approx(clean_ceiling, abs=0.01)
               for m in metrics)
    chat = run_chat(topo.endpoint("caller"), topo.endpoint("callee"), count=20, interval_s=0.05)
    assert chat.delivery_ratio == 1.0


def test_traffic_between_two_hosts_abroad_crosses_no_border() -> None:
    """A callee and its TURN server both sit outside: the profile holds only for traffic that
    crosses the censor from one side to the other, as on a real border."""
    with Experiment(TopologySpec(outside=["callee", "turn"]), label="h") as session:
        state = session.state
        with tempfile.TemporaryDirectory() as tmp:
            apply_profile(state, profile_dict("stun-drop", classes=[{
                "name": "stun", "match": {"protocol": "udp", "dst_port": 3478}, "uplink": {"drop": True}}]),
                Path(tmp))
        censor, turn_ip = state.censor.netns, state.nodes["turn"].address()
        turn_link = next(i.name for i in state.censor.interfaces if i.peer_node == "turn")
        before = class_packets(censor, turn_link)
        send_udp(state.nodes["caller"].netns, turn_ip, 3478, 100, stun=True)  # across: dropped
        send_udp(state.nodes["callee"].netns, turn_ip, 3478, 200, stun=True)  # abroad: untouched
        after = class_packets(censor, turn_link)
        assert after["1:3"] - before["1:3"] == 200
        assert after["1:2"] - before["1:2"] < 5 and after["1:10"] == before["1:10"]  # (IPv6 housekeeping)
