"""A played recording (a WebRTC callee's audio) lined up with the looped reference it was made
from, and scored: the place is found to the sample wherever the recording starts, with
frames missing, at 8 and 48 kHz; a misplaced reference would score a clean call badly."""

from __future__ import annotations

import functools

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from testbed.speech import assess, recording, scores
from testbed.speech.level import active_samples
from testbed.speech.reference import voice_speech


@functools.cache
def _voice(rate: int) -> np.ndarray:
    return voice_speech("en-f", rate)


def _played(reference: np.ndarray, start: int, seconds: float, rate: int,
            lost: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """What a receiver plays of the looped reference from `start`: 20 ms frames, lost ones silent."""
    size = rate // 50
    frames = int(seconds * 50)
    audio = recording.reference_from(reference, start, frames * size).copy()
    played = np.ones(frames, bool) if lost is None else ~lost
    audio.reshape(-1, size)[~played] = 0
    return audio, played


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.floats(0, 1, exclude_max=True), st.floats(0, 0.3))
def test_the_place_in_the_loop_is_found_to_the_sample(where: float, loss: float) -> None:
    reference = _voice(8000)
    start = int(where * reference.size)
    lost = np.random.default_rng(start).random(int(12 * 50)) < loss
    audio, _ = _played(reference, start, 12, 8000, lost)
    assert recording.align(audio, reference, 8000) == start


def test_the_place_is_found_at_48_khz_too() -> None:
    reference = _voice(48000)
    audio, _ = _played(reference, 123_457, 6, 48000)
    assert recording.align(audio, reference, 48000) == 123_457


def test_silence_has_no_place_and_scores_the_floor() -> None:
    reference = _voice(8000)
    found = recording.assess(np.zeros(8000 * 6, np.int16), np.zeros(300, bool), reference, 8000, 160, 8000,
                             which=("pesq", "stoi"))
    assert found.start == 0 and found.heard == 0 and found.silent
    assert found.scores["pesq"] == 1.0 and found.scores["stoi"] == 0.0


def test_a_clean_recording_lined_up_scores_high_and_heard_whole() -> None:
    reference = _voice(8000)
    audio, played = _played(reference, 31_000, 14, 8000)
    found = recording.assess(audio, played, reference, 8000, 160, 8000, which=("pesq", "stoi"))
    assert found.start == 31_000 and found.heard == 1.0 and not found.silent
    assert found.scores["pesq"] > 4.3 and found.scores["stoi"] > 0.99
    assert len(found.windows) == len(assess.windows(14 * 8000, reference.size, 8000))
    np.testing.assert_array_equal(found.reference, audio)


def test_without_lining_up_the_same_recording_would_score_badly() -> None:
    reference = _voice(8000)
    audio, _ = _played(reference, 31_000, 8, 8000)
    misplaced = recording.reference_from(reference, 0, audio.size)
    assert scores.pesq(misplaced / 32768, audio / 32768, 8000) < 2.5


@pytest.mark.parametrize("loss", [0.1, 0.3])
def test_heard_is_the_share_of_speech_frames_played(loss: float) -> None:
    reference = _voice(8000)
    lost = np.random.default_rng(7).random(10 * 50) < loss
    audio, played = _played(reference, 5000, 10, 8000, lost)
    found = recording.assess(audio, played, reference, 8000, 160, 8000, which=("pesq",))
    speech = active_samples(found.reference / 32768, 8000).reshape(-1, 160).any(axis=1)
    assert found.heard == np.count_nonzero(played & speech) / np.count_nonzero(speech)
    # the lost frames fall on speech and pauses alike: heard is 1 - loss within a binomial 4 sd
    assert abs(found.heard - (1 - loss)) < 4 * np.sqrt(loss * (1 - loss) / np.count_nonzero(speech))
    assert found.scores["pesq"] < 4.0


def test_the_scoring_stage_scores_a_webrtc_note_and_fills_the_row(tmp_path) -> None:
    import json

    import soundfile

    from testbed.scenario import scoring

    reference = _voice(8000)
    audio, played = _played(reference, 20_000, 6, 8000, np.arange(300) % 10 == 3)  # every 10th frame lost
    (tmp_path / "traces").mkdir()
    soundfile.write(str(tmp_path / "traces" / "rep1-p-w-call0-heard.flac"), audio, 8000, "PCM_16", format="FLAC")
    note = {"kind": "webrtc", "repetition": 1, "phase": "p", "workload": "w", "calls": [
        {"call": 0, "recording": "rep1-p-w-call0-heard.flac", "codec": "pcmu", "source": "en-f",
         "played": "".join("p" if p else "l" for p in played)}]}
    (tmp_path / "traces" / f"rep1-p-w{scoring.PENDING}").write_text(json.dumps(note))
    rows = [{"repetition": 1, "phase": "p", "workload": "w", "connected": 1.0}]
    assert scoring.score_pending(tmp_path, rows) == 1
    (entry,) = json.loads((tmp_path / "speech.json").read_text())
    assert entry["start"] == 20_000 and entry["direction"] == "uplink" and entry["counts"] == {"played": 270,
                                                                                                "lost": 30}
    assert 0.85 < entry["heard"] < 0.95 and rows[0]["heard"] == entry["heard"]
    assert 1.5 < rows[0]["pesq"] < 4.0  # 10 % of frames silent, no concealment
    assert (tmp_path / entry["audio"]).exists() and (tmp_path / entry["reference"]).exists()
    assert not scoring.pending(tmp_path)


def test_a_webrtc_note_missing_its_fields_is_refused_naming_it(tmp_path) -> None:
    import json

    from testbed.errors import InputError
    from testbed.scenario import scoring

    (tmp_path / "traces").mkdir()
    path = tmp_path / "traces" / f"rep1-p-w{scoring.PENDING}"
    path.write_text(json.dumps({"kind": "webrtc", "repetition": 1, "phase": "p", "workload": "w",
                                "calls": [{"call": 0, "recording": "x.flac"}]}))
    with pytest.raises(InputError, match="not a note of calls to score") as caught:
        scoring.score_pending(tmp_path, [])
    assert str(path) in str(caught.value)


def test_a_webrtc_note_naming_an_unknown_voice_is_refused_naming_it(tmp_path) -> None:
    import json

    from testbed.errors import InputError
    from testbed.scenario import scoring

    (tmp_path / "traces").mkdir()
    path = tmp_path / "traces" / f"rep1-p-w{scoring.PENDING}"
    path.write_text(json.dumps({"kind": "webrtc", "repetition": 1, "phase": "p", "workload": "w", "calls": [
        {"call": 0, "recording": "x.flac", "codec": "pcmu", "source": "nobody", "played": "p"}]}))
    with pytest.raises(InputError, match="nobody") as caught:
        scoring.score_pending(tmp_path, [])
    assert str(path) in str(caught.value)
