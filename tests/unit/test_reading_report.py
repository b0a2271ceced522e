"""What a report says of the reader's decisions (reader.json): the pure parts; a real run's
file is made in tests/host/test_https.py."""

from __future__ import annotations

import json

import pytest

from testbed.errors import InputError
from testbed.report import reading as report


def _row(sni: str | None, matched: list[str], repetition: int = 1, port: int = 40000) -> dict:
    read = {"tls_sni": sni, "tls_ech": False} if sni else {}
    return {"repetition": repetition, "phase": "throttled", "profile": "ru-2021-twitter-throttle",
            "client": f"198.18.0.2:{port}", "server": "198.19.0.2:443", "read": read, "packets": 1,
            "matched": matched, "mark": "0xc0000000"}


def test_each_flow_of_the_first_repetition_is_a_row(tmp_path) -> None:
    rows = [_row("twitter.com", ["tls_sni of twitter"]), _row(None, []), _row("example.org", [], repetition=2)]
    (tmp_path / "reader.json").write_text(json.dumps(rows))
    lines = report.summary_lines(tmp_path)
    assert ("| throttled | ru-2021-twitter-throttle | 198.18.0.2:40000 | 198.19.0.2:443 | tls_sni twitter.com "
            "| 1 | tls_sni of twitter |") in lines
    assert "| throttled | ru-2021-twitter-throttle | 198.18.0.2:40000 | 198.19.0.2:443 | no field readable | 1 " \
           "| none |" in lines
    assert not any("example.org" in line for line in lines)  # the second repetition's
    assert "tls_sni twitter.com" in report.section_html(tmp_path)


def test_a_long_record_is_cut_in_the_report_and_kept_whole_in_the_file(tmp_path) -> None:
    rows = [_row("example.org", [], port=port) for port in range(40000, 40000 + report.SHOWN + 7)]
    (tmp_path / "reader.json").write_text(json.dumps(rows))
    lines = report.summary_lines(tmp_path)
    assert len([line for line in lines if line.startswith("| throttled")]) == report.SHOWN
    assert "7 more in reader.json" in lines and "7 more in reader.json" in report.section_html(tmp_path)


def test_no_record_no_section_and_a_damaged_file_is_named(tmp_path) -> None:
    assert report.summary_lines(tmp_path) == [] and report.section_html(tmp_path) == ""
    for damaged in ("{not json", "[1, 2]", json.dumps([{"phase": "p"}])):
        (tmp_path / "reader.json").write_text(damaged)
        with pytest.raises(InputError, match="reader.json"):
            report.summary_lines(tmp_path)
