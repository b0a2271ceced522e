"""How faithfully the harness measures netem's jitter: a G.711 call through `delay 50ms 10ms
distribution normal` (and, as a control, a constant `delay 50ms`), with the figures that
tell where a difference comes from.

    sudo .venv/bin/testbed vm run -- python3 benchmarks/jitter_fidelity.py [--repeat 3] [--seconds 30]

For each run it prints the one-way delay's mean and sd, RFC 3550 jitter in arrival order
(what the harness reports) and in sequence order, 2 sd / sqrt(pi) (what independent
normal delays give), the lag-1 correlation of consecutive delays, the share of packets
reordered, the sender's lateness, and the largest per-second jitter. Needs netem: run it
in the testbed VM.
"""

from __future__ import annotations

import argparse
import math
import sys
import tempfile
from pathlib import Path

import numpy as np
import yaml

from testbed.measure.call import stream_metrics
from testbed.measure.emodel import CODECS
from testbed.measure.timing import rfc3550_jitter_ms
from testbed.profile.loader import load_profile
from testbed.scenario.session import Experiment
from testbed.traffic.calls import run_calls

PORT = 40000


def profile(directory: Path, name: str, netem: dict) -> Path:
    path = directory / f"{name}.yaml"
    path.write_text(yaml.safe_dump({"name": name, "title": name, "confidence": "guessed", "classes": [
        {"name": "rtp", "match": {"protocol": "udp", "dst_port": PORT}, "uplink": {"netem": netem}}]}))
    return path


def figures(run) -> dict[str, float]:
    up = next(t for t in run.traces if t.direction == "uplink")
    rx = up.received
    delays = (rx["recv_ns"] - rx["send_ns"]) / 1e6
    order = np.argsort(rx["seq"], kind="stable")
    sd = float(delays.std(ddof=1))
    centred = delays - delays.mean()
    lag1 = float(np.dot(centred[:-1], centred[1:]) / np.dot(centred, centred)) if delays.size > 2 \
        else math.nan
    lateness = run.send_lateness_ns["caller"] / 1e6
    per_second = [s.jitter_ms for s in stream_metrics(up, CODECS["g711"]).per_second]
    running = []
    j = 0.0
    for x in np.abs(np.diff(delays)):
        j += (x - j) / 16
        running.append(j)
    return {"mean": float(delays.mean()), "sd": sd,
            "jitter": rfc3550_jitter_ms(rx["send_ns"], rx["recv_ns"]),
            "jitter_avg": float(np.mean(running)),
            "stall": float(np.percentile(delays, 99.9) - np.median(delays)),
            "jitter_seq": rfc3550_jitter_ms(rx["send_ns"][order], rx["recv_ns"][order]),
            "theory": 2 * sd / math.sqrt(math.pi), "lag1": lag1,
            "reordered": float(np.mean(np.diff(rx["seq"].astype(np.int64)) < 0)),
            "late_p99": float(np.percentile(lateness, 99)), "late_max": float(lateness.max()),
            "per_second_max": max(per_second) if per_second else math.nan}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=30)
    args = parser.parse_args()
    columns = ["mean", "sd", "jitter", "jitter_avg", "jitter_seq", "theory", "lag1", "reordered", "stall",
               "late_p99", "late_max", "per_second_max"]
    print(f"{'netem':28}" + "".join(f"{c:>15}" for c in columns))
    with tempfile.TemporaryDirectory() as tmp, Experiment(label="j") as session:
        cases = {"delay 50ms (control)": {"delay": "50ms"},
                 "delay 50ms 10ms normal": {"delay": "50ms", "jitter": "10ms", "distribution": "normal"}}
        for name, netem in cases.items():
            session.apply(load_profile(profile(Path(tmp), name.split()[0] + str(len(netem)), netem)))
            for _ in range(args.repeat):
                run = run_calls(session.endpoint("caller"), session.endpoint("callee"), "g711",
                                seconds=args.seconds, port=PORT)
                found = figures(run)
                print(f"{name:28}" + "".join(f"{found[c]:>15.3f}" for c in columns), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
