"""Run a scenario: topology up, then per phase apply its profile (or its schedule) and run
every workload at once; repeat; check the expectations; write the results directory.

Results go to RESULTS/<timestamp>-<name>.partial and are renamed when complete; an
interrupted run keeps its directory, marked incomplete in run.json and summary.md.
"""

from __future__ import annotations

import csv
import json
import math
import operator
import os
import platform
import statistics
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from testbed.compile.compiler import Target, compile_profile
from testbed.kernel import apply as engine
from testbed.kernel import netns
from testbed.measure.call import stream_metrics
from testbed.measure.emodel import CODECS
from testbed.measure.trace import save_traces
from testbed.scenario.loader import LoadedScenario
from testbed.scenario.model import CENSOR, Chat, Command, Download, Iperf, Phase, Probe, Voip
from testbed.topology import build
from testbed.topology.model import TopologyState
from testbed.traffic.calls import run_calls
from testbed.traffic.chat import run_chat
from testbed.traffic.download import run_download
from testbed.traffic.iperf import run_iperf
from testbed.traffic.probe import run_probe

OPS = {"<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge, "==": operator.eq,
       "!=": operator.ne}
Progress = Callable[[str], None]


@dataclass
class CheckResult:
    phase: str
    check: str
    value: float | None
    passed: bool


@dataclass
class ScenarioResult:
    directory: Path
    complete: bool
    metrics: list[dict] = field(default_factory=list)  # one row per repetition, phase, workload
    checks: list[CheckResult] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return self.complete and all(c.passed for c in self.checks)


def _voip(state: TopologyState, w: Voip, seconds: float, traces: Path | None) -> dict[str, float]:
    run = run_calls(state, w.codec, calls=w.calls, seconds=seconds, port=w.port, framing=w.framing, dtx=w.dtx,
                    caller=w.caller, callee=w.callee)
    if traces is not None:
        save_traces(traces, run.traces)
    metrics = [stream_metrics(t, CODECS[w.codec]) for t in run.traces]
    sent = sum(t.sent.size for t in run.traces)
    received = sum(len({int(s) for s in t.received["seq"]}) for t in run.traces)
    mean = statistics.fmean
    delays = [m.delay.mean_ms for m in metrics if not math.isnan(m.delay.mean_ms)]
    return {
        "mos_cq": mean(m.quality.mos_cq for m in metrics), "mos_lq": mean(m.quality.mos_lq for m in metrics),
        "loss": mean(m.effective_loss.loss_percent for m in metrics),
        "network_loss": mean(m.network_loss.loss_percent for m in metrics),
        "burst_r": mean(m.network_loss.burst_r for m in metrics),
        "delay": mean(delays) if delays else float("nan"),
        "jitter": mean(m.jitter_ms for m in metrics), "delivered": received / sent if sent else 0.0,
    }


def _chat(state: TopologyState, w: Chat, seconds: float) -> dict[str, float]:
    interval = w.interval / 1e9
    result = run_chat(state, count=max(1, int(seconds / interval)), interval_s=interval, size=w.size,
                      deadline_s=w.deadline / 1e9, port=w.port, sender=w.sender, receiver=w.receiver)
    return {"delivered": result.delivery_ratio, "latency_p50": result.latency_p50_ms,
            "latency_p95": result.latency_p95_ms}


def _iperf(state: TopologyState, w: Iperf, seconds: float) -> dict[str, float]:
    result = run_iperf(state.node(w.client).netns, state.node(w.server).netns, state.node(w.server).address(),
                       seconds, udp_rate_bps=w.rate, length=w.length, reverse=w.reverse, port=w.port)
    return {"mbit": result.received_bps / 1e6, "loss": result.lost_percent or 0.0,
            "jitter": result.jitter_ms or 0.0}


def _download(state: TopologyState, w: Download, seconds: float) -> dict[str, float]:
    result = run_download(state, w.client, w.server, w.direction, w.size or 0, seconds,
                          w.idle_timeout / 1e9, w.port)
    return {"connected": float(result.connected), "bytes": float(result.bytes),
            "stalled": float(result.stalled), "kbit": result.kbit, "kbit_steady": result.kbit_steady}


def _probe(state: TopologyState, w: Probe, seconds: float) -> dict[str, float]:
    first = (w.first.size, w.first.prefix) if w.first else None
    result = run_probe(state, w.sender, w.receiver, w.port, w.src_port, w.count, w.interval / 1e9, w.size,
                       w.prefix, first)
    return {"received": float(result.received), "delivered": result.delivered,
            "first_received": float(result.first_received)}


