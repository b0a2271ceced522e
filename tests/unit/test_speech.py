"""The speech chain, as pure code: G.711 and the P.56 level against their standards, the media
a call sends, playout replayed from a trace, the decoded audio, and the scorers' ordering
over controlled loss (testbed/speech/simulate.py; the network's own claims run real
packets in tests/host and tests/vm).

Figures recorded when these bounds were set (en-f, one 10 s clip, replayed):
clean G.711 PESQ-NB 4.31, clean Opus (opus-webrtc) PESQ-WB 4.22; mean of three loss
patterns at 10 % random loss: G.711 PESQ 2.78, Opus 2.25; at 30 %: 2.01 and 1.40; Opus
at 5 % random loss with FEC 3.76, without 2.88.
"""

from __future__ import annotations

import dataclasses
import math
import struct
import wave
from pathlib import Path

import numpy as np
import pytest

from testbed.errors import InputError
from testbed.speech import assess, g711, media, scores
from testbed.speech.level import active_level_dbov, active_samples, normalise
from testbed.speech.playout import DTX, FEC, LATE, LOST, PLAYED, replay
from testbed.speech.presets import PRESETS
from testbed.speech.reference import read_wav
from testbed.speech.simulate import gilbert_losses, spread_losses, trace

SEEDS = (1, 2, 3)  # three loss patterns per condition: one can be lucky, three rarely are


# --- G.711 (G.191's reference code) and P.56 -----------------------------------------------

def test_a_law_matches_the_reference_implementation_everywhere() -> None:
    audioop = pytest.importorskip("audioop")  # CPython's C A-law follows G.191 bit for bit
    samples = np.arange(-32768, 32768, dtype=np.int16)
    assert g711.encode(samples, "a") == audioop.lin2alaw(samples.tobytes(), 2)
    codes = bytes(range(256))
    assert g711.decode(codes, "a").tobytes() == audioop.alaw2lin(codes, 2)


def test_mu_law_matches_the_reference_implementation_but_for_g191s_negative_rounding() -> None:
    audioop = pytest.importorskip("audioop")  # CPython's mu-law is Sun's g711.c
    samples = np.arange(-32768, 32768, dtype=np.int16)
    ours = np.frombuffer(g711.encode(samples), np.uint8).astype(int)
    sun = np.frombuffer(audioop.lin2ulaw(samples.tobytes(), 2), np.uint8).astype(int)
    differ = ours != sun
    # G.191 takes a negative sample's one's complement (~x >> 2), Sun's code its negation: they
    # part only on the last samples below a decision level, by one code, never for x >= 0
    assert (samples[differ] < 0).all() and (np.abs(ours - sun)[differ] == 1).all()
    assert 0 < np.count_nonzero(differ) <= 4 * 127
    codes = bytes(range(256))
    assert g711.decode(codes).tobytes() == audioop.ulaw2lin(codes, 2)


def test_mu_law_code_points_follow_g191() -> None:
    # G.191 ulaw_compress: 0 -> 0xFF, the largest magnitudes saturate to 0x80 and 0x00
    assert g711.encode(np.array([0, 32767, -32768], np.int16)) == bytes([0xFF, 0x80, 0x00])
    codes = bytes(c for c in range(256) if c != 0x7F)  # 0x7F and 0xFF both decode to 0
    assert g711.encode(g711.decode(codes)) == codes
    # expansion is odd-symmetric (code c and c ^ 0x80 are one magnitude, two signs) and monotonic
    positive = g711.decode(bytes(range(0xFF, 0x7F, -1))).astype(int)
    negative = g711.decode(bytes(range(0x7F, -1, -1))).astype(int)
    assert np.all(np.diff(positive) > 0) and np.array_equal(negative, -positive)


def test_p56_level_of_a_dither_below_every_threshold_is_silence() -> None:
    dither = np.random.default_rng(1).choice([-1, 1], 5 * 8000) / 32768  # one bit either way
    assert active_level_dbov(dither, 8000) == (-math.inf, 0.0)


