"""What changed between two runs of scenarios: metric by metric (means over repetitions),
and expectation by expectation."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from testbed.report.render import load
from testbed.report.rows import check_word, means


@dataclass(frozen=True)
class Change:
    phase: str
    workload: str
    metric: str
    before: float | None  # None: not measured in that run
    after: float | None

    @property
    def delta(self) -> float | None:
        return None if self.before is None or self.after is None else self.after - self.before

    @property
    def changed(self) -> bool:
        """As shown (three significant digits), the two runs differ."""
        def shown(value: float | None) -> str:
            return "-" if value is None else f"{value:.3g}"

        return shown(self.before) != shown(self.after)


def compare(before: Path, after: Path, everything: bool = False) -> list[Change]:
    """Metrics that changed (or, with `everything`, all of them), sorted by phase, workload, metric."""
    a, b = means(load(before)[1]), means(load(after)[1])
    changes = [Change(*key, a.get(key), b.get(key)) for key in sorted(a.keys() | b.keys())]
    return changes if everything else [c for c in changes if c.changed]


def verdicts(directory: Path) -> dict[tuple[str, str], str]:
    """Each expectation's result: pass, pending or FAIL."""
    info, _ = load(directory)
    return {(c["phase"], c["check"]): check_word(c) for c in info.get("checks", [])}
