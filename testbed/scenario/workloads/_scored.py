"""The `scores` field of the workloads whose calls are heard (voip, webrtc): which speech
scores the scoring stage computes. Each costs CPU after the run (benchmarks/speech_scoring.py:
ViSQOL and DNSMOS take most of it), so a scenario with many scored calls can ask for fewer."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from testbed.profile.types import FieldError, Strict
from testbed.speech.scores import NAMES

ScoreName = Literal[NAMES]


class ScoresSpeech(Strict):
    scores: list[ScoreName] = Field(list(NAMES), min_length=1,
                                    description="the speech scores computed for the scored calls (default: "
                                    "all; `heard` always): fewer score faster; ViSQOL and DNSMOS cost most")

    @model_validator(mode="after")
    def _each_once(self) -> ScoresSpeech:
        for k, name in enumerate(self.scores):
            if name in self.scores[:k]:
                raise FieldError(("scores", k), f"{name!r} is listed twice")
        return self

    def unscored(self, metric: str) -> str | None:
        """Why a speech score is never computed (None: it is, or it is not a score)."""
        if metric in NAMES and metric not in self.scores:
            return f"scores ({', '.join(self.scores)}) leaves out {metric}"
        return None
