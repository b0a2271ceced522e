"""Run a scenario: per repetition a fresh topology, then per phase its profile (or
schedule) and every workload at once; check the expectations; write the results directory
(testbed/report/results.py) and render it.

Results go to RESULTS/<time>-<name>.partial and are renamed when complete; an interrupted
run keeps its directory, marked incomplete in run.json and summary.md.
"""

from __future__ import annotations

import os
import platform
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from testbed.report import results
from testbed.report.rows import errors
from testbed.scenario.checks import CheckResult, check
from testbed.scenario.loader import LoadedScenario
from testbed.scenario.phase import run_phase
from testbed.scenario.session import Experiment
from testbed.scenario.workloads import CENSOR, metrics_of

Progress = Callable[[str], None]


@dataclass
class ScenarioResult:
    directory: Path
    complete: bool
    metrics: list[dict] = field(default_factory=list)  # one row per repetition, phase, workload
    checks: list[CheckResult] = field(default_factory=list)

    @property
    def errors(self) -> list[str]:
        return errors(self.metrics)

    @property
    def verdict(self) -> str:
        """pass, fail, error (a workload failed) or incomplete."""
        return results.verdict({"complete": self.complete, "errors": self.errors,
                                "checks": [c.__dict__ for c in self.checks]})

    @property
    def passed(self) -> bool:
        return self.verdict == "pass"


def _package_version(package: str) -> str:
    try:
        return version(package)
    except PackageNotFoundError:
        return "?"


def _versions() -> dict[str, str]:
    versions = {name: _package_version(name) for name in ("testbed", "pyroute2", "pydantic", "numpy")}
    for tool, argv in (("iperf3", ["iperf3", "--version"]), ("nft", ["nft", "--version"]),
                       ("tc", ["tc", "-V"])):
        try:
            versions[tool] = subprocess.run(argv, capture_output=True, text=True).stdout.splitlines()[0]
        except (OSError, IndexError):
            versions[tool] = "?"
    return versions


def _describe(loaded: LoadedScenario) -> dict:
    scenario = loaded.scenario
    kinds = {CENSOR, *(w.type for w in scenario.workloads)}
    return {"scenario": scenario.name, "title": scenario.title, "source": str(loaded.source),
            "started": results.timestamp(), "complete": False, "kernel": platform.release(),
            "host": platform.node(), "in_vm": bool(os.environ.get("TESTBED_IN_VM")), "versions": _versions(),
            "profiles": {name: {"name": p.profile.name, "sha256": p.sha256,
                                "confidence": p.profile.confidence} for name, p in loaded.profiles.items()},
            "metric_units": {kind: {m.name: {"unit": m.unit, "description": m.description}
                                    for m in metrics_of(kind)} for kind in sorted(kinds)},
            "definition": scenario.model_dump(mode="json", by_alias=True)}


def run_scenario(loaded: LoadedScenario, results_root: Path, progress: Progress = lambda _: None,
                 render: bool | None = None) -> ScenarioResult:
    scenario = loaded.scenario
    work = results.new_directory(results_root, scenario.name)
    info = _describe(loaded)
    result = ScenarioResult(work, complete=False)
    try:
        for repetition in range(1, scenario.repetitions + 1):
            progress(f"repetition {repetition}/{scenario.repetitions}")
            with Experiment(scenario.topology, label="s", progress=progress) as session:
                for phase in scenario.phases:
                    source = phase.profile or ("scheduled" if phase.schedule else "none")
                    progress(f"phase {phase.name} ({phase.duration / 1e9:g} s, profile {source})")
                    result.metrics += run_phase(session, phase, loaded.profiles, scenario.workloads,
                                                repetition, work, scenario.output.traces, progress)
        result.complete = True
    finally:
        result.checks = check(scenario.expect, result.metrics)
        info.update(complete=result.complete, finished=results.timestamp(),
                    checks=[c.__dict__ for c in result.checks])
        results.write(work, info, result.metrics)
        if (scenario.output.plots if render is None else render) and result.metrics:
            from testbed.report.render import render as render_report

            progress("rendering plots and report.html")
            render_report(work)
        if result.complete:
            result.directory = results.finish(work)
    return result
