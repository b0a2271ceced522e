"""Speech-quality scores of received audio against its reference, as speech engineers measure:

    pesq    ITU-T P.862 MOS-LQO: narrowband (P.862.1 mapping) for 8 kHz codecs, wideband
            (P.862.2) for Opus. Scale 1.0-4.5 (narrowband) or 1.0-4.6 (wideband); higher
            is better. Intrusive: compares with the reference.
    visqol  ViSQOL v3 in speech mode (16 kHz) with its deep-lattice mapping (Google's
            model, through visqol-python and ai-edge-litert): MOS-LQO 1-5.
    dnsmos  DNSMOS P.835 overall quality (Microsoft's model, through speechmos): 1-5,
            non-intrusive (hears only the received audio, as a listener does).
    plcmos  PLCMOS v2 (Microsoft's model for packet loss concealment): 1-5, non-intrusive.
    stoi    Short-Time Objective Intelligibility: 0-1, the share of words a listener would
            follow, roughly. Intrusive.

Silence (received audio with no speech in it, ITU-T P.56) gets the bottom of every scale:
the intrusive scores are undefined on it (PESQ cannot align with nothing).

The models run on one thread each (ONNX Runtime would take every core), and PLCMOS'
random rater embeddings are drawn from a fixed seed, so the same audio scores the same.
PLCMOS, DNSMOS and ViSQOL run through accelerate.py: the libraries' computations without
their repeated or unused work (PLCMOS' encoder once for its 15 raters, DNSMOS without the
P.808 model, ViSQOL's voice activity on arrays), tested equal to the libraries' own runs.
"""

from __future__ import annotations

import contextlib
import functools
import math
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from testbed.errors import ModuleMissing
from testbed.speech import accelerate
from testbed.speech.level import active_level_dbov

NAMES = ("pesq", "visqol", "dnsmos", "plcmos", "stoi")
# computed unless a workload's `scores` or `testbed score --scores` says otherwise: together
# 34-60 times faster than real time per call direction on one core here; ViSQOL and DNSMOS
# (28-30 times each) only when named (benchmarks/speech_scoring.py)
DEFAULT = ("pesq", "stoi", "plcmos")
FLOOR = {"pesq": 1.0, "visqol": 1.0, "dnsmos": 1.0, "plcmos": 1.0, "stoi": 0.0}
MODEL_RATE = 16000  # ViSQOL speech mode, DNSMOS and PLCMOS run at 16 kHz
PLCMOS_SEED = 20231231
SILENT_DBOV = -70.0


def _needs(module: str):
    try:
        return __import__(module, fromlist=["_"])
    except ImportError:
        raise ModuleMissing(module, "speech", "speech-quality scores") from None


def _session(model: str | bytes):
    """An ONNX Runtime session of a model (its path, or its bytes) on one thread."""
    ort = _needs("onnxruntime")
    options = ort.SessionOptions()
    options.intra_op_num_threads = options.inter_op_num_threads = 1
    return ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])


@functools.cache
def _dnsmos():
    dnsmos = _needs("speechmos.dnsmos")
    model = dnsmos.DNSMOS.__new__(dnsmos.DNSMOS)  # its constructor would open sessions on every core
    folder = dnsmos.os.path.join(dnsmos.os.path.dirname(dnsmos.__file__), "dnsmos_models")
    model.primary_model_path = dnsmos.os.path.join(folder, "sig_bak_ovr.onnx")
    model.onnx_sess = _session(model.primary_model_path)  # its P.808 model goes unused: not loaded
    return model


@functools.cache
def _plcmos():
    """speechmos' PLCMOS (its features and rater count) and its network split in two."""
    plcmos = _needs("speechmos.plcmos")
    _needs("onnx")
    model = plcmos.PLCMOS.__new__(plcmos.PLCMOS)  # its constructor would open a session on every core
    model.embed_rounds = 15
    model.model_path = os.path.join(os.path.dirname(plcmos.__file__), "plcmos_models", "plcmos_v2.onnx")
    return model, accelerate.SplitPlcmos(model.model_path, _session)


