"""What the censor's reader decided in each phase (reader.json, one row per flow it read):
for summary.md and report.html, beside the classes' counters, so that a student sees which
flow named what and which tests held, and an app developer sees why their flow was caught."""

from __future__ import annotations

import html
from pathlib import Path

from testbed.report.rowfile import first_repetition, html_table, markdown_table, read_rows

READER_FILE = "reader.json"
COLUMNS = ("phase", "profile", "client", "server", "read", "packets", "tests that held")
SHOWN = 50  # rows in the report; the file keeps them all

KEYS = {"repetition": int, "phase": str, "profile": str, "client": str, "server": str, "read": dict,
        "packets": int, "matched": list}


def records(directory: Path) -> list[dict]:
    return read_rows(directory / READER_FILE, KEYS, "the reader's decisions")


def _what_was_read(read: dict) -> str:
    parts = []
    for key, value in read.items():
        if value is True:
            parts.append(key)
        elif value not in (None, False):
            parts.append(f"{key} {value}")
    return ", ".join(parts) or "no field readable"


def _cells(row: dict) -> list[str]:
    return [row["phase"], row["profile"], row["client"], row["server"], _what_was_read(row["read"]),
            str(row["packets"]), ", ".join(row["matched"]) or "none"]


def _more(rows: list[dict]) -> str:
    return f"{len(rows) - SHOWN} more in {READER_FILE}" if len(rows) > SHOWN else ""


def summary_lines(directory: Path) -> list[str]:
    rows = first_repetition(records(directory))
    if not rows:
        return []
    table = markdown_table(COLUMNS, [_cells(r) for r in rows[:SHOWN]])
    more = [_more(rows), ""] if _more(rows) else []
    return ["## What the censor's reader decided", "", *table, "", *more]


def section_html(directory: Path) -> str:
    rows = first_repetition(records(directory))
    if not rows:
        return ""
    more = f"<p>{html.escape(_more(rows))}</p>" if _more(rows) else ""
    return ("<h2>What the censor's reader decided</h2><p>Each flow the reader read: what its first client "
            "data said, how many data packets it took to decide, and the tests that held. A test is a "
            "field of a class's match (\"tls_sni of twitter\": the name is on twitter's list); a class "
            "that says <code>not:</code> acts when its test does not hold.</p>"
            + html_table(COLUMNS, [_cells(r) for r in rows[:SHOWN]]) + more)
