"""What changed between two runs of scenarios: metric by metric, expectation by expectation."""

from __future__ import annotations

import json
import statistics
from dataclasses import dataclass
from pathlib import Path

from testbed.report.render import ReportError


@dataclass(frozen=True)
class Change:
    phase: str
    workload: str
    metric: str
    before: float
    after: float

    @property
    def delta(self) -> float:
        return self.after - self.before


def _means(directory: Path) -> dict[tuple[str, str, str], float]:
    try:
        rows = json.loads((directory / "metrics.json").read_text())
    except FileNotFoundError:
        raise ReportError(f"{directory} is not a results directory (no metrics.json)") from None
    values: dict[tuple[str, str, str], list[float]] = {}
    for row in rows:
        for key, value in row.items():
            if isinstance(value, float) and key != "repetition" and value == value:
                values.setdefault((row["phase"], row["workload"], key), []).append(value)
    return {k: statistics.fmean(v) for k, v in values.items()}


def compare(before: Path, after: Path) -> list[Change]:
    a, b = _means(before), _means(after)
    return [Change(*key, a[key], b[key]) for key in sorted(a.keys() & b.keys())]


def verdicts(directory: Path) -> dict[tuple[str, str], bool]:
    info = json.loads((directory / "run.json").read_text())
    return {(c["phase"], c["check"]): c["passed"] for c in info.get("checks", [])}
