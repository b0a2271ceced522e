"""`nat: true`: the hosts reach this machine (and, if it forwards, its network) through the
censor, masqueraded; the profile holds on that path too; nothing of it is left afterwards.
The server stands in for one on the internet: it listens in this machine's namespace."""

from __future__ import annotations

import socket
import subprocess
import sys
import threading

import yaml

from testbed.profile.loader import load_profile
from testbed.scenario.session import Experiment
from testbed.topology.model import TopologySpec, nat_table

from .conftest import profile_dict

CLIENT = r"""
import socket, sys
try:
    s = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=2)
    print(s.recv(64).decode())
except OSError as exc:
    print(type(exc).__name__)
"""


def _this_machines_address(fallback: str) -> str:
    """An address of this machine beyond the NAT link (its own route out), or the link's end."""
    found = subprocess.run(["ip", "-4", "route", "get", "192.0.2.1"], capture_output=True, text=True).stdout.split()
    return found[found.index("src") + 1] if "src" in found else fallback


def test_the_hosts_reach_this_machine_through_the_censor_and_nat(tmp_path) -> None:
    server = socket.socket()
    server.bind(("0.0.0.0", 0))
    server.listen(4)
    port = server.getsockname()[1]
    peers: list[str] = []

    def answer() -> None:
        while True:
            try:
                conn, peer = server.accept()
            except OSError:
                return
            peers.append(peer[0])
            conn.sendall(b"hello")
            conn.close()

    threading.Thread(target=answer, daemon=True).start()
    profile = tmp_path / "block.yaml"
    profile.write_text(yaml.safe_dump(profile_dict("block", classes=[
        {"name": "app", "match": {"protocol": "tcp", "dst_port": port}, "uplink": {"drop": True}}])))
    try:
        with Experiment(TopologySpec(nat=True), label="h") as session:
            nat = session.state.nat
            assert nat is not None and "nat0" in session.target.uplink_devices
            address = _this_machines_address(nat.host_ipv4.split("/")[0])
            caller = session.state.nodes["caller"].netns

            def ask() -> str:
                return subprocess.run(["ip", "netns", "exec", caller, sys.executable, "-c", CLIENT, address,
                                       str(port)], capture_output=True, text=True, timeout=30).stdout.strip()

            assert ask() == "hello"
            assert peers == [nat.censor_ipv4.split("/")[0]]  # masqueraded at the censor
            session.apply(load_profile(profile))
            assert ask() == "TimeoutError"  # the profile holds on the way out to the machine
            app = session.counts()[("block", "app", "uplink")]
            assert app.packets == app.dropped >= 1
            session.apply(None)
            assert ask() == "hello"
            run = session.run_id
        links = subprocess.run(["ip", "-o", "link", "show"], capture_output=True, text=True).stdout
        assert nat.host_interface not in links
        assert subprocess.run(["nft", "list", "table", "ip", nat_table(run)], capture_output=True).returncode != 0
    finally:
        server.close()


def test_testbed_up_nat_and_clean_leave_nothing() -> None:
    """From the command line: `up --nat` says where the link goes; the run killed (its state
    left as a leftover's) and `clean --run` remove the masquerading table with the rest."""
    from tests.cli import run_cli

    from .conftest import new_run_id

    run = new_run_id()
    result = run_cli("up", "--run", run, "--nat")
    try:
        assert result.returncode == 0, result.stderr
        assert "NAT: the censor's nat0 100.64." in result.stdout and f"tb-{run}-nat" in result.stdout
        assert subprocess.run(["nft", "list", "table", "ip", nat_table(run)], capture_output=True).returncode == 0
    finally:
        cleaned = run_cli("clean", "--run", run)
    assert cleaned.returncode == 0, cleaned.stderr
    assert subprocess.run(["nft", "list", "table", "ip", nat_table(run)], capture_output=True).returncode != 0
    assert f"tb-{run}-nat" not in subprocess.run(["ip", "-o", "link"], capture_output=True, text=True).stdout
