"""report.html's Listen section: players for a bounded number of call directions per phase
and workload (a scenario may score hundreds), the rest named; scores not asked for shown as -."""

from __future__ import annotations

import json
import math
import re

import numpy as np

from testbed.report import speech as listen


def test_the_page_plays_a_few_directions_per_phase_and_names_the_rest(tmp_path) -> None:
    import soundfile

    (tmp_path / "audio").mkdir()
    noise = (np.random.default_rng(3).normal(0, 0.1, 16000) * 32767).astype(np.int16)
    soundfile.write(str(tmp_path / "audio" / "a.flac"), noise, 16000, format="FLAC")
    scores = {"pesq": 2.0, "visqol": math.nan, "dnsmos": math.nan, "plcmos": 2.5, "stoi": 0.8}
    entry = {"repetition": 1, "direction": "uplink", "audio": "audio/a.flac", "reference": "audio/a.flac",
             "heard": 0.9, "scores": scores, "fates": "p" * 50, "frame_ms": 20, "codec": "g711",
             "source": "en-f", "counts": {"played": 50}}
    many = listen.EMBEDDED + 2
    found = [{**entry, "phase": "restricted", "workload": "voip", "call": k} for k in range(many)]
    found.append({**entry, "phase": "baseline", "workload": "voip", "call": 0})
    (tmp_path / "speech.json").write_text(json.dumps(found))
    page = listen.section_html(tmp_path)
    assert page.count("<audio") == 2 * (listen.EMBEDDED + 1)  # said and heard
    assert "2 more scored call directions of repetition 1, restricted, voip" in page
    assert "testbed listen RESULTS --phase restricted --workload voip" in page
    assert "baseline, voip are in audio" not in page
    summary = page.split("</table>")[0]
    text = re.sub(r'src="data:[^"]*"', "", page)  # base64 may spell anything
    assert "<td class=\"n\">-</td>" in summary and "nan" not in text
