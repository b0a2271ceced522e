"""`testbed calls --stack webrtc`: real WebRTC calls across a fresh topology, run as a scenario
of one phase (under the profile, or on a clean path). The scenario is written out, so that a
user can read it, change it and run it again with `testbed run`; its run is any scenario's."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from testbed.errors import InputError, Problem
from testbed.profile.loader import PROFILE_DIR, LoadedProfile
from testbed.speech.reference import VOICES

SCENARIO_FILE = "scenario.yaml"  # the scenario's copy in its run's directory
WORKLOAD = "webrtc"
PHASE = "calls"


@dataclass(frozen=True)
class WebrtcCalls:
    """What the command line asked for."""

    calls: int = 1
    seconds: float = 10.0
    codec: str = "pcmu"
    ice: str = "none"
    relay_only: bool = False
    connect_timeout: float | None = None  # seconds; None: the workload's default
    redials: int = 0
    speech: tuple[str, ...] = field(default_factory=tuple)  # voices or WAV files; () the default voices


# where the workload's and the phase's fields come from on the command line, to name them in errors
OPTION_OF = {f"workloads[0].{name}": option for name, option in (
    ("speech", "--speech"), ("connect_timeout", "--connect-timeout"), ("redials", "--redials"),
    ("calls", "--calls"), ("policy", "--relay-only"), ("ice", "--ice"), ("codec", "--codec"))}
OPTION_OF["phases[0].duration"] = "--seconds"


def _profile_reference(loaded: LoadedProfile) -> str:
    """A catalog profile by its name; any other by its absolute path."""
    source = loaded.source.resolve()
    return source.stem if source.parent == PROFILE_DIR.resolve() else str(source)


def _speech(item: str) -> str:
    """A voice by its name; a WAV file by its absolute path (the scenario is written elsewhere)."""
    return item if item in VOICES else str(Path(item).resolve())


def scenario(asked: WebrtcCalls, loaded: LoadedProfile | None) -> dict:
    """The scenario's definition: the calls for `seconds` in one phase, every call scored."""
    workload: dict = {"type": "webrtc", "name": WORKLOAD, "calls": asked.calls, "codec": asked.codec,
                      "ice": asked.ice, "policy": "relay" if asked.relay_only else "all",
                      "redials": asked.redials, "scored_calls": asked.calls}
    if asked.connect_timeout is not None:
        workload["connect_timeout"] = f"{asked.connect_timeout:g}s"
    if asked.speech:
        workload["speech"] = "none" if asked.speech == ("none",) else [_speech(s) for s in asked.speech]
    phase: dict = {"name": PHASE, "duration": f"{asked.seconds:g}s"}
    where = "on a clean path"
    data: dict = {"name": "calls-webrtc"}
    if loaded is not None:
        phase["profile"] = "censor"
        where = f"under {loaded.profile.name}"
    data["title"] = f"{asked.calls} WebRTC call(s) ({asked.codec}, ICE servers: {asked.ice}) {where}"
    data["description"] = ("Written by `testbed calls --stack webrtc`; run it again, or change it, with "
                           "`testbed run` on this file.")
    data["topology"] = {"inside": ["caller"],
                        "outside": ["callee", "sig", *(["turn"] if asked.ice != "none" else [])]}
    if loaded is not None:
        data["profiles"] = {"censor": _profile_reference(loaded)}
    data["phases"] = [phase]
    data["workloads"] = [workload]
    return data


def write(data: dict, path: Path) -> Path:
    path.write_text(yaml.safe_dump(data, sort_keys=False, width=100))
    return path


def as_options(error: InputError, asked: WebrtcCalls) -> InputError:
    """The loader's problems with the written scenario, named by the options they came from
    (and, for one of several --speech, by its value)."""
    problems = []
    for problem in error.problems:
        option = next((o for prefix, o in OPTION_OF.items() if problem.field.startswith(prefix)), None)
        if option is None:
            problems.append(problem)
            continue
        index = re.fullmatch(r"workloads\[0\]\.speech\[(\d+)\]", problem.field)
        if index and int(index[1]) < len(asked.speech):
            option = f"{option} {asked.speech[int(index[1])]}"
        problems.append(Problem("command line", None, option, problem.message))
    return InputError(problems)
