"""Reference speech: what each call direction says.

Built-in voices are synthesised once with espeak-ng and cached; a user's WAV is read,
checked and used instead. Either way the speech is resampled to the codec's rate and
levelled to -26 dBov active speech (ITU-T P.56), the level speech-quality tests use.

Why espeak-ng over flite (both in Debian): espeak-ng speaks Russian as well as English
(flite has English voices only), has distinct female and male variants, and its output is
deterministic for a given version, so a cached reference never drifts. The male voices
use its Klatt synthesiser: the default one's buzzy glottal source is hard on low-rate
codecs (Opus at 32 kbit/s scored PESQ-WB 3.8 on it against 4.0-4.1 on Klatt's, and G.711
4.0 against 4.4), a property of the synthesiser, not of the codec.

How it differs from ITU-T P.501 test speech: P.501 (and P.862's conformance files) are
recordings of people, band-limited and levelled with care. Formant synthesis is cleaner
and more regular: no breath, no room, a steady pitch contour. Scores on it rank
impairments the same way but are not comparable, value for value, with published scores
on recorded speech; for that, give your own recording (`speech: my.wav`).
"""

from __future__ import annotations

import functools
import hashlib
import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from testbed.errors import InputError, Problem, ProgramMissing
from testbed.measure.arrays import load_npy
from testbed.speech.cache import remembered
from testbed.speech.level import active_level_dbov, normalise

MIN_SECONDS, MAX_SECONDS = 3.0, 60.0  # shorter: too little for PESQ; longer: one loop is enough
MIN_ACTIVITY = 0.05  # share of a WAV that must be speech (P.56 activity) for it to be scored
GAP_S, EDGE_S = 0.6, 0.4  # silence between sentences and at both ends: pauses, as in P.862 material

# Harvard sentences (IEEE 1969, public domain) and everyday Russian sentences: about 8-9
# seconds per voice, speech 70-80 % of the time.
ENGLISH_1 = ("The birch canoe slid on the smooth planks.", "Glue the sheet to the dark blue background.",
             "It's easy to tell the depth of a well.")
ENGLISH_2 = ("These days a chicken leg is a rare dish.", "Rice is often served in round bowls.",
             "The juice of lemons makes fine punch.")
RUSSIAN_1 = ("Съешь же ещё этих мягких французских булок, да выпей чаю.",
             "Сегодня утром мы долго ждали поезд на холодной станции.")
RUSSIAN_2 = ("В старом парке за рекой цветут высокие липы.",
             "Позвони мне вечером, когда вернёшься домой.", "Дети читают книгу о море.")


@dataclass(frozen=True)
class Voice:
    name: str
    espeak_voice: str
    sentences: tuple[str, ...]
    description: str


VOICES: dict[str, Voice] = {v.name: v for v in (
    Voice("en-f", "en-us+f3", ENGLISH_1, "English, female (espeak-ng en-us+f3)"),
    Voice("en-m", "en-us+klatt4", ENGLISH_2, "English, male (espeak-ng en-us+klatt4)"),
    Voice("ru-f", "ru+f3", RUSSIAN_1, "Russian, female (espeak-ng ru+f3)"),
    Voice("ru-m", "ru+klatt4", RUSSIAN_2, "Russian, male (espeak-ng ru+klatt4)"),
)}
DEFAULT_VOICES = ("en-f", "en-m", "ru-f", "ru-m")  # call directions take them in turn


@functools.cache
def espeak_version() -> str:
    if shutil.which("espeak-ng") is None:
        raise ProgramMissing("espeak-ng", "espeak-ng", "reference speech for calls")
    result = subprocess.run(["espeak-ng", "--version"], capture_output=True, text=True, check=True)
    return result.stdout.strip()


def _speak(voice: Voice) -> tuple[np.ndarray, int]:
    """Each sentence through espeak-ng, joined with pauses: float samples and their rate."""
    import soundfile

    espeak_version()
    parts: list[np.ndarray] = []
    rate = 0
    with tempfile.TemporaryDirectory(prefix="testbed-speech-") as tmp:
        for k, sentence in enumerate(voice.sentences):
            path = Path(tmp) / f"{k}.wav"
            subprocess.run(["espeak-ng", "-v", voice.espeak_voice, "-s", "150", "-w", str(path), sentence],
                           check=True, capture_output=True)
            samples, rate = soundfile.read(path, dtype="float64")
            parts.append(samples)
    gap, edge = np.zeros(round(GAP_S * rate)), np.zeros(round(EDGE_S * rate))
    joined = [edge]
    for part in parts:
        joined += [part, gap]
    joined[-1] = edge
    return np.concatenate(joined), rate


