"""What a workload's calls say (voip, webrtc): built-in voices by name, or the user's WAV files,
resolved against the scenario's directory and checked when the scenario loads."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import ValidationInfo, field_validator

from testbed.profile.types import FieldError, Strict
from testbed.speech.reference import VOICES


class SaysSpeech(Strict):
    """Validates the `speech: list[str]` field a subclass declares (its default and meaning are
    its own, and its place among the subclass' fields)."""

    if TYPE_CHECKING:
        speech: list[str]

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

    def input_files(self) -> list[Path]:
        return [Path(s) for s in self.speech if s not in VOICES]
