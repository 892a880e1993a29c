"""Tiny datasets in each of VIBE's preprocessed formats, random but valid (no tests here: helpers
for tests/test_data_*.py, test_trainer.py and test_eval.py).

A "toy world" makes the training target learnable: every frame's SMPL pose and shape follow a
smooth per-video motion, its 2048-d feature is a fixed random function of them, its 3D joints
come from the body model and its 2D keypoints are their weak-perspective projection into the
frame's box. `write_all(db_dir, body_model)` writes every file the smoke config reads.
"""
from __future__ import annotations

from pathlib import Path

import h5py
import pytest
import joblib
import numpy as np
import torch

from vibe.keypoints.conventions import convert

FEATURE_DIM = 2048
POSE_DIM, BETAS_DIM = 72, 10
DB_BBOX_SCALE = 1.2
CAM_SCALE = 0.9  # weak-perspective scale of the toy crops
POSE_AMPLITUDE = 0.3  # rad
INSTA_CROP = 224
_WORLD_SEED = 1234  # the fixed feature map, shared by every file


def feature_map() -> np.ndarray:
    """(82, 2048) fixed random map from [pose, betas] to features."""
    return np.random.default_rng(_WORLD_SEED).normal(scale=1.0, size=(POSE_DIM + BETAS_DIM, FEATURE_DIM))


def toy_motion(frames: int, rng) -> tuple[np.ndarray, np.ndarray]:
    """A smooth pose sequence (frames, 72) and a constant shape (frames, 10)."""
    phase, speed = rng.uniform(0, 2 * np.pi, POSE_DIM), rng.uniform(0.05, 0.2, POSE_DIM)
    pose = POSE_AMPLITUDE * np.sin(phase + speed * np.arange(frames)[:, None])
    shape = np.repeat(rng.normal(scale=0.5, size=(1, BETAS_DIM)), frames, axis=0)
    return pose.astype(np.float32), shape.astype(np.float32)


def features_of(pose: np.ndarray, shape: np.ndarray) -> np.ndarray:
    return np.tanh(np.concatenate([pose, shape], axis=1) @ feature_map() / 4.0).astype(np.float32)


def body_of(body_model, pose: np.ndarray, shape: np.ndarray):
    with torch.no_grad():
        out = body_model(global_orient=torch.from_numpy(pose[:, :3]), body_pose=torch.from_numpy(pose[:, 3:]),
                         betas=torch.from_numpy(shape))
    return out


def videos(names_and_lengths, rng):
    """Concatenated toy motion over the videos: vid_name (N,), frame_id (N,), pose, shape."""
    names, frame_ids, poses, shapes = [], [], [], []
    for name, length in names_and_lengths:
        pose, shape = toy_motion(length, rng)
        names += [name] * length
        frame_ids.append(np.arange(length))
        poses.append(pose)
        shapes.append(shape)
    return np.array(names), np.concatenate(frame_ids), np.concatenate(poses), np.concatenate(shapes)


def boxes(count: int, rng) -> np.ndarray:
    """(count, 4) square boxes (cx, cy, w, h) in a 1920x1080 frame."""
    side = rng.uniform(200, 400, count)
    return np.stack([rng.uniform(400, 1500, count), rng.uniform(300, 800, count), side, side], 1).astype(np.float32)


def project_to_image(joints3d: np.ndarray, bbox: np.ndarray) -> np.ndarray:
    """(N, J, 3) -> (N, J, 2) pixels: weak perspective into the crop, then into the image."""
    normalised = CAM_SCALE * joints3d[..., :2]
    return bbox[:, None, :2] + normalised * (bbox[:, None, 3:4] * DB_BBOX_SCALE) / 2


def make_3dpw(body_model, split: str, names_and_lengths, seed: int = 0) -> dict:
    """VIBE's 3dpw_{split}_db layout: joints2D (N,14,3) common14 pixels; joints3D 49 (train) or 14 (val/test)."""
    rng = np.random.default_rng(seed)
    vid_name, frame_id, pose, shape = videos(names_and_lengths, rng)
    body = body_of(body_model, pose, shape)
    joints49 = body.joints.numpy()
    bbox = boxes(len(pose), rng)
    common = convert(joints49, "spin49", "common14")
    joints2d = np.concatenate([project_to_image(common, bbox), np.ones((len(pose), 14, 1))], -1).astype(np.float32)
    joints2d[:, 12:, 2] = 0.0  # VIBE's 3DPW files have no neck / head top
    if split == "train":
        joints3d = joints49
    else:
        joints3d = convert(body_model.h36m_joints(body.verts).numpy(), "h36m17", "common14")
    return {"vid_name": vid_name, "frame_id": frame_id, "features": features_of(pose, shape),
            "joints2D": joints2d, "joints3D": joints3d.astype(np.float32), "bbox": bbox, "pose": pose,
            "shape": shape, "valid": np.ones(len(pose), bool)}


