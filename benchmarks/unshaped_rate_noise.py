"""What an unshaped download measures on this machine: the noise that "line rate" bounds must allow.

    sudo .venv/bin/testbed vm run -- python3 benchmarks/unshaped_rate_noise.py [--runs 20] [--seconds 6]

Builds the ir-throttle-curfew signature's topology (an 8 Mbit/s line, no profile) and runs
its download workload `--runs` times, printing each transfer's kbit_steady (the figure the
signature bounds), then the mean, sd, min and the mean - 3.29 sd bound (99.9 %, one-sided
normal). Run it in the testbed VM with the host as loaded as CI will be (say, one core
kept busy by another process) to derive the signature's "day" and "morning" bounds.
"""

from __future__ import annotations

import argparse
import statistics
import sys

from testbed.scenario.session import Experiment
from testbed.topology.model import LinkSpec, TopologySpec
from testbed.traffic.download import run_download

Z = 3.29


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=6)
    parser.add_argument("--rate-kbit", type=int, default=8000, help="the line's rate (default 8000)")
    args = parser.parse_args()
    spec = TopologySpec(inside=["caller"], outside=["callee"],
                        link=LinkSpec(rate=f"{args.rate_kbit}kbit"))
    rates = []
    print(f"{'run':>4} {'kbit_steady':>11} {'kbit':>8}")
    with Experiment(spec, label="u") as session:
        for run in range(args.runs):
            result = run_download(session.endpoint("caller"), session.endpoint("callee"),
                                  seconds=args.seconds)
            rates.append(result.kbit_steady)
            print(f"{run:>4} {result.kbit_steady:>11.0f} {result.kbit:>8.0f}", flush=True)
    mean, sd = statistics.fmean(rates), statistics.stdev(rates)
    print(f"kbit_steady over {len(rates)} transfers of a {args.rate_kbit} kbit/s line: mean {mean:.0f}, "
          f"sd {sd:.0f}, min {min(rates):.0f}, mean - {Z} sd = {mean - Z * sd:.0f} "
          f"({(mean - Z * sd) / args.rate_kbit:.0%} of the line)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
