"""Render a results directory for people: PNG plots (testbed/report/plots.py) and a
self-contained report.html (plots embedded), recomputed from the files the run wrote, so
`testbed report DIR` can render again at any time."""

from __future__ import annotations

import base64
import html
import json
import math
from pathlib import Path

from testbed.errors import InputError
from testbed.report import captures, counters, reading, webrtc
from testbed.report.results import VERDICTS, verdict
from testbed.report.rows import ROW_KEYS, check_word
from testbed.report.speech import section_html


class ReportError(InputError):
    """The directory is not a results directory (exit 2)."""

    def __init__(self, message: str):
        super().__init__(InputError.single(message).problems)


STYLE = """body{font-family:sans-serif;max-width:1240px;margin:2em auto;padding:0 1em;color:#222}
table{border-collapse:collapse;margin:1em 0;font-size:90%}td,th{border:1px solid #ccc;padding:.25em .5em;
text-align:left}td.n{text-align:right;font-variant-numeric:tabular-nums}.ok{color:#060}
.bad{color:#b00;font-weight:bold}img{max-width:100%}figure{margin:1em 0}.wide{overflow-x:auto}
caption{text-align:left;font-weight:bold;padding:.3em 0}"""
MOS_LEGEND = ("MOS runs from 1 (bad) to 5 (excellent); the E-model tops out at 4.5. 4.3 and above: "
              "users very satisfied; 3.6-4.3: satisfied; 3.1-3.6: some dissatisfied; 2.6-3.1: many; "
              "below 2.6: nearly all (ITU-T G.107 Annex B).")


RUN_KEYS = ("scenario", "title", "started", "kernel", "definition")  # what every run.json holds


def load(directory: Path) -> tuple[dict, list[dict]]:
    """A results directory's run.json and metrics.json, or a ReportError saying what is wrong."""
    try:
        info = json.loads((directory / "run.json").read_text())
        rows = json.loads((directory / "metrics.json").read_text())
    except FileNotFoundError as exc:
        raise ReportError(f"{directory} is not a results directory ({Path(exc.filename).name} is missing)") \
            from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ReportError(f"{directory}: cannot read its results: {exc}") from None
    definition = info.get("definition") if isinstance(info, dict) else None
    if not (isinstance(definition, dict) and info.keys() >= set(RUN_KEYS)
            and all(isinstance(definition.get(k), list) for k in ("phases", "workloads"))):
        raise ReportError(f"{directory / 'run.json'}: not a run's record (an object with "
                          f"{', '.join(RUN_KEYS)}, the definition with its phases and workloads)")
    if not isinstance(rows, list) or not all(isinstance(r, dict) and r.keys() >= set(ROW_KEYS) for r in rows):
        raise ReportError(f"{directory / 'metrics.json'}: not a run's figures (a list of rows with "
                          f"{', '.join(ROW_KEYS)})")
    return info, rows


def _img(path: Path | None, alt: str) -> str:
    if path is None:
        return ""
    data = base64.b64encode(path.read_bytes()).decode()
    return (f'<figure><img alt="{html.escape(alt)}" src="data:image/png;base64,{data}"><figcaption>'
            f"{html.escape(alt)}</figcaption></figure>")


def _cell(value: object) -> str:
    if isinstance(value, float):
        return f'<td class="n">{"n/a" if math.isnan(value) else f"{value:.3g}"}</td>'  # NaN: not measured
    return f"<td>{html.escape(str(value))}</td>"


def _check_row(check: dict) -> str:
    measured = "n/a" if check["value"] is None else f"{check['value']:.3g}"
    word = check_word(check)
    css = {"pass": "ok", "pending": "", "FAIL": "bad"}[word]
    return (f"<tr><td>{html.escape(check['phase'])}</td><td><code>{html.escape(check['check'])}</code></td>"
            f'<td class="n">{measured}</td><td class={css}>{word}</td></tr>')


def metric_tables(info: dict, rows: list[dict]) -> str:
    """One table per workload type (its own columns, with units): narrow enough for a page."""
    units = info.get("metric_units", {})
    out = []
    for kind in dict.fromkeys(r["type"] for r in rows):
        of_kind = [r for r in rows if r["type"] == kind]
        keys = sorted({k for r in of_kind for k in r} - {*ROW_KEYS, "error"})
        heads = "".join(f"<th>{html.escape(k)}" + (f" ({html.escape(u)})" if (u := units.get(kind, {}).get(
            k, {}).get("unit")) else "") + "</th>" for k in keys)
        errors = any("error" in r for r in of_kind)
        shown = ("repetition", "phase", "workload", *keys, *(["error"] if errors else []))
        body = "".join("<tr>" + "".join(_cell(r.get(k, "")) for k in shown) + "</tr>" for r in of_kind)
        out.append(f'<div class="wide"><table><caption>{html.escape(kind)}</caption><tr><th>rep</th>'
                   f"<th>phase</th><th>workload</th>{heads}{'<th>error</th>' if errors else ''}</tr>{body}"
                   "</table></div>")
    return "\n".join(out)


def render(directory: Path) -> Path:
    """Write the plots and report.html into `directory`; returns the report's path."""
    # matplotlib takes 40 s to import in the emulated VM, which only loads results
    from testbed.report import plots

    info, rows = load(directory)
    bars = plots.phase_bars(directory, info, rows)
    timeline = plots.timeline(directory, info)
    cdf = plots.delay_cdf(directory, info)
    state = verdict(info)
    checks = "".join(_check_row(c) for c in info.get("checks", []))
    errors = "".join(f"<li>{html.escape(e)}</li>" for e in info.get("errors", []))
    profiles = "".join(f"<li>{html.escape(k)}: <b>{html.escape(v['name'])}</b> "
                       f"({html.escape(v['confidence'])}, sha256 {v['sha256'][:12]})</li>"
                       for k, v in info.get("profiles", {}).items())
    page = f"""<!doctype html><html><head><meta charset="utf-8">
<title>{html.escape(info['scenario'])} - testbed report</title><style>{STYLE}</style></head>
<body><h1>{html.escape(info['scenario'])}: {html.escape(info['title'])}</h1>
<p>Verdict: <b class="{'ok' if state == 'pass' else 'bad'}">{VERDICTS[state]}</b>. Started {info['started']},
kernel {html.escape(info['kernel'])}{' (testbed VM)' if info.get('in_vm') else ''}.</p>
{f'<h2>Workloads that failed</h2><ul>{errors}</ul>' if errors else ''}
<h2>Expectations</h2><table><tr><th>phase</th><th>expectation</th><th>measured</th><th>result</th></tr>{checks}
</table>
<h2>Profiles</h2><ul>{profiles or '<li>none</li>'}</ul>
<p>{html.escape(MOS_LEGEND)}</p>
{_img(bars, "Call quality and chat delivery per phase")}
{_img(timeline, "MOS-CQ, loss and jitter per second; dashed lines mark phase boundaries")}
{_img(cdf, "One-way delay of call packets, per phase (log scale)")}
{section_html(directory)}
{webrtc.section_html(directory, info)}
{counters.section_html(directory)}
{reading.section_html(directory)}
{captures.section_html(directory, info)}
<h2>All metrics</h2>
{metric_tables(info, rows)}
<p>Files: run.json, metrics.json, metrics.csv, summary.md, counters.json, traces/ (per packet, numpy .npz),
speech.json and audio/ (the scored calls' audio, FLAC).</p></body></html>
"""
    path = directory / "report.html"
    path.write_text(page)
    return path
