"""`webrtc`: real WebRTC calls (aiortc) between two hosts, set up as apps set them up: offer
and answer through a signalling server on its own host (over TCP, the messaging path), ICE
candidates from the hosts themselves and, per `ice`, from a STUN or TURN server (Debian's
coturn, on its own host: UDP and TCP 3478, TLS 443). Whether a call connects under a
censor, how long it takes, which candidate pair carries it (direct, or relayed and how), and
what its RTP statistics say are the figures. aiortc's jitter buffer is not a realistic
playout model (aiortc issue #543): the callee's recording is what aiortc played."""

from __future__ import annotations

import contextlib
import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import ClassVar, Literal

import numpy as np
from pydantic import Field, model_validator

from testbed.kernel.scratch import scratch
from testbed.measure.arrays import load_npy, load_npz
from testbed.measure.webrtc import RELAY_TRANSPORT, summarise
from testbed.profile.types import Duration, FieldError
from testbed.report.speech import ROW_METRICS
from testbed.scenario.workloads._heard import HeardCalls
from testbed.scenario.workloads.base import Metric, Metrics, PhaseContext, TwoNodes
from testbed.scenario.workloads.voip import Voip
from testbed.speech.reference import DEFAULT_VOICES
from testbed.traffic.turn import STUN_PORT, TLS_PORT
from testbed.traffic.webrtc import SIGNALLING_PORT, TRANSCRIPT, IceServer, run_webrtc
from testbed.traffic.webrtc_peer import CLOCK, FRAME_S

WEBRTC_SCORES = {  # aiortc conceals no loss and has no FEC or DTX: what its recording's figures mean
    "plcmos": Metric("plcmos", "MOS 1-5", "PLCMOS v2 of the recording (no reference): aiortc conceals "
                     "nothing, so it rates the gaps as they were played"),
    "heard": Metric("heard", "0-1", "share of the speech's 20 ms frames that aiortc played, from the first "
                    "packet the callee got; 0: silence"),
}


