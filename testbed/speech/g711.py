"""ITU-T G.711: 16-bit linear PCM to 8-bit mu-law or A-law and back, through 64 Ki-entry
tables built once from the ITU's reference code (G.191's Software Tools Library, g711.c),
transcribed rule for rule."""

from __future__ import annotations

import functools

import numpy as np


def _mu_encode_one(sample: int) -> int:
    """G.191 ulaw_compress: one's complement for negatives, 14-bit magnitude plus 33."""
    magnitude = min(((~sample if sample < 0 else sample) >> 2) + 33, 0x1FFF)
    segment = (magnitude >> 6).bit_length() + 1
    code = ((8 - segment) << 4) | (0x0F - ((magnitude >> segment) & 0x0F))
    return code | 0x80 if sample >= 0 else code


def _mu_decode_one(code: int) -> int:
    """G.191 ulaw_expand."""
    sign = -1 if code < 0x80 else 1
    mantissa = ~code
    exponent = (mantissa >> 4) & 0x07
    step = 4 << (exponent + 1)
    return sign * ((0x80 << exponent) + step * (mantissa & 0x0F) + step // 2 - 4 * 33)


def _a_encode_one(sample: int) -> int:
    """G.191 alaw_compress."""
    ix = (~sample if sample < 0 else sample) >> 4
    if ix > 15:
        exponent = 1
        while ix > 16 + 15:
            ix >>= 1
            exponent += 1
        ix = ix - 16 + (exponent << 4)
    return (ix | 0x80 if sample >= 0 else ix) ^ 0x55


def _a_decode_one(code: int) -> int:
    """G.191 alaw_expand."""
    ix = code ^ 0x55
    exponent = (ix & 0x7F) >> 4
    mantissa = ix & 0x0F
    if exponent > 0:
        mantissa += 16
    mantissa = (mantissa << 4) + 8
    if exponent > 1:
        mantissa <<= exponent - 1
    return mantissa if ix > 127 else -mantissa


@functools.cache
def _tables(law: str) -> tuple[np.ndarray, np.ndarray]:
    encode, decode = (_mu_encode_one, _mu_decode_one) if law == "mu" else (_a_encode_one, _a_decode_one)
    samples = np.arange(-32768, 32768)
    return (np.array([encode(int(s)) for s in samples], dtype=np.uint8),
            np.array([decode(c) for c in range(256)], dtype=np.int16))


def encode(pcm: np.ndarray, law: str = "mu") -> bytes:
    """int16 samples -> G.711 bytes (one per sample)."""
    return _tables(law)[0][pcm.astype(np.int32) + 32768].tobytes()


def decode(data: bytes, law: str = "mu") -> np.ndarray:
    """G.711 bytes -> int16 samples."""
    return _tables(law)[1][np.frombuffer(data, dtype=np.uint8)]
