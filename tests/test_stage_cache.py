"""The per-stage cache under <results>/cache/ carries a checksum of its payload: a file whose bytes
were overwritten (a bad disk, a stray write) is recomputed with a warning, never reused."""
import logging

import numpy as np
import pytest

from test_image_inputs import ONE_FRAME_RUN
from test_pipeline import WALKERS_REGION, write_clip
from media import VTEST
from vibe.pipeline import run
from vibe.pipeline.cache import StageCache

FLOAT32_MAX_BYTES = b"\x7f\x7f\x7f\x7f"  # 3.4e38 as a float32: what overwritten array bytes read as
CORRUPT_BYTES = 64


def overwrite_middle(path, length=CORRUPT_BYTES):
    """Overwrite `length` bytes in the middle of `path` (its size stays the same)."""
    data = bytearray(path.read_bytes())
    middle = len(data) // 2
    data[middle:middle + length] = FLOAT32_MAX_BYTES * (length // len(FLOAT32_MAX_BYTES))
    path.write_bytes(bytes(data))


def cache_warnings(caplog):
    return [r.message for r in caplog.records if r.name == "vibe.pipeline.cache" and r.levelno == logging.WARNING]


def test_overwritten_bytes_are_detected_and_recomputed(tmp_path, caplog):
    cache = StageCache(tmp_path)
    data = {"poses": np.linspace(-1, 1, 4096, dtype=np.float32).reshape(64, 64)}
    cache.save("reconstruct", "key", data)
    np.testing.assert_array_equal(cache.load("reconstruct", "key")["poses"], data["poses"])
    overwrite_middle(tmp_path / "reconstruct.pkl")
    with caplog.at_level(logging.WARNING, logger="vibe.pipeline.cache"):
        assert cache.load("reconstruct", "key") is None
    warning, = cache_warnings(caplog)
    assert "reconstruct.pkl" in warning and "checksum" in warning and "recomputing" in warning
    cache.save("reconstruct", "key", data)  # the recomputed data replaces the damaged file
    np.testing.assert_array_equal(cache.load("reconstruct", "key")["poses"], data["poses"])


def test_a_file_from_before_checksums_is_recomputed_quietly(tmp_path, caplog):
    import joblib

    joblib.dump({"key": "key", "data": {"poses": np.zeros(3)}}, tmp_path / "track.pkl")  # the old layout
    with caplog.at_level(logging.INFO, logger="vibe.pipeline.cache"):
        assert StageCache(tmp_path).load("track", "key") is None
    assert not cache_warnings(caplog)


@pytest.mark.skipif(not VTEST.is_file(), reason="vtest.avi not available")
def test_a_run_recomputes_a_damaged_stage(tmp_path, tiny_smpl_dir, caplog):
    clip = write_clip(tmp_path / "walkers.mp4", 6, 10, WALKERS_REGION)
    options = dict(data_dir=str(tiny_smpl_dir), opts=ONE_FRAME_RUN, progress=False, render=False)
    first = run(clip, tmp_path / "out", **options)
    overwrite_middle(tmp_path / "out" / "walkers" / "cache" / "reconstruct.pkl")
    with caplog.at_level(logging.WARNING, logger="vibe.pipeline.cache"):
        again = run(clip, tmp_path / "out", **options)
    assert set(again.cached) == {"track", "crops"}  # reconstruct recomputed, the intact stages reused
    assert len(cache_warnings(caplog)) == 1
    assert set(again.results) == set(first.results)
    for track_id, result in again.results.items():
        assert np.abs(result.pose).max() < 10  # radians, not 3.4e38
        np.testing.assert_allclose(result.pose, first.results[track_id].pose, atol=1e-4)
