"""A call direction's media: its reference speech encoded frame by frame with the real codec
of its preset, as the sender puts it on the wire.

The clip is encoded twice in a row and the second pass is kept, so that looping it (a call
longer than the clip) joins frames the encoder really produced in that order. Frames the
sender leaves out under DTX are empty: Opus' own DTX (a packet of 1-2 bytes means "nothing
to send", as WebRTC treats it), or for G.711 the frames ITU-T P.56 finds no speech in.

Saved as one .npz: the reference samples (what scores compare against), the payloads, and
what the receiver needs to decode them. Each is also kept in the speech cache
(testbed/speech/cache.py), keyed by all that makes it, the encoder's version included: in
the emulated VM, encoding four voices takes about 35 s.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from testbed.measure.arrays import load_npz
from testbed.speech import g711
from testbed.speech.cache import remembered
from testbed.speech.presets import AudioPreset

DTX_MAX_BYTES = 2  # an Opus packet this small carries no speech: DTX leaves it unsent
FORMAT = 2  # 2: the whole preset, its overrides included


@dataclass(frozen=True)
class Media:
    preset: AudioPreset
    source: str  # a voice's name or a WAV's path
    reference: np.ndarray  # int16 at preset.rate, a whole number of frames
    payloads: list[bytes]  # per frame of the clip; b"" where DTX sends nothing
    delay_samples: int  # the codec's delay: decoded audio lags the reference by this much
    dtx: bool

    @property
    def frames(self) -> int:
        return len(self.payloads)

    def payload(self, frame: int) -> bytes:
        """Frame `frame` of the call (the clip loops)."""
        return self.payloads[frame % self.frames]

    def reference_for(self, frames: int) -> np.ndarray:
        """The reference of a call `frames` long (the clip looped)."""
        loops = -(-frames // self.frames)
        return np.tile(self.reference, loops)[: frames * self.preset.frame_samples]


def _clip(preset: AudioPreset, source: str) -> np.ndarray:
    from testbed.speech import reference

    samples = reference.speech(source, preset.rate)
    n = preset.frame_samples
    return np.concatenate([samples, np.zeros(-len(samples) % n, np.int16)])


def encode(preset: AudioPreset, source: str, dtx: bool = False) -> Media:
    if preset.codec == "model":
        raise ValueError(f"{preset.name} has no free encoder: it is a model-only preset")
    clip = _clip(preset, source)
    frames = clip.reshape(-1, preset.frame_samples)
    if preset.codec == "opus":
        from testbed.speech.opus import OpusEncoder

        encoder = OpusEncoder(preset, dtx=dtx)
        for frame in frames:  # the first pass only warms the encoder up (see above)
            encoder.encode(frame)
        payloads = [encoder.encode(frame) for frame in frames]
        if dtx:
            payloads = [b"" if len(p) <= DTX_MAX_BYTES else p for p in payloads]
        delay = encoder.lookahead
    else:
        from testbed.speech.level import active_samples

        speech = active_samples(clip / 32768, preset.rate).reshape(-1, preset.frame_samples).any(axis=1)
        payloads = [g711.encode(frame) if (s or not dtx) else b""
                    for frame, s in zip(frames, speech, strict=True)]
        delay = 0
    return Media(preset, source, clip, payloads, delay, dtx)


def save(media: Media, path: Path) -> None:
    meta = {"format": FORMAT, "preset": media.preset.__dict__, "source": media.source,
            "delay_samples": media.delay_samples, "dtx": media.dtx}
    sizes = np.array([len(p) for p in media.payloads], dtype=np.int64)
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp.npz")
    os.close(fd)
    tmp = Path(name)
    try:
        np.savez(tmp, meta=np.array(json.dumps(meta)), reference=media.reference, sizes=sizes,
                 payloads=np.frombuffer(b"".join(media.payloads), dtype=np.uint8))
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def load(path: Path) -> Media:
    data = load_npz(path)
    meta = json.loads(str(data["meta"]))
    if meta.get("format") != FORMAT:
        raise ValueError(f"{path}: media format {meta.get('format')}, expected {FORMAT}")
    blob = data["payloads"].tobytes()
    ends = np.cumsum(data["sizes"]).tolist()
    starts = [0, *ends[:-1]]
    preset = AudioPreset(**meta["preset"])  # as encoded, overrides (expected loss) included
    return Media(preset, meta["source"], data["reference"],
                 [blob[a:b] for a, b in zip(starts, ends, strict=True)], meta["delay_samples"], meta["dtx"])


def media_key(preset: AudioPreset, source: str, dtx: bool) -> str:
    """Names the media of (preset, speech, DTX): a WAV by its content, a voice by its name."""
    from testbed.speech.reference import VOICES

    what = Path(source).read_bytes() if source not in VOICES else source.encode()
    encoder = "g711"  # this project's encoder: FORMAT names its changes
    if preset.codec == "opus":
        from testbed.speech.opus import version

        encoder = version()  # another libopus may put other bytes on the wire
    made_by = json.dumps([preset.__dict__, dtx, FORMAT, encoder], sort_keys=True)
    digest = hashlib.sha256(what + made_by.encode())
    label = source if source in VOICES else "wav"
    return f"{preset.name}-{label}{'-dtx' if dtx else ''}-{digest.hexdigest()[:12]}"


def prepare(preset: AudioPreset, source: str, dtx: bool, directory: Path) -> Path:
    """The media file for (preset, speech, DTX) in `directory`, unless it is there: from the
    speech cache, encoded (and cached) on first use."""
    name = f"media-{media_key(preset, source, dtx)}.npz"
    path = directory / name
    if not path.exists():
        directory.mkdir(parents=True, exist_ok=True)
        save(remembered(name, load, lambda: encode(preset, source, dtx), save), path)
    return path
