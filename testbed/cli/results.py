"""`testbed report` and `testbed compare`: views of results directories."""

from __future__ import annotations

from pathlib import Path

import click

from testbed.cli.common import json_option
from testbed.cli.output import Output, number

RESULTS_DIR = click.Path(file_okay=False, path_type=Path)


@click.command(short_help="Render a results directory again.")
@click.argument("directory", type=RESULTS_DIR)
def report(directory: Path) -> None:
    """Render a results directory of `testbed run` again: PNG plots and a self-contained report.html."""
    from testbed.report.render import render

    Output().line(f"report: {render(directory)}")


@click.command(short_help="What changed between two runs.")
@click.argument("before", type=RESULTS_DIR)
@click.argument("after", type=RESULTS_DIR)
@click.option("--all", "everything", is_flag=True, help="Show every metric, not only those that changed.")
@json_option
def compare(before: Path, after: Path, everything: bool, as_json: bool) -> None:
    """What changed between two runs (A = BEFORE, B = AFTER): each metric whose mean differs, and
    each expectation whose verdict differs."""
    from testbed.report.compare import compare as compare_runs
    from testbed.report.compare import verdicts

    changes = compare_runs(before, after, everything)
    a, b = verdicts(before), verdicts(after)
    flipped = [{"phase": k[0], "check": k[1], "before": a.get(k), "after": b.get(k)}
               for k in sorted(a.keys() | b.keys()) if a.get(k) != b.get(k)]
    out = Output(as_json)
    if as_json:
        out.json({"before": str(before), "after": str(after), "metrics": [c.__dict__ for c in changes],
                  "expectations": flipped})
        return
    if changes:
        out.table(["phase", "workload", "metric", "A", "B", "change"],
                  [[c.phase, c.workload, c.metric, number(c.before), number(c.after),
                    "-" if c.delta is None else f"{c.delta:+.3g}"] for c in changes],
                  title=f"A = {before.name}, B = {after.name}")
    else:
        out.line(f"no metric changed (at 3 significant digits) between {before.name} and {after.name}")
    word = {True: "pass", False: "FAIL", None: "-"}
    for f in flipped:
        out.line(f"expectation {f['check']} in {f['phase']}: {word[f['before']]} -> {word[f['after']]}")


COMMANDS = [report, compare]
