"""What the workloads whose calls are heard (voip, webrtc) share: what their calls say
(built-in voices by name, or the user's WAV files, resolved against the scenario's directory
and checked when the scenario loads), which speech scores the scoring stage computes, and the
note that asks it to (testbed/scenario/scoring.py reads it)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from pydantic import Field, ValidationInfo, field_validator, model_validator

from testbed.profile.types import FieldError, Strict
from testbed.scenario.scoring import PENDING
from testbed.speech.reference import VOICES
from testbed.speech.scores import DEFAULT, NAMES

if TYPE_CHECKING:
    from testbed.scenario.workloads.base import PhaseContext

ScoreName = Literal[NAMES]


class HeardCalls(Strict):
    """Validates the `speech: list[str]` field a subclass declares (its default and meaning are
    its own, and its place among the subclass' fields), and adds `scores`."""

    if TYPE_CHECKING:
        speech: list[str]
        name: str
        type: str

    scores: list[ScoreName] = Field(
        list(DEFAULT), min_length=1,
        description=f"the speech scores computed for the scored calls (default: {', '.join(DEFAULT)}; "
                    "`heard` always): ViSQOL and DNSMOS cost about as much CPU again as the three together")

    @field_validator("speech", mode="before", check_fields=False)
    @classmethod
    def _speech_list(cls, value: object) -> object:
        if value in ("none", None):
            return []
        return [value] if isinstance(value, str) else value

    @field_validator("speech", check_fields=False)
    @classmethod
    def _speech_sources(cls, value: list[str], info: ValidationInfo) -> list[str]:
        """Voices by name; WAV files resolved against the scenario's directory and checked now."""
        from testbed.speech.reference import BadRecording, read_wav

        base = Path((info.context or {}).get("base", "."))
        out = []
        for k, item in enumerate(value):
            if item in VOICES:
                out.append(item)
                continue
            path = Path(item) if Path(item).is_absolute() else base / item
            if not path.suffix.lower() == ".wav" and not path.exists():
                raise FieldError((k,), f"{item!r} is neither a voice ({', '.join(VOICES)}) nor a WAV file")
            try:
                read_wav(path.resolve(), where=f"speech[{k}]")
            except BadRecording as exc:
                raise FieldError((k,), exc.reason) from None
            out.append(str(path.resolve()))
        return out

    @model_validator(mode="after")
    def _each_score_once(self) -> HeardCalls:
        for k, name in enumerate(self.scores):
            if name in self.scores[:k]:
                raise FieldError(("scores", k), f"{name!r} is listed twice")
        return self

    def input_files(self) -> list[Path]:
        return [Path(s) for s in self.speech if s not in VOICES]

    def unscored(self, metric: str) -> str | None:
        """Why a speech score is never computed (None: it is, or it is not a score)."""
        if metric in NAMES and metric not in self.scores:
            return f"scores ({', '.join(self.scores)}) leaves out {metric}"
        return None

    def leave_note(self, ctx: PhaseContext, calls: list[dict], **fields: object) -> None:
        """The note that asks the scoring stage for this phase's sample of calls (`calls`, and
        the `fields` of the workload's type: testbed/scenario/scoring.py's CALL_KEYS and
        KIND_KEYS, keyed by the note's kind, which is that type)."""
        note = {"kind": self.type, "repetition": ctx.repetition, "phase": ctx.phase, "workload": self.name,
                "calls": calls, "scores": self.scores, **fields}
        ctx.artefact(self.name, PENDING).write_text(json.dumps(note, indent=1))