def _command(state: TopologyState, w: Command, seconds: float, log: Path) -> dict[str, float]:
    timeout = w.timeout / 1e9 if w.timeout else seconds
    with log.open("w") as out:
        try:
            code = subprocess.run(netns.command(state.node(w.node).netns, w.run), stdout=out,
                                  stderr=subprocess.STDOUT, timeout=timeout).returncode
        except subprocess.TimeoutExpired:
            code = -1  # still running at the end of the phase
        except OSError as exc:
            out.write(f"cannot run {w.run[0]}: {exc}\n")
            code = 127
    return {"exit_code": float(code)}


def _apply(state: TopologyState, loaded: LoadedScenario, profile: str | None) -> None:
    target = Target(state.devices("outside"), state.devices("inside"))
    if profile is None:
        devices = [*target.uplink_devices, *target.downlink_devices]
        engine.clear_devices(state.censor.netns, devices, target.table)
    else:
        engine.apply(compile_profile(loaded.profiles[profile], target), state.censor.netns)


def _run_phase(state: TopologyState, loaded: LoadedScenario, phase: Phase, rep: int, out: Path,
               progress: Progress) -> list[dict]:
    seconds = phase.duration / 1e9
    stop = threading.Event()
    started = time.perf_counter()
    if phase.schedule:
        _apply(state, loaded, phase.schedule[0].profile)

        def follow_schedule() -> None:
            start = time.monotonic()
            for step in phase.schedule[1:]:
                if stop.wait(max(0.0, start + step.at / 1e9 - time.monotonic())):
                    return
                progress(f"  {phase.name}: +{step.at / 1e9:g} s, profile {step.profile or 'none'}")
                _apply(state, loaded, step.profile)

        scheduler = threading.Thread(target=follow_schedule, daemon=True)
        scheduler.start()
    else:
        _apply(state, loaded, phase.profile)
    apply_seconds = time.perf_counter() - started
    results: dict[str, dict[str, float]] = {}
    errors: dict[str, BaseException] = {}

    def run(workload) -> None:
        try:
            stem = out / "traces" / f"rep{rep}-{phase.name}-{workload.name}"
            if isinstance(workload, Voip):
                trace = stem.with_suffix(".npz") if loaded.scenario.output.traces else None
                results[workload.name] = _voip(state, workload, seconds, trace)
            elif isinstance(workload, Chat):
                results[workload.name] = _chat(state, workload, seconds)
            elif isinstance(workload, Iperf):
                results[workload.name] = _iperf(state, workload, seconds)
            elif isinstance(workload, Download):
                results[workload.name] = _download(state, workload, seconds)
            elif isinstance(workload, Probe):
                results[workload.name] = _probe(state, workload, seconds)
            else:
                results[workload.name] = _command(state, workload, seconds, stem.with_suffix(".log"))
        except Exception as exc:  # recorded, reported, and the run goes on
            errors[workload.name] = exc

    active = [w for w in loaded.scenario.workloads if w.phases is None or phase.name in w.phases]
    threads = [threading.Thread(target=run, args=(w,), daemon=True) for w in active]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    stop.set()
    rows = [{"repetition": rep, "phase": phase.name, "workload": CENSOR, "type": CENSOR,
             "apply_seconds": apply_seconds}]
    for workload in active:
        row = {"repetition": rep, "phase": phase.name, "workload": workload.name, "type": workload.type}
        if workload.name in errors:
            row["error"] = f"{type(errors[workload.name]).__name__}: {errors[workload.name]}"
        row.update(results.get(workload.name, {}))
        rows.append(row)
    return rows


def _check(loaded: LoadedScenario, rows: list[dict]) -> list[CheckResult]:
    checks = []
    for expectation in loaded.scenario.expect:
        workload, metric, op, threshold = expectation.parts
        values = [r[metric] for r in rows if r["phase"] == expectation.phase and r["workload"] == workload
                  and isinstance(r.get(metric), float) and r[metric] == r[metric]]
        value = statistics.fmean(values) if values else None
        checks.append(CheckResult(expectation.phase, expectation.check, value,
                                  value is not None and OPS[op](value, threshold)))
    return checks


