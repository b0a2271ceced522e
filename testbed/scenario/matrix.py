"""Every profile x codec side by side: a call and chat on a fresh topology per cell, the
clean path first. The headline view: what each censorship profile does to a call."""

from __future__ import annotations

import json
import math
import threading
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

from testbed.profile.loader import LoadedProfile
from testbed.report import results
from testbed.report.plots import matrix_chart
from testbed.scenario.phase import describe_error, run_workloads
from testbed.scenario.session import Experiment
from testbed.scenario.workloads import PhaseContext
from testbed.scenario.workloads.chat import Chat
from testbed.scenario.workloads.voip import Voip

CLEAN = "clean-path"


@dataclass(frozen=True)
class Cell:
    profile: str
    codec: str
    mos_cq: float
    loss: float  # %, lost or discarded by the jitter buffer
    jitter_ms: float
    chat_delivered: float  # 0-1
    error: str = ""
    idle: tuple[str, ...] = ()  # the profile's classes, when none of them took a packet


def _cell(loaded: LoadedProfile | None, codec: str, seconds: float, port: int, framing: str,
          scratch: Path) -> Cell:
    name = loaded.profile.name if loaded else CLEAN
    call = Voip(type="voip", codec=codec, port=port, stun=framing == "stun", reflector=framing == "reflector")
    chat = Chat(type="chat", interval="200ms", deadline="3s")
    with Experiment(label="m") as session:
        session.apply(loaded)
        found = run_workloads([call, chat], PhaseContext(session, "matrix", 1, seconds, scratch, False))
        took: dict[str, int] = {}
        for (_, traffic_class, _), counted in session.counts().items():
            took[traffic_class] = took.get(traffic_class, 0) + counted.packets
    classes = [c for c in took if c != "default"]
    # every class of the profile idle: it treated the cell's traffic as unmatched
    idle = tuple(classes) if classes and not any(took[c] for c in classes) else ()
    failed = [f"{w}: {describe_error(r)}" for w, r in found.items() if isinstance(r, BaseException)]
    if failed:
        return Cell(name, codec, math.nan, math.nan, math.nan, math.nan, "; ".join(failed))
    voip, text = found["voip"], found["chat"]
    assert isinstance(voip, dict) and isinstance(text, dict)
    return Cell(name, codec, voip["mos_cq"], voip["loss"], voip["jitter"], text["delivered"], idle=idle)


def run_matrix(profiles: list[LoadedProfile | None], codecs: list[str], seconds: float, port: int,
               results_root: Path, parallel: int = 1, framing: str = "rtp",
               progress: Callable[[str], None] = lambda _: None) -> tuple[list[Cell], Path]:
    jobs = [(p, c) for p in profiles for c in codecs]
    cells: list[Cell | None] = [None] * len(jobs)
    slots = threading.Semaphore(max(1, parallel))
    work = results.new_directory(results_root, "matrix")

    def run(i: int) -> None:
        profile, codec = jobs[i]
        name = profile.profile.name if profile else CLEAN
        with slots:
            progress(f"{name} x {codec}")
            try:
                cells[i] = _cell(profile, codec, seconds, port, framing, work)
            except Exception as exc:  # one failing cell does not stop the others
                cells[i] = Cell(name, codec, math.nan, math.nan, math.nan, math.nan, describe_error(exc))

    threads = [threading.Thread(target=run, args=(i,), daemon=True) for i in range(len(jobs))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    done = [c for c in cells if c is not None]
    (work / "matrix.json").write_text(json.dumps([asdict(c) for c in done], indent=2))
    matrix_chart(done, work / "matrix.png")
    return done, results.finish(work)
