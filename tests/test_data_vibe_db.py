"""Readers of VIBE's preprocessed files and the mixed 2D/3D batches, on toy files in each format."""
import numpy as np
import pytest
import torch

from vibe_db_factory import DB_BBOX_SCALE, INSTA_CROP, vibe_db_dir, write_joblib  # noqa: F401 (fixture)
from vibe.data.loaders import MixedBatches, split_batch
from vibe.data.vibe_db import open_dataset, read_joblib_db
from vibe.errors import AssetError, InputError
from vibe.keypoints.conventions import joint_index, joint_names

SEQLEN = 8
COMMON14 = joint_names("common14")


def test_3dpw_window_holds_normalised_keypoints_joints_and_theta(vibe_db_dir):
    dataset = open_dataset("3dpw", vibe_db_dir, "train", SEQLEN, 0.75)
    db = read_joblib_db(vibe_db_dir / "3dpw_train_db.pt", ("joints2D",))
    assert len(dataset) == len(dataset.windows.starts)
    index = 3
    rows = slice(int(dataset.windows.starts[index]), int(dataset.windows.starts[index]) + SEQLEN)
    item = dataset[index]
    assert set(item) == {"features", "kp_2d", "kp_3d", "theta", "w_3d", "w_smpl"}
    frame = rows.start + 2
    cx, cy, _, h = db["bbox"][frame]
    for name in ("right_knee", "left_wrist"):  # common14 joint -> its spin49 slot, n = 2 (x - cx) / (1.2 h)
        x, y, conf = db["joints2D"][frame, COMMON14.index(name)]
        got = item["kp_2d"][2, joint_index("spin49", name)].numpy()
        np.testing.assert_allclose(got, [2 * (x - cx) / (DB_BBOX_SCALE * h), 2 * (y - cy) / (DB_BBOX_SCALE * h), conf],
                                   rtol=1e-5, atol=1e-6)
    assert item["kp_2d"][:, joint_index("spin49", "op_nose"), 2].eq(0).all()  # absent joints have no confidence
    np.testing.assert_allclose(item["kp_3d"].numpy(), db["joints3D"][rows], atol=1e-6)
    np.testing.assert_allclose(item["theta"][:, :3].numpy(), np.tile([1.0, 0.0, 0.0], (SEQLEN, 1)))
    np.testing.assert_allclose(item["theta"][:, 3:75].numpy(), db["pose"][rows], atol=1e-6)
    np.testing.assert_allclose(item["theta"][:, 75:].numpy(), db["shape"][rows], atol=1e-6)
    assert item["w_3d"].eq(1).all() and item["w_smpl"].eq(1).all()


def test_3dpw_test_file_with_14_joints_goes_to_the_common_slots(vibe_db_dir):
    dataset = open_dataset("3dpw", vibe_db_dir, "test", SEQLEN, 0.0)
    item = dataset[0]
    joints14 = np.asarray(dataset.db["joints3D"][:SEQLEN])
    np.testing.assert_allclose(item["kp_3d"][:, 25:39].numpy(), joints14, atol=1e-6)
    assert item["kp_3d"][:, :25].eq(0).all()


def test_mpii3d_has_3d_but_no_smpl_supervision(vibe_db_dir):
    item = open_dataset("mpii3d", vibe_db_dir, "train", SEQLEN, 0.0)[0]
    assert item["w_3d"].eq(1).all() and item["w_smpl"].eq(0).all()
    assert item["kp_2d"].shape == (SEQLEN, 49, 3)


def test_insta_keypoints_are_crop_pixels_normalised_by_name(vibe_db_dir):
    import h5py

    dataset = open_dataset("insta", vibe_db_dir, "train", SEQLEN, 0.0)
    with h5py.File(vibe_db_dir / "insta_train_db.h5") as h5:
        raw = h5["joints2D"][:SEQLEN]
    item = dataset[0]
    heel = joint_names("insta25").index("op_right_heel")
    expected = [2 * raw[0, heel, 0] / INSTA_CROP - 1, 2 * raw[0, heel, 1] / INSTA_CROP - 1, raw[0, heel, 2]]
    np.testing.assert_allclose(item["kp_2d"][0, joint_index("spin49", "op_right_heel")].numpy(), expected, rtol=1e-5)
    assert item["w_3d"].eq(0).all() and item["w_smpl"].eq(0).all()


