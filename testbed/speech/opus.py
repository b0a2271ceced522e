"""Opus through libopus (Debian's libopus0) and the opuslib binding.

Why opuslib over PyAV's bundled libopus: a receiver's concealment is the point here, and
only libopus' own decoder call exposes it frame by frame (decode a missing frame: PLC;
decode the next packet's in-band FEC data for a lost one), which FFmpeg's wrapper in PyAV
does not. opuslib 3.0.1's property setters for in-band FEC, expected loss and DTX drop
their value (a bug); they are set here through its lower-level ctl calls.
"""

from __future__ import annotations

import numpy as np

from testbed.errors import ProgramMissing
from testbed.speech.presets import AudioPreset

MAX_PACKET = 1275  # bytes: the largest Opus frame (RFC 6716 section 3.4)


def _opuslib():
    try:
        import opuslib
        import opuslib.api.ctl
        import opuslib.api.encoder
        import opuslib.api.info
    except Exception:  # opuslib raises a bare Exception when libopus.so.0 is missing
        raise ProgramMissing("libopus", "libopus0", "Opus calls") from None
    return opuslib


def version() -> str:
    return _opuslib().api.info.get_version_string().decode()


class OpusEncoder:
    """One direction's encoder, configured as the preset says (VoIP mode)."""

    def __init__(self, preset: AudioPreset, dtx: bool = False) -> None:
        opuslib = _opuslib()
        self.preset = preset
        self._encoder = opuslib.Encoder(preset.rate, 1, opuslib.APPLICATION_VOIP)
        state = self._encoder.encoder_state
        ctl, api = opuslib.api.ctl, opuslib.api.encoder
        api.encoder_ctl(state, ctl.set_bitrate, preset.bitrate_bps)
        api.encoder_ctl(state, ctl.set_vbr, int(preset.vbr))
        api.encoder_ctl(state, ctl.set_inband_fec, int(preset.fec))
        api.encoder_ctl(state, ctl.set_packet_loss_perc, preset.expected_loss_percent)
        api.encoder_ctl(state, ctl.set_dtx, int(dtx))
        self.lookahead = int(api.encoder_ctl(state, ctl.get_lookahead))  # samples the output lags the input

    def encode(self, frame: np.ndarray) -> bytes:
        """One frame of int16 samples -> one Opus packet (1-2 bytes while DTX holds silence)."""
        return self._encoder.encode(frame.astype("<i2").tobytes(), self.preset.frame_samples)


class OpusDecoder:
    """One direction's decoder: packets, concealment of a missing frame, FEC recovery."""

    def __init__(self, preset: AudioPreset) -> None:
        self.preset = preset
        self._decoder = _opuslib().Decoder(preset.rate, 1)

    def _pcm(self, data: bytes, fec: bool) -> np.ndarray:
        out = self._decoder.decode(data, self.preset.frame_samples, decode_fec=fec)
        return np.frombuffer(out, dtype="<i2").astype(np.int16)

    def decode(self, packet: bytes) -> np.ndarray:
        return self._pcm(packet, False)

    def conceal(self) -> np.ndarray:
        """A missing frame: Opus' packet loss concealment (comfort noise in a DTX pause)."""
        return self._pcm(b"", False)

    def recover(self, next_packet: bytes) -> np.ndarray:
        """A lost frame rebuilt from the in-band FEC data the next packet carries."""
        return self._pcm(next_packet, True)