def _versions() -> dict[str, str]:
    from importlib.metadata import version

    versions = {"testbed": version("testbed") if _installed("testbed") else "source"}
    for package in ("pyroute2", "pydantic", "numpy"):
        versions[package] = version(package) if _installed(package) else "?"
    for tool, argv in (("iperf3", ["iperf3", "--version"]), ("nft", ["nft", "--version"]),
                       ("tc", ["tc", "-V"])):
        try:
            versions[tool] = subprocess.run(argv, capture_output=True, text=True).stdout.splitlines()[0]
        except (OSError, IndexError):
            versions[tool] = "?"
    return versions


def _installed(package: str) -> bool:
    from importlib.metadata import PackageNotFoundError, version

    try:
        version(package)
        return True
    except PackageNotFoundError:
        return False


def run_scenario(loaded: LoadedScenario, results_root: Path,
                 progress: Progress = lambda _: None) -> ScenarioResult:
    scenario = loaded.scenario
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    final = results_root / f"{stamp}-{scenario.name}"
    work = final.with_name(final.name + ".partial")
    (work / "traces").mkdir(parents=True)
    run_id = f"sc{os.getpid() % 100000}"
    info = {"scenario": scenario.name, "title": scenario.title, "source": str(loaded.source),
            "started": stamp, "complete": False, "kernel": platform.release(), "host": platform.node(),
            "in_vm": bool(os.environ.get("TESTBED_IN_VM")), "versions": _versions(),
            "profiles": {name: {"name": p.profile.name, "sha256": p.sha256,
                                "confidence": p.profile.confidence} for name, p in loaded.profiles.items()},
            "definition": scenario.model_dump(mode="json", by_alias=True)}
    result = ScenarioResult(work, complete=False)
    try:
        for rep in range(scenario.repetitions):
            progress(f"repetition {rep + 1}/{scenario.repetitions}: bringing up the topology")
            state = build.up(scenario.topology, run_id)
            try:
                for phase in scenario.phases:
                    progress(f"phase {phase.name} ({phase.duration / 1e9:g} s, "
                             f"profile {phase.profile or ('scheduled' if phase.schedule else 'none')})")
                    result.metrics += _run_phase(state, loaded, phase, rep, work, progress)
            finally:
                build.down(run_id)
        result.complete = True
    finally:
        result.checks = _check(loaded, result.metrics)
        info["complete"] = result.complete
        info["finished"] = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        _write(work, info, result)
        if loaded.scenario.output.plots and result.metrics:
            from testbed.report.render import render

            progress("rendering plots and report.html")
            render(work)
        if result.complete:
            work.rename(final)
            result.directory = final
    return result


def _write(directory: Path, info: dict, result: ScenarioResult) -> None:
    info["checks"] = [c.__dict__ for c in result.checks]
    info["passed"] = result.passed
    (directory / "run.json").write_text(json.dumps(info, indent=2, default=str))
    (directory / "metrics.json").write_text(json.dumps(result.metrics, indent=2, default=str))
    first = ["repetition", "phase", "workload", "type"]
    columns = sorted({k for row in result.metrics for k in row},
                     key=lambda k: (first.index(k) if k in first else len(first), k))
    with (directory / "metrics.csv").open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=columns)
        writer.writeheader()
        writer.writerows(result.metrics)
    (directory / "summary.md").write_text(summary_markdown(info, result))


def summary_markdown(info: dict, result: ScenarioResult) -> str:
    lines = [f"# {info['scenario']}: {info['title']}", ""]
    if not result.complete:
        lines += ["**INCOMPLETE**: the run was interrupted; the figures below cover what ran.", ""]
    verdict = "PASS" if result.passed else "FAIL"
    lines += [f"Verdict: **{verdict}** ({sum(c.passed for c in result.checks)}/{len(result.checks)} "
              f"expectations hold). Kernel {info['kernel']}{' (testbed VM)' if info['in_vm'] else ''}.", ""]
    if result.checks:
        lines += ["| phase | expectation | measured | result |", "|---|---|---|---|"]
        for c in result.checks:
            value = "n/a" if c.value is None else f"{c.value:.3g}"
            lines.append(f"| {c.phase} | `{c.check}` | {value} | {'pass' if c.passed else 'FAIL'} |")
        lines.append("")
    lines += ["| repetition | phase | workload | metrics |", "|---|---|---|---|"]
    for row in result.metrics:
        shown = ", ".join(f"{k} {v:.3g}" if isinstance(v, float) else f"{k} {v}" for k, v in row.items()
                          if k not in ("repetition", "phase", "workload", "type"))
        lines.append(f"| {row['repetition'] + 1} | {row['phase']} | {row['workload']} | {shown} |")
    return "\n".join(lines) + "\n"