def test_amass_windows_hold_the_69_body_pose_values(vibe_db_dir):
    dataset = open_dataset("amass", vibe_db_dir, "train", SEQLEN, 0.5)
    theta = read_joblib_db(vibe_db_dir / "amass_db.pt", ("theta",))["theta"]
    assert dataset.windows.starts.tolist() == [0, 8, 16, 24, 32, 40, 48, 56, 64]  # stride = seqlen, as VIBE
    np.testing.assert_allclose(dataset[1]["motion"].numpy(), theta[8:16, 3:72])


def test_missing_file_and_missing_keys_are_one_line_asset_errors(tmp_path, vibe_db_dir):
    with pytest.raises(AssetError, match="3dpw_val_db.pt not found") as err:
        open_dataset("3dpw", tmp_path, "val", SEQLEN, 0.0)
    assert "\n" not in str(err.value)
    write_joblib(tmp_path / "amass_db.pt", {"vid_name": np.array(["a"] * 3)})
    with pytest.raises(AssetError, match="lacks the keys theta"):
        open_dataset("amass", tmp_path, "train", SEQLEN, 0.0)
    with pytest.raises(InputError, match="no split"):
        open_dataset("mpii3d", vibe_db_dir, "test", SEQLEN, 0.0)


def test_batch_split_follows_vibe_ratio():
    assert split_batch(32, 0.6, True, True) == (19, 13)  # int(32 * 0.6) 2D, the rest 3D
    assert split_batch(32, 0.6, False, True) == (0, 32)
    assert split_batch(32, 0.6, True, False) == (32, 0)
    with pytest.raises(InputError):
        split_batch(32, 0.6, False, False)


def _batches(vibe_db_dir, rank=0, world_size=1, seed=0):
    data_2d = open_dataset("insta", vibe_db_dir, "train", SEQLEN, 0.0)
    data_3d = open_dataset("mpii3d", vibe_db_dir, "train", SEQLEN, 0.0)
    motion = open_dataset("amass", vibe_db_dir, "train", SEQLEN, 0.0)
    return MixedBatches(data_2d, data_3d, motion, batch_size=6, ratio_2d=0.5, iters_per_epoch=4, seed=seed,
                        rank=rank, world_size=world_size)


def test_mixed_batches_are_reproducible_and_ranks_split_the_global_batch(vibe_db_dir):
    first = list(_batches(vibe_db_dir).epoch(1))
    again = list(_batches(vibe_db_dir).epoch(1))
    other_epoch = list(_batches(vibe_db_dir).epoch(2))
    assert len(first) == 4
    batch = first[0]
    assert batch.data["features"].shape == (6, SEQLEN, 2048) and batch.motion.shape == (6, SEQLEN, 69)
    assert batch.data["w_3d"][:, 0].tolist() == [0, 0, 0, 1, 1, 1]  # 3 insta windows, then 3 mpii3d windows
    for a, b in zip(first, again):
        assert torch.equal(a.data["features"], b.data["features"]) and torch.equal(a.motion, b.motion)
    assert not all(torch.equal(a.data["features"], b.data["features"]) for a, b in zip(first, other_epoch))
    ranks = [list(_batches(vibe_db_dir, rank, 2).epoch(1)) for rank in (0, 1)]
    for whole, part0, part1 in zip(first, *ranks):
        merged = torch.cat([part0.data["features"], part1.data["features"]])
        rows = {tuple(r[0, :4].tolist()) for r in merged}
        assert rows == {tuple(r[0, :4].tolist()) for r in whole.data["features"]}
        assert len(part0.data["features"]) == len(part1.data["features"]) == 3
