"""Every profile x codec side by side: one call and chat on a fresh topology per cell.
The headline view: a clean path against each censorship profile."""

from __future__ import annotations

import json
import statistics
import threading
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

from testbed.compile.compiler import Target, compile_profile
from testbed.kernel import apply as engine
from testbed.measure.call import stream_metrics
from testbed.measure.emodel import CODECS
from testbed.profile.loader import LoadedProfile
from testbed.topology import build
from testbed.topology.model import TopologySpec
from testbed.traffic.calls import run_calls
from testbed.traffic.chat import run_chat


@dataclass(frozen=True)
class Cell:
    profile: str
    codec: str
    mos_cq: float
    loss: float
    jitter_ms: float
    chat_delivered: float
    error: str = ""


def _cell(index: int, loaded: LoadedProfile | None, codec: str, seconds: float, port: int) -> Cell:
    run = f"mx{index}"
    name = loaded.profile.name if loaded else "clean-path"
    state = build.up(TopologySpec(), run)
    try:
        if loaded is not None:
            plan = compile_profile(loaded, Target(state.devices("outside"), state.devices("inside")))
            engine.apply(plan, state.censor.netns)
        chat_result: list = []
        chat = threading.Thread(target=lambda: chat_result.append(
            run_chat(state, count=max(1, int(seconds * 5)), interval_s=0.2, deadline_s=3.0)))
        chat.start()
        calls = run_calls(state, codec, calls=1, seconds=seconds, port=port)
        chat.join()
    finally:
        build.down(run)
    metrics = [stream_metrics(t, CODECS[codec]) for t in calls.traces]
    return Cell(name, codec, statistics.fmean(m.quality.mos_cq for m in metrics),
                statistics.fmean(m.effective_loss.loss_percent for m in metrics),
                statistics.fmean(m.jitter_ms for m in metrics), chat_result[0].delivery_ratio)


def run_matrix(profiles: list[LoadedProfile | None], codecs: list[str], seconds: float, port: int,
               results_root: Path, parallel: int = 1,
               progress: Callable[[str], None] = lambda _: None) -> tuple[list[Cell], Path]:
    jobs = [(p, c) for p in profiles for c in codecs]
    cells: list[Cell | None] = [None] * len(jobs)
    lock = threading.Semaphore(max(1, parallel))

    def work(i: int) -> None:
        profile, codec = jobs[i]
        with lock:
            progress(f"{profile.profile.name if profile else 'clean path'} x {codec}")
            try:
                cells[i] = _cell(i, profile, codec, seconds, port)
            except Exception as exc:  # one failing cell does not stop the others
                cells[i] = Cell(profile.profile.name if profile else "clean-path", codec, float("nan"),
                                float("nan"), float("nan"), float("nan"), f"{type(exc).__name__}: {exc}")

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(jobs))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    done = [c for c in cells if c is not None]
    directory = results_root / f"{datetime.now(UTC).strftime('%Y%m%dT%H%M%SZ')}-matrix"
    directory.mkdir(parents=True)
    (directory / "matrix.json").write_text(json.dumps([asdict(c) for c in done], indent=2))
    _chart(done, directory / "matrix.png")
    return done, directory


def _chart(cells: list[Cell], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    profiles = list(dict.fromkeys(c.profile for c in cells))
    codecs = list(dict.fromkeys(c.codec for c in cells))
    fig, ax = plt.subplots(figsize=(max(6, 1.6 * len(profiles)), 4))
    width = 0.8 / len(codecs)
    for k, codec in enumerate(codecs):
        by_profile = {c.profile: c.mos_cq for c in cells if c.codec == codec}
        values = [by_profile.get(p, np.nan) for p in profiles]
        ax.bar(np.arange(len(profiles)) + k * width - 0.4 + width / 2, values, width, label=codec)
    ax.set_xticks(np.arange(len(profiles)), profiles, rotation=15, ha="right")
    ax.set_ylabel("call MOS-CQ")
    ax.set_ylim(1, 4.6)
    ax.legend()
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
