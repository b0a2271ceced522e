"""A 50 pps UDP stream through netem, measured with kernel receive timestamps.

Tolerances are statistical, at 99.9 % confidence (z = 3.29), plus the stated systematic
allowances of the emulator: the VM's timer (about 0.5 ms under TCG) and netem's
4096-entry distribution table.
"""

from __future__ import annotations

import json
import math
import statistics
import subprocess
import sys
import time

from testbed.kernel import netns
from tests.host.conftest import apply_profile, profile_dict

Z = 3.29
PACKETS = 1000
PPS = 50

RECEIVER = r"""
import json, socket, struct, sys, time
SO_TIMESTAMPNS = getattr(socket, "SO_TIMESTAMPNS", 35)  # Python 3.11 lacks the name
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
s.bind(("0.0.0.0", 6000)); s.settimeout(float(sys.argv[1]))
print("ready", flush=True)
seen = {}
try:
    while True:
        data, anc, _, _ = s.recvmsg(256, 64)
        seq, sent = struct.unpack("!Iq", data[:12])
        for level, kind, value in anc:
            if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS:
                sec, nsec = struct.unpack("qq", value[:16])
                seen[seq] = sec * 10**9 + nsec - sent
except socket.timeout:
    pass
print(json.dumps(seen))
"""

SENDER = r"""
import socket, struct, sys, time
host, count, pps = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
start = time.monotonic()
for seq in range(count):
    target = start + seq / pps
    while time.monotonic() < target:
        time.sleep(max(0.0, target - time.monotonic() - 0.0005))
    s.sendto(struct.pack("!Iq", seq, time.time_ns()) + bytes(148), (host, 6000))
"""


def _stream(topo) -> dict[int, int]:
    receiver = subprocess.Popen(netns.command(topo.nodes["callee"].netns, [sys.executable, "-c", RECEIVER, "3"]),
                                stdout=subprocess.PIPE, text=True)
    assert receiver.stdout is not None and receiver.stdout.readline().strip() == "ready"
    netns.run(topo.nodes["caller"].netns, [sys.executable, "-c", SENDER, topo.nodes["callee"].address(),
                                           str(PACKETS), str(PPS)], timeout=PACKETS / PPS + 60)
    out, _ = receiver.communicate(timeout=30)
    return {int(k): v for k, v in json.loads(out).items()}


def wilson_interval(successes: int, n: int, z: float = Z) -> tuple[float, float]:
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return centre - half, centre + half


def test_delay_jitter_and_loss_match_the_configuration(topo, tmp_path) -> None:
    apply_profile(topo, profile_dict("measured", classes=[{
        "name": "stream", "match": {"protocol": "udp", "dst_port": 6000},
        "uplink": {"netem": {"delay": "50ms", "jitter": "10ms", "distribution": "normal", "loss": "5%"}}}]),
        tmp_path)
    time.sleep(0.2)
    delays_ns = _stream(topo)
    received = len(delays_ns)
    low, high = wilson_interval(PACKETS - received, PACKETS)
    assert low <= 0.05 <= high, f"loss {1 - received / PACKETS:.3%} is not consistent with 5 %"

    delays_ms = [d / 1e6 for d in delays_ns.values()]
    n = len(delays_ms)
    mean = statistics.fmean(delays_ms)
    sd = statistics.stdev(delays_ms)
    # mean: 50 ms, sampling error z*sigma/sqrt(n), plus up to 1 ms of VM timer and stack latency
    assert abs(mean - 50) <= Z * 10 / math.sqrt(n) + 1.0, mean
    # sd: 10 ms; a sample sd's relative error is about 1/sqrt(2n); 5 % more for the table and timer
    assert abs(sd - 10) <= 10 * (Z / math.sqrt(2 * n) + 0.05), sd
    # normal, not uniform: a uniform +-10 ms jitter has sd 5.8 ms and nothing beyond 10 ms
    assert sum(1 for d in delays_ms if abs(d - 50) > 12) > 0.05 * n
    print(f"loss {1 - received / PACKETS:.2%} (99.9 % interval {low:.2%}-{high:.2%}), "
          f"delay mean {mean:.2f} ms, sd {sd:.2f} ms over {n} packets")
