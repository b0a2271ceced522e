"""Rows of measured figures, and their means: pure functions, no I/O.

A row is one repetition, phase and workload: {"repetition": 1, "phase": "restricted",
"workload": "voip", "type": "voip", "mos_cq": 2.1, ...}, plus "error" when the workload
failed. Figures are averaged over repetitions, skipping what was not measured (NaN).
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable

ROW_KEYS = ("repetition", "phase", "workload", "type")  # what identifies a row; the rest is figures


def check_word(check: dict) -> str:
    """An expectation's result (a check of run.json, or CheckResult.__dict__): pass, pending
    (its metric is the calls' audio, not scored yet) or FAIL."""
    return "pass" if check["passed"] else "pending" if check.get("pending") else "FAIL"


def is_figure(key: str, value: object) -> bool:
    return (key not in ROW_KEYS and not isinstance(value, bool) and isinstance(value, float | int)
            and math.isfinite(value))


def metric_values(rows: Iterable[dict], phase: str, workload: str, metric: str) -> list[float]:
    """The measured values of one metric of one workload in one phase, one per repetition."""
    return [float(r[metric]) for r in rows
            if r["phase"] == phase and r["workload"] == workload and is_figure(metric, r.get(metric))]


def mean_metric(rows: Iterable[dict], phase: str, workload: str, metric: str) -> float | None:
    values = metric_values(rows, phase, workload, metric)
    return statistics.fmean(values) if values else None


def means(rows: Iterable[dict]) -> dict[tuple[str, str, str], float]:
    """(phase, workload, metric) -> the mean over repetitions, for every figure measured."""
    values: dict[tuple[str, str, str], list[float]] = {}
    for row in rows:
        for key, value in row.items():
            if is_figure(key, value):
                values.setdefault((row["phase"], row["workload"], key), []).append(float(value))
    return {k: statistics.fmean(v) for k, v in values.items()}


def errors(rows: Iterable[dict]) -> list[str]:
    """One line per failed workload: `repetition 1, restricted, voip: CallError: ...`."""
    return [f"repetition {r['repetition']}, {r['phase']}, {r['workload']}: {r['error']}" for r in rows
            if r.get("error")]
