"""Gateway mode on veth stand-ins: a "machine" namespace with a hotspot interface (a veth
into a "phone" namespace) and an uplink (a veth into a "server" namespace, its default
route). `testbed gateway` runs inside the machine namespace as it would on a laptop; the
phone's traffic crosses it, censored both ways and masqueraded, and `down` (or `testbed
clean` after kill -9) leaves the machine exactly as it was: qdiscs, filters, links, nft
tables, sysctls and offloads."""

from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from testbed.gateway.model import TABLE, GatewayState, state_path
from testbed.kernel import netns, readers
from testbed.kernel.netns import Endpoint
from testbed.kernel.process import alive, start_time
from testbed.topology.model import base36
from testbed.traffic.certificates import make_certificates
from testbed.traffic.https import HttpsOptions, run_https
from testbed.traffic.iperf import run_iperf
from tests.cli import ROOT, clean_process, popen, run_cli
from tests.readme import shell_lines

from .conftest import profile_dict
from .helpers import udp_round_trips

RATE = 1_000_000
TCP_GOODPUT_SHARE = 1448 / 1514  # payload of a full frame with TCP timestamps
PHONE_IP, MACHINE_INSIDE_IP, MACHINE_OUTSIDE_IP, SERVER_IP = "10.42.0.2", "10.42.0.1", "192.0.2.1", "192.0.2.2"


@dataclass(frozen=True)
class Bench:
    phone: str  # namespaces
    machine: str
    server: str

    def sh(self, ns: str, *argv: str) -> str:
        return netns.run(ns, list(argv)).stdout

    def snapshot(self) -> dict[str, str]:
        """What a gateway may change on the machine, as text."""
        m = self.machine
        return {
            "links": self.sh(m, "ip", "-o", "link", "show").replace(" state UNKNOWN", ""),
            "qdiscs": self.sh(m, "tc", "qdisc", "show"),
            "filters": "".join(self.sh(m, "tc", "filter", "show", "dev", d, way)
                               for d in ("hotspot0", "uplink0") for way in ("ingress", "egress")),
            "nft": self.sh(m, "nft", "list", "ruleset"),
            "forwarding": self.sh(m, "sysctl", "-n", "net.ipv4.ip_forward"),
            "gro": self.sh(m, "ethtool", "-k", "hotspot0") + self.sh(m, "ethtool", "-k", "uplink0"),
            "conf": self.sh(m, "sysctl", "net.ipv4.conf.hotspot0.forwarding", "net.ipv4.conf.uplink0.forwarding"),
            "acct": netns.run(m, ["sysctl", "-n", "net.netfilter.nf_conntrack_acct"], check=False).stdout,
            "xt": "".join(line for program in ("iptables-save", "ip6tables-save")  # a reader's queue rules
                          for line in netns.run(m, [program, "-t", "mangle"], check=False).stdout.splitlines(True)
                          if not line.startswith("#")),  # its comments carry the time
        }


def _wire(ns: str, device: str) -> None:
    """Segments on the wire, as a real link: no 64 kB TSO packets from the stand-ins."""
    netns.run(ns, ["ethtool", "-K", device, "tso", "off", "gso", "off"])


def _carrier(ns: str, devices: tuple[str, ...]) -> None:
    """Wait until the links are up (a veth's carrier comes a moment after `link set up`): the
    snapshots compare their state."""
    for _ in range(100):
        links = json.loads(netns.run(ns, ["ip", "-j", "link", "show"]).stdout)
        if all(link["operstate"] == "UP" for link in links if link["ifname"] in devices):
            return
        time.sleep(0.05)
    raise AssertionError(f"{devices} did not come up in {ns}")


