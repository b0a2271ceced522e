"""The third-party scorers, run without their waste and with the same results.

Each piece here replaces how a library runs a computation, never what it computes; a unit
test compares every one with the library's own code (tests/unit/test_accelerate.py).

- PLCMOS v2 (speechmos) runs its whole network 15 times per clip, once per random rater
  embedding, although the embedding enters only the small dense head after the audio encoder
  (convolutions and GRUs). The ONNX graph is cut at that boundary with onnx's own extractor:
  the encoder runs once, the head once for the 15 raters as one batch. 15 encoder runs
  become 1 (the bulk of PLCMOS' time).
- DNSMOS (speechmos) also runs the P.808 model on every window; only the P.835 model's
  overall score is used here, so only that model runs (its windows, hop and polynomial are
  speechmos' own).
- ViSQOL (visqol-python 3.8) converts the signal to int16 for its voice-activity detector in a
  per-sample Python loop (a third of ViSQOL's time); the same conversion is done on the array.
"""

from __future__ import annotations

import numpy as np

PLCMOS_ENCODER_INPUT = "degraded_audio"
PLCMOS_RATER_INPUT = "rater_embed"
PLCMOS_OUTPUT = "plcmos"


def rater_boundary(graph) -> list[str]:
    """The tensors of an ONNX `graph` that carry the audio into the rater-dependent part: the
    inputs of nodes downstream of the rater embedding that are neither downstream of it nor
    weights or constants."""
    downstream = {PLCMOS_RATER_INPUT}
    for node in graph.node:  # ONNX keeps nodes in topological order
        if any(name in downstream for name in node.input):
            downstream.update(node.output)
    fixed = {i.name for i in graph.initializer}
    fixed |= {out for node in graph.node if node.op_type == "Constant" for out in node.output}
    return sorted({name for node in graph.node if any(n in downstream for n in node.input)
                   for name in node.input if name and name not in downstream and name not in fixed})


class SplitPlcmos:
    """PLCMOS v2 with its audio encoder run once per clip (see the module's docstring)."""

    def __init__(self, model_path: str, session) -> None:
        import onnx
        from onnx.utils import Extractor

        model = onnx.load(model_path)
        self.boundary = rater_boundary(model.graph)
        # shape inference does not reach past the GRUs: name the cut's tensors (float, any shape)
        model.graph.value_info.extend(onnx.helper.make_tensor_value_info(name, onnx.TensorProto.FLOAT, None)
                                      for name in self.boundary)
        extractor = Extractor(model)
        encoder = extractor.extract_model([PLCMOS_ENCODER_INPUT], self.boundary)
        head = extractor.extract_model([*self.boundary, PLCMOS_RATER_INPUT], [PLCMOS_OUTPUT])
        for output in head.graph.output:  # a scalar per clip becomes one per rater
            output.type.tensor_type.ClearField("shape")
        self.encoder = session(encoder.SerializeToString())
        self.head = session(head.SerializeToString())
        self.head_ops = {node.op_type for node in head.graph.node}  # what runs once per rater

    def mos(self, features: np.ndarray, raters: np.ndarray) -> float:
        """The mean over `raters` (one 64-value embedding a row) of the score of `features`
        (speechmos' STFT features, shaped [1, 1, frames, 257])."""
        encoded = self.encoder.run(self.boundary, {PLCMOS_ENCODER_INPUT: features})
        batch = {name: np.repeat(value, len(raters), axis=0) for name, value in zip(self.boundary, encoded,
                                                                                      strict=True)}
        batch[PLCMOS_RATER_INPUT] = raters.astype(np.float32)
        (values,) = self.head.run([PLCMOS_OUTPUT], batch)
        return float(np.mean(np.asarray(values, np.float64).reshape(-1)))


def dnsmos_overall(model, audio: np.ndarray, rate: int) -> float:
    """DNSMOS P.835 overall quality of `audio` as speechmos' DNSMOS.__call__ computes its
    `ovrl_mos` (same windows, hop and polynomial), running only the P.835 model."""
    from speechmos.dnsmos import INPUT_LENGTH

    window = int(INPUT_LENGTH * rate)
    while len(audio) < window:
        audio = np.append(audio, audio)
    hops = int(np.floor(len(audio) / rate) - INPUT_LENGTH) + 1
    overall = []
    for k in range(hops):
        segment = audio[int(k * rate): int((k + INPUT_LENGTH) * rate)]
        if len(segment) < window:
            continue
        raw = model.onnx_sess.run(None, {"input_1": np.array(segment).astype("float32")[np.newaxis, :]})[0][0]
        overall.append(model.get_polyfit_val(*raw, False)[2])
    return float(np.mean(overall))


def visqol_voice_activity(signal, start_sample: int, total_samples: int, frame_len: int) -> list[float]:
    """visqol-python's VadPatchCreator._get_voice_activity, the int16 conversion done on the
    array: scaled by 2^15, clamped to int16's range and truncated toward zero, as its loop's
    int() does; then its own RmsVad over every whole frame."""
    from visqol.patch_creator import RmsVad

    data = np.asarray(signal.data[start_sample: start_sample + total_samples], np.float64)
    whole = len(data) // frame_len * frame_len
    pcm = np.clip(data[:whole] * (1 << 15), -(1 << 15), (1 << 15) - 1).astype(np.int64).astype(np.int16)
    vad = RmsVad()
    for chunk in pcm.reshape(-1, frame_len):
        vad.process_chunk(chunk)
    return vad.get_vad_results()


VISQOL_VERSION = "3.8.0"  # the visqol-python whose VadPatchCreator._get_voice_activity this replaces


def _voice_activity(self, signal, start_sample: int, total_samples: int, frame_len: int) -> list[float]:
    return visqol_voice_activity(signal, start_sample, total_samples, frame_len)


def speed_up_visqol() -> bool:
    """Swap in the array conversion, keeping the library's method beside it as
    `_library_get_voice_activity` (idempotent); only in the version it was compared with
    (another keeps its own loop). Whether the faster one is in place."""
    from importlib.metadata import PackageNotFoundError, version

    from visqol.patch_creator import VadPatchCreator

    try:
        if version("visqol-python") != VISQOL_VERSION:
            return False
    except PackageNotFoundError:
        return False
    if "_library_get_voice_activity" not in VadPatchCreator.__dict__:
        VadPatchCreator._library_get_voice_activity = VadPatchCreator._get_voice_activity
        VadPatchCreator._get_voice_activity = _voice_activity
    return True