def resample(x: np.ndarray, rate_in: int, rate_out: int) -> np.ndarray:
    """Polyphase resampling (scipy's, with its anti-aliasing filter)."""
    from math import gcd

    from scipy.signal import resample_poly

    if rate_in == rate_out:
        return x
    g = gcd(rate_in, rate_out)
    return resample_poly(x, rate_out // g, rate_in // g)


def to_int16(x: np.ndarray) -> np.ndarray:
    return np.round(np.clip(x, -1.0, 32767 / 32768) * 32768).astype(np.int16)


def _cached(key: str, make: Callable[[], np.ndarray]) -> np.ndarray:
    """int16 samples kept in the speech cache as KEY.npy."""
    return remembered(f"{key}.npy", load_npy, make, _save_npy)


def _save_npy(samples: np.ndarray, path: Path) -> None:
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp.npy")
    try:
        with os.fdopen(fd, "wb") as out:
            np.save(out, samples)
        os.replace(name, path)
    finally:
        Path(name).unlink(missing_ok=True)


def voice_speech(name: str, rate: int) -> np.ndarray:
    """A built-in voice at `rate`, levelled: int16 samples."""
    voice = VOICES[name]
    key = hashlib.sha256(f"{espeak_version()}|{voice}|{rate}|{GAP_S}|{EDGE_S}|v1".encode()).hexdigest()[:16]

    def make() -> np.ndarray:
        samples, source_rate = _speak(voice)
        return to_int16(normalise(resample(samples, source_rate, rate), rate))

    return _cached(f"{name}-{rate}-{key}", make)


class BadRecording(InputError):
    """A recording refused (exit 2); `reason` says why, without the file's name."""

    def __init__(self, where: str, path: Path, reason: str) -> None:
        super().__init__([Problem(str(path), None, "", f"{where}: {path}: {reason}")])
        self.reason = reason


def read_wav(path: Path, where: str = "speech") -> tuple[np.ndarray, int]:
    """A user's recording, checked: float samples and their rate. BadRecording says why not."""
    import soundfile

    def refuse(why: str) -> BadRecording:
        return BadRecording(where, path, why)

    if not path.is_file():
        raise refuse("no such file" if not path.exists() else "not a regular file")
    try:
        info = soundfile.info(str(path))
    except Exception as exc:  # libsndfile's errors: not a sound file, truncated, unreadable
        raise refuse(f"not a readable sound file ({str(exc).strip() or type(exc).__name__})") from None
    if info.channels != 1:
        raise refuse(f"{info.channels} channels: give a mono recording (sox in.wav out.wav remix 1)")
    if info.samplerate < 8000:
        raise refuse(f"{info.samplerate} Hz: the rate must be at least 8000 Hz")
    seconds = info.frames / info.samplerate
    if seconds < MIN_SECONDS:
        raise refuse(f"{seconds:.1f} s long: give at least {MIN_SECONDS:g} s of speech")
    if seconds > MAX_SECONDS:
        raise refuse(f"{seconds:.0f} s long: give at most {MAX_SECONDS:g} s (calls loop it)")
    try:
        samples, rate = soundfile.read(str(path), dtype="float64")
    except Exception as exc:
        raise refuse(f"unreadable ({str(exc).strip() or type(exc).__name__})") from None
    level, activity = active_level_dbov(samples, rate)
    if not np.isfinite(level) or activity < MIN_ACTIVITY or level < -70:
        raise refuse("silent: no speech found (ITU-T P.56 activity "
                     f"{100 * activity:.0f} %)")
    return samples, rate


def wav_speech(path: Path, rate: int) -> np.ndarray:
    """A user's WAV at `rate`, levelled: int16 samples (cached by its content)."""
    data = Path(path).read_bytes()
    key = hashlib.sha256(data + f"|{rate}|v1".encode()).hexdigest()[:16]

    def make() -> np.ndarray:
        samples, source_rate = read_wav(Path(path))
        return to_int16(normalise(resample(samples, source_rate, rate), rate))

    return _cached(f"wav-{rate}-{key}", make)


def speech(source: str, rate: int) -> np.ndarray:
    """`source`: a built-in voice's name or a WAV file's path."""
    return voice_speech(source, rate) if source in VOICES else wav_speech(Path(source), rate)
