"""What the emulated machine adds to netem's delay: the offset that delay bounds must allow.

    sudo .venv/bin/testbed vm run -- python3 benchmarks/delay_overhead.py [--repeat 5] [--calls 4]

Runs `calls` bidirectional G.711 calls through a constant `delay 80ms` (the load of
tests/vm/test_calls.py's four-call test, without its jitter and loss, so that every
millisecond above 80 is the machine's own: stack, timers, the sender between its timestamp
and the send), `repeat` times, and prints per run the pooled mean one-way delay above 80 ms,
its median and 99th percentile, then the mean and sd of the per-run offsets and the
mean + 3.29 sd bound (99.9 %, one-sided normal). Run it in the testbed VM with the host as
loaded as CI will be (one core kept busy by another process) to derive the test's allowance.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

import numpy as np
import yaml

from testbed.profile.loader import load_profile
from testbed.scenario.session import Experiment
from testbed.traffic.calls import run_calls

Z = 3.29
PORT = 40000
DELAY_MS = 80


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--calls", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=30)
    args = parser.parse_args()
    offsets = []
    print(f"{'run':>3} {'packets':>8} {'mean ms':>8} {'median ms':>9} {'p99 ms':>7} {'max ms':>7}")
    with tempfile.TemporaryDirectory() as tmp, Experiment(label="d") as session:
        path = Path(tmp) / "delay.yaml"
        classes = [{"name": "rtp", "match": {"protocol": "udp", "dst_port": PORT},
                    "both": {"netem": {"delay": f"{DELAY_MS}ms"}}}]
        path.write_text(yaml.safe_dump({"name": "delay", "title": "delay", "confidence": "guessed",
                                        "classes": classes}))
        session.apply(load_profile(path))
        for repetition in range(args.repeat):
            run = run_calls(session.endpoint("caller"), session.endpoint("callee"), "g711",
                            calls=args.calls, seconds=args.seconds, port=PORT)
            delays = [(t.received["recv_ns"] - t.received["send_ns"]) / 1e6 for t in run.traces]
            extra = np.concatenate(delays) - DELAY_MS
            offsets.append(float(extra.mean()))
            print(f"{repetition:>3} {extra.size:>8} {extra.mean():>8.3f} {np.median(extra):>9.3f} "
                  f"{np.percentile(extra, 99):>7.3f} {extra.max():>7.3f}", flush=True)
    mean, sd = statistics.fmean(offsets), statistics.stdev(offsets) if len(offsets) > 1 else 0.0
    print(f"offset over {len(offsets)} runs: mean {mean:.3f} ms, sd {sd:.3f}, max {max(offsets):.3f}, "
          f"mean + {Z} sd = {mean + Z * sd:.3f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
