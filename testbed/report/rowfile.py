"""A results file that is a JSON list of rows (counters.json, reader.json, captures.json):
read and checked whole, so that a damaged or foreign file is a located input error (exit 2),
not a crash; and shown as a table in summary.md and report.html."""

from __future__ import annotations

import html
import json
from collections.abc import Sequence
from pathlib import Path

from testbed.errors import InputError


def read_rows(path: Path, keys: dict[str, type], what: str) -> list[dict]:
    """The rows of `path` (none if it does not exist), each holding `keys` of their types."""
    if not path.exists():
        return []
    try:
        found = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise InputError.single(f"cannot read {what}: {exc}", str(path)) from None
    if not isinstance(found, list) or not all(
            isinstance(r, dict) and all(isinstance(r.get(k), t) for k, t in keys.items()) for r in found):
        raise InputError.single(f"not {what} (a list of rows with {', '.join(keys)})", str(path))
    return found


def first_repetition(rows: list[dict]) -> list[dict]:
    """The rows of the first repetition there is: what a report shows."""
    first = min((r["repetition"] for r in rows), default=1)
    return [r for r in rows if r["repetition"] == first]


def markdown_table(columns: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    """A Markdown table, a `|` inside a cell escaped."""
    return ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns),
            *("| " + " | ".join(c.replace("|", "\\|") for c in row) + " |" for row in rows)]


def html_table(columns: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    heads = "".join(f"<th>{html.escape(h)}</th>" for h in columns)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><tr>{heads}</tr>{body}</table>"