def test_p56_level_of_a_tone_and_of_speech_with_pauses() -> None:
    rate = 16000
    t = np.arange(rate * 4) / rate
    tone = 0.1 * np.sin(2 * np.pi * 1000 * t)  # RMS 0.0707: -23.0 dBov, active throughout
    level, activity = active_level_dbov(tone, rate)
    assert level == pytest.approx(20 * math.log10(0.1 / math.sqrt(2)), abs=0.1) and activity > 0.99
    gated = tone * (np.floor(t) % 2 == 0)  # on for a second, off for a second
    level, activity = active_level_dbov(gated, rate)
    # active: half the time, plus 200 ms of hangover after each burst and the envelope's decay;
    # the level is the power over that active time, pauses left out
    assert 0.6 < activity < 0.66
    assert level == pytest.approx(-23.01 + 10 * math.log10(0.5 / activity), abs=0.05)
    assert active_level_dbov(normalise(gated, rate), rate)[0] == pytest.approx(-26.0, abs=0.05)
    mask = active_samples(gated, rate)
    assert mask[rate // 10: rate].all() and not mask[int(1.5 * rate): 2 * rate].any()  # after the envelope rises


# --- media -------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def clips() -> dict[str, media.Media]:
    return {name: media.encode(PRESETS[name], "en-f") for name in ("g711", "g711-noplc", "opus-webrtc")}


def test_media_carry_real_frames(clips) -> None:
    g = clips["g711"]
    assert {len(p) for p in g.payloads} == {160}
    assert g711.decode(g.payloads[40]).tolist() == g711.decode(g711.encode(g.reference[6400:6560])).tolist()
    opus = clips["opus-webrtc"]
    sizes = [len(p) for p in opus.payloads]
    assert len(set(sizes)) > 20 and max(sizes) < 200  # VBR: sizes follow the speech
    assert opus.delay_samples > 0


def test_dtx_leaves_out_the_frames_without_speech() -> None:
    preset = PRESETS["g711"]
    full, quiet = media.encode(preset, "en-f"), media.encode(preset, "en-f", dtx=True)
    speech = active_samples(full.reference / 32768, preset.rate).reshape(-1, preset.frame_samples).any(axis=1)
    assert [bool(p) for p in quiet.payloads] == speech.tolist()
    assert 0.15 < 1 - speech.mean() < 0.5  # the clip's pauses
    opus = media.encode(PRESETS["opus-webrtc"], "en-f", dtx=True)
    assert 0.1 < sum(not p for p in opus.payloads) / opus.frames < 0.5


def test_media_files_round_trip(clips, tmp_path) -> None:
    told = dataclasses.replace(PRESETS["opus-webrtc"], expected_loss_percent=10)  # an override survives
    for clip in [*clips.values(), dataclasses.replace(clips["opus-webrtc"], preset=told)]:
        path = tmp_path / f"{clip.preset.name}.npz"
        media.save(clip, path)
        again = media.load(path)
        assert again.payloads == clip.payloads and np.array_equal(again.reference, clip.reference)
        assert (again.preset, again.delay_samples, again.dtx) == (clip.preset, clip.delay_samples, clip.dtx)


def test_model_only_presets_have_no_media() -> None:
    with pytest.raises(ValueError, match="model-only"):
        media.encode(PRESETS["g729"], "en-f")


# --- playout -----------------------------------------------------------------------------

def test_fec_is_used_only_when_the_encoder_was_told_to_expect_loss(clips) -> None:
    frames = 50
    lost = np.zeros(frames, bool)
    lost[[10, 30]] = True
    call = trace(frames, 20, lost)
    default = assess.hear(call, clips["opus-webrtc"], frames)  # FEC on, 0 % expected: no FEC data
    assert (default.playout.fates[[10, 30]] == LOST).all() and not (default.playout.fates == FEC).any()
    told = dataclasses.replace(clips["opus-webrtc"].preset, expected_loss_percent=10)
    assert (assess.hear(call, media.encode(told, "en-f"), frames).playout.fates[[10, 30]] == FEC).all()


def test_fates_of_lost_late_recovered_and_unsent_frames() -> None:
    frames = 100
    lost = np.zeros(frames, bool)
    lost[[10, 50, 51]] = True
    call = trace(frames, 20, lost)
    late = call.received["seq"] == 30
    call.received["recv_ns"][late] += 200_000_000  # 200 ms after its neighbours
    fates = replay(call, frames, fec=False).fates
    assert (fates[10], fates[30], fates[50], fates[51]) == (LOST, LATE, LOST, LOST)
    assert np.count_nonzero(fates == PLAYED) == 96
    with_fec = replay(call, frames, fec=True).fates
    # 10 and 51 are carried by the next packet; 50's carrier (51) is lost; 30's (31) came in time
    assert (with_fec[10], with_fec[30], with_fec[50], with_fec[51]) == (FEC, FEC, LOST, FEC)
    sparse = trace(frames, 20, sent_frames=np.r_[0:40, 60:100])  # DTX left 40-59 unsent
    assert (replay(sparse, frames, fec=False).fates[40:60] == DTX).all()


def test_clean_path_noise_is_played_not_discarded() -> None:
    """A real buffer holds at least a frame: a clean path's few slower packets still play."""
    from testbed.measure.timing import adaptive_buffer

    rng = np.random.default_rng(4)
    n = 3000
    send = np.arange(n) * 20_000_000
    delays = rng.uniform(0.2e6, 0.8e6, n)  # 0.2-0.8 ms, as veth between namespaces
    delays[rng.choice(n, 15, replace=False)] += 5e6  # scheduling hiccups of 5 ms
    buffer = adaptive_buffer(send, np.arange(n), send + delays.astype(np.int64), frame_ms=20)
    assert buffer.discard_percent == 0.0
    assert buffer.mean_buffer_delay_ms < 25


def test_replay_is_byte_identical(clips) -> None:
    frames = clips["opus-webrtc"].frames * 2
    lost = gilbert_losses(frames, 0.1, 3, seed=9)
    for clip in clips.values():
        first = assess.hear(trace(frames, 20, lost), clip, frames).audio
        second = assess.hear(trace(frames, 20, lost), clip, frames).audio
        assert first.tobytes() == second.tobytes() and first.size == frames * clip.preset.frame_samples


def test_clean_g711_plays_the_encoded_speech_exactly(clips) -> None:
    clip = clips["g711"]
    heard = assess.hear(trace(clip.frames, 20), clip, clip.frames)
    assert np.array_equal(heard.audio, g711.decode(b"".join(clip.payloads)))
    assert heard.heard == 1.0


def test_a_clean_call_with_dtx_is_heard_whole() -> None:
    """Frames DTX leaves unsent are the encoder's silence, not speech the network lost: Opus
    judges some frames silent that P.56 counts active, and those must not count as unheard."""
    clip = media.encode(PRESETS["opus-webrtc"], "ru-m", dtx=True)
    frames = 3 * clip.frames  # the clip loops through the call
    sent = np.array([k for k in range(frames) if clip.payloads[k % clip.frames]])
    heard = assess.hear(trace(frames, 20, sent_frames=sent), clip, frames)
    assert 0 < len(sent) < frames and heard.heard == 1.0  # was 0.962


def test_nothing_received_is_silence_at_the_bottom_of_every_scale(clips) -> None:
    clip = clips["opus-webrtc"]
    heard = assess.score(assess.hear(trace(clip.frames, 20, np.ones(clip.frames, bool)), clip, clip.frames), clip)
    assert heard.silent and heard.heard == 0.0
    assert heard.scores == scores.FLOOR


def test_only_the_scores_asked_for_are_computed(clips, monkeypatch) -> None:
    clip, asked = clips["opus-webrtc"], ("pesq", "stoi")
    lost = spread_losses(clip.frames, clip.frames // 10, 2, SEEDS[0])
    call = trace(clip.frames, clip.preset.frame_ms, lost)
    every = assess.score(assess.hear(call, clip, clip.frames), clip).scores

    def not_asked(*args) -> float:
        raise AssertionError("a score not asked for was computed")

    for name in ("visqol", "dnsmos", "plcmos"):
        monkeypatch.setattr(scores, name, not_asked)
    some = assess.score(assess.hear(call, clip, clip.frames), clip, asked).scores
    assert {k: some[k] for k in asked} == {k: every[k] for k in asked}
    assert all(math.isnan(some[k]) for k in scores.NAMES if k not in asked)
    silence = trace(clip.frames, 20, np.ones(clip.frames, bool))
    silent = assess.score(assess.hear(silence, clip, clip.frames), clip, asked)
    assert silent.silent and {k: v for k, v in silent.scores.items() if not math.isnan(v)} == \
        {k: scores.FLOOR[k] for k in asked}


# --- scores over controlled loss -----------------------------------------------------------

def _scores(clip: media.Media, loss: float, burst: int) -> dict[str, float]:
    """Mean scores over SEEDS loss patterns with exactly `loss` of the frames lost."""
    frames = clip.frames
    runs = []
    for seed in SEEDS if loss else SEEDS[:1]:
        lost = spread_losses(frames, round(loss * frames), burst, seed) if loss else None
        runs.append(assess.score(assess.hear(trace(frames, clip.preset.frame_ms, lost), clip, frames),
                                 clip).scores)
    return {k: float(np.mean([r[k] for r in runs])) for k in scores.NAMES}


@pytest.fixture(scope="module")
def grid(clips) -> dict[tuple[str, float, int], dict[str, float]]:
    return {(name, loss, burst): _scores(clips[name], loss, burst)
            for name in ("g711", "opus-webrtc") for loss, burst in ((0, 1), (0.1, 1), (0.3, 1), (0.1, 4))}


@pytest.mark.parametrize("codec", ["g711", "opus-webrtc"])
def test_clean_speech_scores_pesq_4_or_more(grid, codec: str) -> None:
    clean = grid[(codec, 0, 1)]
    assert clean["pesq"] >= 4.0  # recorded: G.711 4.31 (narrowband), Opus 4.22 (wideband)
    assert clean["stoi"] > 0.98 and clean["visqol"] > 4.2


@pytest.mark.parametrize("codec", ["g711", "opus-webrtc"])
@pytest.mark.parametrize("score", scores.NAMES)
def test_every_score_falls_with_random_loss(grid, codec: str, score: str) -> None:
    clean, some, much = (grid[(codec, loss, 1)][score] for loss in (0, 0.1, 0.3))
    assert clean > some > much


@pytest.mark.parametrize("codec", ["g711", "opus-webrtc"])
@pytest.mark.parametrize("score", ["pesq", "visqol", "plcmos", "stoi"])
def test_bursty_loss_scores_lower_than_random_loss_at_the_same_rate(grid, codec: str, score: str) -> None:
    """DNSMOS is left out: it hears the received audio alone, and bursts leave long stretches
    intact (measured: G.711 2.81 bursty against 2.71 random at 10 %)."""
    assert grid[(codec, 0.1, 4)][score] < grid[(codec, 0.1, 1)][score]


def test_opus_fec_beats_no_fec_at_5_percent_random_loss() -> None:
    told = dataclasses.replace(PRESETS["opus-webrtc"], expected_loss_percent=10)
    with_fec = _scores(media.encode(told, "en-f"), 0.05, 1)["pesq"]
    without = _scores(media.encode(dataclasses.replace(told, fec=False), "en-f"), 0.05, 1)["pesq"]
    assert with_fec > without + 0.3  # recorded: 3.76 against 2.88


def test_plc_beats_silence_for_g711(grid, clips) -> None:
    assert _scores(clips["g711-noplc"], 0.1, 1)["pesq"] < grid[("g711", 0.1, 1)]["pesq"]


# --- a user's recording --------------------------------------------------------------------

def _wav(path: Path, samples: np.ndarray, rate: int = 16000, channels: int = 1) -> Path:
    with wave.open(str(path), "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(struct.pack(f"<{samples.size}h", *samples.astype(np.int16).tolist()))
    return path


def _speechlike(seconds: float, rate: int = 16000) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return 3000 * np.sin(2 * np.pi * 220 * t) * (np.floor(t * 2) % 2 == 0)


@pytest.mark.parametrize(("name", "make", "reason"), [
    ("text.wav", lambda p: p.write_text("not audio"), "not a readable sound file"),
    ("stereo.wav", lambda p: _wav(p, np.repeat(_speechlike(5), 2), channels=2), "2 channels"),
    ("short.wav", lambda p: _wav(p, _speechlike(1)), "1.0 s long"),
    ("silent.wav", lambda p: _wav(p, np.zeros(16000 * 5)), "silent"),
    ("slow.wav", lambda p: _wav(p, _speechlike(5, 4000), rate=4000), "at least 8000 Hz"),
])
def test_a_bad_recording_is_refused_with_its_reason(tmp_path, name, make, reason) -> None:
    path = tmp_path / name
    make(path)
    with pytest.raises(InputError, match=reason):
        read_wav(path)


def test_a_recording_is_levelled_and_used(tmp_path, monkeypatch) -> None:
    from testbed.speech import cache as speech_cache

    monkeypatch.setattr(speech_cache, "CACHE", tmp_path / "cache")
    path = _wav(tmp_path / "me.wav", _speechlike(5, 22050), rate=22050)
    clip = media.encode(PRESETS["g711"], str(path))
    assert clip.reference.size >= 5 * 8000
    assert active_level_dbov(clip.reference / 32768, 8000)[0] == pytest.approx(-26.0, abs=0.3)


# --- what is missing is named ----------------------------------------------------------------

def test_a_missing_synthesizer_names_its_debian_package(monkeypatch) -> None:
    from testbed.errors import ProgramMissing
    from testbed.speech import reference

    reference.espeak_version.cache_clear()
    monkeypatch.setattr(reference.shutil, "which", lambda name: None)
    try:
        with pytest.raises(ProgramMissing, match="apt-get install espeak-ng") as caught:
            reference.espeak_version()
        assert caught.value.exit_code == 3
    finally:
        reference.espeak_version.cache_clear()


def test_a_missing_libopus_names_its_debian_package(monkeypatch) -> None:
    import builtins

    from testbed.errors import ProgramMissing
    from testbed.speech import opus

    real_import = builtins.__import__

    def without_libopus(name, *args, **kwargs):
        if name.startswith("opuslib"):
            raise Exception("Could not find Opus library. Make sure it is installed.")  # what opuslib raises
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", without_libopus)
    with pytest.raises(ProgramMissing, match="apt-get install libopus0"):
        opus.OpusEncoder(PRESETS["opus-webrtc"])


def test_a_missing_scorer_names_the_extra_that_brings_it(monkeypatch) -> None:
    import builtins

    from testbed.errors import ModuleMissing

    real_import = builtins.__import__

    def without_pesq(name, *args, **kwargs):
        if name == "pesq":
            raise ImportError("No module named 'pesq'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", without_pesq)
    with pytest.raises(ModuleMissing, match=r"pip install -e '\.\[speech\]'"):
        scores.pesq(np.zeros(8000), np.zeros(8000), 8000)


def test_the_call_model_and_the_audio_presets_describe_the_same_codecs() -> None:
    """Calls are paced by the E-model's codec table and framed by the audio presets: one set
    of codecs, one frame length each."""
    from testbed.measure.emodel import CODECS

    assert set(CODECS) == set(PRESETS)
    assert all(CODECS[name].frame_ms == preset.frame_ms for name, preset in PRESETS.items())


def test_a_call_heard_for_half_a_second_scores_what_can_be_scored() -> None:
    """A WebRTC call that connected just before the phase ended left 0.48 s of audio (a busy
    TCG run of ru-2025-calls-blocked): ViSQOL finds no patch in it and is left out (NaN), as
    PESQ is where it cannot align; the scores that need no reference still come."""
    from testbed.speech.reference import speech

    said = speech("en-f", 16000)[: int(0.48 * 16000)].astype(np.float64) / 32768
    found = scores.score(said, said, 16000)
    assert math.isnan(found.visqol) and not found.silent
    assert 1 <= found.dnsmos <= 5 and 1 <= found.plcmos <= 5
