"""What a clean path measures on this machine: the noise that bounds on "clean" must allow.

    sudo .venv/bin/testbed vm run -- python3 benchmarks/clean_path_noise.py [--calls 20] [--seconds 6]

Runs one G.711 call at a time on a clean path (no profile), as the clean signature does,
and prints each call's MOS-CQ, effective and network loss, jitter and the adaptive jitter
buffer's discards, then the mean, sd and the mean - 3.29 sd bound (99.9 %, one-sided
normal). Run it in the testbed VM with the host as loaded as CI will be (say, one core
kept busy by another process) to derive the clean signature's bounds.
"""

from __future__ import annotations

import argparse
import statistics
import sys

from testbed.measure.call import stream_metrics
from testbed.measure.emodel import CODECS
from testbed.scenario.session import Experiment
from testbed.traffic.calls import run_calls

Z = 3.29


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=6)
    args = parser.parse_args()
    mos = []
    print(f"{'call':>4} {'MOS-CQ':>7} {'loss %':>7} {'network %':>9} {'discard %':>9} {'jitter ms':>9}")
    with Experiment(label="n") as session:
        for call in range(args.calls):
            run = run_calls(session.endpoint("caller"), session.endpoint("callee"), "g711",
                            seconds=args.seconds)
            for m in (stream_metrics(t, CODECS["g711"]) for t in run.traces):
                mos.append(m.quality.mos_cq)
                print(f"{call:>4} {m.quality.mos_cq:>7.3f} {m.effective_loss.loss_percent:>7.2f} "
                      f"{m.network_loss.loss_percent:>9.2f} {m.adaptive_discard_percent:>9.2f} "
                      f"{m.jitter_ms:>9.3f}", flush=True)
    mean, sd = statistics.fmean(mos), statistics.stdev(mos)
    print(f"MOS-CQ over {len(mos)} call directions: mean {mean:.3f}, sd {sd:.3f}, min {min(mos):.3f}, "
          f"mean - {Z} sd = {mean - Z * sd:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
