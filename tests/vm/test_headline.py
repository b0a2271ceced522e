"""The headline scenario, end to end inside the VM: its expectations hold (exit 0)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_ru_2025_calls_scenario_passes(tmp_path) -> None:
    result = subprocess.run([sys.executable, "-m", "testbed.cli", "run", "ru-2025-calls", "--results",
                             str(tmp_path)], capture_output=True, text=True, timeout=900, cwd=ROOT)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    (directory,) = tmp_path.iterdir()
    info = json.loads((directory / "run.json").read_text())
    assert info["complete"] and info["passed"] and info["in_vm"]
    rows = {(r["phase"], r["workload"]): r for r in json.loads((directory / "metrics.json").read_text())}
    assert rows[("restricted", "voip")]["mos_cq"] < rows[("baseline", "voip")]["mos_cq"] - 1.5
    assert rows[("lifted", "voip")]["mos_cq"] > 4.0
    assert rows[("restricted", "chat")]["delivered"] == 1.0
