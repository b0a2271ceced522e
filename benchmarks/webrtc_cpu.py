"""CPU a WebRTC call costs: both aiortc peers of N calls on this machine's loopback.

    .venv/bin/python benchmarks/webrtc_cpu.py [--seconds 20] [--calls 1 2] [--codec pcmu opus]

For each codec and number of calls, runs the calls (peers, signalling server; no TURN, no
root) and prints the CPU seconds the processes used, per call-second as a share of one core,
then, from the least and most calls, what one more call costs (the slope) and the fixed
cost of starting the peers (the intercept: Python imports): what a host, or the testbed
VM's emulated CPU, must give a phase of calls.
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from pathlib import Path

from testbed.kernel.netns import Endpoint
from testbed.traffic.webrtc import CODECS, run_webrtc

LOOPBACK = Endpoint("loopback", None, "127.0.0.1", "::1")


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--calls", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--codec", nargs="+", choices=CODECS, default=list(CODECS))
    args = parser.parse_args(argv)
    print(f"{'codec':6} {'calls':>5} {'wall s':>7} {'CPU s':>7} {'% of a core per call':>21}")
    for codec in args.codec:
        spent_by_calls = {}
        for calls in args.calls:
            with tempfile.TemporaryDirectory(prefix="testbed-webrtc-bench-") as work:
                before, started = _children_cpu(), time.monotonic()
                run = run_webrtc(LOOPBACK, LOOPBACK, LOOPBACK, [], Path(work), calls=calls,
                                 seconds=args.seconds, codec=codec, port=18443)
                spent, wall = _children_cpu() - before, time.monotonic() - started
            if not all(c["connected"] for c in run.caller):
                print(f"{codec:6} {calls:5}: a call did not connect", file=sys.stderr)
                return 1
            spent_by_calls[calls] = spent
            share = 100 * spent / (args.seconds * calls)
            print(f"{codec:6} {calls:5} {wall:7.1f} {spent:7.2f} {share:21.1f}")
            sys.stdout.flush()
        low, high = min(spent_by_calls), max(spent_by_calls)
        if high > low:
            slope = (spent_by_calls[high] - spent_by_calls[low]) / (high - low)
            print(f"{codec:6} one more call: {100 * slope / args.seconds:.1f} % of a core; "
                  f"starting the peers: {spent_by_calls[low] - low * slope:.2f} CPU s")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
