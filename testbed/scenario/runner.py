"""Run a scenario: per repetition a fresh topology, then per phase its profile (or
schedule) and every workload at once; write the results directory
(testbed/report/results.py); then finish it: score the calls' audio, check the
expectations, render the report (testbed/scenario/finish.py).

Results go to RESULTS/<time>-<name>.partial and are renamed when finished; an interrupted
run keeps its directory, marked incomplete in run.json and summary.md. In the testbed VM
the run stops before the audio is scored (`speech_pending`): the host finishes it.
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
from testbed.report.speech import ROW_METRICS
from testbed.scenario import scoring
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
    speech_pending: bool = False  # the calls' audio waits to be scored (a run in the VM)

    @property
    def errors(self) -> list[str]:
        return errors(self.metrics)

    @property
    def verdict(self) -> str:
        """pass, fail, error (a workload failed), incomplete or pending."""
        return results.verdict({"complete": self.complete, "errors": self.errors,
                                "speech_pending": self.speech_pending,
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
                 render: bool | None = None, score_speech: bool | None = None) -> ScenarioResult:
    """Run, write, and finish (unless the audio is left to score elsewhere: `score_speech`
    False, the default in the testbed VM)."""
    from testbed.scenario.finish import finish

    scenario = loaded.scenario
    work = results.new_directory(results_root, scenario.name)
    info = _describe(loaded)
    result = ScenarioResult(work, complete=False)
    capture = scenario.capture
    if capture is not None:
        reads = any(p.profile.reading_classes() for p in loaded.profiles.values())
        capture = capture.model_copy(update={"snaplen": capture.effective_snaplen(reads)})
    try:
        for workload in scenario.workloads:
            workload.prepare(work, progress)
        for repetition in range(1, scenario.repetitions + 1):
            progress(f"repetition {repetition}/{scenario.repetitions}")
            with Experiment(scenario.topology, label="s", progress=progress) as session:
                for phase in scenario.phases:
                    source = phase.profile or ("scheduled" if phase.schedule else "none")
                    progress(f"phase {phase.name} ({phase.duration / 1e9:g} s, profile {source})")
                    result.metrics += run_phase(session, phase, loaded.profiles, scenario.workloads,
                                                repetition, work, scenario.output.traces, progress,
                                                capture)
        result.complete = True
    finally:
        result.speech_pending = bool(scoring.pending(work))
        result.checks = check(scenario.expect, result.metrics, ROW_METRICS if result.speech_pending else ())
        info.update(complete=result.complete, finished=results.timestamp(),
                    speech_pending=result.speech_pending,
                    checks=[c.__dict__ for c in result.checks])
        results.write(work, info, result.metrics)
        if not result.complete and (scenario.output.plots if render is None else render) and result.metrics:
            from testbed.report.render import render as render_report

            render_report(work)  # what ran, for a look at what went wrong
    if score_speech is None:
        score_speech = not os.environ.get("TESTBED_IN_VM")
    if result.speech_pending and not score_speech:
        return result
    return finish(work, scenario.expect, progress, render)
