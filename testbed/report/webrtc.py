"""The WebRTC calls of a results directory, call by call: did it connect, how fast, over
which candidate pair, and the ICE states on the way (from traces/repR-PHASE-NAME.json,
written by the webrtc workload). For summary.md and report.html, with the callee's audio."""

from __future__ import annotations

import base64
import html
import json
from pathlib import Path

from testbed.errors import InputError
from testbed.measure.webrtc import RELAY_TRANSPORT

CAVEAT = ("The audio is what aiortc played: no loss concealment, and a jitter buffer that is not a "
          "realistic playout model (aiortc issue #543).")


def _trace_paths(directory: Path, info: dict) -> list[tuple[int, str, str, Path]]:
    """(repetition, phase, workload, trace) of every webrtc workload that ran."""
    definition = info["definition"]
    phases = [p["name"] for p in definition["phases"]]
    found = []
    for workload in definition["workloads"]:
        if workload.get("type") != "webrtc":
            continue
        for repetition in range(1, int(definition.get("repetitions", 1)) + 1):
            for phase in workload.get("phases") or phases:
                path = directory / "traces" / f"rep{repetition}-{phase}-{workload['name']}.json"
                if path.exists():
                    found.append((repetition, phase, workload["name"], path))
    return found


def _pair(call: dict, ice: str) -> str:
    pair = call.get("pair")
    if not call["connected"] or pair is None:
        return "-"
    text = f"{pair['local']} to {pair['remote']}"
    return f"{text} (relay over {RELAY_TRANSPORT[ice]})" if "relay" in (pair["local"], pair["remote"]) \
        and ice in RELAY_TRANSPORT else text


def _states(call: dict) -> str:
    """The ICE states with their times from the offer: 'checking 12 ms, completed 45 ms'."""
    offered = next((t for t, kind, _ in call["timeline"] if kind == "offer"), 0.0)
    return ", ".join(f"{state} {t - offered:.0f} ms" for t, kind, state in call["timeline"]
                     if kind in ("ice", "deadline"))


def calls(directory: Path, info: dict) -> list[dict]:
    """One row per call of every webrtc workload, as the caller saw it."""
    rows = []
    for repetition, phase, workload, path in _trace_paths(directory, info):
        try:
            trace = json.loads(path.read_text())
            callers, ice = trace["caller"], trace["ice"]
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise InputError.single(f"cannot read the WebRTC calls: {exc}", str(path)) from None
        for call in callers:
            heard = path.with_name(f"{path.stem}-call{call['call']}-heard.flac")
            rows.append({"repetition": repetition, "phase": phase, "workload": workload, "call": call["call"],
                         "ice": ice, "connected": call["connected"], "setup_ms": call["setup_ms"],
                         "pair": _pair(call, ice), "states": _states(call),
                         "heard": heard if heard.exists() else None})
    return rows


COLUMNS = ("phase", "workload", "call", "ICE servers", "connected", "setup", "candidate pair",
           "ICE states (from the offer)")


def _cells(row: dict) -> list[str]:
    setup = "-" if row["setup_ms"] is None else f"{row['setup_ms']:.0f} ms"
    return [row["phase"], row["workload"], str(row["call"]), row["ice"], "yes" if row["connected"] else "no",
            setup, row["pair"], row["states"]]


def summary_lines(directory: Path, info: dict) -> list[str]:
    rows = calls(directory, info)
    if not rows:
        return []
    lines = ["## WebRTC calls", "", "| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    lines += ["| " + " | ".join(_cells(r)) + " |" for r in rows]
    return [*lines, "", CAVEAT, ""]


def _player(path: Path | None) -> str:
    if path is None:
        return ""
    data = base64.b64encode(path.read_bytes()).decode()
    return f'<audio controls preload="none" src="data:audio/flac;base64,{data}"></audio>'


def section_html(directory: Path, info: dict) -> str:
    rows = calls(directory, info)
    if not rows:
        return ""
    heads = "".join(f"<th>{html.escape(h)}</th>" for h in (*COLUMNS, "heard"))
    body = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in _cells(r))
                   + f"<td>{_player(r['heard'])}</td></tr>" for r in rows)
    return f"<h2>WebRTC calls</h2><p>{html.escape(CAVEAT)}</p><table><tr>{heads}</tr>{body}</table>"
