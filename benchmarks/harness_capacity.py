"""Benchmark: the most concurrent bidirectional G.711 calls (50 pps each way per call) that
the harness sends and receives with p99 send lateness under 1 ms and no packet lost on a
clean path. Each side of the calls is one process (one core): a sending thread and a
receiving thread.

Each level runs --repeat times; it passes when the median p99 is under 1 ms and no run lost
a packet (a single run on a small machine is noisy).

Run as root:  .venv/bin/python benchmarks/harness_capacity.py [--seconds 5] [--repeat 3] [--calls ...]
"""

from __future__ import annotations

import argparse
import sys

import numpy as np

from testbed.scenario.session import Experiment
from testbed.traffic.calls import run_calls


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5)
    parser.add_argument("--calls", default="100,200,300,400,500,600,700,800")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    best, failed = 0, False
    with Experiment(label="b") as session:
        caller, callee = session.endpoint("caller"), session.endpoint("callee")
        print(f"{'calls':>6} {'pps/way':>8} {'median p99 late ms':>19} {'runs p99 ms':>24} {'lost':>6}  ok")
        for calls in (int(c) for c in args.calls.split(",")):
            p99s, lost = [], 0
            for _ in range(args.repeat):
                run = run_calls(caller, callee, "g711", calls=calls, seconds=args.seconds, port=40000)
                late = np.concatenate(list(run.send_lateness_ns.values())) / 1e6
                lost += sum(int(t.sent.size - np.unique(t.received["seq"]).size) for t in run.traces)
                p99s.append(float(np.percentile(late, 99)))
            p99 = float(np.median(p99s))
            ok = p99 < 1.0 and lost == 0
            failed = failed or not ok
            best = calls if not failed else best  # only levels below the first failure count
            verdict = "yes" if ok else "no"
            runs = " ".join(f"{v:.2f}" for v in p99s)
            print(f"{calls:>6} {calls * 50:>8} {p99:>19.3f} {runs:>24} {lost:>6}  {verdict}", flush=True)
    print(f"largest passing (with every level below it): {best} concurrent G.711 calls "
          f"({best * 50} packets/s each way)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
