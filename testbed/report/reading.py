"""What the censor's reader decided in each phase (reader.json, one row per flow it read):
for summary.md and report.html, beside the classes' counters, so that a student sees which
flow named what and which tests held, and an app developer sees why their flow was caught."""

from __future__ import annotations

import html
import json
from pathlib import Path

from testbed.errors import InputError

READER_FILE = "reader.json"
COLUMNS = ("phase", "profile", "client", "server", "read", "packets", "matched")
SHOWN = 50  # rows in the report; the file keeps them all

KEYS = {"repetition": int, "phase": str, "profile": str, "client": str, "server": str, "read": dict,
        "packets": int, "matched": list}


def records(directory: Path) -> list[dict]:
    path = directory / READER_FILE
    if not path.exists():
        return []  # no phase applied a profile that reads
    try:
        found = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise InputError.single(f"cannot read the reader's decisions: {exc}", str(path)) from None
    if not isinstance(found, list) or not all(
            isinstance(r, dict) and all(isinstance(r.get(k), t) for k, t in KEYS.items()) for r in found):
        raise InputError.single(f"not the reader's decisions (a list of rows with {', '.join(KEYS)})",
                                str(path))
    return found


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


def _first_repetition(rows: list[dict]) -> list[dict]:
    first = min((r["repetition"] for r in rows), default=1)
    return [r for r in rows if r["repetition"] == first]


def _more(rows: list[dict]) -> str:
    return f"{len(rows) - SHOWN} more in {READER_FILE}" if len(rows) > SHOWN else ""


def summary_lines(directory: Path) -> list[str]:
    rows = _first_repetition(records(directory))
    if not rows:
        return []
    lines = ["## What the censor's reader decided", "", "| " + " | ".join(COLUMNS) + " |",
             "|" + "---|" * len(COLUMNS)]
    lines += ["| " + " | ".join(_cells(r)) + " |" for r in rows[:SHOWN]]
    return [*lines, "", *([_more(rows), ""] if _more(rows) else [])]


def section_html(directory: Path) -> str:
    rows = _first_repetition(records(directory))
    if not rows:
        return ""
    heads = "".join(f"<th>{html.escape(h)}</th>" for h in COLUMNS)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in _cells(r)) + "</tr>"
                   for r in rows[:SHOWN])
    more = f"<p>{html.escape(_more(rows))}</p>" if _more(rows) else ""
    return ("<h2>What the censor's reader decided</h2><p>Each flow the reader read: what its first client "
            "data said, how many data packets it took to decide, and the tests that held (the classes "
            f"act on those).</p><table><tr>{heads}</tr>{body}</table>{more}")
