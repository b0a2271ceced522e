"""The pure shell: expectations against rows, means over repetitions, and results files."""

from __future__ import annotations

import csv
import json
import math

import pytest

from testbed.report import results
from testbed.report.rows import errors, mean_metric, means
from testbed.scenario.checks import check
from testbed.scenario.model import Expectation


def _rows() -> list[dict]:
    return [
        {"repetition": 1, "phase": "restricted", "workload": "voip", "type": "voip", "mos_cq": 2.0, "delay": 40.0},
        {"repetition": 2, "phase": "restricted", "workload": "voip", "type": "voip", "mos_cq": 3.0,
         "delay": math.nan},
        {"repetition": 1, "phase": "restricted", "workload": "chat", "type": "chat", "delivered": 1.0},
        {"repetition": 2, "phase": "restricted", "workload": "chat", "type": "chat", "error": "CallError: boom"},
        {"repetition": 1, "phase": "baseline", "workload": "censor", "type": "censor", "apply_seconds": 0.1},
    ]


def test_means_skip_what_was_not_measured() -> None:
    rows = _rows()
    assert mean_metric(rows, "restricted", "voip", "mos_cq") == pytest.approx(2.5)
    assert mean_metric(rows, "restricted", "voip", "delay") == pytest.approx(40.0)  # NaN left out
    assert mean_metric(rows, "restricted", "voip", "jitter") is None
    table = means(rows)
    assert table[("restricted", "chat", "delivered")] == 1.0
    assert ("restricted", "voip", "repetition") not in table  # row keys are not figures


def test_expectations_are_checked_against_the_mean() -> None:
    expectations = [Expectation(phase="restricted", check="voip.mos_cq < 2.6"),
                    Expectation(phase="restricted", check="voip.mos_cq < 2.4"),
                    Expectation(phase="restricted", check="voip.jitter < 5")]
    passed, failed, missing = check(expectations, _rows())
    assert passed.passed and passed.value == pytest.approx(2.5)
    assert not failed.passed
    assert missing.value is None and not missing.passed  # nothing measured never passes


def test_a_failed_workload_makes_the_run_an_error_whatever_the_checks() -> None:
    assert errors(_rows()) == ["repetition 2, restricted, chat: CallError: boom"]
    info = {"complete": True, "errors": errors(_rows()), "checks": [{"passed": True}]}
    assert results.verdict(info) == "error"
    assert results.verdict({**info, "errors": []}) == "pass"
    assert results.verdict({**info, "errors": [], "checks": [{"passed": False}]}) == "fail"
    assert results.verdict({**info, "complete": False}) == "incomplete"


def test_results_files_number_repetitions_alike_and_carry_units(tmp_path) -> None:
    work = results.new_directory(tmp_path, "demo")
    assert work.name.endswith("-demo.partial")
    info = {"scenario": "demo", "title": "Demo", "kernel": "6.1", "complete": True,
            "checks": [{"phase": "restricted", "check": "voip.mos_cq < 2.6", "value": 2.5, "passed": True}],
            "metric_units": {"voip": {"mos_cq": {"unit": "MOS 1-5"}, "delay": {"unit": "ms"}}}}
    results.write(work, info, _rows())
    saved = json.loads((work / "run.json").read_text())
    assert saved["verdict"] == "error" and saved["passed"] is False
    with (work / "metrics.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert [r["repetition"] for r in rows] == ["1", "2", "1", "2", "1"]
    assert list(rows[0])[:4] == ["repetition", "phase", "workload", "type"] and list(rows[0])[-1] == "error"
    summary = (work / "summary.md").read_text()
    assert "| 2 | restricted | voip | mos_cq 3 MOS 1-5, delay n/a ms |" in summary
    assert "Verdict: **ERROR**" in summary and "MOS on the 1-5 scale" in summary
    final = results.finish(work)
    assert final.name.endswith("-demo") and final.is_dir()
    second = results.new_directory(tmp_path, "demo")  # the same second: a name of its own
    assert second != work and second.name.endswith(".partial")
