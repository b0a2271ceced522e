"""Finish a written results directory: score the calls' audio that waits to be scored,
check the expectations against the completed rows, render the report, and give the
directory its final name.

The same stage ends a local run, ends a run in the testbed VM on the host (the emulated
CPU is too slow for the speech models), and is `testbed score DIR` for a directory left
pending.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path

from testbed.errors import InputError
from testbed.report import results
from testbed.report.render import load
from testbed.scenario import scoring
from testbed.scenario.checks import check
from testbed.scenario.model import Expectation, Output
from testbed.scenario.runner import ScenarioResult
from testbed.speech.scores import NAMES as SCORE_NAMES

Progress = Callable[[str], None]


def expectations_of(info: dict, file: str = "run.json") -> list[Expectation]:
    """The expectations a results directory was run with (from its run.json)."""
    try:
        return [Expectation.model_validate(e) for e in info["definition"]["expect"]]
    except (KeyError, TypeError, ValueError) as exc:
        raise InputError.single(f"does not hold the scenario's expectations ({exc})", file) from None


def _output_of(info: dict, file: str) -> Output:
    try:
        return Output.model_validate(info["definition"].get("output", {}))
    except ValueError as exc:
        raise InputError.single(f"does not hold the scenario's output settings ({exc})", file) from None


def finish(work: Path, expectations: Iterable[Expectation] | None = None, progress: Progress = lambda _: None,
           render: bool | None = None, scores: tuple[str, ...] | None = None) -> ScenarioResult:
    """`scores`: the speech scores to compute instead of those each workload asked for
    (refused, exit 2, when an expectation checks one it leaves out)."""
    info, rows = load(work)
    if expectations is None:
        expectations = expectations_of(info, str(work / "run.json"))
    expectations = list(expectations)
    if scoring.pending(work):
        if scores is not None:
            for expectation in expectations:
                if expectation.parts[1] in SCORE_NAMES and expectation.parts[1] not in scores:
                    raise InputError.single(f"--scores {','.join(scores)} leaves out {expectation.parts[1]}, "
                                            f"which the expectation {expectation.check!r} "
                                            f"({expectation.phase}) checks")
        asked = "the speech scores each workload asked for" if scores is None else ", ".join(scores)
        progress(f"scoring the calls' audio ({asked})")
        scoring.score_pending(work, rows, progress, persist=lambda saved: results.write(work, info, saved),
                              scores=scores)
    checks = check(expectations, rows)
    output = _output_of(info, str(work / "run.json"))
    if not output.traces:
        scoring.drop_inputs(work)  # kept only to be scored: `output: {traces: false}` asked for none
    info.update(speech_pending=False, checks=[c.__dict__ for c in checks])
    results.write(work, info, rows)
    plots = output.plots if render is None else render
    if plots and rows:
        from testbed.report.render import render as render_report

        progress("rendering plots and report.html")
        render_report(work)
    directory = work
    if info.get("complete") and work.name.endswith(".partial"):
        directory = results.finish(work)
    return ScenarioResult(directory, bool(info.get("complete")), rows, checks)
