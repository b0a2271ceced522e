"""The PNG plots of a results directory, each recomputed from the files the run wrote.

Every plot has a title, and every axis its unit. MOS is MOS-CQ, the figure the
expectations check.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

if not os.access(os.path.expanduser("~"), os.W_OK):  # a user whose home is not theirs (sudo -u, setpriv)
    os.environ.setdefault("MPLCONFIGDIR", os.path.join(tempfile.gettempdir(), f"testbed-mpl-{os.getuid()}"))

import matplotlib  # noqa: E402

matplotlib.use("Agg")  # files only, no display
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from testbed.measure.call import stream_metrics  # noqa: E402
from testbed.measure.emodel import CODECS  # noqa: E402
from testbed.measure.trace import load_traces  # noqa: E402

MOS_AXIS = (1.0, 4.6)  # the E-model's MOS runs from 1 to 4.5
DPI = 110
MIN_DELAY_MS = 0.01  # the delay CDF's log axis starts here


def _save(fig, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=DPI)
    plt.close(fig)
    return path


def voip_workloads(info: dict) -> dict[str, str]:
    """name -> codec of the scenario's voip workloads."""
    return {w["name"]: w["codec"] for w in info["definition"]["workloads"] if w["type"] == "voip"}


def _timeline(directory: Path, info: dict) -> tuple[list[tuple[str, float, float]], dict[str, np.ndarray]]:
    """Per-second loss, jitter and MOS-CQ over the phases of repetition 1, calls averaged."""
    series: dict[str, list[float]] = {"loss": [], "jitter": [], "mos": [], "t": []}
    boundaries = []
    offset = 0.0
    for phase in info["definition"]["phases"]:
        length = 0
        for name, codec in voip_workloads(info).items():
            path = directory / "traces" / f"rep1-{phase['name']}-{name}.npz"
            if not path.exists():
                continue
            per_stream = [stream_metrics(t, CODECS[codec]).per_second for t in load_traces(path)]
            length = min((len(s) for s in per_stream), default=0)
            for k in range(length):
                series["t"].append(offset + k + 0.5)
                series["loss"].append(float(np.mean([s[k].loss_percent for s in per_stream])))
                series["jitter"].append(float(np.mean([s[k].jitter_ms for s in per_stream])))
                series["mos"].append(float(np.mean([s[k].mos_cq for s in per_stream])))
            break  # the first voip workload that ran draws the timeline
        boundaries.append((phase["name"], offset, offset + length))
        offset += length
    return boundaries, {k: np.array(v) for k, v in series.items()}


def timeline(directory: Path, info: dict) -> Path | None:
    boundaries, series = _timeline(directory, info)
    if series["t"].size == 0:
        return None
    fig, axes = plt.subplots(3, 1, figsize=(9, 6.5), sharex=True)
    for ax, key, label in zip(axes, ("mos", "loss", "jitter"),
                              ("MOS-CQ (1-5)", "loss + late (%)", "RFC 3550 jitter (ms)"), strict=True):
        ax.plot(series["t"], series[key], drawstyle="steps-mid", color="tab:blue")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
        for name, start, end in boundaries:
            ax.axvline(start, color="grey", lw=0.8, ls="--")
            if ax is axes[0]:
                ax.text((start + end) / 2, 1.02, name, transform=ax.get_xaxis_transform(), ha="center")
    axes[0].set_ylim(*MOS_AXIS)
    axes[-1].set_xlabel("time (s, phases of repetition 1)")
    fig.suptitle("Call quality, loss and jitter per second")
    return _save(fig, directory / "timeline.png")


