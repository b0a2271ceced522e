"""Benchmark: how long the testbed's traffic programs take to start in a topology node (from
the request to their first line, "ready"), forked from the fork server
(testbed/kernel/forkserver.py) against a new interpreter under `ip netns exec`, as a phase
starts them: eight at once (the two sides of three voip workloads, and chat's two). And an
`nft` listing through libnftables in process (testbed/kernel/nft.py) against the program.

Run as root:  .venv/bin/python benchmarks/program_start.py [--repeat N]
In the VM:    testbed vm run -- python3 benchmarks/program_start.py
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from testbed.kernel import forkserver, netns
from testbed.scenario.session import Experiment

AT_ONCE = 8


def _config(directory: Path, port: int) -> Path:
    path = directory / f"{port}.json"
    path.write_text(json.dumps({"codec": "g711", "payload_bytes": 160, "frame_ms": 20, "calls": 1,
                                "frames": 1, "port": port, "framing": "rtp", "dtx": False, "drain_s": 0,
                                "seed": 1, "role": "caller", "peer": "127.0.0.1", "media": None}))
    return path


def _until_ready(proc) -> None:
    assert proc.stdout.readline().strip() == "ready"
    proc.kill()
    proc.wait()


def _batch(ns: str, directory: Path, forked: bool) -> float:
    """Seconds until all AT_ONCE programs said ready."""
    def one(port: int) -> None:
        args = [str(_config(directory, port)), str(directory / f"{port}.npz")]
        if forked:
            proc = forkserver.start(ns, "testbed.traffic.rtp_worker", args)
        else:
            argv = netns.command(ns, [sys.executable, "-m", "testbed.traffic.rtp_worker", *args])
            proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                    stderr=subprocess.PIPE, text=True)
        _until_ready(proc)

    start = time.perf_counter()
    with ThreadPoolExecutor(AT_ONCE) as pool:
        list(pool.map(one, range(42000, 42000 + AT_ONCE)))
    return time.perf_counter() - start


def _nft(ns: str, in_process: bool) -> float:
    start = time.perf_counter()
    if in_process:
        netns.run(ns, ["nft", "list", "ruleset"])
    else:
        subprocess.run(netns.command(ns, ["nft", "list", "ruleset"]), capture_output=True, check=True)
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    with Experiment(label="b") as session, tempfile.TemporaryDirectory() as tmp:
        ns = session.state.nodes["caller"].netns
        first = _batch(ns, Path(tmp), forked=True)  # the server starts and imports the program once
        rows = [
            (f"{AT_ONCE} traffic programs, forked", [_batch(ns, Path(tmp), True)
                                                     for _ in range(args.repeat)]),
            (f"{AT_ONCE} traffic programs, new interpreters", [_batch(ns, Path(tmp), False)
                                                             for _ in range(args.repeat)]),
            ("nft list ruleset, in process", [_nft(ns, True) for _ in range(args.repeat)]),
            ("nft list ruleset, a program", [_nft(ns, False) for _ in range(args.repeat)]),
        ]
    print(f"{'what':44} {'median':>10} {'min':>10} {'max':>10}")
    print(f"{'fork server: first batch (its own start)':44} {first * 1000:>7.0f} ms")
    for what, times in rows:
        print(f"{what:44} {statistics.median(times) * 1000:>7.0f} ms {min(times) * 1000:>7.0f} ms "
              f"{max(times) * 1000:>7.0f} ms")
    print(f"{args.repeat} runs each; a batch is timed from its requests to the last 'ready'")
    return 0


if __name__ == "__main__":
    sys.exit(main())
