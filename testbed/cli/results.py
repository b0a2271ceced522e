"""`testbed report`, `compare`, `score` and `listen`: results directories, viewed, finished
and heard."""

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
    for f in flipped:
        out.line(f"expectation {f['check']} in {f['phase']}: {f['before'] or '-'} -> {f['after'] or '-'}")


def _score_names(_ctx, _param, value: str | None) -> tuple[str, ...] | None:
    from testbed.speech.scores import NAMES

    if value is None:
        return None
    names = tuple(dict.fromkeys(n.strip() for n in value.split(",") if n.strip()))
    unknown = [n for n in names if n not in NAMES]
    if unknown or not names:
        raise click.BadParameter(f"{', '.join(unknown) or 'nothing'}: not a speech score; choose among "
                                 f"{', '.join(NAMES)}, separated by commas")
    return names


@click.command(short_help="Score a run's call audio left pending.")
@click.argument("directory", type=RESULTS_DIR)
@click.option("--scores", callback=_score_names, metavar="NAMES",
              help="the speech scores to compute, separated by commas (pesq, visqol, dnsmos, plcmos, "
                   "stoi), instead of those each workload's `scores` asked for (default: pesq, stoi, "
                   "plcmos)")
@json_option
def score(directory: Path, scores: tuple[str, ...] | None, as_json: bool) -> int:
    """Finish a results directory whose calls' audio was not scored (a run inside the testbed VM,
    or one stopped while scoring): decode and score it on every core, check the expectations,
    render the report."""
    from testbed.cli.scenario_run import report_run
    from testbed.report.render import load
    from testbed.scenario.finish import finish

    out = Output(as_json)
    info, _ = load(directory)
    result = finish(directory, None, out.progress, scores=scores)
    return report_run(out, info["scenario"], info["title"], result)


PLAYERS = (["paplay"], ["aplay", "-q"], ["play", "-q"],
           ["ffplay", "-nodisp", "-autoexit", "-loglevel", "error"])


@click.command(short_help="Hear a run's calls: write or play their audio.")
@click.argument("directory", type=RESULTS_DIR)
@click.option("--phase", default=None, help="Only this phase.")
@click.option("--workload", default=None, help="Only this voip workload.")
@click.option("--call", type=click.IntRange(0), default=None, help="Only this call (0 is the first).")
@click.option("--direction", type=click.Choice(["uplink", "downlink"]), default=None,
              help="Only this direction.")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Where the WAV files go (default: DIRECTORY/wav).")
@click.option("--play", is_flag=True, help="Play them too, said then heard (paplay, aplay, sox or ffplay).")
def listen(directory: Path, phase: str | None, workload: str | None, call: int | None, direction: str | None,
           out_dir: Path | None, play: bool) -> None:
    """Write the scored calls' audio of a results directory as WAV files: for each call direction,
    what was said (the reference) and what the receiver heard; with --play, play them."""
    import shutil
    import subprocess

    import soundfile

    from testbed.errors import InputError, ProgramMissing
    from testbed.report.render import load
    from testbed.report.speech import entries, read_audio

    load(directory)  # a results directory, or exit 2 saying what it is not
    chosen = [e for e in entries(directory)
              if (phase is None or e["phase"] == phase) and (workload is None or e["workload"] == workload)
              and (call is None or e["call"] == call) and (direction is None or e["direction"] == direction)]
    if not chosen:
        known = sorted({(e["phase"], e["workload"], e["call"]) for e in entries(directory)})
        hint = ("; scored: " + ", ".join(f"{p} {w} call {c}" for p, w, c in known)) if known else \
            " (no call's audio was scored: see `testbed score`)"
        raise InputError.single(f"{directory}: no scored call matches{hint}")
    player = next((argv for argv in PLAYERS if shutil.which(argv[0])), None) if play else None
    if play and player is None:
        raise ProgramMissing("an audio player", "pulseaudio-utils", "--play (or alsa-utils, sox, ffmpeg)")
    target = out_dir or directory / "wav"
    out = Output()
    try:
        target.mkdir(parents=True, exist_ok=True)
        for e in chosen:
            stem = f"rep{e['repetition']}-{e['phase']}-{e['workload']}-call{e['call']}-{e['direction']}"
            pair = []
            for label, source in (("said", e["reference"]), ("heard", e["audio"])):
                samples, rate = read_audio(directory / source, "int16")
                path = target / f"{stem}-{label}.wav"
                soundfile.write(str(path), samples, rate, subtype="PCM_16")
                pair.append(path)
            scores = ", ".join(f"{k} {v:.2f}" for k, v in e["scores"].items() if v == v)
            out.line(f"{stem}: {pair[0]} (said), {pair[1]} (heard); {scores}")
            for path in pair if player else ():
                subprocess.run([*player, str(path)], check=False)
    except (OSError, RuntimeError) as exc:  # soundfile's write errors are RuntimeErrors
        where = getattr(exc, "filename", None) or target
        raise InputError.single(f"cannot write {where}: {exc}; choose a directory with --out") from None


COMMANDS = [report, compare, score, listen]