@pytest.fixture
def bench() -> Iterator[Bench]:
    tag = f"gw{base36(os.getpid())}"  # not tb-: `testbed clean` leaves these to this test
    b = Bench(f"{tag}-phone", f"{tag}-machine", f"{tag}-server")
    for ns in (b.phone, b.machine, b.server):
        subprocess.run(["ip", "netns", "add", ns], check=True)
    try:
        run = subprocess.run
        run(["ip", "link", "add", "p0", "netns", b.phone, "type", "veth", "peer", "name", "hotspot0",
             "netns", b.machine], check=True)
        run(["ip", "link", "add", "uplink0", "netns", b.machine, "type", "veth", "peer", "name", "s0",
             "netns", b.server], check=True)
        for ns, device, address in ((b.phone, "p0", PHONE_IP), (b.machine, "hotspot0", MACHINE_INSIDE_IP),
                                    (b.machine, "uplink0", MACHINE_OUTSIDE_IP), (b.server, "s0", SERVER_IP)):
            netns.run(ns, ["ip", "addr", "add", f"{address}/24", "dev", device])
            netns.run(ns, ["ip", "link", "set", device, "up"])
            netns.run(ns, ["ip", "link", "set", "lo", "up"])
        netns.run(b.phone, ["ip", "route", "add", "default", "via", MACHINE_INSIDE_IP])
        netns.run(b.machine, ["ip", "route", "add", "default", "via", SERVER_IP])
        _wire(b.phone, "p0")
        _wire(b.server, "s0")
        # the machine as a user's would be: its own qdiscs and filters, GRO on, no forwarding
        for device in ("hotspot0", "uplink0"):
            netns.run(b.machine, ["ethtool", "-K", device, "gro", "on"])
        netns.run(b.machine, ["tc", "qdisc", "add", "dev", "hotspot0", "root", "pfifo", "limit", "77"])
        netns.run(b.machine, ["tc", "qdisc", "add", "dev", "uplink0", "clsact"])
        netns.run(b.machine, ["tc", "filter", "add", "dev", "uplink0", "ingress", "pref", "7", "protocol", "ip",
                              "u32", "match", "u32", "0", "0", "flowid", "1:1"])
        _carrier(b.machine, ("hotspot0", "uplink0"))
        yield b
    finally:
        if state_path(b.machine).exists():
            run_cli("gateway", "down", netns=b.machine)
        for ns in (b.phone, b.machine, b.server):
            subprocess.run(["ip", "netns", "del", ns], capture_output=True)
        state_path(b.machine).unlink(missing_ok=True)


def _profile(tmp_path: Path, name: str, classes: list[dict]) -> str:
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(profile_dict(name, classes=classes)))
    return str(path)


def _gateway(bench: Bench, *args: str) -> subprocess.CompletedProcess[str]:
    return run_cli("gateway", *args, netns=bench.machine, timeout=120)


def _ifb_packets(bench: Bench) -> int:
    """Packets the uplink's ifb has sent: what the redirect took."""
    return int(bench.sh(bench.machine, "cat", "/sys/class/net/tbgw-up/statistics/tx_packets"))


WHO_IS_IT = r"""
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("0.0.0.0", 5300))
print("ready", flush=True)
print(s.recvfrom(64)[1][0], flush=True)
"""


def _source_seen_by_server(bench: Bench) -> str:
    with netns.serving(bench.server, [sys.executable, "-c", WHO_IS_IT]) as server:
        netns.run(bench.phone, [sys.executable, "-c",
                                f"import socket; socket.socket(2, 2).sendto(b'hi', ('{SERVER_IP}', 5300))"])
        assert server.stdout is not None
        return server.stdout.readline().strip()


def _ok(result: subprocess.CompletedProcess[str]) -> subprocess.CompletedProcess[str]:
    assert result.returncode == 0, result.stdout + result.stderr
    return result


def test_a_phone_behind_the_gateway_is_shaped_both_ways_masqueraded_and_down_restores_the_machine(
        bench, tmp_path) -> None:
    before = bench.snapshot()
    shaped = _profile(tmp_path, "gw-shape", [{"name": "bulk", "match": {"flow": {"protocol": "tcp", "dst_port": 5201}},
                                              "uplink": {"shape": {"rate": "1mbit"}},
                                              "downlink": {"shape": {"rate": "2mbit"}}}])
    _ok(_gateway(bench, "up", "--inside", "hotspot0", "--profile", shaped))
    phone = Endpoint("phone", bench.phone, PHONE_IP, "")
    server = Endpoint("server", bench.server, SERVER_IP, "")
    up = run_iperf(phone, server, seconds=6)
    down = run_iperf(phone, server, seconds=6, reverse=True)
    # the bounds of test_shaping: the same htb, reached through the ifbs
    assert up.received_bps == pytest.approx(RATE * TCP_GOODPUT_SHARE, rel=0.05)
    assert down.received_bps == pytest.approx(2 * RATE * TCP_GOODPUT_SHARE, rel=0.05)
    status = json.loads(_ok(_gateway(bench, "status", "--counters", "--json")).stdout)
    assert (status["inside"], status["outside"], status["profile"]) == ("hotspot0", "uplink0", "gw-shape")
    took = {(c["traffic_class"], c["direction"]): c for c in status["counters"]}
    assert took[("bulk", "uplink")]["packets"] > 100 and took[("bulk", "downlink")]["packets"] > 100
    assert took[("bulk", "uplink")]["sent"] > 100  # through the ifb's htb class, not around it
    # the server saw the machine's uplink address (NAT); the machine's own traffic (UDP to the
    # class's port, say) is not redirected
    assert _source_seen_by_server(bench) == MACHINE_OUTSIDE_IP
    through_ifb = _ifb_packets(bench)
    assert udp_round_trips(bench.machine, bench.server, SERVER_IP, 5201, 20) == 20
    assert _ifb_packets(bench) == through_ifb
    _ok(_gateway(bench, "down"))
    assert bench.snapshot() == before
    assert not state_path(bench.machine).exists()


