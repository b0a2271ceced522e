"""Expectations against measured rows (testbed/report/rows.py): pure, no I/O. Each is
checked against the mean of its metric over the repetitions."""

from __future__ import annotations

import operator
from collections.abc import Iterable
from dataclasses import dataclass

from testbed.report.rows import mean_metric
from testbed.scenario.model import Expectation

OPS = {"<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge, "==": operator.eq,
       "!=": operator.ne}


@dataclass(frozen=True)
class CheckResult:
    phase: str
    check: str
    value: float | None  # the mean over repetitions; None when nothing was measured
    passed: bool
    pending: bool = False  # its metric is not measured yet (the calls' audio waits to be scored)


def check(expectations: Iterable[Expectation], rows: list[dict],
          pending: Iterable[str] = ()) -> list[CheckResult]:
    """`pending`: metrics still to come; an expectation on one of them is pending, not failed."""
    waiting = set(pending)
    results = []
    for expectation in expectations:
        workload, metric, op, threshold = expectation.parts
        value = mean_metric(rows, expectation.phase, workload, metric)
        results.append(CheckResult(expectation.phase, expectation.check, value,
                                   value is not None and OPS[op](value, threshold),
                                   value is None and metric in waiting))
    return results
