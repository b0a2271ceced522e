"""Benchmark: the most concurrent bidirectional G.711 calls (50 pps each way per call) that
the harness sends and receives with p99 send lateness under 1 ms and no packet lost on a
clean path. Each side of the calls is one process (one core): a sending thread and a
receiving thread.

Run as root:  .venv/bin/python benchmarks/harness_capacity.py [--seconds 5] [--calls 100,200,...]
"""

from __future__ import annotations

import argparse
import sys

import numpy as np

from testbed.topology import build
from testbed.topology.model import TopologySpec
from testbed.traffic.calls import run_calls


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5)
    parser.add_argument("--calls", default="50,100,200,300,400,500,600,800")
    args = parser.parse_args()
    state = build.up(TopologySpec(), "cap")
    best = 0
    try:
        print(f"{'calls':>6} {'pps/way':>8} {'p99 late ms':>12} {'max late ms':>12} {'lost':>6}  ok")
        for calls in (int(c) for c in args.calls.split(",")):
            run = run_calls(state, "g711", calls=calls, seconds=args.seconds, port=40000)
            late = np.concatenate(list(run.send_lateness_ns.values())) / 1e6
            lost = sum(int(t.sent.size - np.unique(t.received["seq"]).size) for t in run.traces)
            p99 = float(np.percentile(late, 99))
            ok = p99 < 1.0 and lost == 0
            best = calls if ok else best
            verdict = "yes" if ok else "no"
            print(f"{calls:>6} {calls * 50:>8} {p99:>12.3f} {late.max():>12.3f} {lost:>6}  {verdict}")
    finally:
        build.down("cap")
    print(f"largest passing: {best} concurrent G.711 calls ({best * 50} packets/s each way)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