def delay_cdf(directory: Path, info: dict) -> Path | None:
    """One-way delay per phase on a log axis, so a phase near 0 ms and one at 300 ms both show."""
    fig, ax = plt.subplots(figsize=(7, 4))
    drawn = False
    for phase in info["definition"]["phases"]:
        delays = []
        for name in voip_workloads(info):
            for path in sorted((directory / "traces").glob(f"rep*-{phase['name']}-{name}.npz")):
                delays += [(t.received["recv_ns"] - t.received["send_ns"]) / 1e6 for t in load_traces(path)]
        values = np.sort(np.concatenate(delays)) if delays else np.array([])
        if values.size:
            ax.plot(np.maximum(values, MIN_DELAY_MS), np.arange(1, values.size + 1) / values.size,
                    label=phase["name"])
            drawn = True
    if not drawn:
        plt.close(fig)
        return None
    ax.set_xscale("log")
    ax.set_xlabel("one-way delay (ms, log scale)")
    ax.set_ylabel("share of packets (0-1)")
    ax.set_title("One-way delay of call packets, per phase")
    ax.grid(alpha=0.3, which="both")
    ax.legend(loc="lower right")
    return _save(fig, directory / "delay_cdf.png")


def phase_bars(directory: Path, info: dict, rows: list[dict]) -> Path | None:
    """Call MOS-CQ and chat delivery per phase, each on its own axis."""
    phases = [p["name"] for p in info["definition"]["phases"]]
    wanted = (("voip", "mos_cq", "call MOS-CQ (1-5)", (1.0, 4.9)),  # room for the bars' labels
              ("chat", "delivered", "chat delivered (%)", (0, 112)))
    panels = [panel for panel in wanted if any(r["type"] == panel[0] and panel[1] in r for r in rows)]
    if not panels:
        return None
    fig, axes = plt.subplots(1, len(panels), figsize=(4.5 * len(panels), 4), squeeze=False)
    x = np.arange(len(phases))
    for ax, (kind, metric, label, limits) in zip(axes[0], panels, strict=True):
        scale = 100 if metric == "delivered" else 1
        values = [scale * np.mean([r[metric] for r in rows if r["type"] == kind and r["phase"] == p
                                   and metric in r] or [np.nan]) for p in phases]
        bars = ax.bar(x, values, 0.6, color="tab:blue" if kind == "voip" else "tab:green")
        ax.bar_label(bars, fmt="%.2f" if kind == "voip" else "%.0f", padding=2)
        ax.set_xticks(x, [f"{p}\n({_profile_of(info, p)})" for p in phases], fontsize=8)
        ax.set_ylim(*limits)
        ax.set_ylabel(label)
        ax.set_title(label.split(" (")[0])
        ax.grid(axis="y", alpha=0.3)
    fig.suptitle("Per phase (mean over repetitions)")
    return _save(fig, directory / "phases.png")


def _profile_of(info: dict, phase_name: str) -> str:
    for phase in info["definition"]["phases"]:
        if phase["name"] == phase_name:
            if phase.get("schedule"):
                return "scheduled"
            name = phase.get("profile")
            return info["profiles"][name]["name"] if name else "clean"
    return "?"


def matrix_chart(cells: list, path: Path) -> Path:
    """Bars of call MOS-CQ per profile, one per codec (cells: objects with profile, codec, mos_cq)."""
    profiles = list(dict.fromkeys(c.profile for c in cells))
    codecs = list(dict.fromkeys(c.codec for c in cells))
    fig, ax = plt.subplots(figsize=(max(6, 1.6 * len(profiles)), 4))
    width = 0.8 / max(1, len(codecs))
    for k, codec in enumerate(codecs):
        by_profile = {c.profile: c.mos_cq for c in cells if c.codec == codec}
        values = [by_profile.get(p, np.nan) for p in profiles]
        ax.bar(np.arange(len(profiles)) + k * width - 0.4 + width / 2, values, width, label=codec)
    ax.set_xticks(np.arange(len(profiles)), profiles, rotation=15, ha="right")
    ax.set_ylabel("call MOS-CQ (1-5)")
    ax.set_ylim(*MOS_AXIS)
    ax.set_title("Call quality per profile and codec")
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1), title="codec")
    ax.grid(axis="y", alpha=0.3)
    return _save(fig, path)
