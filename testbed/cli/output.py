"""What commands print: tables, JSON, notes and progress.

On a terminal, tables are drawn with rich and progress is dim. Anywhere else (a pipe, a
file, a CI log) output is plain text: no colour codes, no box drawing, and no line cut
to a width, so logs stay readable and grep finds whole names. `--json` prints data only.
The testbed VM forwards output through files, so the host tells the guest whether its own
output is a terminal (TESTBED_TTY).
"""

from __future__ import annotations

import json
import math
import os
import sys
from collections.abc import Sequence
from typing import Any


def is_terminal(stream: Any = None) -> bool:
    forced = os.environ.get("TESTBED_TTY")
    if forced in ("0", "1"):
        return forced == "1"
    stream = stream or sys.stdout
    return bool(getattr(stream, "isatty", lambda: False)())


def number(value: object, digits: int = 3) -> str:
    """Figures as people read them: 3 significant digits, n/a for what was not measured."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    if isinstance(value, float):
        return f"{value:.{digits}g}" if abs(value) < 10 ** digits else f"{value:,.0f}"
    return str(value)


def _numeric(values: Sequence[str]) -> bool:
    def looks(text: str) -> bool:
        try:
            float(text.replace(",", "").rstrip("%").strip())
            return True
        except ValueError:
            return text in ("n/a", "-", "")

    return bool(values) and all(looks(v) for v in values)


def plain_table(columns: Sequence[str], rows: Sequence[Sequence[str]], title: str | None = None,
                caption: str | None = None) -> str:
    """Aligned columns separated by two spaces; numbers right-aligned; nothing cut."""
    cells = [[str(c) for c in row] for row in rows]
    widths = [max([len(columns[i]), *(len(r[i]) for r in cells)]) for i in range(len(columns))]
    right = [_numeric([r[i] for r in cells]) for i in range(len(columns))]

    def line(values: Sequence[str]) -> str:
        parts = [v.rjust(w) if r else v.ljust(w) for v, w, r in zip(values, widths, right, strict=True)]
        return "  ".join(parts).rstrip()

    out = [title] if title else []
    out += [line(columns), line(["-" * w for w in widths]), *(line(r) for r in cells)]
    if caption:
        out.append(caption)
    return "\n".join(out) + "\n"


def _finite(data: object) -> object:
    if isinstance(data, float):
        return data if math.isfinite(data) else None
    if isinstance(data, dict):
        return {k: _finite(v) for k, v in data.items()}
    if isinstance(data, list | tuple):
        return [_finite(v) for v in data]
    return data


class Output:
    def __init__(self, as_json: bool = False) -> None:
        self.as_json = as_json
        self.terminal = is_terminal(sys.stdout)
        self.err_terminal = is_terminal(sys.stderr)

    def table(self, columns: Sequence[str], rows: Sequence[Sequence[object]], title: str | None = None,
              caption: str | None = None) -> None:
        shown = [[c if isinstance(c, str) else number(c) for c in row] for row in rows]
        if not self.terminal:
            sys.stdout.write(plain_table(columns, shown, title, caption))
            sys.stdout.flush()
            return
        from rich import box
        from rich.console import Console
        from rich.table import Table

        table = Table(*columns, title=title, caption=caption, box=box.SIMPLE_HEAD, title_justify="left",
                      caption_justify="left")
        for k, column in enumerate(table.columns):
            column.overflow = "fold"  # wrap, never cut with an ellipsis
            column.no_wrap = k == 0  # the first column names things: keep each whole
            if _numeric([r[k] for r in shown]):
                column.justify = "right"
        for row in shown:
            table.add_row(*row)
        Console().print(table)

    def json(self, data: object) -> None:
        """Valid JSON: figures that were not measured (NaN) are null."""
        print(json.dumps(_finite(data), indent=2, default=str, allow_nan=False), flush=True)

    def line(self, text: str = "") -> None:
        print(text, flush=True)

    def note(self, text: str) -> None:
        """A remark for people, on stderr (stdout stays data)."""
        print(text, file=sys.stderr, flush=True)

    def progress(self, text: str) -> None:
        if self.err_terminal:
            from rich.console import Console

            Console(stderr=True, highlight=False).print(text, style="dim", markup=False)
        else:
            print(text, file=sys.stderr, flush=True)
