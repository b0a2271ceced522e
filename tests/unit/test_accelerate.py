"""The scorers' faster runs (testbed/speech/accelerate.py) give the libraries' own results.

Each case runs the library's code as shipped (speechmos' PLCMOS and DNSMOS classes, visqol-
python's VadPatchCreator) beside ours on real speech, speech with holes, noise and a clip
shorter than DNSMOS' window. ONNX Runtime may round a batched matrix product differently from
fifteen single ones, so PLCMOS agrees to float32 precision (1e-5 of a 1-5 score); DNSMOS runs
on one thread here and on every core in speechmos, which may sum in another order (1e-6);
ViSQOL's voice activity agrees exactly.
"""

from __future__ import annotations

import inspect
import os

import numpy as np
import pytest

from testbed.speech import accelerate, scores
from testbed.speech.reference import speech

RATE = scores.MODEL_RATE


@pytest.fixture(scope="module")
def signals() -> dict[str, np.ndarray]:
    said = speech("en-f", RATE)[: 11 * RATE] / 32768
    holes = said.copy()
    for start in range(RATE // 2, len(holes), RATE):  # 60 ms of silence every second
        holes[start: start + RATE * 60 // 1000] = 0
    noise = np.random.default_rng(7).normal(0, 0.05, 10 * RATE)
    return {"speech": said, "holes": holes, "noise": noise, "short": said[: 4 * RATE]}


@pytest.mark.parametrize("name", ["speech", "holes", "noise", "short"])
def test_split_plcmos_scores_as_speechmos_does(signals, name: str) -> None:
    from speechmos.plcmos import PLCMOS

    state = np.random.get_state()
    np.random.seed(scores.PLCMOS_SEED)
    try:
        theirs = PLCMOS()(np.clip(signals[name], -1, 1))["plcmos"]
    finally:
        np.random.set_state(state)
    assert scores.plcmos(signals[name]) == pytest.approx(theirs, abs=1e-5)


def test_plcmos_leaves_the_global_random_state_alone(signals) -> None:
    before = np.random.get_state()[1].copy()
    scores.plcmos(signals["noise"])
    assert (np.random.get_state()[1] == before).all()


def test_the_network_is_cut_where_the_rater_embedding_enters() -> None:
    _, split = scores._plcmos()
    assert [i.name for i in split.encoder.get_inputs()] == [accelerate.PLCMOS_ENCODER_INPUT]
    assert {i.name for i in split.head.get_inputs()} == {*split.boundary, accelerate.PLCMOS_RATER_INPUT}
    assert len(split.boundary) == 2  # the two GRUs' final states
    assert split.head_ops <= {"Gemm", "LeakyRelu", "Concat", "Squeeze", "Sigmoid", "Mul", "Add", "Constant"}


def test_the_faster_voice_activity_is_only_put_in_the_version_it_was_compared_with(monkeypatch) -> None:
    import importlib.metadata

    assert accelerate.speed_up_visqol()  # the pinned version
    monkeypatch.setattr(importlib.metadata, "version", lambda name: "3.9.0")
    assert not accelerate.speed_up_visqol()


@pytest.mark.parametrize("name", ["speech", "holes", "noise", "short"])
def test_dnsmos_overall_is_speechmos_ovrl_mos(signals, name: str) -> None:
    from speechmos.dnsmos import DNSMOS

    folder = os.path.join(os.path.dirname(inspect.getfile(DNSMOS)), "dnsmos_models")
    theirs = DNSMOS(os.path.join(folder, "sig_bak_ovr.onnx"), os.path.join(folder, "model_v8.onnx"))
    expected = theirs(np.clip(signals[name], -1, 1), RATE, False)["ovrl_mos"]
    assert scores.dnsmos(signals[name]) == pytest.approx(expected, abs=1e-6)


def _library_voice_activity():
    from visqol.patch_creator import VadPatchCreator

    return VadPatchCreator.__dict__.get("_library_get_voice_activity", VadPatchCreator._get_voice_activity)


@pytest.mark.parametrize("frame_len", [128, 256, 241])
def test_visqol_voice_activity_matches_its_per_sample_loop(signals, frame_len: int) -> None:
    from visqol.audio_utils import AudioSignal
    from visqol.patch_creator import VadPatchCreator

    original = _library_voice_activity()
    loud = np.concatenate([signals["holes"] * 8, -signals["speech"] * 3])  # beyond +-1: clamped
    for data in (signals["speech"], loud, np.linspace(-1.5, 1.5, 40_001)):
        signal = AudioSignal(data, RATE)
        for start, total in ((0, len(data)), (37, len(data) - 1000)):
            assert accelerate.visqol_voice_activity(signal, start, total, frame_len) == \
                original(VadPatchCreator(20), signal, start, total, frame_len)


def test_visqol_scores_the_same_with_the_faster_voice_activity(signals, monkeypatch) -> None:
    from visqol.patch_creator import VadPatchCreator

    fast = scores.visqol(signals["speech"], signals["holes"])
    monkeypatch.setattr(VadPatchCreator, "_get_voice_activity", _library_voice_activity())
    assert scores.visqol(signals["speech"], signals["holes"]) == fast