def make_mpii3d(body_model, split: str, names_and_lengths, seed: int = 1) -> dict:
    """VIBE's mpii3d_{split}_db layout: spin49 joints, 3D pelvis-centred; val has valid_i."""
    rng = np.random.default_rng(seed)
    vid_name, frame_id, pose, shape = videos(names_and_lengths, rng)
    joints49 = body_of(body_model, pose, shape).joints.numpy()
    bbox = boxes(len(pose), rng)
    joints2d = np.concatenate([project_to_image(joints49, bbox), np.ones((len(pose), 49, 1))], -1)
    db = {"vid_name": vid_name, "frame_id": frame_id, "features": features_of(pose, shape),
          "joints2D": joints2d.astype(np.float32), "joints3D": (joints49 - joints49[:, 39:40]).astype(np.float32),
          "bbox": bbox}
    if split == "val":
        db["valid_i"] = (rng.uniform(size=len(pose)) > 0.2).astype(np.uint8)
    return db


def make_insta(body_model, names_and_lengths, seed: int = 2) -> dict:
    """VIBE's insta_train_db.h5 layout: joints2D (N,25,3) insta25 in 224-px crop pixels."""
    rng = np.random.default_rng(seed)
    vid_name, frame_id, pose, shape = videos(names_and_lengths, rng)
    joints49 = body_of(body_model, pose, shape).joints.numpy()
    pixels = (CAM_SCALE * joints49[..., :2] + 1.0) * INSTA_CROP / 2
    conf = rng.uniform(0.3, 1.0, size=(len(pose), 49, 1))
    joints2d = convert(np.concatenate([pixels, conf], -1), "spin49", "insta25", fill_equivalent=True)
    return {"vid_name": np.array([name.encode("ascii") for name in vid_name]), "frame_id": frame_id,
            "joints2D": joints2d.astype(np.float32), "features": features_of(pose, shape)}


def make_amass(names_and_lengths, seed: int = 3) -> dict:
    """VIBE's amass_db layout: theta (N, 82) = pose 72 + betas 10, vid_name."""
    vid_name, _, pose, shape = videos(names_and_lengths, np.random.default_rng(seed))
    return {"theta": np.concatenate([pose, shape], 1), "vid_name": vid_name}


def write_joblib(path: Path, db: dict) -> Path:
    joblib.dump(db, path)
    return path


def write_h5(path: Path, db: dict) -> Path:
    with h5py.File(path, "w") as h5:
        for key, value in db.items():
            h5.create_dataset(key, data=value)
    return path


TRAIN_VIDEOS = [("a_0", 30), ("a_1", 5), ("b_0", 26)]  # one video shorter than the smoke SEQLEN (8)
EVAL_VIDEOS = [("t_0", 20), ("t_1", 19)]


def write_all(db_dir: Path, body_model) -> Path:
    """Every file the smoke config reads (train, val, test splits) into `db_dir`."""
    db_dir.mkdir(parents=True, exist_ok=True)
    write_joblib(db_dir / "3dpw_train_db.pt", make_3dpw(body_model, "train", TRAIN_VIDEOS, seed=10))
    write_joblib(db_dir / "3dpw_val_db.pt", make_3dpw(body_model, "val", EVAL_VIDEOS, seed=11))
    write_joblib(db_dir / "3dpw_test_db.pt", make_3dpw(body_model, "test", EVAL_VIDEOS, seed=12))
    write_joblib(db_dir / "mpii3d_train_db.pt", make_mpii3d(body_model, "train", TRAIN_VIDEOS, seed=13))
    write_joblib(db_dir / "mpii3d_val_db.pt", make_mpii3d(body_model, "val", EVAL_VIDEOS, seed=14))
    write_h5(db_dir / "insta_train_db.h5", make_insta(body_model, TRAIN_VIDEOS, seed=15))
    write_joblib(db_dir / "amass_db.pt", make_amass([("m_0", 40), ("m_1", 33)], seed=16))
    return db_dir


@pytest.fixture(scope="session")
def vibe_db_dir(tmp_path_factory, tiny_body_model):
    """A folder with every toy VIBE db file (import this fixture into a test module to use it)."""
    return write_all(tmp_path_factory.mktemp("vibe_db"), tiny_body_model)
