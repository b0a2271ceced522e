"""How each codec preset of the harness (testbed/measure/emodel.py names them) carries speech:
the real codec, its sample rate, frame, bitrate, VBR, in-band FEC and concealment.

G.729 has no free encoder: it stays a model (zero payloads of its size, E-model only).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal


@dataclass(frozen=True)
class AudioPreset:
    name: str  # the CODECS key
    codec: Literal["pcmu", "opus", "model"]
    rate: int  # samples per second the codec runs at
    frame_ms: int
    bitrate_bps: int = 0  # Opus: the target bitrate
    vbr: bool = True  # Opus: variable bitrate (packet sizes follow the speech)
    fec: bool = False  # Opus: in-band FEC (the next packet can restore a lost one)
    plc: bool = True  # conceal a missing frame (G.711: spandsp's PLC; Opus: its own)
    expected_loss_percent: int = 0  # Opus: what the encoder is told to expect (drives FEC)
    band: Literal["nb", "wb"] = "nb"  # how it is scored: P.862 (8 kHz) or P.862.2 (16 kHz)

    @property
    def frame_samples(self) -> int:
        return self.rate * self.frame_ms // 1000

    @property
    def carries_fec(self) -> bool:
        """Whether packets hold FEC data: libopus adds it only when told to expect loss (with
        none expected, "recovering" a frame from the next packet is only concealment)."""
        return self.fec and self.expected_loss_percent > 0

    @property
    def scored_rate(self) -> int:
        return 8000 if self.band == "nb" else 16000


PRESETS: dict[str, AudioPreset] = {
    "g711": AudioPreset("g711", "pcmu", 8000, 20),
    "g711-noplc": AudioPreset("g711-noplc", "pcmu", 8000, 20, plc=False),
    "g729": AudioPreset("g729", "model", 8000, 20),
    # WebRTC's defaults: 32 kbit/s voice, VBR, in-band FEC on (useinbandfec=1). The encoder
    # is told the loss the receiver reports (RTCP), 0 % at the start of a call, so FEC data is
    # only added once loss is expected: a voip workload's `expected_loss` sets it.
    "opus-webrtc": AudioPreset("opus-webrtc", "opus", 48000, 20, 32_000, fec=True, band="wb"),
    # Telegram's calls (tgcalls): Opus near 18 kbit/s in 60 ms frames; FEC off (an assumption)
    "opus-telegram": AudioPreset("opus-telegram", "opus", 48000, 60, 18_000, band="wb"),
}
