"""The reading censor on the host kernel: real TLS clients (curl, openssl s_client) through a
censor that reads their ClientHello, with the reader's queue fed by iptables' NFQUEUE target
(this kernel has no nft `queue`)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from testbed.kernel import netns, readers
from testbed.topology.model import TopologyState, made_by
from tests.host.conftest import apply_profile

PROFILE = Path(__file__).parents[2] / "profiles" / "ru-2021-twitter-throttle.yaml"
HELLO = Path(__file__).parents[1] / "data" / "clienthellos" / "curl-https.bin"
BODY_BYTES = 3_000_000
# nft's byte limit holds one second at the rate plus the burst (nft_limit.c), then refills at
# the rate: what the twitter class lets through in t seconds, at most (IP bytes, so payload less)
RATE_BYTES_S = 150_000 // 8
BUCKET_BYTES = RATE_BYTES_S + 16 * 1024

SERVER = """
import socket, ssl, sys, threading
key, cert = sys.argv[1], sys.argv[2]
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER); ctx.load_cert_chain(cert, key)
srv = socket.socket(); srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("0.0.0.0", 443)); srv.listen(64)
body = b"x" * int(sys.argv[3])
def serve(conn):
    try:
        tls = ctx.wrap_socket(conn, server_side=True)
        tls.recv(4096)
        head = f"HTTP/1.1 200 OK\\r\\nContent-Length: {len(body)}\\r\\nConnection: close\\r\\n\\r\\n"
        tls.sendall(head.encode() + body)
        tls.close()
    except OSError:
        conn.close()
print("ready", flush=True)
while True:
    conn, _ = srv.accept()
    threading.Thread(target=serve, args=(conn,), daemon=True).start()
"""


@pytest.fixture
def server(topo: TopologyState, tmp_path: Path) -> Iterator[TopologyState]:
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out",
                    str(cert), "-days", "1", "-subj", "/CN=testbed"], check=True, capture_output=True)
    script = tmp_path / "server.py"
    script.write_text(SERVER)
    with netns.serving(topo.node("callee").netns, ["python3", str(script), str(key), str(cert), str(BODY_BYTES)]):
        yield topo


def _curl(topo: TopologyState, name: str, seconds: float = 3.0) -> tuple[int, float]:
    """Bytes downloaded and seconds taken by curl over TLS with SNI `name`."""
    callee = topo.node("callee").address()
    result = netns.run(topo.node("caller").netns, [
        "curl", "-sk", "--resolve", f"{name}:443:{callee}", f"https://{name}/", "-o", "/dev/null",
        "--max-time", str(seconds), "-w", "%{size_download} %{time_total}"], check=False)
    size, took = result.stdout.split()
    return int(size), float(took)


def _decisions(topo: TopologyState, count: int) -> list[dict]:
    """The reader's first `count` decisions (it writes them out once idle for 50 ms)."""
    deadline = time.monotonic() + 10
    while len(found := readers.decisions(topo.censor.netns, "testbed")) < count and time.monotonic() < deadline:
        time.sleep(0.05)
    return found


def test_curl_is_throttled_by_its_server_name_and_example_org_is_not(server: TopologyState) -> None:
    topo = server
    apply_profile(topo, PROFILE)
    for name in ("twitter.com", "www.microsoft.com"):  # *twitter.com, and *t.co* by mistake
        size, took = _curl(topo, name)
        assert size <= BUCKET_BYTES + RATE_BYTES_S * took, (name, size, took)
    size, took = _curl(topo, "example.org", seconds=20)
    assert size == BODY_BYTES and took < 10, (size, took)  # at line rate it takes milliseconds
    read = {d["read"]["tls_sni"]: d["matched"] for d in _decisions(topo, 3)}
    assert read == {"twitter.com": ["tls_sni of twitter"], "www.microsoft.com": ["tls_sni of twitter"],
                    "example.org": []}
    deadline = time.monotonic() + 5  # the reader writes its summary every second

    def decided() -> int:
        return (readers.summary(topo.censor.netns, "testbed") or {}).get("flows_decided", 0)

    while decided() < 3 and time.monotonic() < deadline:
        time.sleep(0.1)
    summary = readers.summary(topo.censor.netns, "testbed")
    assert summary["flows_decided"] == 3 and summary["late_packets"] == 0, summary


