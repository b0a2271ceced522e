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
from testbed.scenario import scoring
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
    (folder / f"rep1-restricted-voip{scoring.PENDING}").write_text(json.dumps(note))
    rows = [{"repetition": 1, "phase": "restricted", "workload": "voip", "type": "voip", "mos_cq": 3.0}]
    assert scoring.score_pending(tmp_path, rows) == 2
    assert set(rows[0]) == {"repetition", "phase", "workload", "type", "mos_cq", "pesq", "stoi", "heard"}
    assert 1.0 < rows[0]["pesq"] < 4.5 and 0.5 < rows[0]["stoi"] <= 1 and 0.85 < rows[0]["heard"] < 0.95
    entries = json.loads((tmp_path / "speech.json").read_text())
    assert [set(e["scores"]) for e in entries] == [{"pesq", "stoi"}] * 2
    assert not scoring.pending(tmp_path)


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
    (tmp_path / "traces" / f"rep1-p-webrtc{scoring.PENDING}").write_text(json.dumps(note))
    rows = [{"repetition": 1, "phase": "p", "workload": "webrtc", "type": "webrtc", "connected": 1.0}]
    assert scoring.score_pending(tmp_path, rows) == 1
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
    (tmp_path / "traces" / f"rep1-p-webrtc{scoring.PENDING}").write_text(json.dumps(note))
    rows = [{"repetition": 1, "phase": "p", "workload": "webrtc", "type": "webrtc", "connected": 1.0}]
    assert scoring.score_pending(tmp_path, rows) == 1
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
    (tmp_path / "traces" / f"rep1-p-webrtc{scoring.PENDING}").write_text(json.dumps(note))
    rows = [{"repetition": 1, "phase": "p", "workload": "webrtc", "type": "webrtc", "connected": 1.0}]
    with pytest.raises(InputError, match="differ in rate"):
        scoring.score_pending(tmp_path, rows)


def _two_phases_of_two_calls(directory, monkeypatch) -> list[dict]:
    """Notes as the voip workload leaves them (its own writer) for phases a and b, two calls each."""
    from testbed.scenario.workloads.voip import Voip

    workload = Voip(type="voip", calls=2, scored_calls=2, scores=["pesq", "stoi"])
    rows = []
    for phase, lost_frames in (("a", 10), ("b", 40)):
        ctx = PhaseContext(session=None, phase=phase, repetition=1, seconds=5.0, directory=directory)
        media = workload.media(directory)
        frames = 250
        traces = [dataclasses.replace(trace(frames, 20, spread_losses(frames, lost_frames + 5 * k, 2, k)),
                                      call=k // 2, direction=("uplink", "downlink")[k % 2]) for k in range(4)]
        path = ctx.artefact("voip", ".npz")
        save_traces(path, traces)
        calls = [{"call": c, "uplink": up.name, "downlink": down.name} for c, (up, down) in enumerate(media)]
        workload.leave_note(ctx, calls, traces=path.name, frames=frames)
        rows.append({"repetition": 1, "phase": phase, "workload": "voip", "type": "voip"})
    return rows


def test_a_pool_of_workers_scores_as_one_process_does_and_in_the_order_the_phases_ran(tmp_path,
                                                                                          monkeypatch) -> None:
    import shutil

    monkeypatch.setattr(scoring.os, "sched_getaffinity", lambda _: {0, 1})  # two workers, whatever the machine
    monkeypatch.setattr(scoring, "POOL_SCORES", frozenset({"pesq", "stoi"}))  # a pool for these scores too
    pooled, alone = tmp_path / "pooled", tmp_path / "alone"
    rows = _two_phases_of_two_calls(pooled, monkeypatch)
    shutil.copytree(pooled, alone)
    said: list[str] = []
    assert scoring.score_pending(pooled, rows, said.append) == 8
    assert [s.split(": ")[1] for s in said] == [f"{p} voip call {c} {d}" for p in "ab" for c in (0, 1)
                                                for d in ("uplink", "downlink")]
    monkeypatch.setattr(scoring, "POOL_FROM", 1000)
    alone_rows = [{k: v for k, v in r.items() if k in ("repetition", "phase", "workload", "type")} for r in rows]
    assert scoring.score_pending(alone, alone_rows) == 8
    assert rows == alone_rows and rows[0]["pesq"] > rows[1]["pesq"]  # b lost more
    assert (json.loads((pooled / "speech.json").read_text())
            == json.loads((alone / "speech.json").read_text()))
    assert sorted(p.name for p in (pooled / "audio").iterdir()) == sorted(p.name for p in (alone / "audio").iterdir())


def test_an_error_in_a_worker_is_the_same_error_here_and_scores_can_be_named_instead(tmp_path,
                                                                                      monkeypatch) -> None:
    import pytest

    from testbed.errors import InputError

    monkeypatch.setattr(scoring.os, "sched_getaffinity", lambda _: {0, 1})
    monkeypatch.setattr(scoring, "POOL_SCORES", frozenset({"stoi"}))
    rows = _two_phases_of_two_calls(tmp_path, monkeypatch)
    (note,) = [p for p in scoring.pending(tmp_path) if p.name.startswith("rep1-b")]
    damaged = json.loads(note.read_text())
    damaged["calls"][1]["call"] = 7  # no trace of it
    note.write_text(json.dumps(damaged))
    with pytest.raises(InputError, match="no trace of call 7 uplink") as raised:
        scoring.score_pending(tmp_path, rows, scores=("stoi",))
    assert raised.value.exit_code == 2 and raised.value.problems[0].file.endswith(".npz")
    assert "pesq" not in rows[0] and rows[0]["stoi"] > 0.9  # phase a was scored and kept, with stoi alone
    assert [p.name for p in scoring.pending(tmp_path)] == [note.name]
