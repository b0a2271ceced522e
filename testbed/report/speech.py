"""The calls' speech in a results directory (speech.json, audio/): scores per phase, and the
report's listening section: for each scored call direction, players for what was said and
what was heard, and their spectrograms side by side with the lost, late, FEC-recovered and
DTX frames marked. Everything is embedded (FLAC and JPEG as data URIs), so report.html
stays one self-contained file.
"""

from __future__ import annotations

import base64
import html
import io
import json
import math
import statistics
from pathlib import Path

import numpy as np

from testbed.errors import InputError
from testbed.report.webrtc import CAVEAT as AIORTC_CAVEAT
from testbed.speech.scores import NAMES as SCORES

ROW_METRICS = (*SCORES, "heard")  # what the scoring stage adds to a phase's row
EMBEDDED = 4  # call directions per repetition, phase and workload that report.html plays

FATE_COLOURS = {"p": None, "f": "#2a9d2a", "l": "#d62728", "t": "#ff7f0e", "d": "#bbbbbb"}
FATE_LABELS = {"f": "recovered by FEC", "l": "lost (concealed)", "t": "late (concealed)",
               "d": "DTX (not sent)"}
SCALES = ("PESQ: MOS-LQO, 1 (bad) to 4.5 narrowband or 4.6 wideband; ViSQOL: MOS-LQO 1-5; DNSMOS (overall) "
          "and PLCMOS: MOS 1-5, judged from the received audio alone; STOI: intelligibility 0-1; heard: "
          "share of the speech's frames decoded from packets (0 is silence). Scores are means over "
          "windows one clip long.")


ENTRY_KEYS = {"repetition", "phase", "workload", "call", "direction", "audio", "reference", "scores", "heard"}


def entries(directory: Path) -> list[dict]:
    """The scored call directions of a results directory (speech.json; none when it has none),
    or exit 2 naming the file when it is not what the scoring stage writes."""
    path = directory / "speech.json"
    if not path.exists():
        return []
    try:
        found = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError.single(f"cannot read the scored calls: {exc}", str(path)) from None
    if not isinstance(found, list) or not all(isinstance(e, dict) and e.keys() >= ENTRY_KEYS for e in found):
        raise InputError.single("not the scored calls the scoring stage writes (a list of entries with "
                                + ", ".join(sorted(ENTRY_KEYS)) + ")", str(path))
    return found


def read_audio(path: Path, dtype: str = "float32") -> tuple[np.ndarray, int]:
    """A scored call's FLAC, or exit 2 naming it (missing, truncated, not audio)."""
    import soundfile

    try:
        return soundfile.read(str(path), dtype=dtype)
    except (OSError, RuntimeError) as exc:  # soundfile's errors are RuntimeErrors
        raise InputError.single(f"cannot read the call's audio: {exc}", str(path)) from None


def _mean(values: list[float]) -> float:
    values = [v for v in values if not math.isnan(v)]
    return statistics.fmean(values) if values else math.nan


def mean_scores(scored: list[dict]) -> dict[str, float]:
    """Each score's and `heard`'s mean over scored call directions (entries of speech.json);
    a score no direction has (not asked for, or unscorable) is NaN."""
    return {k: _mean([e["heard"] if k == "heard" else e["scores"].get(k, math.nan) for e in scored])
            for k in ROW_METRICS}


def phase_scores(directory: Path) -> list[dict]:
    """Per (phase, workload), in the order they ran: the scores' means over the scored directions,
    and `asked`: the scores computed (an entry keeps only those its workload asked for)."""
    groups: dict[tuple[str, str], list[dict]] = {}
    for entry in entries(directory):
        groups.setdefault((entry["phase"], entry["workload"]), []).append(entry)
    return [{"phase": phase, "workload": workload, **mean_scores(group),
             "asked": sorted({k for e in group for k in e["scores"]})}
            for (phase, workload), group in groups.items()]


NOT_ASKED = "not asked"


def score_text(row: dict, metric: str) -> str:
    """A phase_scores cell: the mean, "-" when no direction could be scored (silence has no
    PESQ alignment, say), or "not asked" for a score the workload's `scores` left out."""
    if metric != "heard" and metric not in row.get("asked", (metric,)):
        return NOT_ASKED
    return "-" if math.isnan(row[metric]) else f"{row[metric]:.2f}"


def not_asked_note(rows: list[dict]) -> str:
    """What to do about scores not asked for ("" when every score was computed)."""
    left = [k for k in SCORES if any(score_text(r, k) == NOT_ASKED for r in rows)]
    if not left:
        return ""
    return (f"{', '.join(left)} not asked for: name them in the workload's `scores` field, or score a "
            f"run left pending with `testbed score RESULTS --scores {','.join(SCORES)}`.")


