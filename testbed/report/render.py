"""Render a results directory for people: PNG plots and a self-contained report.html.

Everything is recomputed from the files the run wrote (run.json, metrics.json, traces),
so `testbed report DIR` can render again at any time.
"""

from __future__ import annotations

import base64
import html
import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only, no display
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from testbed.measure.call import stream_metrics  # noqa: E402
from testbed.measure.emodel import CODECS  # noqa: E402
from testbed.measure.trace import load_traces  # noqa: E402


class ReportError(RuntimeError):
    pass


def _load(directory: Path) -> tuple[dict, list[dict]]:
    try:
        info = json.loads((directory / "run.json").read_text())
        rows = json.loads((directory / "metrics.json").read_text())
    except FileNotFoundError as exc:
        raise ReportError(f"{directory} is not a results directory ({exc.filename} is missing)") from None
    return info, rows


def _voip_workloads(info: dict) -> dict[str, str]:
    return {w["name"]: w["codec"] for w in info["definition"]["workloads"] if w["type"] == "voip"}


def _timeline(directory: Path, info: dict) -> tuple[list[tuple[str, float, float]], dict[str, np.ndarray]]:
    """Per-second loss, jitter and MOS-LQ over the phases of repetition 1, calls averaged."""
    phases = info["definition"]["phases"]
    series = {"loss": [], "jitter": [], "mos": [], "t": []}
    boundaries = []
    offset = 0.0
    for phase in phases:
        length = 0.0
        for name, codec in _voip_workloads(info).items():
            path = directory / "traces" / f"rep0-{phase['name']}-{name}.npz"
            if not path.exists():
                continue
            per_stream = [stream_metrics(t, CODECS[codec]).per_second for t in load_traces(path)]
            seconds = min(len(s) for s in per_stream) if per_stream else 0
            for k in range(seconds):
                series["t"].append(offset + k + 0.5)
                series["loss"].append(np.mean([s[k].loss_percent for s in per_stream]))
                series["jitter"].append(np.mean([s[k].jitter_ms for s in per_stream]))
                series["mos"].append(np.mean([s[k].mos_lq for s in per_stream]))
            length = max(length, seconds)
            break  # the first voip workload draws the timeline
        boundaries.append((phase["name"], offset, offset + length))
        offset += length
    return boundaries, {k: np.array(v) for k, v in series.items()}


def plot_timeline(directory: Path, info: dict) -> Path | None:
    boundaries, series = _timeline(directory, info)
    if series["t"].size == 0:
        return None
    fig, axes = plt.subplots(3, 1, figsize=(9, 6.5), sharex=True)
    for ax, key, label in zip(axes, ("mos", "loss", "jitter"),
                              ("MOS-LQ", "loss + late, %", "RFC 3550 jitter, ms"), strict=True):
        ax.plot(series["t"], series[key], drawstyle="steps-mid", color="tab:blue")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
        for name, start, end in boundaries:
            ax.axvline(start, color="grey", lw=0.8, ls="--")
            if ax is axes[0]:
                ax.text((start + end) / 2, 1.02, name, transform=ax.get_xaxis_transform(), ha="center")
    axes[0].set_ylim(1, 4.6)
    axes[-1].set_xlabel("seconds (phases of repetition 1)")
    fig.tight_layout()
    path = directory / "timeline.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_delay_cdf(directory: Path, info: dict) -> Path | None:
    fig, ax = plt.subplots(figsize=(7, 4))
    drawn = False
    for phase in info["definition"]["phases"]:
        delays = []
        for name in _voip_workloads(info):
            for path in sorted((directory / "traces").glob(f"rep*-{phase['name']}-{name}.npz")):
                for trace in load_traces(path):
                    delays.append((trace.received["recv_ns"] - trace.received["send_ns"]) / 1e6)
        if delays and np.concatenate(delays).size:
            values = np.sort(np.concatenate(delays))
            ax.plot(values, np.arange(1, values.size + 1) / values.size, label=phase["name"])
            drawn = True
    if not drawn:
        plt.close(fig)
        return None
    ax.set_xlabel("one-way delay, ms")
    ax.set_ylabel("share of packets")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    path = directory / "delay_cdf.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_bars(directory: Path, info: dict, rows: list[dict]) -> Path | None:
    phases = [p["name"] for p in info["definition"]["phases"]]
    voip = [r for r in rows if r["type"] == "voip" and "mos_cq" in r]
    chat = [r for r in rows if r["type"] == "chat" and "delivered" in r]
    if not voip and not chat:
        return None
    fig, ax = plt.subplots(figsize=(7, 4))
    x = np.arange(len(phases))
    if voip:
        ax.bar(x - 0.2, [np.mean([r["mos_cq"] for r in voip if r["phase"] == p] or [np.nan]) for p in phases],
               0.4, label="call MOS-CQ (1-4.5)")
    if chat:
        ax.bar(x + 0.2, [4.5 * np.mean([r["delivered"] for r in chat if r["phase"] == p] or [np.nan])
                         for p in phases], 0.4, label="chat delivered (x 4.5)")
    ax.set_xticks(x, [f"{p}\n({_profile_of(info, p)})" for p in phases])
    ax.set_ylim(0, 4.6)
    ax.legend(loc="lower right")
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    path = directory / "phases.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _profile_of(info: dict, phase_name: str) -> str:
    for phase in info["definition"]["phases"]:
        if phase["name"] == phase_name:
            if phase.get("schedule"):
                return "scheduled"
            name = phase.get("profile")
            return info["profiles"][name]["name"] if name else "clean"
    return "?"