def test_a_blocked_flow_gets_no_answers_while_others_do_and_clear_lifts_the_block(bench, tmp_path) -> None:
    blocked = _profile(tmp_path, "gw-block", [{"name": "voice", "match": {"flow": {"protocol": "udp",
                                                                                    "dst_port": 5004}},
                                               "both": {"drop": True}}])
    _ok(_gateway(bench, "up", "--inside", "hotspot0", "--outside", "uplink0"))
    assert udp_round_trips(bench.phone, bench.server, SERVER_IP, 5004, 20) == 20  # forwarding only
    _ok(_gateway(bench, "apply", blocked))
    assert udp_round_trips(bench.phone, bench.server, SERVER_IP, 5004, 20) == 0
    assert udp_round_trips(bench.phone, bench.server, SERVER_IP, 5005, 20) == 20
    counts = json.loads(_ok(_gateway(bench, "status", "--counters", "--json")).stdout)["counters"]
    voice_up = next(c for c in counts if (c["traffic_class"], c["direction"]) == ("voice", "uplink"))
    assert voice_up["dropped"] == 20
    _ok(_gateway(bench, "clear"))
    assert udp_round_trips(bench.phone, bench.server, SERVER_IP, 5004, 20) == 20


def test_a_profile_that_reads_throttles_by_server_name_on_the_gateway_and_down_ends_its_reader(
        bench, tmp_path) -> None:
    before = bench.snapshot()
    _ok(_gateway(bench, "up", "--inside", "hotspot0", "--profile",
                 str(ROOT / "profiles" / "ru-2021-twitter-throttle.yaml")))
    made = make_certificates(tmp_path, ["twitter.com", "example.org"])
    phone, server = Endpoint("phone", bench.phone, PHONE_IP, ""), Endpoint("server", bench.server, SERVER_IP, "")
    got = {name: run_https(phone, server, HttpsOptions(name, name, "1.3", None, False, "down", 200_000, 4.0, 2.0),
                           made) for name in ("twitter.com", "example.org")}
    assert got["example.org"].bytes >= 200_000
    # policed at 150 kbit/s: nft's bucket (1 s at the rate and 16 KiB) then 18,750 B/s, so 4 s
    # carry at most about 35 + 4 x 18.75 = 110 KB, well short of 200 KB
    assert got["twitter.com"].handshake and got["twitter.com"].bytes < 200_000
    deadline = time.monotonic() + 10  # the reader writes its decisions out once idle for 50 ms
    while len(found := readers.decisions(bench.machine, TABLE)) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    decided = sorted((d["read"]["tls_sni"], d["matched"]) for d in found)
    assert decided == [("example.org", []), ("twitter.com", ["tls_sni of twitter"])], decided
    record = readers.owner_record(bench.machine, TABLE)
    assert record is not None and alive(record["pid"], record["started"])
    _ok(_gateway(bench, "down"))
    assert not alive(record["pid"], record["started"]) and not readers.directory(bench.machine, TABLE).exists()
    assert bench.snapshot() == before


def walkthrough() -> list[str]:
    """The guide's gateway commands (docs/gateway.md), as written."""
    return shell_lines("**A real phone behind the censor.**", page="docs/gateway.md")