def spectrograms(reference: np.ndarray, received: np.ndarray, rate: int, fates: str, frame_ms: float,
                 title: str) -> bytes:
    """JPEG (a tenth of a PNG's size for a spectrogram): the reference over the received audio,
    with the frames' fates marked under it."""
    from testbed.report.plots import DPI, plt  # matplotlib only when drawing: runs import the means

    seconds = received.size / rate
    reference = np.resize(reference, received.size)  # the clip loops through the call
    fig, axes = plt.subplots(3, 1, figsize=(9, 4.2), sharex=True, height_ratios=[4, 4, 0.6])
    for ax, samples, label in ((axes[0], reference, "said"), (axes[1], received, "heard")):
        with np.errstate(divide="ignore"):  # silence has no power: its log is -inf, drawn black
            ax.specgram(samples, NFFT=256, Fs=rate, noverlap=128, cmap="magma", vmin=-140, vmax=-40)
        ax.set_ylabel(f"{label}\nHz")
    colours = [(1.0, 1.0, 1.0)] * len(fates)
    for k, letter in enumerate(fates):
        if FATE_COLOURS.get(letter):
            colours[k] = matplotlib_rgb(FATE_COLOURS[letter])
    axes[2].imshow([colours], aspect="auto", extent=(0, len(fates) * frame_ms / 1000, 0, 1))
    axes[2].set_yticks([])
    axes[2].set_xlabel("time (s)")
    axes[2].set_xlim(0, seconds)
    handles = [plt.Rectangle((0, 0), 1, 1, color=c) for k, c in FATE_COLOURS.items() if c and k in fates]
    labels = [FATE_LABELS[k] for k, c in FATE_COLOURS.items() if c and k in fates]
    if handles:
        axes[2].legend(handles, labels, loc="upper center", bbox_to_anchor=(0.5, -1.6), ncol=4, fontsize=8,
                       frameon=False)
    axes[0].set_title(title, fontsize=10)
    buffer = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buffer, format="jpeg", dpi=DPI, pil_kwargs={"quality": 80})
    plt.close(fig)
    return buffer.getvalue()


def matplotlib_rgb(colour: str) -> tuple[float, float, float]:
    from matplotlib.colors import to_rgb

    return to_rgb(colour)


def _audio(path: Path) -> str:
    data = base64.b64encode(path.read_bytes()).decode()
    return f'<audio controls preload="none" src="data:audio/flac;base64,{data}"></audio>'


def _score_cells(entry: dict) -> str:
    cells = "".join(f"<td>{k}</td><td class=n>{entry['scores'][k]:.2f}</td>" for k in SCORES
                    if not math.isnan(entry["scores"].get(k, math.nan)))
    counts = ", ".join(f"{v} {k}" for k, v in entry["counts"].items() if v)
    return (f"<table><tr>{cells}<td>heard</td><td class=n>{entry['heard']:.2f}</td></tr></table>"
            f"<p>frames: {counts}</p>")


def section_html(directory: Path) -> str:
    """The report's "Listen" section ("" when no call was scored): players and spectrograms
    for the first EMBEDDED call directions of each repetition, phase and workload (each costs
    about 0.5 MB of the page); the rest are named, with the command that writes them out."""
    found = entries(directory)
    if not found:
        return ""
    means = phase_scores(directory)
    rows = "".join(
        f"<tr><td>{html.escape(r['phase'])}</td><td>{html.escape(r['workload'])}</td>"
        + "".join(f'<td class="n">{score_text(r, k)}</td>' for k in ROW_METRICS) + "</tr>"
        for r in means)
    note = not_asked_note(means)
    parts = [f"<h2>Listen</h2><p>{html.escape(SCALES)}</p><table><tr><th>phase</th><th>workload</th>"
             + "".join(f"<th>{k}</th>" for k in ROW_METRICS) + f"</tr>{rows}</table>"
             + (f"<p>{html.escape(note)}</p>" if note else "")]
    groups: dict[tuple, int] = {}
    for entry in found:
        group = (entry["repetition"], entry["phase"], entry["workload"])
        groups[group] = groups.get(group, 0) + 1
        if groups[group] > EMBEDDED:
            continue
        received, rate = read_audio(directory / entry["audio"])
        reference, _ = read_audio(directory / entry["reference"])
        title = (f"repetition {entry['repetition']}, {entry['phase']}, {entry['workload']}, "
                 f"call {entry['call']} {entry['direction']} ({entry['codec']}, {entry['source']})")
        picture = base64.b64encode(spectrograms(reference, received, rate, entry["fates"], entry["frame_ms"],
                                            title)).decode()
        caveat = f"<p>{html.escape(AIORTC_CAVEAT)}</p>" if entry.get("stack") == "aiortc" else ""
        parts.append(f"<h3>{html.escape(title)}</h3>{caveat}<p>said {_audio(directory / entry['reference'])} "
                     f"heard {_audio(directory / entry['audio'])}</p>{_score_cells(entry)}"
                     f'<figure><img alt="{html.escape(title)}" '
                     f'src="data:image/jpeg;base64,{picture}"></figure>')
    for (repetition, phase, workload), count in groups.items():
        if count > EMBEDDED:
            parts.append(f"<p>{count - EMBEDDED} more scored call directions of repetition {repetition}, "
                         f"{html.escape(phase)}, {html.escape(workload)} are in audio/ and speech.json: "
                         f"<code>testbed listen RESULTS --phase {html.escape(phase)} --workload "
                         f"{html.escape(workload)}</code> writes them as WAV files.</p>")
    return "\n".join(parts)
