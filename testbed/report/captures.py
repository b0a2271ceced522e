"""The packet captures of a run (captures.json, written by testbed/scenario/capture.py): named
in summary.md and report.html, each with the packets it holds and how to open it."""

from __future__ import annotations

import html
from pathlib import Path

from testbed.report.rowfile import read_rows

CAPTURES_FILE = "captures.json"
HOW = "Open one in Wireshark, or `tshark -r FILE`."


def records(directory: Path) -> list[dict]:
    return read_rows(directory / CAPTURES_FILE, {"file": str}, "the list of captures")


def _line(row: dict, cap: int | None) -> str:
    packets = row.get("packets")
    count = "packets unknown" if packets is None else f"{packets} packets"
    capped = " (the cap: later packets were not kept)" if cap is not None and packets == cap else ""
    where = f"{row.get('node')} {row.get('interface')}, phase {row.get('phase')}"
    return f"{row['file']}: {where}, {count}{capped}"


def _cap(info: dict) -> int | None:
    capture = (info.get("definition") or {}).get("capture") or {}
    return capture.get("packets") if isinstance(capture, dict) else None


def summary_lines(directory: Path, info: dict) -> list[str]:
    rows = records(directory)
    if not rows:
        return []
    return ["## Packet captures", "", *(f"- {_line(r, _cap(info))}" for r in rows), "", HOW, ""]


def section_html(directory: Path, info: dict) -> str:
    rows = records(directory)
    if not rows:
        return ""
    items = "".join(f"<li>{html.escape(_line(r, _cap(info)))}</li>" for r in rows)
    return f"<h2>Packet captures</h2><ul>{items}</ul><p>{html.escape(HOW)}</p>"