def test_the_readme_walkthrough_runs_as_written_and_leaves_the_machine_as_it_was(bench) -> None:
    commands = walkthrough()
    assert commands and all(c.startswith("sudo .venv/bin/testbed gateway ") for c in commands)
    assert commands[-1].endswith("gateway down")
    before = bench.snapshot()
    for command in commands:  # hotspot0 stands in for the README's wlan0; the tests run as root
        argv = ["ip", "netns", "exec", bench.machine, *shlex.split(command.replace("wlan0", "hotspot0"))[1:]]
        result = subprocess.run(argv, capture_output=True, text=True, cwd=ROOT, timeout=120)
        assert result.returncode == 0, f"{command}\n{result.stdout[-1500:]}\n{result.stderr[-1500:]}"
        if "status --counters" in command:
            assert "ru-2025-calls-blocked, per class" in result.stdout
    assert bench.snapshot() == before


@pytest.mark.parametrize(("args", "message"), [
    (["--inside", "wlan7"], "--inside wlan7: no such interface here"),
    (["--inside", "hotspot0", "--outside", "eth7"], "--outside eth7: no such interface here"),
    (["--inside", "uplink0"], "carries this machine's default route"),
    (["--inside", "hotspot0", "--outside", "hotspot0"], "are both hotspot0"),
    (["--inside", "lo"], "loopback"),
    (["--inside", "hotspot0", "--profile", "no-such-profile"], "no-such-profile"),
    (["--inside", "hotspot 0"], "an interface name is"),
])
def test_bad_interfaces_and_profiles_are_exit_2_and_change_nothing(bench, args, message) -> None:
    before = bench.snapshot()
    result = _gateway(bench, "up", *args)
    assert result.returncode == 2, result.stdout + result.stderr
    assert message in result.stderr
    assert bench.snapshot() == before and not state_path(bench.machine).exists()


def test_an_ingress_qdisc_in_the_way_is_exit_2_and_stays(bench) -> None:
    netns.run(bench.machine, ["tc", "qdisc", "add", "dev", "hotspot0", "ingress"])
    before = bench.snapshot()
    result = _gateway(bench, "up", "--inside", "hotspot0")
    assert result.returncode == 2 and "hotspot0 has an ingress qdisc" in result.stderr
    assert bench.snapshot() == before


def test_an_ssh_session_on_the_inside_is_refused_though_sudo_dropped_its_variable(bench) -> None:
    """sudo strips SSH_CONNECTION: the login shell above it still has it, and so does the
    parent here, while the testbed process itself does not."""
    before = bench.snapshot()
    env = {**os.environ, "SSH_CONNECTION": f"{PHONE_IP} 50000 {MACHINE_INSIDE_IP} 22"}
    inner = shlex.join(["env", "-u", "SSH_CONNECTION", "ip", "netns", "exec", bench.machine, sys.executable,
                        "-m", "testbed.cli", "gateway", "up", "--inside", "hotspot0"])
    result = subprocess.run(["bash", "-c", f"{inner}; exit $?"], env=env, capture_output=True, text=True, cwd=ROOT,
                            timeout=120)
    assert result.returncode == 2, result.stderr
    assert f"--inside hotspot0 carries an SSH session (from {PHONE_IP})" in result.stderr
    assert bench.snapshot() == before
    forced = subprocess.run(["bash", "-c", f"{inner} --force; exit $?"], env=env, capture_output=True, text=True,
                            cwd=ROOT, timeout=120)
    assert forced.returncode == 0, forced.stderr
    _ok(_gateway(bench, "down"))
    assert bench.snapshot() == before


def test_without_nat_the_server_sees_the_phone_itself(bench) -> None:
    netns.run(bench.server, ["ip", "route", "add", "10.42.0.0/24", "via", MACHINE_OUTSIDE_IP])
    before = bench.snapshot()
    _ok(_gateway(bench, "up", "--inside", "hotspot0", "--no-nat"))
    assert _source_seen_by_server(bench) == PHONE_IP
    assert "testbed_gw_nat" not in bench.sh(bench.machine, "nft", "list", "tables")
    _ok(_gateway(bench, "down"))
    assert bench.snapshot() == before


def test_a_second_up_is_refused_and_leaves_the_first_whole(bench) -> None:
    _ok(_gateway(bench, "up", "--inside", "hotspot0"))
    during = bench.snapshot()
    result = _gateway(bench, "up", "--inside", "hotspot0")
    assert result.returncode == 2 and "already up" in result.stderr
    assert bench.snapshot() == during
    assert udp_round_trips(bench.phone, bench.server, SERVER_IP, 5004, 5) == 5


