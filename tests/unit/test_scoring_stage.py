"""The scoring stage end to end, without a network: a results directory as a voip workload
leaves it (media, traces and a note asking for some scores) is scored by score_pending, and
only what was asked reaches the rows and speech.json; a WebRTC call whose recording kept no
frame is heard as silence (a FLAC of no samples could not be read back); a WebRTC call that
said a user's WAV is scored against what it said, kept beside its recording (the scoring
stage runs on the host, where a WAV given to the VM may not be)."""

from __future__ import annotations

import dataclasses
import json
import math

import numpy as np

from testbed.measure.trace import save_traces
from testbed.scenario import speech
from testbed.scenario.workloads.base import PhaseContext
from testbed.scenario.workloads.webrtc import Webrtc
from testbed.speech import media as media_files
from testbed.speech.presets import PRESETS
from testbed.speech.reference import speech as speech_clip
from testbed.speech.simulate import spread_losses, trace


def test_a_note_asking_for_two_scores_fills_in_those_two_and_heard(tmp_path) -> None:
    folder = tmp_path / "traces"
    media = media_files.prepare(PRESETS["g711"], "en-f", False, folder)
    frames = 250
    lost = spread_losses(frames, 25, 2, 1)
    directions = [dataclasses.replace(trace(frames, 20, lost), direction=d) for d in ("uplink", "downlink")]
    save_traces(folder / "rep1-restricted-voip.npz", directions)
    note = {"repetition": 1, "phase": "restricted", "workload": "voip", "traces": "rep1-restricted-voip.npz",
            "frames": frames, "calls": [{"call": 0, "uplink": media.name, "downlink": media.name}],
            "scores": ["pesq", "stoi"]}
    (folder / f"rep1-restricted-voip{speech.PENDING}").write_text(json.dumps(note))
    rows = [{"repetition": 1, "phase": "restricted", "workload": "voip", "type": "voip", "mos_cq": 3.0}]
    assert speech.score_pending(tmp_path, rows) == 2
    assert set(rows[0]) == {"repetition", "phase", "workload", "type", "mos_cq", "pesq", "stoi", "heard"}
    assert 1.0 < rows[0]["pesq"] < 4.5 and 0.5 < rows[0]["stoi"] <= 1 and 0.85 < rows[0]["heard"] < 0.95
    entries = json.loads((tmp_path / "speech.json").read_text())
    assert [set(e["scores"]) for e in entries] == [{"pesq", "stoi"}] * 2
    assert not speech.pending(tmp_path)


def test_a_recording_that_kept_no_frame_is_heard_as_silence(tmp_path) -> None:
    recorded = tmp_path / "call0.npz"
    np.savez(recorded, samples=np.zeros(0, np.int16), played=np.zeros(0, bool))  # hung up at its first frame
    workload = Webrtc(type="webrtc")
    ctx = PhaseContext(session=None, phase="p", repetition=1, seconds=2.0, directory=tmp_path)
    said = tmp_path / "speech0.npy"
    np.save(said, speech_clip("en-f", 8000))
    (entry,) = workload._keep_recordings(ctx, [{"call": 0, "path": str(recorded), "rate": 8000}], [said])
    assert entry["played"] == "l" * 100  # 2 s of 20 ms frames, none played
    note = {"kind": "webrtc", "repetition": 1, "phase": "p", "workload": "webrtc", "calls": [entry],
            "scores": ["pesq", "plcmos"]}
    (tmp_path / "traces" / f"rep1-p-webrtc{speech.PENDING}").write_text(json.dumps(note))
    rows = [{"repetition": 1, "phase": "p", "workload": "webrtc", "type": "webrtc", "connected": 1.0}]
    assert speech.score_pending(tmp_path, rows) == 1
    assert rows[0]["heard"] == 0 and rows[0]["pesq"] == 1.0 and rows[0]["plcmos"] == 1.0
    assert "visqol" not in rows[0] and not math.isnan(rows[0]["pesq"])


def test_a_webrtc_call_saying_a_wav_is_scored_without_the_wav(tmp_path, monkeypatch) -> None:
    import wave

    from testbed.speech import cache as speech_cache

    monkeypatch.setattr(speech_cache, "CACHE", tmp_path / "cache")
    rate, seconds = 16000, 6
    t = np.arange(rate * seconds) / rate
    voiced = 3000 * np.sin(2 * np.pi * 220 * t) * (1 + 0.5 * np.sin(2 * np.pi * 3 * t)) * (np.floor(t * 2) % 2 == 0)
    wav = tmp_path / "mine.wav"
    with wave.open(str(wav), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(voiced.astype("<i2").tobytes())
    workload = Webrtc(type="webrtc", speech=[str(wav)])
    assert workload.input_files() == [wav]
    clip = speech_clip(str(wav), 8000)
    said = tmp_path / "speech0.npy"
    np.save(said, clip)
    frames = 4 * 50  # a 4 s phase: the callee played all of it, from the start of the loop
    recorded = tmp_path / "call0.npz"
    np.savez(recorded, samples=clip[: frames * 160], played=np.ones(frames, bool))
    ctx = PhaseContext(session=None, phase="p", repetition=1, seconds=4.0, directory=tmp_path)
    (entry,) = workload._keep_recordings(ctx, [{"call": 0, "path": str(recorded), "rate": 8000}], [said])
    assert (tmp_path / "traces" / entry["said"]).exists()
    wav.unlink()
    note = {"kind": "webrtc", "repetition": 1, "phase": "p", "workload": "webrtc", "calls": [entry],
            "scores": ["pesq", "stoi"]}
    (tmp_path / "traces" / f"rep1-p-webrtc{speech.PENDING}").write_text(json.dumps(note))
    rows = [{"repetition": 1, "phase": "p", "workload": "webrtc", "type": "webrtc", "connected": 1.0}]
    assert speech.score_pending(tmp_path, rows) == 1
    assert rows[0]["heard"] == 1 and rows[0]["pesq"] > 4.0 and rows[0]["stoi"] > 0.95, rows[0]
    (scored,) = json.loads((tmp_path / "speech.json").read_text())
    assert scored["source"] == "mine.wav"


def test_a_said_clip_at_another_rate_than_the_recording_is_refused(tmp_path) -> None:
    import pytest
    import soundfile

    from testbed.errors import InputError

    said = tmp_path / "speech0.npy"
    np.save(said, speech_clip("en-f", 8000))
    recorded = tmp_path / "call0.npz"
    np.savez(recorded, samples=speech_clip("en-f", 8000)[: 100 * 160], played=np.ones(100, bool))
    ctx = PhaseContext(session=None, phase="p", repetition=1, seconds=2.0, directory=tmp_path)
    (entry,) = Webrtc(type="webrtc")._keep_recordings(ctx, [{"call": 0, "path": str(recorded), "rate": 8000}],
                                                        [said])
    soundfile.write(str(tmp_path / "traces" / entry["said"]), speech_clip("en-f", 16000), 16000, "PCM_16")
    note = {"kind": "webrtc", "repetition": 1, "phase": "p", "workload": "webrtc", "calls": [entry],
            "scores": ["pesq"]}
    (tmp_path / "traces" / f"rep1-p-webrtc{speech.PENDING}").write_text(json.dumps(note))
    rows = [{"repetition": 1, "phase": "p", "workload": "webrtc", "type": "webrtc", "connected": 1.0}]
    with pytest.raises(InputError, match="differ in rate"):
        speech.score_pending(tmp_path, rows)
