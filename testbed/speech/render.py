"""The audio a receiver plays: each frame's fate (testbed/speech/playout.py) through the real
decoder of the preset.

- Opus: a played frame is decoded; an FEC frame is decoded from the next packet's in-band
  FEC data; a lost or late frame is Opus' packet loss concealment; a DTX frame is what the
  decoder makes of no packet after the sender went quiet (its comfort noise).
- G.711: a played frame is expanded; a lost or late frame is spandsp's G.711 Appendix I
  style concealment (or silence for the preset without concealment); a DTX frame is
  silence.

The result lines up with the reference sample for sample (the codec's own delay removed).
Deterministic: the same fates and media give the same samples.
"""

from __future__ import annotations

import numpy as np

from testbed.speech import g711
from testbed.speech.media import Media
from testbed.speech.playout import DTX, FEC, PLAYED, Playout


def _opus(media: Media, playout: Playout) -> list[np.ndarray]:
    from testbed.speech.opus import OpusDecoder

    decoder = OpusDecoder(media.preset)
    out = []
    for frame, fate in enumerate(playout.fates.tolist()):
        if fate == PLAYED:
            out.append(decoder.decode(media.payload(frame)))
        elif fate == FEC:
            out.append(decoder.recover(media.payload(frame + 1)))
        else:  # lost, late or DTX: the decoder is told a packet is missing
            out.append(decoder.conceal())
    return out


def _g711(media: Media, playout: Playout) -> list[np.ndarray]:
    from testbed.speech.plc import G711Concealer

    n = media.preset.frame_samples
    concealer = G711Concealer() if media.preset.plc else None
    silence = np.zeros(n, np.int16)
    out = []
    for frame, fate in enumerate(playout.fates.tolist()):
        if fate in (PLAYED, DTX):
            samples = g711.decode(media.payload(frame)) if fate == PLAYED else silence
            out.append(concealer.received(samples) if concealer else samples)
        else:
            out.append(concealer.conceal(n) if concealer else silence)
    return out


def render(media: Media, playout: Playout) -> np.ndarray:
    """int16 samples at the codec's rate, as long as the call, aligned with its reference."""
    if media.preset.codec == "opus":
        frames = _opus(media, playout)
    elif media.preset.codec == "pcmu":
        frames = _g711(media, playout)
    else:
        raise ValueError(f"{media.preset.name} is a model-only preset: there is no audio to decode")
    audio = np.concatenate(frames) if frames else np.zeros(0, np.int16)
    delay = media.delay_samples
    return np.concatenate([audio[delay:], np.zeros(min(delay, audio.size), np.int16)])
