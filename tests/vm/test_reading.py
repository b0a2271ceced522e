"""The reading censor on a stock kernel, which has nftables' `queue`: the reader is fed by
the profile's own nft chain (no iptables), and decides by what real TLS clients send."""

from __future__ import annotations

import time
from pathlib import Path

from testbed.kernel import netns, readers
from testbed.topology.model import TopologyState
from testbed.traffic.certificates import make_certificates
from testbed.traffic.https import HttpsOptions, run_https
from tests.host.conftest import apply_profile

PROFILE = Path(__file__).parents[2] / "profiles" / "ru-2021-twitter-throttle.yaml"


def test_the_nft_queue_form_feeds_the_reader_and_it_reads_each_flows_name(topo: TopologyState,
                                                                          tmp_path: Path) -> None:
    assert readers.queue_form() == "nft"
    apply_profile(topo, PROFILE)
    chain = netns.run(topo.censor.netns, ["nft", "list", "chain", "inet", "testbed", "read"]).stdout
    # nft prints priority -150 as "mangle", and the test of the decided bit as a prefix (/1)
    assert "hook forward priority mangle" in chain and "queue flags bypass to 0" in chain, chain
    made = make_certificates(tmp_path, ["twitter.com", "example.org"])
    for name in ("twitter.com", "example.org"):
        options = HttpsOptions(name, name, "1.3", None, False, "down", 20_000, 5.0, 2.0)
        result = run_https(topo.node("caller"), topo.node("callee"), options, made)
        assert result.handshake and result.bytes >= 20_000, (name, result)
    deadline = time.monotonic() + 20
    while len(found := readers.decisions(topo.censor.netns, "testbed")) < 2 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert [(d["read"].get("tls_sni"), d["matched"]) for d in found] == [
        ("twitter.com", ["tls_sni of twitter"]), ("example.org", [])], found
