"""Encoded media is made once per (preset, speech, DTX, encoder version), read back from the
speech cache and written into each run's results; a damaged cached file is encoded again,
and a cache that cannot be written costs only the time (the testbed VM shares this cache)."""

from __future__ import annotations

import numpy as np
import pytest

from testbed.speech import cache as speech_cache
from testbed.speech import media
from testbed.speech.presets import PRESETS


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setattr(speech_cache, "CACHE", tmp_path / "cache")
    return tmp_path / "cache"


@pytest.fixture
def encodes(monkeypatch) -> list[str]:
    made: list[str] = []
    real = media.encode

    def counting(preset, source, dtx=False):
        made.append(preset.name)
        return real(preset, source, dtx)

    monkeypatch.setattr(media, "encode", counting)
    return made


@pytest.mark.parametrize("preset", ["g711", "opus-webrtc"])
def test_a_second_run_reads_the_cached_media_instead_of_encoding(tmp_path, cache, encodes, preset) -> None:
    first = media.prepare(PRESETS[preset], "en-f", False, tmp_path / "run1")
    second = media.prepare(PRESETS[preset], "en-f", False, tmp_path / "run2")
    assert encodes == [preset]
    assert first.name == second.name and (cache / first.name).exists()
    a, b = media.load(first), media.load(second)
    assert a.payloads == b.payloads and np.array_equal(a.reference, b.reference)
    assert not list((tmp_path / "run2").glob("*.tmp.npz")) and not list(cache.glob("*.tmp.npz"))


def test_the_key_names_the_encoder_version_so_another_libopus_encodes_again(monkeypatch) -> None:
    from testbed.speech import opus

    before = media.media_key(PRESETS["opus-webrtc"], "en-f", False)
    monkeypatch.setattr(opus, "version", lambda: "libopus 9.9.9")
    assert media.media_key(PRESETS["opus-webrtc"], "en-f", False) != before


def test_a_damaged_cached_file_is_encoded_again(tmp_path, cache, encodes) -> None:
    path = media.prepare(PRESETS["g711"], "en-f", False, tmp_path / "run1")
    (cache / path.name).write_bytes(b"not an npz")
    again = media.prepare(PRESETS["g711"], "en-f", False, tmp_path / "run2")
    assert encodes == ["g711", "g711"]
    assert media.load(again).payloads == media.load(path).payloads


def test_a_cache_that_cannot_be_written_still_gives_the_media(tmp_path, monkeypatch, encodes) -> None:
    blocked = tmp_path / "file"
    blocked.write_text("a file where the cache directory should be")
    monkeypatch.setattr(speech_cache, "CACHE", blocked / "speech")
    path = media.prepare(PRESETS["g711"], "en-f", False, tmp_path / "run")
    assert media.load(path).frames > 0 and encodes == ["g711"]
