"""Calls that carry real speech, through real sockets between namespaces on the host kernel:
a clean path is heard as it was said, the report plays it, `testbed listen` writes it, and
Wireshark's RTP dissector reads the testbed's RFC 8285 header extension.

Figures recorded on a clean host path (veth): G.711 PESQ-NB 4.37, Opus PESQ-WB 4.16
(means over four directions, one voice each).
"""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import time

import pytest
import yaml

from testbed.kernel import netns
from testbed.scenario.session import Experiment
from testbed.speech import media
from testbed.speech.presets import PRESETS
from testbed.traffic import rtp
from testbed.traffic.calls import run_calls
from tests.cli import run_cli

# the whole test's guard: its slowest command may take 600 s (a TCG VM on a busy machine),
# which pytest-timeout's default of 300 s would cut short
pytestmark = pytest.mark.timeout(660)

CLEAN = {
    "name": "speech-clean", "title": "Speech on a clean path",
    "topology": {"inside": ["caller"], "outside": ["callee"]},
    "phases": [{"name": "baseline", "duration": "10s"}],
    "workloads": [
        {"type": "voip", "name": "g711", "codec": "g711", "calls": 2, "scored_calls": 2, "port": 40000},
        {"type": "voip", "name": "opus", "codec": "opus-webrtc", "calls": 2, "scored_calls": 2, "port": 41000},
    ],
    "expect": [{"phase": "baseline", "check": "g711.pesq >= 4.0"},
               {"phase": "baseline", "check": "opus.pesq >= 4.0"},
               {"phase": "baseline", "check": "g711.heard == 1"}],
    "output": {"traces": False},  # traces and media are kept to be scored, then removed
}


def test_a_clean_call_is_heard_as_it_was_said(tmp_path) -> None:
    scenario = tmp_path / "clean.yaml"
    scenario.write_text(yaml.safe_dump(CLEAN))
    result = run_cli("run", str(scenario), "--results", str(tmp_path / "results"), timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "Speech, as received" in result.stdout
    (directory,) = (tmp_path / "results").iterdir()
    entries = json.loads((directory / "speech.json").read_text())
    assert len(entries) == 8  # two workloads x two calls x two directions
    assert {e["source"] for e in entries} == {"en-f", "en-m", "ru-f", "ru-m"}
    for entry in entries:
        assert entry["counts"]["lost"] == entry["counts"]["late"] == 0, entry["counts"]
        assert entry["scores"]["stoi"] > 0.98
    assert not list(directory.glob("traces/*")), "traces kept only for scoring were left behind"
    rows = {r["workload"]: r for r in json.loads((directory / "metrics.json").read_text())}
    assert rows["g711"]["pesq"] >= 4.0 and rows["opus"]["pesq"] >= 4.0
    page = (directory / "report.html").read_text()
    assert page.count("data:audio/flac;base64,") == 16 and page.count("data:image/jpeg;base64,") == 8
    listened = run_cli("listen", str(directory), "--workload", "opus", "--call", "1", "--out", str(tmp_path / "wav"))
    assert listened.returncode == 0, listened.stderr
    assert sorted(p.name for p in (tmp_path / "wav").iterdir()) == [
        "rep1-baseline-opus-call1-downlink-heard.wav", "rep1-baseline-opus-call1-downlink-said.wav",
        "rep1-baseline-opus-call1-uplink-heard.wav", "rep1-baseline-opus-call1-uplink-said.wav"]
    assert run_cli("listen", str(directory), "--phase", "nope").returncode == 2


def test_wireshark_reads_the_header_extension(tmp_path) -> None:
    if shutil.which("tshark") is None:
        pytest.fail("tshark is not installed (scripts/setup.sh installs it)")
    pcap = tmp_path / "call.pcap"
    clip = media.prepare(PRESETS["opus-webrtc"], "en-f", False, tmp_path)
    with Experiment(label="h") as session:
        callee = session.endpoint("callee")
        argv = ["tshark", "-q", "-i", "any", "-f", "udp port 40000", "-w", str(pcap)]
        capture = subprocess.Popen(netns.command(callee.netns, argv), stdout=subprocess.DEVNULL,
                                   stderr=subprocess.PIPE, text=True)
        try:
            assert capture.stderr is not None
            for line in capture.stderr:  # "Capturing on 'any'": the filter is in place
                if line.startswith("Capturing on"):
                    break
            run_calls(session.endpoint("caller"), callee, "opus-webrtc", seconds=2, port=40000,
                      media=[(clip, clip)])
            time.sleep(0.5)
        finally:
            capture.send_signal(signal.SIGINT)  # tshark finishes the file and exits
            capture.wait(timeout=30)
    fields = ["rtp.version", "rtp.ext", "rtp.ext.profile", "rtp.ext.rfc5285.id", "rtp.ext.rfc5285.len",
              "rtp.ext.rfc5285.data", "rtp.seq", "rtp.timestamp", "rtp.marker", "rtp.payload"]
    out = subprocess.run(["tshark", "-r", str(pcap), "-d", "udp.port==40000,rtp", "-T", "fields",
                          *(x for f in fields for x in ("-e", f)), "-E", "separator=;"],
                         capture_output=True, text=True, check=True).stdout
    rows = [dict(zip(fields, line.split(";"), strict=True)) for line in out.splitlines() if line]
    assert len(rows) >= 2 * 90  # both directions, 50 packets a second for two seconds
    payloads = media.load(clip).payloads
    for row in rows:
        assert row["rtp.version"] == "2" and row["rtp.ext"] in ("1", "True")
        assert int(row["rtp.ext.profile"], 0) == rtp.ONE_BYTE_PROFILE
        assert row["rtp.ext.rfc5285.id"] == "1" and row["rtp.ext.rfc5285.len"] == "12"
        data = bytes.fromhex(row["rtp.ext.rfc5285.data"].replace(":", ""))
        seq, _ = rtp.MARK.unpack(data)
        assert seq & 0xFFFF == int(row["rtp.seq"])
        frame = int(row["rtp.timestamp"]) // 960  # 20 ms at 48 kHz
        assert bytes.fromhex(row["rtp.payload"].replace(":", "")) == payloads[frame % len(payloads)]
        # RFC 3551: the marker bit on a talkspurt's first packet (here, a stream's first), on no other
        assert (row["rtp.marker"] in ("1", "True")) == (int(row["rtp.seq"]) == 0), row