def _img(path: Path | None, alt: str) -> str:
    if path is None:
        return ""
    data = base64.b64encode(path.read_bytes()).decode()
    return f'<figure><img alt="{html.escape(alt)}" src="data:image/png;base64,{data}"><figcaption>' \
           f"{html.escape(alt)}</figcaption></figure>"


def _cell(value: object) -> str:
    text = f"{value:.3g}" if isinstance(value, float) else str(value)
    return f"<td>{html.escape(text)}</td>"


def _check_row(check: dict) -> str:
    measured = "n/a" if check["value"] is None else f"{check['value']:.3g}"
    css, word = ("ok", "pass") if check["passed"] else ("bad", "FAIL")
    return (f"<tr><td>{html.escape(check['phase'])}</td><td><code>{html.escape(check['check'])}</code></td>"
            f"<td>{measured}</td><td class={css}>{word}</td></tr>")


def render(directory: Path) -> Path:
    """Write the plots and report.html into `directory`; returns the report's path."""
    info, rows = _load(directory)
    timeline = plot_timeline(directory, info)
    cdf = plot_delay_cdf(directory, info)
    bars = plot_bars(directory, info, rows)
    verdict = "PASS" if info.get("passed") else "FAIL"
    if not info.get("complete"):
        verdict = "INCOMPLETE"
    checks = "".join(_check_row(c) for c in info.get("checks", []))
    keys = sorted({k for r in rows for k in r} - {"repetition", "phase", "workload", "type"})
    metric_rows = "".join(
        "<tr>" + "".join(_cell(r.get(k, "")) for k in ("repetition", "phase", "workload", *keys)) + "</tr>"
        for r in rows)
    profiles = "".join(f"<li>{html.escape(k)}: <b>{html.escape(v['name'])}</b> "
                       f"({html.escape(v['confidence'])}, sha256 {v['sha256'][:12]})</li>"
                       for k, v in info.get("profiles", {}).items())
    headers = "".join(f"<th>{html.escape(k)}</th>" for k in keys)
    page = f"""<!doctype html><html><head><meta charset="utf-8">
<title>{html.escape(info['scenario'])} - testbed report</title>
<style>body{{font-family:sans-serif;max-width:1000px;margin:2em auto;color:#222}}
table{{border-collapse:collapse;margin:1em 0}}td,th{{border:1px solid #ccc;padding:.3em .6em;text-align:left}}
.ok{{color:#060}}.bad{{color:#b00;font-weight:bold}}img{{max-width:100%}}figure{{margin:1em 0}}</style></head>
<body><h1>{html.escape(info['scenario'])}: {html.escape(info['title'])}</h1>
<p>Verdict: <b class="{'ok' if verdict == 'PASS' else 'bad'}">{verdict}</b>. Started {info['started']}, kernel
{html.escape(info['kernel'])}{' (testbed VM)' if info.get('in_vm') else ''}.</p>
<h2>Expectations</h2><table><tr><th>phase</th><th>expectation</th><th>measured</th><th>result</th></tr>{checks}</table>
<h2>Profiles</h2><ul>{profiles or '<li>none</li>'}</ul>
{_img(bars, "Call quality and chat delivery per phase")}
{_img(timeline, "MOS, loss and jitter over time; dashed lines mark phase boundaries")}
{_img(cdf, "One-way delay of call packets, per phase")}
<h2>All metrics</h2><table><tr><th>rep</th><th>phase</th><th>workload</th>{headers}</tr>
{metric_rows}</table>
<p>Files: run.json, metrics.json, metrics.csv, summary.md, traces/ (per-packet, numpy .npz).</p></body></html>
"""
    path = directory / "report.html"
    path.write_text(page)
    return path
