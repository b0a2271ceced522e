"""`voip`: N bidirectional VoIP-like calls (RTP paced per codec) carrying real encoded
speech, scored per direction with the jitter buffers and the G.107 E-model, and, for a
sample of the calls, by decoding what arrived and scoring the audio (PESQ, ViSQOL,
DNSMOS, PLCMOS, STOI: testbed/scenario/scoring.py); averaged over the call directions."""

from __future__ import annotations

import dataclasses
import math
import statistics
from collections.abc import Callable
from pathlib import Path
from typing import ClassVar, Literal

from pydantic import Field, field_validator, model_validator

from testbed.measure.call import StreamMetrics, stream_metrics
from testbed.measure.emodel import CODECS
from testbed.measure.trace import StreamTrace, save_traces
from testbed.profile.types import FieldError
from testbed.report.speech import ROW_METRICS
from testbed.scenario.workloads._heard import HeardCalls
from testbed.scenario.workloads.base import Metric, Metrics, PhaseContext, TwoNodes
from testbed.speech import media as media_files
from testbed.speech.presets import PRESETS, AudioPreset
from testbed.speech.reference import DEFAULT_VOICES
from testbed.traffic.calls import run_calls


class Voip(HeardCalls, TwoNodes):
    type: Literal["voip"]
    name: str = "voip"
    codec: str = Field("g711", description="g711, g711-noplc, g729, opus-webrtc or opus-telegram")
    calls: int = Field(1, ge=1, le=1000, description="concurrent bidirectional calls")
    port: int = Field(40000, ge=1, le=65535, description="UDP port of the media at both ends")
    stun: bool = Field(False, description="frame media in STUN, as WhatsApp's relays")
    reflector: bool = Field(False, description="frame media as Telegram's legacy reflectors")
    dtx: bool = Field(False, description="silence suppression: frames without speech are not sent")
    speech: list[str] = Field(list(DEFAULT_VOICES),
                              description="what the calls say, taken in turn by the call directions: "
                              "built-in voices (en-f, en-m, ru-f, ru-m) or WAV files (mono, 3-60 s; "
                              "relative to the scenario); none: payloads of zeros, no audio")
    scored_calls: int = Field(1, ge=0, le=1000, description="calls per phase whose received audio is "
                              "decoded and scored (both directions); the others get the E-model only")
    expected_loss: int | None = Field(None, ge=0, le=100, description="Opus: the loss (%) the encoder is "
                                      "told to expect, as WebRTC sets it from RTCP reports; above 0 it "
                                      "adds in-band FEC (default: the codec preset's)")

    RENAMED: ClassVar[dict[str, str]] = {"caller": "client", "callee": "server"}
    METRICS: ClassVar[tuple[Metric, ...]] = (
        Metric("mos_cq", "MOS 1-5", "E-model MOS with the mouth-to-ear delay (conversational)"),
        Metric("mos_lq", "MOS 1-5", "E-model MOS without delay (listening)"),
        Metric("loss", "%", "packets lost on the wire or discarded late by the jitter buffer"),
        Metric("network_loss", "%", "packets lost on the wire"),
        Metric("burst_r", "", "BurstR: 1 for random loss, above 1 for bursts"),
        Metric("delay", "ms", "mean one-way network delay"),
        Metric("jitter", "ms", "RFC 3550 interarrival jitter, averaged over the call"),
        Metric("delivered", "0-1", "share of packets that arrived"),
        Metric("pesq", "MOS-LQO 1-4.6",
               "PESQ (ITU-T P.862; wideband P.862.2 for Opus) of the received audio"),
        Metric("visqol", "MOS-LQO 1-5", "ViSQOL v3 speech mode of the received audio"),
        Metric("dnsmos", "MOS 1-5", "DNSMOS P.835 overall quality of the received audio (no reference)"),
        Metric("plcmos", "MOS 1-5", "PLCMOS v2: how well the loss was concealed (no reference)"),
        Metric("stoi", "0-1", "STOI: short-time objective intelligibility of the received audio"),
        Metric("heard", "0-1", "share of the speech's frames decoded from packets (played or FEC-recovered; "
               "frames DTX left unsent do not count); 0: silence"),
    )

    @field_validator("codec")
    @classmethod
    def _codec(cls, value: str) -> str:
        if value not in CODECS:
            raise ValueError(f"unknown codec {value!r}; use one of {', '.join(CODECS)}")
        return value

    @model_validator(mode="after")
    def _one_framing(self) -> Voip:
        if self.stun and self.reflector:
            raise FieldError("reflector", "choose stun or reflector framing, not both")
        if self.expected_loss is not None and PRESETS[self.codec].codec != "opus":
            raise FieldError("expected_loss", f"only Opus codecs adapt to expected loss, not {self.codec}")
        return self

    @property
    def framing(self) -> str:
        return "stun" if self.stun else "reflector" if self.reflector else "rtp"

    @property
    def audible(self) -> bool:
        """The calls carry real speech (a codec with an encoder, and speech to say)."""
        return bool(self.speech) and PRESETS[self.codec].codec != "model"

    def unmeasured(self, metric: str) -> str | None:
        if metric not in ROW_METRICS:
            return None
        if PRESETS[self.codec].codec == "model":
            return f"{self.codec} is a model-only codec (no free encoder): its calls carry no speech to score"
        if not self.speech:
            return "speech: none sends no speech to score"
        if not self.scored_calls:
            return "scored_calls: 0 scores no call"
        return self.unscored(metric)

    @property
    def preset(self) -> AudioPreset:
        preset = PRESETS[self.codec]
        if self.expected_loss is not None:
            preset = dataclasses.replace(preset, expected_loss_percent=self.expected_loss)
        return preset

    def source(self, call: int, downlink: bool) -> str:
        """The speech of one call direction: the workload's sources, taken in turn."""
        return self.speech[(2 * call + int(downlink)) % len(self.speech)]

    def media(self, directory: Path) -> list[tuple[Path, Path]]:
        """Per call, the (uplink, downlink) media files in the results `directory` (encoded on
        first use in this run; from the speech cache when another run made them)."""
        folder = directory / "traces"
        made: dict[str, Path] = {}

        def media_for(source: str) -> Path:
            if source not in made:
                made[source] = media_files.prepare(self.preset, source, self.dtx, folder)
            return made[source]

        return [(media_for(self.source(c, False)), media_for(self.source(c, True)))
                for c in range(self.calls)]

    def prepare(self, directory: Path, progress: Callable[[str], None]) -> None:
        if self.audible:
            progress(f"encoding the speech of {self.name} ({self.codec})")
            self.media(directory)

    def run_phase(self, ctx: PhaseContext) -> Metrics:
        media = self.media(ctx.directory) if self.audible else None  # encoded by prepare
        result = run_calls(ctx.endpoint(self.client), ctx.endpoint(self.server), self.codec, calls=self.calls,
                           seconds=ctx.seconds, port=self.port, framing=self.framing, dtx=self.dtx,
                           media=media)
        traces = ctx.artefact(self.name, ".npz")
        if ctx.keep_traces or (media and self.scored_calls):
            save_traces(traces, result.traces)
        if media and self.scored_calls:
            calls = [{"call": c, "uplink": up.name, "downlink": down.name}
                     for c, (up, down) in enumerate(media[: self.scored_calls])]
            self.leave_note(ctx, calls, traces=traces.name, frames=result.frames)
        return summarise(result.traces, [stream_metrics(t, CODECS[self.codec]) for t in result.traces])


def summarise(traces: list[StreamTrace], metrics: list[StreamMetrics]) -> Metrics:
    """The means over call directions that expectations check."""
    sent = sum(t.sent.size for t in traces)
    received = sum(len({int(s) for s in t.received["seq"]}) for t in traces)
    mean = statistics.fmean
    delays = [m.delay.mean_ms for m in metrics if not math.isnan(m.delay.mean_ms)]
    return {
        "mos_cq": mean(m.quality.mos_cq for m in metrics), "mos_lq": mean(m.quality.mos_lq for m in metrics),
        "loss": mean(m.effective_loss.loss_percent for m in metrics),
        "network_loss": mean(m.network_loss.loss_percent for m in metrics),
        "burst_r": mean(m.network_loss.burst_r for m in metrics),
        "delay": mean(delays) if delays else math.nan,
        "jitter": mean(m.jitter_ms for m in metrics), "delivered": received / sent if sent else 0.0,
    }
