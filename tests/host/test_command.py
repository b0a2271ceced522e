"""`command` workloads on real namespaces: the example app (examples/voiceapp) as a scenario,
its server started first and ready on its port, the app finding it through a placeholder and
reporting its own figures as metrics; a server that never gets ready fails the phase, names
itself, and is stopped."""

from __future__ import annotations

import json
import subprocess

import yaml

from tests.cli import ROOT, run_cli

EXAMPLE = ROOT / "examples" / "voiceapp" / "scenario.yaml"


def _rows(directory) -> dict[tuple[str, str], dict]:
    return {(r["phase"], r["workload"]): r for r in json.loads((directory / "metrics.json").read_text())}


def test_the_example_app_runs_as_a_scenario_with_its_server_and_its_own_metrics(tmp_path) -> None:
    result = run_cli("run", str(EXAMPLE), "--allow-commands", "--results", str(tmp_path), "--where", "local",
                     timeout=300)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    (directory,) = tmp_path.iterdir()
    rows = _rows(directory)
    clean, throttled = rows[("clean", "app")], rows[("throttled", "app")]
    # 50 packets a second for 2 s (fewer if a busy machine stalls the sender at the end)
    assert 90 <= clean["sent"] <= 100 and clean["received"] == clean["sent"] and clean["rtt_ms"] < 50, clean
    assert 40 < throttled["loss_pct"] < 75 and throttled["exit_code"] == 0, throttled
    assert rows[("clean", "server")]["exit_code"] == -1  # a server runs until it is stopped
    log = directory / "traces" / "rep1-clean-server.log"
    assert log.read_text().startswith("listening on udp port 5000")
    # the flow class took the calls both ways: the requests up, the echoes (from port 5000) down
    counted = {(r["phase"], r["traffic_class"], r["direction"]): r
               for r in json.loads((directory / "counters.json").read_text())}
    assert counted[("throttled", "app", "uplink")]["packets"] == throttled["sent"]
    down = counted[("throttled", "app", "downlink")]
    assert down["packets"] == throttled["sent"] and down["dropped"] == throttled["sent"] - throttled["received"]
    # the capture on the censor's inside interface holds the echoes that got through, as tshark reads them
    pcap = directory / "captures" / "rep1-throttled-censor-in0.pcap"
    read = subprocess.run(["tshark", "-r", str(pcap), "-Y", "udp.srcport == 5000", "-T", "fields", "-e", "frame.len"],
                          capture_output=True, text=True, timeout=60)
    assert read.stdout.split() == ["202"] * int(throttled["received"]), read.stderr  # 188 B of IP, 14 of Ethernet
    assert "rep1-throttled-censor-in0.pcap: censor in0, phase throttled" in (directory / "summary.md").read_text()


def test_a_server_that_never_gets_ready_fails_the_phase_and_is_stopped(tmp_path) -> None:
    marker = f"never-ready-{tmp_path.name}"
    scenario = tmp_path / "s.yaml"
    scenario.write_text(yaml.safe_dump({
        "name": "never", "title": "A server that never listens",
        "topology": {"inside": ["caller"], "outside": ["callee"]},
        "phases": [{"name": "p", "duration": "3s"}],
        "workloads": [
            {"type": "command", "name": "srv", "node": "callee", "background": True,
             "ready": {"port": 5001, "timeout": "1s"},
             "run": ["python3", "-c", "import time; time.sleep(60)", marker]},
            {"type": "command", "name": "app", "node": "caller", "run": ["true"]}]}))
    result = run_cli("run", str(scenario), "--allow-commands", "--results", str(tmp_path / "r"),
                     "--where", "local", timeout=120)
    assert result.returncode == 4, result.stdout[-2000:] + result.stderr[-2000:]
    assert "workload 'srv': not ready (port 5001) after 1 s" in result.stdout + result.stderr
    (directory,) = (tmp_path / "r").iterdir()
    rows = _rows(directory)
    assert rows[("p", "app")]["error"] == "not run: server 'srv' was not ready"
    left = subprocess.run(["pgrep", "-f", marker], capture_output=True, text=True)
    assert left.stdout == "", left.stdout  # the server was stopped with its phase