class Webrtc(HeardCalls, TwoNodes):
    type: Literal["webrtc"]
    name: str = "webrtc"
    ice: Literal["none", "stun", "turn-udp", "turn-tcp", "turn-tls"] = Field(
        "none", description="where candidates come from besides the hosts: none, a STUN server, or a TURN "
                            "server reached over udp, tcp or tls (443)")
    policy: Literal["all", "relay"] = Field("all", description="ICE transport policy: all candidates, or "
                                                                "relay only (needs a TURN server)")
    calls: int = Field(1, ge=1, le=20, description="calls at once")
    codec: Literal["pcmu", "opus"] = Field("pcmu", description="pcmu (G.711 mu-law) or opus (aiortc's "
                                                                "encoder: about 1.5x the CPU)")
    connect_timeout: Duration("100ms") = Field(10_000_000_000, description="a call not connected by then "
                                               "counts as failed (or is dialled again)")
    redials: int = Field(0, ge=0, le=10, description="times a call whose media is not up by connect_timeout "
                         "is dialled again, while a whole attempt still fits in the phase")
    signalling: str = Field("sig", description="the host of the signalling server (offer and answer, TCP)")
    signalling_port: int = Field(SIGNALLING_PORT, ge=1, le=65535, description="its TCP port")
    turn: str = Field("turn", description="the host of the STUN/TURN server (coturn), when `ice` is not none")
    speech: list[str] = Field(list(DEFAULT_VOICES), description="what the calls say, in turn: built-in "
                              "voices (en-f, en-m, ru-f, ru-m) or WAV files (mono, 3-60 s; relative to the "
                              "scenario); none: a 440 Hz tone")
    scored_calls: int = Field(1, ge=0, le=20, description="calls per phase whose recording (what the callee "
                              "played) is lined up with what was said and scored")

    NODE_FIELDS: ClassVar[tuple[str, ...]] = ("client", "server", "signalling", "turn")
    METRICS: ClassVar[tuple[Metric, ...]] = (
        Metric("connected", "0-1", "share of calls whose ICE completed on both sides before connect_timeout"),
        Metric("setup_time", "ms", "offer to ICE completed, mean over the connected calls"),
        Metric("pair_host", "0-1", "share of connected calls carried directly (host candidates)"),
        Metric("pair_srflx", "0-1", "share carried through server-reflexive (NAT) candidates"),
        Metric("pair_relay", "0-1", "share relayed by the TURN server"),
        Metric("relay_tcp", "0-1", "share of relayed calls whose leg to the TURN server is TCP or TLS"),
        Metric("redials", "count", "times calls were dialled again, their media not up by connect_timeout "
               "(aiortc has no ICE restart; apps dial again)"),
        Metric("rtt", "ms", "round-trip time from RTCP receiver reports (getStats), mean"),
        Metric("jitter", "ms", "RFC 3550 interarrival jitter of the received audio (getStats), mean"),
        Metric("loss", "%", "packets lost of those sent, per received stream, mean"),
        Metric("kbit", "kbit/s", "received bit rate (transport bytes), mean per direction"),
        Metric("stalled", "0-1", "share of connected directions whose audio stopped for 3 s or more"),
        # the recordings' speech scores, as the voip workload's but for what aiortc does not do
        *(WEBRTC_SCORES.get(m.name, m) for m in Voip.METRICS if m.name in ROW_METRICS),
    )

    @model_validator(mode="after")
    def _relay_needs_turn(self) -> Webrtc:
        if self.policy == "relay" and not self.ice.startswith("turn"):
            raise FieldError("policy", f"relay only needs a TURN server: set ice to turn-udp, turn-tcp or "
                                       f"turn-tls (ice is {self.ice})")
        return self

    def unmeasured(self, metric: str) -> str | None:
        if metric not in ROW_METRICS:
            return None
        if not self.speech:
            return "speech: [] sends a tone, not speech to score"
        if not self.scored_calls:
            return "scored_calls: 0 scores no call"
        return self.unscored(metric)

    def nodes(self) -> dict[str, str]:
        used = super().nodes()
        if self.ice == "none":
            del used["turn"]
        return used

    def services(self) -> dict[str, tuple[str, str]]:
        bound = {"signalling_port": (self.signalling, f"TCP port {self.signalling_port}")}
        if self.ice != "none":
            bound["turn"] = (self.turn, f"the STUN/TURN ports {STUN_PORT} and {TLS_PORT}")
        return bound

    def prepare(self, directory: Path, progress: Callable[[str], None]) -> None:
        """What the calls say, made before the first phase (synthesised once per voice and
        cached; in a fresh testbed VM, about 2 s a voice that the phase would pay)."""
        from testbed.speech.reference import speech

        if self.speech:
            progress(f"preparing the speech of {self.name}")
        for source in dict.fromkeys(self.speech):
            speech(source, CLOCK[self.codec])

    def _audio(self, directory: Path) -> list[Path | None]:
        from testbed.speech.reference import speech

        out: list[Path | None] = []
        for call in range(self.calls):
            if not self.speech:
                out.append(None)
                continue
            path = directory / f"speech{call}.npy"
            np.save(path, speech(self.speech[call % len(self.speech)], CLOCK[self.codec]))
            out.append(path)
        return out

    def run_phase(self, ctx: PhaseContext) -> Metrics:
        from testbed.traffic.turn import serving_turn

        client, server, relay = (ctx.endpoint(n) for n in (self.client, self.server, self.signalling))
        peers = [node.address(4) for node in (client, server)]
        # the run id in the path of every program's files: `testbed clean --pid` tests can tell them
        with scratch(f"webrtc-{ctx.session.run_id}") as tmp, \
                contextlib.ExitStack() as stack:
            ice_servers, cafile = [], None
            if self.ice != "none":
                turn = stack.enter_context(serving_turn(ctx.endpoint(self.turn), peers, Path(tmp) / "turn",
                                                        ctx.artefact(self.name, "-turn.log")))
                credentials = (None, None) if self.ice == "stun" else (turn.user, turn.password)
                ice_servers, cafile = [IceServer(turn.url(self.ice), *credentials)], turn.cafile
            work = Path(tmp)
            said = self._audio(work)
            run = run_webrtc(client, server, relay, ice_servers, work, self.policy, self.calls, ctx.seconds,
                             self.codec, self.connect_timeout / 1e9, cafile, said, self.signalling_port,
                             self.redials)
            if ctx.keep_traces:
                if (work / TRANSCRIPT).exists():
                    shutil.copy(work / TRANSCRIPT, ctx.artefact(self.name, "-signalling.log"))
                ctx.artefact(self.name, ".json").write_text(json.dumps(
                    {"ice": self.ice, "policy": self.policy, "caller": run.caller, "callee": run.callee}))
            scored = self._keep_recordings(ctx, run.recordings, said)
            if scored:
                self.leave_note(ctx, scored)
        return summarise(run.caller, run.callee, RELAY_TRANSPORT.get(self.ice))

    def _keep_recordings(self, ctx: PhaseContext, recordings: list[dict],
                         said: list[Path | None]) -> list[dict]:
        """The callees' recordings as FLAC in traces/ (all of them when traces are kept, else
        those to score), and beside each scored one what its caller said (the scoring stage may
        run elsewhere: on the host, where a WAV given to the VM is not); the scoring stage's
        entries for the first `scored_calls` calls. A call that never played a frame (or whose
        first frame came as it hung up: nothing kept) was heard as silence for the whole phase."""
        import soundfile

        by_call = {r["call"]: r for r in recordings}
        scored = []
        for call in range(self.calls):
            score = bool(self.speech) and call < self.scored_calls
            if not (ctx.keep_traces or score):
                continue
            samples = np.zeros(0, np.int16)
            if call in by_call:
                saved = load_npz(by_call[call]["path"])
                samples, played, rate = saved["samples"], saved["played"], by_call[call]["rate"]
            if not samples.size:  # a FLAC of no samples cannot be read back
                rate, frames = CLOCK[self.codec], round(ctx.seconds / FRAME_S)
                samples, played = np.zeros(frames * int(rate * FRAME_S), np.int16), np.zeros(frames, bool)
            path = ctx.artefact(self.name, f"-call{call}-heard.flac")
            soundfile.write(str(path), samples, rate, "PCM_16", format="FLAC")
            if score:
                source = said[call]
                assert source is not None  # speech to score: the call said something
                reference = ctx.artefact(self.name, f"-call{call}-said.flac")
                soundfile.write(str(reference), load_npy(source), CLOCK[self.codec], "PCM_16", format="FLAC")
                scored.append({"call": call, "recording": path.name, "said": reference.name,
                               "codec": self.codec, "source": self.speech[call % len(self.speech)],
                               "played": "".join("p" if p else "l" for p in played.tolist())})
        return scored
