"""The censor's counters on real packets: what each class took, dropped in nft and sent,
read back per class and direction (what netem lost in a class's queue: tests/vm/test_counters.py) (`testbed status --counters`), and
recorded per phase by a scenario, whose summary names a class that took nothing."""

from __future__ import annotations

import json

import yaml

from testbed.scenario.session import Experiment
from tests.cli import run_cli

from .conftest import profile_dict
from .helpers import send_udp

PROFILE = profile_dict("counted", classes=[
    {"name": "shaped", "match": {"protocol": "udp", "dst_port": 5000}, "uplink": {"shape": {"rate": "10mbit"}}},
    {"name": "blocked", "match": {"protocol": "udp", "dst_port": 5001}, "uplink": {"drop": True}},
    {"name": "unused", "match": {"protocol": "udp", "dst_port": 9}, "both": {"drop": True}},
])
IP_UDP_BYTES = 20 + 8 + 20  # IPv4 and UDP headers and send_udp's 20-byte payload


def test_each_class_counts_what_it_took_dropped_and_lost(tmp_path) -> None:
    from testbed.profile.loader import load_profile

    path = tmp_path / "counted.yaml"
    path.write_text(yaml.safe_dump(PROFILE))
    with Experiment(label="h") as session:
        session.apply(load_profile(path))
        callee = session.state.nodes["callee"].address()
        send_udp(session.state.nodes["caller"].netns, callee, 5000, 40, stun=False)
        send_udp(session.state.nodes["caller"].netns, callee, 5001, 30, stun=False)
        counts = session.counts()
        listed = run_cli("status", "--counters", "--json")
        session.apply(None)  # the table goes; its counts stay with the session
        swapped = session.counts()
    shaped, blocked = counts[("counted", "shaped", "uplink")], counts[("counted", "blocked", "uplink")]
    assert (shaped.packets, shaped.bytes, shaped.dropped) == (40, 40 * IP_UDP_BYTES, 0)
    assert (shaped.sent, shaped.sent_bytes, shaped.queue_drops, shaped.backlog) == (40, 40 * (IP_UDP_BYTES + 14), 0, 0)
    assert (blocked.packets, blocked.dropped, blocked.sent, blocked.queue_drops) == (30, 30, 0, 0)
    assert counts[("counted", "unused", "uplink")].packets == counts[("counted", "unused", "downlink")].packets == 0
    assert swapped[("counted", "shaped", "uplink")] == shaped
    assert listed.returncode == 0, listed.stderr
    (row,) = [r for r in json.loads(listed.stdout) if r["run"] == session.run_id]
    shown = {(c["traffic_class"], c["direction"]): c for c in row["counters"]}
    assert [name for name, direction in shown if direction == "uplink"] == ["shaped", "blocked", "unused", "default"]
    assert shown[("shaped", "uplink")]["sent"] == 40 and shown[("blocked", "uplink")]["dropped"] == 30


def test_a_scenario_records_its_phases_counts_and_names_an_idle_class(tmp_path) -> None:
    (tmp_path / "counted.yaml").write_text(yaml.safe_dump(PROFILE))
    (tmp_path / "s.yaml").write_text(yaml.safe_dump({
        "name": "counted", "title": "Counted", "topology": {"inside": ["caller"], "outside": ["callee"]},
        "profiles": {"p": "counted.yaml"},
        "phases": [{"name": "clean", "duration": "1s"}, {"name": "counted", "duration": "2s", "profile": "p"}],
        "workloads": [{"type": "ping", "interval": "100ms"}]}))
    result = run_cli("run", str(tmp_path / "s.yaml"), "--results", str(tmp_path / "results"), "--where", "local")
    assert result.returncode == 0, result.stderr
    (directory,) = (tmp_path / "results").iterdir()
    rows = json.loads((directory / "counters.json").read_text())
    assert {r["phase"] for r in rows} == {"counted"}  # the clean phase applied no profile
    default = {r["direction"]: r for r in rows if r["traffic_class"] == "default"}
    # the echo requests and replies (10 a second for 2 s, less the start-up); the default htb
    # class also sends what nft never sees (the censor's own ARP)
    for direction in ("uplink", "downlink"):
        assert default[direction]["packets"] >= 10 and default[direction]["sent"] >= default[direction]["packets"]
    summary = (directory / "summary.md").read_text()
    assert "Classes that took no packet: shaped (counted, phase counted); blocked (counted, phase counted); " \
           "unused (counted, phase counted)" in summary
