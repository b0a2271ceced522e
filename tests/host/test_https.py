"""The https workload across a real censor: its server answers curl as any HTTPS server
would (with the run's own CA), and its split ClientHello leaves the client as two TCP
segments, as tshark counts them on the censor and as a reader that joins segments sees."""

from __future__ import annotations

import json
import math
import subprocess
import time
from pathlib import Path

from testbed.kernel import netns, readers
from testbed.topology.model import TopologyState
from testbed.traffic.certificates import make_certificates
from testbed.traffic.https import HttpsOptions, run_https
from tests.host.conftest import apply_profile

PROFILE = Path(__file__).parents[2] / "profiles" / "ru-2021-twitter-throttle.yaml"


def _options(**changes) -> HttpsOptions:
    fields = {"server_name": "twitter.com", "host": "twitter.com", "tls": "1.3", "split_at": None,
              "grease_ech": False, "direction": "down", "size": 100_000, "seconds": 5.0, "idle_s": 2.0}
    return HttpsOptions(**{**fields, **changes})


def test_curl_downloads_from_the_workloads_server_and_trusts_only_the_runs_ca(topo: TopologyState,
                                                                              tmp_path: Path) -> None:
    made = make_certificates(tmp_path, ["twitter.com"])
    callee = topo.node("callee")
    argv = ["python3", "-m", "testbed.traffic.https", "server", "443", json.dumps(_options().__dict__),
            str(made.certificate), str(made.key)]
    curl = ["curl", "-s", "--resolve", f"twitter.com:443:{callee.address()}", "https://twitter.com/", "-o",
            "/dev/null", "-w", "%{http_code} %{size_download} %{ssl_verify_result}", "--max-time", "10"]
    with netns.serving(callee.netns, argv) as server:
        result = netns.run(topo.node("caller").netns, [*curl, "--cacert", str(made.authority)], check=False)
        report = json.loads(server.communicate(timeout=10)[0].strip().splitlines()[-1])
    assert result.stdout.split() == ["200", "100000", "0"], result
    assert report["handshake"] and report["host"] == "twitter.com" and not report["reset"]
    with netns.serving(callee.netns, argv):
        untrusted = netns.run(topo.node("caller").netns, curl, check=False)  # the system's CAs only
    assert untrusted.returncode == 60, untrusted  # curl: the peer's certificate could not be verified


def _client_data_segments(pcap: Path, client: str) -> list[bytes]:
    """The TCP payloads the client sent, in order, as tshark reads the capture."""
    fields = subprocess.run(["tshark", "-r", str(pcap), "-Y", f"ip.src == {client} && tcp.len > 0", "-T",
                             "fields", "-e", "tcp.payload"], capture_output=True, text=True, check=True).stdout
    return [bytes.fromhex(line.replace(":", "")) for line in fields.split()]


def test_a_split_hello_leaves_as_two_segments_and_a_joining_reader_still_reads_it(topo: TopologyState,
                                                                                  tmp_path: Path) -> None:
    text = PROFILE.read_text().replace("read: {packets: 1, reassembly: none, fail: open}",
                                       "read: {packets: 3, reassembly: full, fail: open}")
    profile = tmp_path / "ru-2021-twitter-throttle.yaml"
    profile.write_text(text)
    apply_profile(topo, profile)
    made = make_certificates(tmp_path / "tls", ["twitter.com"])
    pcap = tmp_path / "split.pcap"
    capture = subprocess.Popen(netns.command(topo.censor.netns, ["tcpdump", "-i", "in0", "-w", str(pcap), "-U",
                                                                  "tcp port 443"]), stderr=subprocess.PIPE)
    time.sleep(1.0)  # tcpdump has opened its socket by then (it says so on stderr only once it has)
    try:
        result = run_https(topo.node("caller"), topo.node("callee"), _options(split_at="sni"), made)
    finally:
        capture.terminate()
        capture.wait(10)
    segments = _client_data_segments(pcap, topo.node("caller").address())
    first, second = segments[:2]
    hello = first + second  # one TLS record, whole in the two segments and in neither alone
    assert hello[0] == 0x16 and int.from_bytes(hello[3:5], "big") == len(hello) - 5, segments
    assert b"twitter.com" in hello and b"twitter.com" not in first and b"twitter.com" not in second
    assert result.handshake and not math.isnan(result.handshake_ms) and result.bytes >= 100_000
    deadline = time.monotonic() + 10
    while not (found := readers.decisions(topo.censor.netns, "testbed")) and time.monotonic() < deadline:
        time.sleep(0.05)
    (decision,) = found
    assert decision["matched"] == ["tls_sni of twitter"] and decision["packets"] == 2, decision


def test_a_run_keeps_what_the_reader_decided_and_captures_whole_client_hellos(tmp_path: Path) -> None:
    """reader.json, summary.md and report.html hold each flow the reader read; the capture
    (snaplen left to its default) keeps the ClientHello whole, as tshark reads it."""
    from testbed.scenario.loader import load_scenario
    from testbed.scenario.runner import run_scenario

    scenario = tmp_path / "read.yaml"
    scenario.write_text(f"""name: read
title: what the reader decided, kept
profiles: {{throttle: {PROFILE}}}
phases: [{{name: read, duration: 3s, profile: throttle}}]
workloads:
  - {{type: https, name: example, server_name: example.org, size: 100KiB}}
  - {{type: https, name: twitter, server_name: twitter.com, size: 20KiB, port: 8443}}
capture: {{nodes: [censor], interfaces: [in0]}}
""")
    result = run_scenario(load_scenario(scenario), tmp_path / "results", render=True)
    assert result.complete
    rows = json.loads((result.directory / "reader.json").read_text())
    assert sorted((r["read"]["tls_sni"], r["matched"]) for r in rows) == [
        ("example.org", []), ("twitter.com", ["tls_sni of twitter"])], rows
    for page in ("summary.md", "report.html"):
        text = (result.directory / page).read_text()
        assert "What the censor's reader decided" in text and "tls_sni twitter.com" in text, page
    (pcap,) = (result.directory / "captures").glob("*.pcap")
    names = subprocess.run(["tshark", "-r", str(pcap), "-Y", "tls.handshake.type == 1", "-T", "fields", "-e",
                            "tls.handshake.extensions_server_name"], capture_output=True, text=True,
                           check=True).stdout.split()
    assert sorted(names) == ["example.org", "twitter.com"], names


def test_a_clean_path_shows_no_reset_at_either_end_whichever_way_the_data_goes(topo: TopologyState,
                                                                                 tmp_path: Path) -> None:
    """The client ends with its FIN and reads to the server's: a reset counted on a clean path
    would be the client's own (a socket closed with bytes unread), not a censor's."""
    made = make_certificates(tmp_path, ["twitter.com"])
    for direction in ("down", "up"):
        for version in ("1.2", "1.3"):
            options = _options(direction=direction, tls=version, size=0, seconds=2.0)  # the whole phase
            result = run_https(topo.node("caller"), topo.node("callee"), options, made)
            assert result.handshake and result.bytes > 100_000, (direction, version, result)
            assert not result.reset and not result.server_reset, (direction, version, result)