def test_openssl_s_client_is_read_with_and_without_a_server_name(server: TopologyState) -> None:
    topo = server
    apply_profile(topo, PROFILE)
    callee = topo.node("callee").address()
    for extra in (["-servername", "abs.twimg.com"], ["-noservername"]):
        netns.run(topo.node("caller").netns, ["openssl", "s_client", "-connect", f"{callee}:443", *extra],
                  stdin="", check=False, timeout=20)
    assert [(d["read"]["tls_sni"], d["matched"]) for d in _decisions(topo, 2)] == [
        ("abs.twimg.com", ["tls_sni of twitter"]), (None, [])]


def _send_split_hello(topo: TopologyState, cut: int) -> None:
    """curl's ClientHello, its first `cut` bytes in a segment of their own (GoodbyeDPI's trick)."""
    hello = HELLO.read_bytes()
    code = ("import socket, sys, time\n"
            "s = socket.create_connection((sys.argv[1], 443)); s.setsockopt(6, 1, 1)\n"
            "h = open(sys.argv[2], 'rb').read(); c = int(sys.argv[3])\n"
            "s.sendall(h[:c]); time.sleep(0.2); s.sendall(h[c:]); time.sleep(0.3)\n")
    netns.run(topo.node("caller").netns, ["python3", "-c", code, topo.node("callee").address(), str(HELLO),
                                          str(cut)])
    assert len(hello) > cut


@pytest.mark.parametrize(("reassembly", "packets", "matched"), [("none", 1, []), ("full", 3, ["tls_sni of twitter"])])
def test_a_split_clienthello_escapes_only_a_reader_that_does_not_join_segments(
        server: TopologyState, tmp_path: Path, reassembly: str, packets: int, matched: list[str]) -> None:
    topo = server
    text = PROFILE.read_text().replace("read: {packets: 1, reassembly: none, fail: open}",
                                       f"read: {{packets: {packets}, reassembly: {reassembly}, fail: open}}")
    profile = tmp_path / "ru-2021-twitter-throttle.yaml"
    profile.write_text(text)
    apply_profile(topo, profile)
    _send_split_hello(topo, 1)
    (decision,) = _decisions(topo, 1)
    assert decision["matched"] == matched and decision["packets"] == (1 if reassembly == "none" else 2)


def _kill_reader(topo: TopologyState) -> None:
    record = readers.owner_record(topo.censor.netns, "testbed")
    os.kill(record["pid"], signal.SIGKILL)
    deadline = time.monotonic() + 5
    while readers.running(topo.censor.netns, "testbed") and time.monotonic() < deadline:
        time.sleep(0.05)


@pytest.mark.parametrize("fail", ["open", "closed"])
def test_a_dead_reader_lets_flows_pass_or_stops_them_as_fail_says(server: TopologyState, tmp_path: Path,
                                                                   fail: str) -> None:
    topo = server
    profile = tmp_path / "ru-2021-twitter-throttle.yaml"
    profile.write_text(PROFILE.read_text().replace("fail: open", f"fail: {fail}"))
    plan = apply_profile(topo, profile)
    _kill_reader(topo)
    from testbed.kernel.readback import differences

    assert any("the reader is not running" in d for d in differences(plan, topo.censor.netns))
    size, _ = _curl(topo, "twitter.com", seconds=3)
    if fail == "open":
        assert size == BODY_BYTES  # unread, so unthrottled
    else:
        assert size == 0  # the ClientHello had nowhere to go


