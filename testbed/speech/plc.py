"""G.711 packet loss concealment with spandsp's PLC (Debian's libspandsp2, through ctypes).

spandsp's plc.c is a pitch-based waveform substitution in the manner of G.711 Appendix I:
it keeps a history of what was played, repeats the last pitch period over a lost frame
with a fade after the first 10 ms, and overlap-adds into the next frame that arrives. Its
API is three calls (plc_init, plc_rx, plc_fillin): too small for a binding package, so this
module is that binding.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools

import numpy as np

from testbed.errors import ProgramMissing

STATE_BYTES = 8192  # plc_state_t is about 1.3 KB in spandsp 0.0.6; allocated here, generously


@functools.cache
def _library() -> ctypes.CDLL:
    name = ctypes.util.find_library("spandsp")
    if name is None:
        raise ProgramMissing("libspandsp", "libspandsp2", "G.711 packet loss concealment")
    lib = ctypes.CDLL(name)
    lib.plc_init.restype = ctypes.c_void_p
    lib.plc_init.argtypes = [ctypes.c_void_p]
    for call in (lib.plc_rx, lib.plc_fillin):
        call.restype = ctypes.c_int
        call.argtypes = [ctypes.c_void_p, ctypes.POINTER(ctypes.c_int16), ctypes.c_int]
    return lib


class G711Concealer:
    """Feed it every frame played; ask it for a frame where one is missing."""

    def __init__(self) -> None:
        self._lib = _library()
        self._memory = ctypes.create_string_buffer(STATE_BYTES)
        self._state = self._lib.plc_init(ctypes.cast(self._memory, ctypes.c_void_p))

    def received(self, frame: np.ndarray) -> np.ndarray:
        """A frame that arrived: remembered, and blended in after a concealed one."""
        samples = np.ascontiguousarray(frame, dtype=np.int16).copy()
        self._lib.plc_rx(self._state, samples.ctypes.data_as(ctypes.POINTER(ctypes.c_int16)), samples.size)
        return samples

    def conceal(self, samples: int) -> np.ndarray:
        out = np.zeros(samples, dtype=np.int16)
        self._lib.plc_fillin(self._state, out.ctypes.data_as(ctypes.POINTER(ctypes.c_int16)), samples)
        return out
