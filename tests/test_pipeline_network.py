"""The network path end to end: checkpoint files in VIBE's and SPIN's exact layouts (random weights,
written by the models tests' helpers) in a data dir, a few frames of vtest.avi.

Checks: the run takes the network path, writes VIBE's keys, and its orig_cam follows SPEC's formula
from pred_cam and the boxes with the crop side h x 1.1 (or h with CAMERA.VIBE_CROP_SIDE_COMPAT).
"""
import shutil

import joblib
import numpy as np
import pytest
import torch

from test_models_checkpoints import HEAD, random_state, resnet50_table, vibe_file_dict
from test_pipeline import SPEC_KEYS, VTEST, WALKERS_REGION, write_clip
from vibe.errors import AssetError
from vibe.pipeline import run

NETWORK_CLIP_FRAMES = 7  # the detector runs on frames 0, 3 and 6
WIDTH, HEIGHT = WALKERS_REGION[2] - WALKERS_REGION[0], WALKERS_REGION[3] - WALKERS_REGION[1]
IDENTITY_6D = [1.0, 0.0, 0.0, 1.0, 0.0, 0.0]  # first two columns of I, row-major
MEAN_CAM = [0.9, 0.0, 0.0]  # SPEC's fallback camera: a person filling most of the crop


@pytest.fixture(scope="module")
def network_data_dir(tmp_path_factory, tiny_smpl_dir):
    """tiny SMPL + vibe_model_wo_3dpw.pth.tar + spin_model_checkpoint.pth.tar (random weights, with the
    regressor's start at the rest pose and camera (0.9, 0, 0) so the bodies land in front of the camera)."""
    folder = tmp_path_factory.mktemp("vibe_data")
    shutil.copy(tiny_smpl_dir / "SMPL_NEUTRAL.pkl", folder)
    contents = vibe_file_dict()
    gen = contents["gen_state_dict"]
    gen["regressor.init_pose"] = torch.tensor([IDENTITY_6D * 24])
    gen["regressor.init_cam"] = torch.tensor([MEAN_CAM])
    torch.save(contents, folder / "vibe_model_wo_3dpw.pth.tar")
    torch.save({"model": random_state({**resnet50_table(), **HEAD}, seed=5)}, folder / "spin_model_checkpoint.pth.tar")
    return folder


@pytest.fixture(scope="module")
def short_clip(tmp_path_factory):
    if not VTEST.is_file():
        pytest.skip("vtest.avi not available")
    return write_clip(tmp_path_factory.mktemp("short") / "short.mp4", NETWORK_CLIP_FRAMES, 10, WALKERS_REGION)


def orig_cam_by_spec(pred_cam, bboxes, width, height, scale):
    """SPEC section 3: sx = s h'/W, sy = s h'/H, tx' = (cx - W/2)/(W/2)/sx + tx, ty' likewise; h' = h * scale."""
    s, tx, ty = pred_cam.T.astype(np.float64)
    cx, cy, side = bboxes[:, 0], bboxes[:, 1], bboxes[:, 3] * scale
    sx, sy = s * side / width, s * side / height
    return np.stack([sx, sy, (cx - width / 2) / (width / 2) / sx + tx, (cy - height / 2) / (height / 2) / sy + ty], 1)


def test_network_path_end_to_end(short_clip, network_data_dir, tmp_path):
    outcome = run(short_clip, tmp_path, data_dir=str(network_data_dir), progress=False, render=False)
    assert outcome.method == "vibe" and "found" in outcome.method_reason
    payload = joblib.load(tmp_path / "short" / "vibe_output.pkl")
    assert payload and set(payload) == set(outcome.results)
    for entry in payload.values():
        n = len(entry["frame_ids"])
        for key, shape in SPEC_KEYS.items():
            if key == "joints2d":
                assert entry[key] is None  # the network path uses no 2D keypoints
                continue
            assert entry[key].shape == (n, *shape), key
        expected = orig_cam_by_spec(entry["pred_cam"], entry["bboxes"], WIDTH, HEIGHT, 1.1)
        np.testing.assert_allclose(entry["orig_cam"], expected, rtol=1e-4, atol=1e-5)
        assert entry["meta"]["method"] == "vibe"
    assert (tmp_path / "short" / "person_0.glb").is_file()

    # VIBE's overlay camera (CAMERA.VIBE_CROP_SIDE_COMPAT): same features and poses, cameras shrunk by 1/1.1
    compat = run(short_clip, tmp_path, data_dir=str(network_data_dir), progress=False, render=False,
                 opts=["CAMERA.VIBE_CROP_SIDE_COMPAT", "True"])
    assert {"track", "crops"} <= set(compat.cached) and "reconstruct" not in compat.cached
    for track_id, result in compat.results.items():
        np.testing.assert_allclose(result.pose, outcome.results[track_id].pose, atol=1e-6)
        np.testing.assert_allclose(result.orig_cam, orig_cam_by_spec(result.pred_cam, result.bboxes, WIDTH, HEIGHT, 1.0),
                                   rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(result.orig_cam[:, 0], outcome.results[track_id].orig_cam[:, 0] / 1.1, rtol=1e-4)


def test_forced_network_path_needs_spin_backbone(short_clip, network_data_dir, tmp_path):
    partial = tmp_path / "data"
    partial.mkdir()
    shutil.copy(network_data_dir / "vibe_model_wo_3dpw.pth.tar", partial)
    with pytest.raises(AssetError, match="spin_model_checkpoint.pth.tar"):
        run(short_clip, tmp_path / "out", data_dir=str(partial), method="auto", progress=False)
    assert not (tmp_path / "out").exists()  # nothing left behind
