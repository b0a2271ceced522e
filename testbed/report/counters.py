"""What the censor's classes did in each phase (counters.json, from testbed/kernel/counters.py):
a table per run for summary.md and report.html, and a warning for a class that took nothing
in a phase, since a profile whose classes match nothing changes nothing (a matrix of
uae-voip-block with unframed calls scored MOS 4.39, and nothing said why)."""

from __future__ import annotations

import html
from pathlib import Path

from testbed.report.rowfile import first_repetition, html_table, markdown_table, read_rows

COUNTERS_FILE = "counters.json"
COLUMNS = ("phase", "profile", "class", "dir", "took pkts", "took bytes", "dropped", "sent", "queue drops")


KEYS = {"repetition": int, "phase": str, "profile": str, "traffic_class": str, "direction": str,
        "packets": int, "bytes": int, "dropped": int, "sent": int, "queue_drops": int}


def records(directory: Path) -> list[dict]:
    return read_rows(directory / COUNTERS_FILE, KEYS, "the censor's counters")


def idle_classes(rows: list[dict]) -> list[tuple[str, str, str]]:
    """(phase, profile, class) of every class, other than the default, that took no packet
    in either direction during a phase (of its first repetition that ran it)."""
    took: dict[tuple[str, str, str], int] = {}
    for row in rows:
        if row["traffic_class"] == "default":
            continue
        key = (row["phase"], row["profile"], row["traffic_class"])
        took[key] = took.get(key, 0) + row["packets"]
    return [key for key, packets in took.items() if packets == 0]


def warning(idle: list[tuple[str, str, str]]) -> str:
    listed = "; ".join(f"{name} ({profile}, phase {phase})" for phase, profile, name in idle)
    return (f"Classes that took no packet: {listed}. Nothing they match crossed the censor: if you "
            "expected them to treat traffic, check their match against it (its ports, framing, "
            "addresses).")


def _cells(row: dict) -> list[str]:
    direction = "up" if row["direction"] == "uplink" else "down"
    figures = (row[k] for k in ("packets", "bytes", "dropped", "sent", "queue_drops"))
    return [row["phase"], row["profile"], row["traffic_class"], direction, *map(str, figures)]


def summary_lines(directory: Path) -> list[str]:
    rows = first_repetition(records(directory))
    if not rows:
        return []
    lines = ["## What the censor's classes did", "", *markdown_table(COLUMNS, [_cells(r) for r in rows])]
    idle = idle_classes(rows)
    return [*lines, "", *([f"**Note**: {warning(idle)}", ""] if idle else [])]


def section_html(directory: Path) -> str:
    rows = first_repetition(records(directory))
    if not rows:
        return ""
    idle = idle_classes(rows)
    note = f'<p class="bad">{html.escape(warning(idle))}</p>' if idle else ""
    return (f"<h2>What the censor's classes did</h2>{note}<p>took: packets the class's nft rules matched; "
            "dropped: by its rules; sent and queue drops (netem loss, a full queue): its htb class.</p>"
            + html_table(COLUMNS, [_cells(r) for r in rows]))
