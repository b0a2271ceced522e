"""Benchmark: `up` and `down` of a topology on the netns backend, timed in process (the CLI's
own start-up is not counted: see the import figures in docs/benchmarks.md).

Run as root:  .venv/bin/python benchmarks/topology_speed.py [--repeat N] [--scenario FILE]
Prints the median, and the lowest and highest, of each over N cycles (default 9). The default
topology is the one of the headline scenario: caller and callee on either side of the censor.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

from testbed.scenario.loader import load_scenario
from testbed.scenario.session import Experiment

ROOT = Path(__file__).resolve().parent.parent
TARGET_S = 0.2  # the suite-speed issue's aim for the default topology


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=9)
    parser.add_argument("--scenario", type=Path, default=ROOT / "scenarios" / "ru-2025-calls.yaml")
    args = parser.parse_args()
    topology = load_scenario(args.scenario).scenario.topology
    ups, downs = [], []
    for _ in range(args.repeat):
        start = time.perf_counter()
        session = Experiment(topology, label="b")
        session.__enter__()
        ups.append(time.perf_counter() - start)
        start = time.perf_counter()
        session.__exit__(None, None, None)
        downs.append(time.perf_counter() - start)
    cycles = [u + d for u, d in zip(ups, downs, strict=True)]
    for name, values in (("up", ups), ("down", downs), ("up+down", cycles)):
        print(f"{name:8} median {statistics.median(values) * 1000:7.1f} ms  "
              f"(min {min(values) * 1000:.1f}, max {max(values) * 1000:.1f}; {len(values)} cycles)")
    median = statistics.median(cycles)
    print(f"target: up+down under {TARGET_S * 1000:.0f} ms: {median * 1000:.1f} ms, "
          f"{'met' if median < TARGET_S else 'NOT met'}")


if __name__ == "__main__":
    main()