def test_clearing_the_profile_stops_the_reader_and_removes_its_rules(server: TopologyState) -> None:
    from testbed.kernel import apply as engine

    topo = server
    plan = apply_profile(topo, PROFILE)
    ns = topo.censor.netns
    assert readers.running(ns, "testbed") and readers.xt_rule_count("testbed-read", ns) == 2
    engine.clear(plan, ns)
    assert not readers.running(ns, "testbed") and readers.xt_rule_count("testbed-read", ns) is None
    assert "testbed-read" not in netns.run(ns, ["iptables", "-t", "mangle", "-S", "FORWARD"]).stdout


def test_the_reader_sees_tls_from_python_ssl_in_both_versions(server: TopologyState) -> None:
    topo = server
    apply_profile(topo, PROFILE)
    code = ("import socket, ssl, sys\n"
            "c = ssl.create_default_context(); c.check_hostname = False; c.verify_mode = ssl.CERT_NONE\n"
            "c.maximum_version = getattr(ssl.TLSVersion, sys.argv[2])\n"
            "s = c.wrap_socket(socket.create_connection((sys.argv[1], 443)), server_hostname='t.co')\n"
            "s.close()\n")
    for version in ("TLSv1_2", "TLSv1_3"):
        netns.run(topo.node("caller").netns, ["python3", "-c", code, topo.node("callee").address(), version])
    assert [d["matched"] for d in _decisions(topo, 2)] == [["tls_sni of twitter"]] * 2


def test_a_reader_that_dies_during_a_scenario_ends_the_run_with_exit_4_and_its_reason(tmp_path: Path) -> None:
    """Killed mid-phase (kill -9): the scenario's flows pass unread (fail: open), and the run
    says so rather than report a profile it did not measure; the flows read before stay on
    record in reader.json."""
    from tests.cli import popen

    scenario = tmp_path / "dies.yaml"
    scenario.write_text(f"""name: dies
title: the reader dies mid-phase
profiles: {{throttle: {PROFILE}}}
phases: [{{name: read, duration: 8s, profile: throttle}}]
workloads: [{{type: https, server_name: twitter.com}}]  # policed: it lasts the phase
""")
    before = set(readers.READERS_DIR.glob("*")) if readers.READERS_DIR.exists() else set()
    proc = popen("run", str(scenario), "--results", str(tmp_path / "results"), stdout=subprocess.PIPE,
                 stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:  # this run's reader, once it has decided the first flow
        # its own: the reader of a censor namespace the run's process named (tb-<its run id>-censor)
        ours = [d for d in readers.READERS_DIR.glob("tb-*") if d not in before and made_by(d.name.split("-")[1], proc.pid)
                and (d / "decisions.jsonl").exists() and (d / "decisions.jsonl").stat().st_size > 0]
        if ours:
            break
        time.sleep(0.05)
    (directory,) = ours
    pid = json.loads((directory / "pid.json").read_text())["pid"]
    os.kill(pid, signal.SIGKILL)
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 4, stderr
    assert "the censor's reader (ru-2021-twitter-throttle) stopped during the run" in stderr, stderr
    (results,) = (tmp_path / "results").iterdir()
    (decided,) = json.loads((results / "reader.json").read_text())
    assert decided["read"]["tls_sni"] == "twitter.com" and decided["phase"] == "read"


def test_a_profile_that_does_not_read_after_one_that_did_leaves_no_queue_rule(server: TopologyState) -> None:
    """fail: closed has no queue bypass: a queue rule left with no reader would drop every
    new connection's data."""
    from testbed.compile.reading import reader_chain
    from testbed.profile.loader import resolve_profile_path

    topo = server
    apply_profile(topo, resolve_profile_path("ru-2025-mobile-whitelist-sni"))
    assert readers.xt_rule_count(reader_chain("testbed"), topo.censor.netns) == 2
    apply_profile(topo, resolve_profile_path("ru-2021-twitter-throttle-by-address"))
    assert readers.xt_rule_count(reader_chain("testbed"), topo.censor.netns) is None
    assert not readers.running(topo.censor.netns, "testbed")
    # a new connection's data gets through: a queue rule left without a reader would drop it
    size, _ = _curl(topo, "example.org", seconds=5)
    assert size == BODY_BYTES
