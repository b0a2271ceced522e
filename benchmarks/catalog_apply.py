"""Benchmark: how long each catalog profile takes to load into a censor node, and to
re-apply (a no-op: the kernel already holds the plan). The figure behind
ru-2018-telegram-ip-block's claim that a 10,000-entry address set loads in under a second.

Run as root:  .venv/bin/python benchmarks/catalog_apply.py [--repeat N]
Profiles that need a qdisc this kernel lacks (netem on the dev host) are listed as skipped;
run it in the VM for those: testbed vm run -- python3 benchmarks/catalog_apply.py
(TCG emulation there is several times slower than a real machine).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

from testbed.compile.compiler import compile_profile
from testbed.kernel import apply as engine
from testbed.kernel import probe
from testbed.profile.loader import catalog, load_profile
from testbed.scenario.session import Experiment


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    print(f"{'profile':28} {'set entries':>11} {'load+compile':>13} {'apply':>9} {'re-apply':>9}")
    with Experiment(label="b") as session:
        target, ns = session.target, session.state.censor.netns
        for path in catalog():
            start = time.perf_counter()
            loaded = load_profile(path)
            plan = compile_profile(loaded, target)
            compile_s = time.perf_counter() - start
            entries = sum(len(s.elements) for s in plan.nft.sets)
            missing = probe.missing_features(plan.features)
            if missing:
                print(f"{path.stem:28} {entries:>11} {'':>13} skipped: {', '.join(missing)} missing")
                continue
            applies, reapplies = [], []
            for _ in range(args.repeat):
                engine.clear(plan, ns)
                start = time.perf_counter()
                engine.apply(plan, ns)
                applies.append(time.perf_counter() - start)
                start = time.perf_counter()
                engine.apply(plan, ns)
                reapplies.append(time.perf_counter() - start)
            engine.clear(plan, ns)
            apply_ms, reapply_ms = statistics.median(applies) * 1000, statistics.median(reapplies) * 1000
            print(f"{path.stem:28} {entries:>11} {compile_s * 1000:>10.0f} ms "
                  f"{apply_ms:>6.0f} ms {reapply_ms:>6.0f} ms")
    print(f"median of {args.repeat}; apply includes the feature probe, the nft load and the read-back check")
    return 0


if __name__ == "__main__":
    sys.exit(main())