@contextlib.contextmanager
def _quiet_stderr():
    """TFLite's C++ runtime announces its CPU delegate on file descriptor 2: keep it off the
    user's terminal."""
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


@functools.cache
def _visqol():
    visqol = _needs("visqol")
    _needs("ai_edge_litert")  # the lattice mapping's runtime: without it ViSQOL falls back to a cruder fit
    api = visqol.VisqolApi()
    with _quiet_stderr():
        api.create(mode="speech", use_lattice_model=True)
    accelerate.speed_up_visqol()
    return api


def pesq(reference: np.ndarray, degraded: np.ndarray, rate: int) -> float:
    """P.862 MOS-LQO, or NaN where P.862 finds no utterance to align (a window of a few
    stray concealed samples): a window PESQ cannot score is left out of the call's mean."""
    module = _needs("pesq")
    try:
        return float(module.pesq(rate, reference, degraded, "nb" if rate == 8000 else "wb"))
    except module.PesqError:
        return math.nan


def visqol(reference: np.ndarray, degraded: np.ndarray) -> float:
    """ViSQOL MOS-LQO, or NaN for a window too short to hold one of its patches (a call that
    connected half a second before it ended): as PESQ's, left out of the call's mean."""
    try:
        return float(_visqol().measure_from_arrays(reference, degraded, MODEL_RATE).moslqo)
    except IndexError:  # visqol-python's patch selection indexes the first reference patch
        return math.nan


def dnsmos(degraded: np.ndarray) -> float:
    return accelerate.dnsmos_overall(_dnsmos(), np.clip(degraded, -1, 1), MODEL_RATE)


def plcmos(degraded: np.ndarray) -> float:
    model, split = _plcmos()
    features = np.float32(model.stft_transform(np.clip(degraded, -1, 1)))[np.newaxis, np.newaxis, ...]
    # the raters speechmos would draw one by one (np.random.normal(size=(1, 64)) per round)
    raters = np.random.RandomState(PLCMOS_SEED).normal(size=(model.embed_rounds, 64))
    return split.mos(features, raters)


def stoi(reference: np.ndarray, degraded: np.ndarray, rate: int) -> float:
    return float(_needs("pystoi").stoi(reference, degraded, rate))


@dataclass(frozen=True)
class Scores:
    pesq: float
    visqol: float
    dnsmos: float
    plcmos: float
    stoi: float
    silent: bool = False

    def as_dict(self) -> dict[str, float]:
        return {name: getattr(self, name) for name in NAMES}


def silent(x: np.ndarray, rate: int) -> bool:
    level, _ = active_level_dbov(x, rate)
    return not math.isfinite(level) or level < SILENT_DBOV


def score(reference: np.ndarray, degraded: np.ndarray, rate: int,
          which: tuple[str, ...] = NAMES) -> Scores:
    """Every score of `degraded` (float samples in [-1, 1]) against `reference`, both at `rate`:
    8000 (narrowband codecs: PESQ narrowband) or 16000 (wideband)."""
    if rate not in (8000, MODEL_RATE):
        raise ValueError(f"scores run at 8000 or 16000 Hz, not {rate}")
    if silent(degraded, rate):
        return Scores(**{name: FLOOR[name] if name in which else math.nan for name in NAMES}, silent=True)
    from testbed.speech.reference import resample

    wide_ref = functools.cache(lambda: resample(reference, rate, MODEL_RATE))  # only if a model asks
    wide_deg = functools.cache(lambda: resample(degraded, rate, MODEL_RATE))
    scorers: dict[str, Callable[[], float]] = {
        "pesq": lambda: pesq(reference, degraded, rate),
        "visqol": lambda: visqol(wide_ref(), wide_deg()),
        "dnsmos": lambda: dnsmos(wide_deg()),
        "plcmos": lambda: plcmos(wide_deg()),
        "stoi": lambda: stoi(reference, degraded, rate),
    }
    return Scores(**{name: scorers[name]() if name in which else math.nan for name in NAMES})
