import joblib
import numpy as np
import pytest

from vibe.errors import InputError
from vibe.io.results import TrackResult, load_results, save_results

SPEC_KEYS = {"pred_cam": (3,), "orig_cam": (4,), "pose": (72,), "betas": (10,), "joints3d": (49, 3),
             "joints2d_img_coord": (49, 2), "bboxes": (4,)}


def make_track(n=5, verts=20, rng=np.random.default_rng(0)):
    arrays = {k: rng.normal(size=(n, *shape)) for k, shape in SPEC_KEYS.items()}
    return TrackResult(frame_ids=np.arange(3, 3 + n), verts=rng.normal(size=(n, verts, 3)),
                       joints2d=None, meta={"method": "fitting"}, **arrays)


def test_pkl_has_vibe_keys_and_dtypes(tmp_path):
    save_results({7: make_track()}, tmp_path)
    raw = joblib.load(tmp_path / "vibe_output.pkl")
    entry = raw[7]
    for key, shape in SPEC_KEYS.items():
        assert entry[key].shape == (5, *shape) and entry[key].dtype == np.float32
    assert entry["verts"].shape == (5, 20, 3)
    assert entry["joints2d"] is None
    assert entry["frame_ids"].tolist() == [3, 4, 5, 6, 7]
    npz = np.load(tmp_path / "person_7.npz")
    np.testing.assert_allclose(npz["pose"], entry["pose"])


def test_round_trip(tmp_path):
    track = make_track()
    back = load_results(save_results({1: track}, tmp_path))[1]
    np.testing.assert_allclose(back.verts, track.verts.astype(np.float32))
    np.testing.assert_allclose(back.mean_betas, track.betas.astype(np.float32).mean(0), rtol=1e-6)


def test_row_count_mismatch_is_rejected():
    track = make_track()
    with pytest.raises(InputError, match="pose has 4 rows for 5 frames"):
        TrackResult(**{**track.__dict__, "pose": track.pose[:4]})


def test_corrupt_file(tmp_path):
    bad = tmp_path / "vibe_output.pkl"
    bad.write_bytes(b"not a pickle")
    with pytest.raises(InputError, match="unreadable"):
        load_results(bad)
