"""Run a catalog profile's signature scenario and report it (shared by the host and VM tiers).

Set TESTBED_SIGNATURES_OUT to a directory to keep each run's checks as <profile>.json:
`testbed profiles docs --measured DIR` puts those figures into docs/profiles.md.
"""

from __future__ import annotations

import json
import os
import platform
from datetime import UTC, datetime
from functools import cache
from pathlib import Path

import yaml

from testbed.compile.compiler import compile_profile
from testbed.profile.loader import catalog, load_profile
from testbed.report.rows import check_word
from testbed.report.speech import ROW_METRICS
from testbed.scenario.loader import load_scenario, signature_path
from testbed.scenario.model import CHECK
from testbed.scenario.runner import run_scenario


def profiles(netem: bool | None = None) -> list[str]:
    """Catalog names; netem=False: only those the host kernel (no sch_netem) can run (which
    compiling each profile tells: seconds in the emulated VM, so only when asked)."""
    if netem is None:
        return [path.stem for path in catalog()]
    return [path.stem for path in catalog()
            if ("sch_netem" in compile_profile(load_profile(path)).features) == netem]


def check_metric(check: str) -> str:
    """The metric an expectation's check names ("voip.pesq <= 2.5": "pesq")."""
    found = CHECK.match(check)
    assert found, f"not a check: {check!r}"
    return found[2]


@cache  # the VM tier's collection and the host's each ask; loading every signature takes seconds in the VM
def listening() -> list[str]:
    """Catalog names whose signatures expect something of the calls' audio: in the VM those
    expectations stay pending, so tests/host/test_vm_speech.py runs them from the host, audio
    scored, instead of the VM tier (which would check a subset of the same run)."""
    # read as plain YAML: loading each signature with its profiles takes seconds in the VM
    return [path.stem for path in catalog()
            if any(check_metric(e["check"]) in ROW_METRICS
                   for e in yaml.safe_load(signature_path(path.stem).read_text()).get("expect", []))]


def run_signature(name: str, results: Path) -> None:
    """Run it here; in the VM, expectations on the calls' audio stay pending (the audio is
    scored on the host: tests/host/test_vm_speech.py runs those signatures from there)."""
    # no plots: drawing them is the report's test (tests/host), and takes seconds per run in the VM
    result = run_scenario(load_scenario(signature_path(name)), results, render=False)
    words = [check_word(c.__dict__) for c in result.checks]
    table = "\n".join(f"  {c.phase}: {c.check}  measured {c.value}  {word}"
                      for c, word in zip(result.checks, words, strict=True))
    errors = [f"  {r['phase']}/{r['workload']}: {r['error']}" for r in result.metrics if "error" in r]
    held = result.complete and not errors and "FAIL" not in words
    keep_record(name, held, [c.__dict__ for c in result.checks], platform.release(),
                bool(os.environ.get("TESTBED_IN_VM")))
    assert held, f"{name} signature failed:\n{table}\n" + "\n".join(errors)


def keep_record(name: str, passed: bool, checks: list[dict], kernel: str, in_vm: bool) -> None:
    """Write the run's checks as TESTBED_SIGNATURES_OUT/<name>.json, when that is set."""
    out = os.environ.get("TESTBED_SIGNATURES_OUT")
    if out:
        Path(out).mkdir(parents=True, exist_ok=True)
        record = {"profile": name, "passed": passed, "kernel": kernel, "in_vm": in_vm,
                  "date": datetime.now(UTC).strftime("%Y-%m-%d"), "checks": checks}
        (Path(out) / f"{name}.json").write_text(json.dumps(record, indent=2) + "\n")
