"""One phase of an experiment: put its profile on the censor (or follow its schedule), run
its workloads at once for its duration, and turn what they measured into rows."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from testbed.errors import TestbedError, WorkloadFailed
from testbed.profile.loader import LoadedProfile
from testbed.report import counters as counters_report
from testbed.report import reading as reading_report
from testbed.report import results
from testbed.scenario.capture import capturing
from testbed.scenario.model import Capture, Phase
from testbed.scenario.session import Experiment
from testbed.scenario.workloads import CENSOR, Metrics, PhaseContext, WorkloadSpec

Progress = Callable[[str], None]


def describe_error(exc: BaseException) -> str:
    """What a failed workload row says: our own errors are sentences; anything else is a bug
    and keeps its type's name."""
    text = str(exc).strip() or "(no message)"
    return text if isinstance(exc, TestbedError) else f"{type(exc).__name__}: {text}"


def run_workloads(workloads: Sequence[WorkloadSpec], ctx: PhaseContext) -> dict[str, Metrics | BaseException]:
    """Every workload at once, each in its own thread; a failure is kept, not raised, so
    the others finish and the run can report them all."""
    results: dict[str, Metrics | BaseException] = {}

    def run(workload: WorkloadSpec) -> None:
        try:
            results[workload.name] = workload.run_phase(ctx)
        except Exception as exc:  # kept and reported: the run goes on
            results[workload.name] = exc

    threads = [threading.Thread(target=run, args=(w,), daemon=True, name=f"workload-{w.name}")
               for w in workloads]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


Outcomes = dict[str, Metrics | BaseException]  # per workload: its metrics, or why it failed


def run_with_servers(workloads: Sequence[WorkloadSpec], ctx: PhaseContext) -> Outcomes:
    """The phase's servers started and ready first, one after another; then the other workloads
    at once; then the servers stopped. A server that is not ready fails the phase: the others
    do not run (they would fail against it)."""
    servers = [w for w in workloads if w.serves()]
    others = [w for w in workloads if not w.serves()]
    results: Outcomes = {}
    served: dict[str, dict] = {}
    with contextlib.ExitStack() as stack:
        for server in servers:
            try:
                served[server.name] = stack.enter_context(server.serving(ctx))
            except Exception as exc:  # kept and reported, as a workload's failure is
                results[server.name] = exc
                break
        if len(served) == len(servers):
            results.update(run_workloads(others, ctx))
        else:
            failed = next(iter(results))
            for workload in [*others, *(s for s in servers if s.name not in served and s.name != failed)]:
                results[workload.name] = WorkloadFailed(f"not run: server {failed!r} was not ready")
    results.update(served)  # filled as each server stopped
    return results


def rows_of(results: dict[str, Metrics | BaseException], workloads: Sequence[WorkloadSpec],
            base: dict) -> list[dict]:
    rows = []
    for workload in workloads:
        row = {**base, "workload": workload.name, "type": workload.type}
        outcome = results.get(workload.name)
        if isinstance(outcome, BaseException):
            row["error"] = describe_error(outcome)
        elif outcome is not None:
            row.update(outcome)
        rows.append(row)
    return rows


def run_phase(session: Experiment, phase: Phase, profiles: dict[str, LoadedProfile],
              workloads: Sequence[WorkloadSpec], repetition: int, directory: Path, keep_traces: bool = True,
              progress: Progress = lambda _: None, capture: Capture | None = None) -> list[dict]:
    """Rows for the censor and every workload of `phase` (repetition counts from 1)."""
    seconds = phase.duration / 1e9
    stop = threading.Event()
    started = time.perf_counter()
    scheduler = None
    if phase.schedule:
        first = phase.schedule[0].profile
        session.apply(profiles[first] if first else None)
        counted_before = session.counts()

        def follow_schedule() -> None:
            start = time.monotonic()
            for step in phase.schedule[1:]:
                if stop.wait(max(0.0, start + step.at / 1e9 - time.monotonic())):
                    return
                progress(f"  {phase.name}: +{step.at / 1e9:g} s, profile {step.profile or 'none'}")
                session.apply(profiles[step.profile] if step.profile else None)

        scheduler = threading.Thread(target=follow_schedule, daemon=True, name="schedule")
        scheduler.start()
    else:
        session.apply(profiles[phase.profile] if phase.profile else None)
        counted_before = session.counts()
    apply_seconds = time.perf_counter() - started
    active = [w for w in workloads if w.phases is None or phase.name in w.phases]
    ctx = PhaseContext(session, phase.name, repetition, seconds, directory, keep_traces)
    try:
        with capturing(session.state, capture, directory, repetition, phase.name):
            results = run_with_servers(active, ctx)
    finally:
        stop.set()
        if scheduler is not None:
            scheduler.join()
    base = {"repetition": repetition, "phase": phase.name}
    named = [phase.profile, *(step.profile for step in phase.schedule or [])]
    used = {profiles[name].profile.name for name in named if name}
    record_counts(directory, base, used, counted_before, session.counts())
    record_decisions(directory, base, session)
    censor = {**base, "workload": CENSOR, "type": CENSOR, "apply_seconds": apply_seconds}
    return [censor, *rows_of(results, active, base)]


def record_decisions(directory: Path, base: dict, session: Experiment) -> None:
    """Add the flows the censor's reader decided during the phase to reader.json; then fail
    the run (exit 4) if the reader died."""
    decided = session.decisions()
    if decided:
        results.append_rows(directory / reading_report.READER_FILE, [{**base, **d} for d in decided])
    session.check_reader()


def record_counts(directory: Path, base: dict, used: set[str], before: dict, after: dict) -> None:
    """Add what each class of the profiles the phase used did during it to counters.json."""
    results.append_rows(directory / counters_report.COUNTERS_FILE, [
        {**base, "profile": key[0], **(counted.minus(before[key]) if key in before else counted).as_dict()}
        for key, counted in after.items() if key[0] in used])
