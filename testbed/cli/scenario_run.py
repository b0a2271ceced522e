"""Running a loaded scenario from the command line, here or in the testbed VM, and reporting it:
shared by `testbed run`, `testbed calls --stack webrtc` and `testbed score`.

A run in the VM that leaves its calls' audio to score hands its directory back through a
file (HANDOFF_ENV); the host scores it, checks the expectations and reports.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable
from pathlib import Path

import click

from testbed.cli.common import argv_of, features_of
from testbed.cli.output import Output, number
from testbed.errors import CheckFailed, WorkloadFailed
from testbed.vm import dispatch

HANDOFF_ENV = "TESTBED_HANDOFF"

Reporter = Callable[[Output, str, str, object], int]  # out, scenario name, title, ScenarioResult


def execute(ctx: click.Context, loaded, results: Path, where: str, out: Output,
            report: Reporter | None = None, inputs: Iterable[Path] | None = None) -> int:
    """Run `loaded` where `where` says and report it (report_run unless `report`); the exit code.
    `inputs`: the files the VM needs, when not the scenario's own (loaded.files)."""
    report = report or report_run
    if dispatch.choose(where, lambda: features_of(*loaded.profiles.values()), out.progress) == "vm":
        return _run_in_vm(ctx, loaded, results, out, report, loaded.files if inputs is None else inputs)
    from testbed.scenario.runner import run_scenario

    result = run_scenario(loaded, results, progress=out.progress)
    if result.speech_pending:  # in the VM: the host scores the audio, checks and reports
        handoff = os.environ.get(HANDOFF_ENV)
        if handoff:
            Path(handoff).write_text(json.dumps({"directory": str(result.directory)}))
            out.progress("the calls' audio is scored on the host")
            return 0
        out.note(f"note: the calls' audio is not scored yet: `testbed score {result.directory}` scores it")
    return report(out, loaded.scenario.name, loaded.scenario.title, result)


def _run_in_vm(ctx: click.Context, loaded, results: Path, out: Output, report: Reporter,
               inputs: Iterable[Path]) -> int:
    """The run goes to the VM; if it leaves its calls' audio to score, score it here and report."""
    results.mkdir(parents=True, exist_ok=True)
    handoff = results / f".handoff-{os.getpid()}-{os.urandom(4).hex()}.json"
    try:
        code = dispatch.forward(argv_of(ctx), inputs=inputs, outputs=[results], progress=out.progress,
                                env={HANDOFF_ENV: str(handoff.resolve())})
        if not handoff.exists():
            return code
        directory = Path(json.loads(handoff.read_text())["directory"])
    finally:
        handoff.unlink(missing_ok=True)
    from testbed.scenario.finish import finish

    result = finish(directory, loaded.scenario.expect, out.progress)
    return report(out, loaded.scenario.name, loaded.scenario.title, result)


def report_run(out: Output, name: str, title: str, result) -> int:
    """The expectations' table (or JSON) of a finished run; the exit code by its verdict."""
    from testbed.report.rows import check_word

    if out.as_json:
        out.json({"scenario": name, "verdict": result.verdict,
                  "directory": str(result.directory), "checks": [c.__dict__ for c in result.checks],
                  "errors": result.errors})
    else:
        out.table(["phase", "expectation", "measured", "result"],
                  [[c.phase, c.check, number(c.value), check_word(c.__dict__)] for c in result.checks],
                  title=f"{name}: {title}")
        failures(out, result)
        speech_table(out, result.directory)
        out.line(f"results: {result.directory}")
    return verdict_code(result)


def failures(out: Output, result) -> None:
    for error in result.errors:
        out.note(f"workload failed: {error}")


def verdict_code(result) -> int:
    """0, or the error of a run whose workload failed (exit 4) or whose expectations did not hold."""
    from testbed.report.rows import check_word

    if result.errors:
        raise WorkloadFailed(f"{len(result.errors)} workload run(s) failed; see "
                             f"{result.directory}/summary.md")
    failed = sum(check_word(c.__dict__) == "FAIL" for c in result.checks)
    if failed:
        raise CheckFailed(f"{failed} of {len(result.checks)} expectations failed")
    return 0


def speech_table(out: Output, directory: Path) -> None:
    """Per phase and workload, the calls' speech scores (means over the scored directions)."""
    from testbed.report.speech import not_asked_note, phase_scores, score_text

    rows = phase_scores(directory)
    listen = " ".join(filter(None, [not_asked_note(rows), f"Listen: testbed listen {directory}"]))
    if rows:
        out.table(["phase", "workload", "PESQ", "ViSQOL", "DNSMOS", "PLCMOS", "STOI", "heard"],
                  [[r["phase"], r["workload"], *(score_text(r, k) for k in
                                                 ("pesq", "visqol", "dnsmos", "plcmos", "stoi", "heard"))]
                   for r in rows],
                  title="Speech, as received (scored calls)",
                  caption="PESQ MOS-LQO 1-4.6 (P.862; wideband for Opus); ViSQOL MOS-LQO 1-5; DNSMOS and "
                          "PLCMOS 1-5 (no reference); STOI 0-1; heard: share of speech frames decoded. "
                          + listen)