def test_commands_without_a_gateway_are_exit_2(bench) -> None:
    for args in (["apply", "clean"], ["clear"], ["down"]):
        result = _gateway(bench, *args)
        assert result.returncode == 2 and "no gateway is up here" in result.stderr


def test_dry_run_prints_the_commands_and_changes_nothing(bench) -> None:
    before = bench.snapshot()
    result = _ok(_gateway(bench, "up", "--inside", "hotspot0", "--dry-run", "--profile", "clean"))
    assert "tc filter add dev uplink0 egress pref 49213 protocol all bpf bytecode" in result.stdout
    assert "nft -f -" in result.stdout and "sysctl -qw net.ipv4.ip_forward=1" in result.stdout
    assert bench.snapshot() == before


# kill -9 (and SIGTERM) at points across `up --profile`: after the Nth command it printed
# (it prints each before running it): an ifb made, both ifbs, offloads off, the redirects,
# the NAT, the profile being applied, forwarding being turned on. SIGTERM undoes everything
# by itself; after kill -9, `testbed clean` does.
KILL_AFTER_LINES = (1, 4, 7, 9, 10, 11, 12)


@pytest.mark.parametrize("lines", KILL_AFTER_LINES)
@pytest.mark.parametrize("how", ["kill-9", "sigterm"])
def test_an_up_killed_half_way_leaves_what_clean_undoes(bench, tmp_path, lines, how) -> None:
    before = bench.snapshot()
    shaped = _profile(tmp_path, "gw-shape", [{"name": "bulk", "match": {"protocol": "tcp"},
                                              "both": {"shape": {"rate": "1mbit"}}}])
    proc = popen("gateway", "up", "--inside", "hotspot0", "--profile", shaped, netns=bench.machine,
                 stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    started = start_time(proc.pid)  # `ip netns exec` execs testbed: one process, one start time
    assert proc.stderr is not None
    printed = [proc.stderr.readline() for _ in range(lines)]
    assert proc.poll() is None and printed[-1], f"`up` ended before the signal: {printed}"
    proc.send_signal(signal.SIGKILL if how == "kill-9" else signal.SIGTERM)
    proc.communicate(timeout=60)  # drained: it may still print as it unwinds
    code = proc.returncode
    assert code in ((-9, 0) if how == "kill-9" else (143, 0)), code  # 0: it had just finished
    finished = state_path(bench.machine).exists() and GatewayState.load(bench.machine).owner is None
    if finished:  # `up` was done before the signal: a gateway that is up is taken down by `down`
        _ok(_gateway(bench, "down"))
    elif how == "kill-9":  # clean, from this machine's own namespace, finds the gateway's in its record
        _ok(clean_process(proc.pid, started))
    assert not state_path(bench.machine).exists()
    assert bench.snapshot() == before


def test_clean_leaves_a_gateway_that_is_up(bench) -> None:
    from testbed.gateway.lifecycle import leftovers

    _ok(_gateway(bench, "up", "--inside", "hotspot0"))
    during = bench.snapshot()
    # plain `testbed clean` asks exactly this; it is not run here, as it would take other runs'
    # leftovers on a shared machine too
    assert bench.machine not in [g.netns for g in leftovers(everything=False, pid=None)]
    assert bench.machine in [g.netns for g in leftovers(everything=True, pid=None)]  # --all takes it
    assert bench.snapshot() == during and state_path(bench.machine).exists()
    status = _ok(run_cli("status", netns=bench.machine))  # and `testbed status` reminds of it
    assert "a gateway is up here: hotspot0 -> uplink0, profile none" in status.stderr


def test_a_gateway_whose_namespace_is_gone_is_forgotten_by_clean() -> None:
    ns = f"gw{base36(os.getpid())}-gone"
    me = start_time(os.getpid())
    GatewayState("hotspot0", "uplink0", ns, True, {"net.ipv4.ip_forward": "0"}, owner=os.getpid(),
                 owner_started=me).claim()
    try:
        # another process that had this pid earlier is not this one: its gateway stays
        other = _ok(run_cli("clean", "--pid", str(os.getpid()), "--pid-started", str(me + 1))).stdout
        assert ns not in other and state_path(ns).exists()
        cleaned = _ok(clean_process(os.getpid(), me)).stdout
        assert f"the gateway hotspot0 -> uplink0 in {ns}" in cleaned
        assert not state_path(ns).exists()
    finally:
        state_path(ns).unlink(missing_ok=True)
