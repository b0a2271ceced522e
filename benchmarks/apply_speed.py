"""Benchmark: apply + clear of a 10-class profile through the engine (netlink, one atomic nft
load) against the same objects made by running `tc`/`nft` once per object.

Run as root:  .venv/bin/python benchmarks/apply_speed.py [--repeat N]
Prints the median time of each way and their ratio.
"""

from __future__ import annotations

import argparse
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

from testbed.compile.plan import Plan
from testbed.compile.render import clear_commands, sysctls, tc_commands
from testbed.kernel import apply as engine
from testbed.kernel import netns
from testbed.profile.loader import load_profile
from testbed.scenario.session import Experiment


def ten_class_profile() -> dict:
    classes = []
    for i in range(10):
        action = [{"shape": {"rate": f"{i + 1}mbit"}},
                  {"shape": {"rate": f"{i + 1}mbit", "method": "tbf"}},
                  {"police": {"rate": f"{100 + i}kbit", "burst": "16KiB", "per": "flow"}},
                  {"drop": True, "after": {"reply_bytes": "16KiB"}}][i % 4]
        classes.append({"name": f"c{i}", "match": {"protocol": "udp" if i % 2 else "tcp",
                                                     "dst_port": 1000 + i}, "both": action})
    return {"name": "bench", "title": "10 classes", "confidence": "guessed", "classes": classes}


def per_object_commands(plan: Plan) -> list[list[str]]:
    """The same state, one process per kernel object (how shell scripts usually do it)."""
    cmds: list[list[str]] = [["sysctl", "-qw", f"{k}={v}"] for k, v in sysctls(plan)]
    for item in plan.interfaces:
        cmds += tc_commands(item)
    table = [plan.nft.family, plan.nft.table]
    cmds.append(["nft", "add", "table", *table])
    for s in plan.nft.sets:
        spec = f"{{ type {s.type};" + (f" flags {','.join(s.flags)};" if s.flags else "") + \
               (f" timeout {s.timeout_s}s;" if s.timeout_s else "") + " }"
        cmds.append(["nft", "add", "set", *table, s.name, spec])
    for chain in plan.nft.chains:
        spec = (f"{{ type filter hook {chain.hook} priority {chain.priority}; policy accept; }}"
                if chain.hook else "")
        cmds.append(["nft", "add", "chain", *table, chain.name] + ([spec] if spec else []))
    for chain in plan.nft.chains:
        for rule in chain.rules:
            cmds.append(["nft", "add", "rule", *table, chain.name, *shlex.split(rule.text)])
    return cmds


def run_all(ns: str, cmds: list[list[str]]) -> None:
    for cmd in cmds:
        subprocess.run(netns.command(ns, cmd), check=True, capture_output=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=10)
    args = parser.parse_args()
    with Experiment(label="b") as session, tempfile.TemporaryDirectory() as scratch:
        path = Path(scratch) / "ten-classes.yaml"
        path.write_text(yaml.safe_dump(ten_class_profile()))
        plan = session.plan(load_profile(path))
        ns = session.state.censor.netns
        engine_times, cli_times = [], []
        cmds = per_object_commands(plan)
        for _ in range(args.repeat):
            start = time.perf_counter()
            engine.apply(plan, ns)
            engine.clear(plan, ns)
            engine_times.append(time.perf_counter() - start)
            start = time.perf_counter()
            run_all(ns, cmds)
            run_all(ns, clear_commands(plan))
            cli_times.append(time.perf_counter() - start)
        eng, cli = statistics.median(engine_times), statistics.median(cli_times)
        objects = len(cmds)
        print(f"profile: 10 classes, 2 interfaces, {objects} kernel objects by the per-object way")
        print(f"engine (netlink + atomic nft, with probe, dry run and read-back): median {eng * 1000:.1f} ms")
        print(f"tc/nft once per object:                                    median {cli * 1000:.1f} ms")
        print(f"ratio per-object / engine: {cli / eng:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
