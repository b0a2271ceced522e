from __future__ import annotations

import json
from pathlib import Path

import pytest

from testbed.report.compare import compare, verdicts
from testbed.report.render import ReportError

RUN = {"scenario": "s", "title": "S", "started": "20261123T000000Z", "kernel": "6.1",
       "definition": {"phases": [{"name": "restricted"}], "workloads": []}}


def _results(directory: Path, mos: list[float], passed: bool) -> Path:
    directory.mkdir()
    rows = [{"repetition": i, "phase": "restricted", "workload": "voip", "type": "voip", "mos_cq": m}
            for i, m in enumerate(mos)]
    (directory / "metrics.json").write_text(json.dumps(rows))
    (directory / "run.json").write_text(json.dumps({**RUN, "checks": [
        {"phase": "restricted", "check": "voip.mos_cq < 2.5", "value": sum(mos) / len(mos), "passed": passed}]}))
    return directory


def test_compare_averages_repetitions_and_reports_deltas(tmp_path) -> None:
    a = _results(tmp_path / "a", [2.0, 3.0], passed=False)
    b = _results(tmp_path / "b", [1.5], passed=True)
    (change,) = compare(a, b)
    assert (change.phase, change.workload, change.metric) == ("restricted", "voip", "mos_cq")
    assert change.before == pytest.approx(2.5) and change.delta == pytest.approx(-1.0)
    assert verdicts(a) != verdicts(b)


def test_not_a_results_directory(tmp_path) -> None:
    with pytest.raises(ReportError, match="not a results directory"):
        compare(tmp_path, tmp_path)
