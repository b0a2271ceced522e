"""A results directory, written so a reader never sees half of one:

    results/<time>-<name>.partial/   while the run goes on (and kept, marked, if it is interrupted)
    results/<time>-<name>/           once it is complete: run.json, metrics.json, metrics.csv,
                                     summary.md, traces/, then plots and report.html

run.json describes the run (versions, kernel, profiles and their hashes, the checks, the
verdict) and the metrics with their units, so a directory renders on its own later.
"""

from __future__ import annotations

import csv
import json
import math
import os
from datetime import UTC, datetime
from pathlib import Path

from testbed.report import captures, counters, reading, webrtc
from testbed.report.rows import ROW_KEYS, check_word, errors

VERDICTS = {"pass": "PASS", "fail": "FAIL", "error": "ERROR", "incomplete": "INCOMPLETE",
            "pending": "PENDING"}


def timestamp() -> str:
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")


def verdict(info: dict) -> str:
    """pass, fail (an expectation failed), error (a workload failed), incomplete (interrupted),
    pending (the calls' audio is not scored yet: `testbed score DIR`)."""
    if not info.get("complete"):
        return "incomplete"
    if info.get("errors"):
        return "error"
    checks = info.get("checks", [])
    if any(check_word(c) == "FAIL" for c in checks):
        return "fail"
    return "pending" if info.get("speech_pending") else "pass"


def new_directory(root: Path, name: str) -> Path:
    """RESULTS/<time>-<name>.partial, made now (a second run in the same second gets -2, -3 ...)."""
    stamp = timestamp()
    for attempt in range(1, 1000):
        suffix = "" if attempt == 1 else f"-{attempt}"
        final = root / f"{stamp}-{name}{suffix}"
        work = final.with_name(final.name + ".partial")
        if not final.exists():
            try:
                work.mkdir(parents=True)
                return work
            except FileExistsError:
                continue
    raise FileExistsError(f"no free results directory name under {root}")


def finish(work: Path) -> Path:
    """Rename the .partial directory to its final name."""
    final = work.with_name(work.name.removesuffix(".partial"))
    work.rename(final)
    return final


def _write_atomically(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def append_rows(path: Path, rows: list[dict]) -> None:
    """Add rows to a results file that is a JSON list (counters.json, captures.json), whole."""
    found = json.loads(path.read_text()) if path.exists() else []
    _write_atomically(path, json.dumps(found + rows, indent=1))


def columns(rows: list[dict]) -> list[str]:
    """Row keys first, then every figure's name, sorted; the error last."""
    figures = sorted({k for row in rows for k in row} - {*ROW_KEYS, "error"})
    return [*ROW_KEYS, *figures, *(["error"] if any("error" in r for r in rows) else [])]


def write(directory: Path, info: dict, rows: list[dict]) -> None:
    """run.json, metrics.json, metrics.csv and summary.md (each replaced whole)."""
    info = {**info, "errors": errors(rows)}
    info["verdict"] = verdict(info)
    info["passed"] = info["verdict"] == "pass"
    _write_atomically(directory / "run.json", json.dumps(info, indent=2, default=str))
    _write_atomically(directory / "metrics.json", json.dumps(rows, indent=2, default=str))
    tmp = directory / "metrics.csv.tmp"
    with tmp.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=columns(rows))
        writer.writeheader()
        writer.writerows(rows)
    os.replace(tmp, directory / "metrics.csv")
    _write_atomically(directory / "summary.md", summary_markdown(info, rows, directory))


def _unit(info: dict, kind: str, metric: str) -> str:
    return info.get("metric_units", {}).get(kind, {}).get(metric, {}).get("unit", "")


def _shown(value: object) -> str:
    if isinstance(value, float):
        return "n/a" if math.isnan(value) else f"{value:.3g}"  # NaN: not measured (as in the terminal)
    return str(value)


def summary_markdown(info: dict, rows: list[dict], directory: Path | None = None) -> str:
    """summary.md; with the results `directory`, also the WebRTC calls call by call."""
    lines = [f"# {info['scenario']}: {info['title']}", ""]
    state = verdict(info)
    if state == "incomplete":
        lines += ["**INCOMPLETE**: the run was interrupted; the figures below cover what ran.", ""]
    if state == "pending":
        lines += ["**PENDING**: the calls' audio is not scored yet; `testbed score` on this directory "
                  "scores it and checks the expectations again.", ""]
    checks = info.get("checks", [])
    held = sum(c["passed"] for c in checks)
    lines += [f"Verdict: **{VERDICTS[state]}** ({held}/{len(checks)} expectations hold). Kernel "
              f"{info['kernel']}{' (testbed VM)' if info.get('in_vm') else ''}.", ""]
    if info.get("errors"):
        lines += ["Workloads that failed (the run is an error whatever the expectations say):", ""]
        lines += [f"- {line}" for line in info["errors"]] + [""]
    if checks:
        lines += ["| phase | expectation | measured | result |", "|---|---|---|---|"]
        for c in checks:
            value = "n/a" if c["value"] is None else f"{c['value']:.3g}"
            lines.append(f"| {c['phase']} | `{c['check']}` | {value} | {check_word(c)} |")
        lines.append("")
    if directory is not None and "definition" in info:
        lines += webrtc.summary_lines(directory, info)
        lines += counters.summary_lines(directory)
        lines += reading.summary_lines(directory)
        lines += captures.summary_lines(directory, info)
    lines += ["| repetition | phase | workload | metrics |", "|---|---|---|---|"]
    for row in rows:
        shown = ", ".join(f"{k} {_shown(v)}{(' ' + u) if (u := _unit(info, row['type'], k)) else ''}"
                          for k, v in row.items() if k not in ROW_KEYS)
        lines.append(f"| {row['repetition']} | {row['phase']} | {row['workload']} | {shown} |")
    lines += ["", "Units: MOS on the 1-5 scale (4.3 and above: excellent; below 2.6: most users "
              "dissatisfied, G.107 Annex B); 0-1 is a share; % a percentage."]
    return "\n".join(lines) + "\n"
