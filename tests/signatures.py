"""Run a catalog profile's signature scenario and report it (shared by the host and VM tiers).

Set TESTBED_SIGNATURES_OUT to a directory to keep each run's checks as <profile>.json:
`testbed profiles docs --measured DIR` puts those figures into docs/profiles.md.
"""

from __future__ import annotations

import json
import os
import platform
from datetime import UTC, datetime
from pathlib import Path

from testbed.compile.compiler import compile_profile
from testbed.profile.loader import catalog, load_profile
from testbed.report.rows import check_word
from testbed.scenario.loader import load_scenario, signature_path
from testbed.scenario.runner import run_scenario


def profiles(netem: bool | None = None) -> list[str]:
    """Catalog names; netem=False: only those the host kernel (no sch_netem) can run."""
    names = []
    for path in catalog():
        needs_netem = "sch_netem" in compile_profile(load_profile(path)).features
        if netem is None or needs_netem == netem:
            names.append(path.stem)
    return names


def run_signature(name: str, results: Path) -> None:
    """Run it here; in the VM, expectations on the calls' audio stay pending (the audio is
    scored on the host: tests/host/test_vm_speech.py runs those signatures from there)."""
    result = run_scenario(load_scenario(signature_path(name)), results)
    words = [check_word(c.__dict__) for c in result.checks]
    table = "\n".join(f"  {c.phase}: {c.check}  measured {c.value}  {word}"
                      for c, word in zip(result.checks, words, strict=True))
    errors = [f"  {r['phase']}/{r['workload']}: {r['error']}" for r in result.metrics if "error" in r]
    held = result.complete and not errors and "FAIL" not in words
    out = os.environ.get("TESTBED_SIGNATURES_OUT")
    if out:
        Path(out).mkdir(parents=True, exist_ok=True)
        record = {"profile": name, "passed": held, "kernel": platform.release(),
                  "in_vm": bool(os.environ.get("TESTBED_IN_VM")),
                  "date": datetime.now(UTC).strftime("%Y-%m-%d"),
                  "checks": [c.__dict__ for c in result.checks]}
        (Path(out) / f"{name}.json").write_text(json.dumps(record, indent=2) + "\n")
    assert held, f"{name} signature failed:\n{table}\n" + "\n".join(errors)
