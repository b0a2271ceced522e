"""The censor's counters, the pure parts: counter names, sums and differences of readings,
and what a report says about them (the kernel side is tests/host/test_counters.py)."""

from __future__ import annotations

import json

import pytest

from testbed.errors import InputError
from testbed.kernel.counters import ClassCounts, parse_counter_name
from testbed.report import counters as report


@pytest.mark.parametrize(("name", "parsed"), [
    ("stun.up", ("stun", "uplink", False)),
    ("call-ports.down.dropped", ("call-ports", "downlink", True)),
    ("default.up", ("default", "uplink", False)),
    ("stun", None), ("stun.sideways", None), ("stun.up.lost", None), ("a.up.dropped.x", None),
])
def test_counter_names_parse_back(name: str, parsed) -> None:
    assert parse_counter_name(name) == parsed


def test_readings_add_and_subtract_but_the_backlog_is_a_level() -> None:
    before = ClassCounts("stun", "uplink", packets=10, bytes=1000, dropped=2, sent=8, queue_drops=1, backlog=3)
    after = ClassCounts("stun", "uplink", packets=25, bytes=2500, dropped=2, sent=20, queue_drops=4, backlog=0)
    since = after.minus(before)
    assert (since.packets, since.bytes, since.dropped, since.sent, since.queue_drops) == (15, 1500, 0, 12, 3)
    assert since.backlog == 0  # queued now, not a count
    assert before.plus(since).packets == 25 and before.plus(since).backlog == 0


def _row(phase: str, name: str, direction: str, packets: int, repetition: int = 1) -> dict:
    return {"repetition": repetition, "phase": phase, "profile": "p", **ClassCounts(
        name, direction, packets=packets, bytes=100 * packets).as_dict()}


def test_a_class_that_took_nothing_in_a_phase_is_named(tmp_path) -> None:
    rows = [_row("restricted", "calls", "uplink", 50), _row("restricted", "calls", "downlink", 0),
            _row("restricted", "quic", "uplink", 0), _row("restricted", "quic", "downlink", 0),
            _row("restricted", "default", "uplink", 0), _row("restricted", "default", "downlink", 0),
            _row("restricted", "quic", "uplink", 7, repetition=2)]
    (tmp_path / "counters.json").write_text(json.dumps(rows))
    lines = report.summary_lines(tmp_path)
    assert "| restricted | p | calls | up | 50 | 5000 | 0 | 0 | 0 |" in lines
    assert len([line for line in lines if line.startswith("| restricted")]) == 6  # the first repetition
    note = next(line for line in lines if line.startswith("**Note**"))
    assert "quic (p, phase restricted)" in note and "calls" not in note and "default" not in note
    assert "quic (p, phase restricted)" in report.section_html(tmp_path)


def test_no_counters_no_section_and_a_damaged_file_is_named(tmp_path) -> None:
    assert report.summary_lines(tmp_path) == [] and report.section_html(tmp_path) == ""
    for damaged in ("{not json", "[1, 2]", json.dumps([{"phase": "p"}])):
        (tmp_path / "counters.json").write_text(damaged)
        with pytest.raises(InputError, match="counters.json"):
            report.summary_lines(tmp_path)
