"""3DPW (`sequenceFiles/{train,validation,test}/*.pkl` + `imageFiles/<seq>/image_%05d.jpg`) ->
`3dpw_{train,val,test}_db.pt` in the layout vibe.data.vibe_db documents.

Per person of each sequence (vid_name `<sequence>_<person>`), as VIBE's preprocessing:
- the root rotation is turned into the camera frame (R_cam @ R_root, cam_poses' rotation), so
  pose and joints are what the camera sees;
- joints2D: poses2d (3DPW's 18-joint order) -> common14 with the confidence replaced by a 0/1
  visibility (confidence > PREPROCESS.VIS_THRESH); neck and head top do not exist (0);
- bbox: square around the visible 2D joints (centre of their extent, side = larger extent x
  PREPROCESS.BOX_MARGIN); features from crops at TRAIN.DB_BBOX_SCALE x that side;
- joints3D: the body model's 49 joints (train) or the H36M regressor's joints reduced to
  common14 (val/test), without translation (the readers centre them on the pelvis);
- kept frames: valid camera pose and at least PREPROCESS.MIN_VISIBLE_JOINTS visible common14 joints.
Differences from VIBE: per-frame boxes (VIBE smooths them over time), and `val` reads the
`validation` folder (VIBE's 3dpw_val_db was made from the test folder).
"""
from __future__ import annotations

import logging
import pickle
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from yacs.config import CfgNode

from vibe.config import get_cfg_defaults
from vibe.data.preprocess.features import FeatureExtractor
from vibe.data.preprocess.parts import PartStore, assemble_joblib, work_dir_for
from vibe.data.vibe_db import BETAS_DIM, db_path
from vibe.errors import InputError
from vibe.geometry import axis_angle_to_rotmat, rotmat_to_axis_angle
from vibe.keypoints.conventions import convert

log = logging.getLogger(__name__)

SPLIT_DIRS = {"train": "train", "val": "validation", "test": "test"}
REQUIRED_KEYS = ("poses", "betas", "poses2d", "cam_poses", "img_frame_ids", "campose_valid")
IMAGE_NAME = "image_{:05d}.jpg"
ROOT = slice(0, 3)


@dataclass
class PersonFrames:
    """One person's kept frames of one sequence: every array has one row per kept frame."""

    frame_id: np.ndarray  # (N,) 0-based index in the sequence
    image_id: np.ndarray  # (N,) number in the image file name
    pose: np.ndarray  # (N, 72) root in the camera frame
    shape: np.ndarray  # (N, 10)
    joints2d: np.ndarray  # (N, 14, 3) common14 pixels + 0/1 visibility
    bbox: np.ndarray  # (N, 4) square (cx, cy, w, h)


def sequence_files(src: Path, split: str) -> list[Path]:
    """The split's sequence pickles, sorted."""
    folder = src / "sequenceFiles" / SPLIT_DIRS[split]
    files = sorted(folder.glob("*.pkl"))
    if not files:
        raise InputError(f"no 3DPW sequence files in {folder}; pass the unpacked 3DPW folder "
                         f"(holding sequenceFiles/ and imageFiles/) to --src")
    return files


def read_sequence(path: Path) -> dict:
    """A 3DPW sequence pickle (python-2, latin1) as a dict; InputError when unreadable or not 3DPW."""
    try:
        with open(path, "rb") as handle:
            data = pickle.load(handle, encoding="latin1")
    except (OSError, pickle.UnpicklingError, EOFError, ValueError, AttributeError) as err:
        raise InputError(f"3DPW file {path} is unreadable ({type(err).__name__}); download it again") from None
    missing = [key for key in REQUIRED_KEYS if not isinstance(data, dict) or key not in data]
    if missing:
        raise InputError(f"3DPW file {path} lacks {', '.join(missing)}; is it a 3DPW sequence file?")
    return data


def camera_frame_pose(pose: np.ndarray, cam_rotations: np.ndarray) -> np.ndarray:
    """(N, 72) world-frame SMPL pose + (N, 3, 3) world->camera rotations -> pose with the root in the camera frame."""
    root = axis_angle_to_rotmat(torch.as_tensor(pose[:, ROOT], dtype=torch.float64))
    rotated = torch.as_tensor(cam_rotations, dtype=torch.float64) @ root
    out = np.array(pose, np.float64)
    out[:, ROOT] = rotmat_to_axis_angle(rotated).numpy()
    return out


def keypoint_boxes(points: np.ndarray, visible: np.ndarray, margin: float) -> np.ndarray:
    """(N, J, 2) pixels + (N, J) visibility -> (N, 4) square boxes over the visible joints
    (centre of their extent, side = larger extent x margin); rows with no visible joint are NaN."""
    inf = np.inf
    low = np.where(visible[..., None], points, inf).min(axis=1)
    high = np.where(visible[..., None], points, -inf).max(axis=1)
    with np.errstate(invalid="ignore"):
        centre = (low + high) / 2
        side = (high - low).max(axis=1) * margin
    boxes = np.concatenate([centre, side[:, None], side[:, None]], axis=1)
    boxes[~visible.any(axis=1)] = np.nan
    return boxes


def person_frames(data: dict, person: int, cfg: CfgNode) -> PersonFrames:
    """The kept frames of `person` (see the module doc for which)."""
    pre = cfg.PREPROCESS
    raw2d = np.asarray(data["poses2d"][person], np.float64).transpose(0, 2, 1)  # (N, 18, 3)
    visible = raw2d[..., 2] > pre.VIS_THRESH
    joints2d = convert(np.concatenate([raw2d[..., :2], visible[..., None]], axis=-1), "3dpw2d18", "common14")
    bbox = keypoint_boxes(raw2d[..., :2], visible, pre.BOX_MARGIN)
    keep = (np.asarray(data["campose_valid"][person]).astype(bool)
            & ((joints2d[..., 2] > 0).sum(axis=1) >= pre.MIN_VISIBLE_JOINTS) & (bbox[:, 3] > 0))
    frames = np.flatnonzero(keep)
    pose = camera_frame_pose(np.asarray(data["poses"][person])[frames], np.asarray(data["cam_poses"])[frames, :3, :3])
    betas = np.asarray(data["betas"][person], np.float32)[:BETAS_DIM]
    return PersonFrames(frame_id=frames, image_id=np.asarray(data["img_frame_ids"])[frames].astype(np.int64),
                        pose=pose.astype(np.float32), shape=np.repeat(betas[None], len(frames), axis=0),
                        joints2d=joints2d[frames].astype(np.float32), bbox=bbox[frames].astype(np.float32))


def body_joints(body_model, pose: np.ndarray, shape: np.ndarray, split: str, batch_size: int) -> np.ndarray:
    """(N, 49, 3) spin49 joints (train) or (N, 14, 3) common14 from the H36M regressor (val/test), metres."""
    parts = []
    with torch.inference_mode():
        for start in range(0, len(pose), batch_size):
            rows = slice(start, start + batch_size)
            pose_t, betas = torch.as_tensor(pose[rows]), torch.as_tensor(shape[rows])
            out = body_model(global_orient=pose_t[:, ROOT], body_pose=pose_t[:, ROOT.stop:], betas=betas)
            joints = out.joints if split == "train" else convert(body_model.h36m_joints(out.verts), "h36m17", "common14")
            parts.append(joints.float().cpu().numpy())
    return np.concatenate(parts)


def person_columns(src: Path, sequence: str, person: int, frames: PersonFrames, split: str,
                   extractor: FeatureExtractor, body_model, cfg: CfgNode) -> dict[str, np.ndarray]:
    """The db columns of one person's kept frames (features from the sequence's images)."""
    image_names = [f"imageFiles/{sequence}/{IMAGE_NAME.format(i)}" for i in frames.image_id]
    features = extractor.features_of_images([src / name for name in image_names], frames.bbox)
    count = len(frames.frame_id)
    return {
        "vid_name": np.array([f"{sequence}_{person}"] * count, dtype=str), "frame_id": frames.frame_id,
        "img_name": np.array(image_names, dtype=str), "features": features, "joints2D": frames.joints2d,
        "joints3D": body_joints(body_model, frames.pose, frames.shape, split, int(cfg.MODEL.BODY_BATCH_SIZE)),
        "bbox": frames.bbox, "pose": frames.pose, "shape": frames.shape, "valid": np.ones(count, bool),
    }


def _concat(columns: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """Columns of several people joined; {} (an empty part) for none."""
    return {name: np.concatenate([c[name] for c in columns]) for name in columns[0]} if columns else {}


def preprocess_3dpw(src: str | Path, out_dir: str | Path, split: str, extractor: FeatureExtractor, body_model,
                    cfg: CfgNode | None = None) -> Path:
    """One 3DPW split -> `<out_dir>/3dpw_<split>_db.pt`, resumable sequence by sequence."""
    cfg = cfg or get_cfg_defaults()
    src = Path(src).expanduser()
    out_path = db_path(out_dir, "3dpw", split)
    pre = cfg.PREPROCESS
    settings = {"vis_thresh": pre.VIS_THRESH, "min_visible": pre.MIN_VISIBLE_JOINTS, "margin": pre.BOX_MARGIN,
                "bbox_scale": extractor.bbox_scale, "body": str(getattr(body_model, "source", ""))}
    store = PartStore(work_dir_for(out_dir, pre.WORK_DIR, "3dpw", split), settings)
    keys = []
    for path in sequence_files(src, split):
        keys.append(path.stem)
        if store.has(path.stem):
            continue
        data = read_sequence(path)
        people = [(person, person_frames(data, person, cfg)) for person in range(len(data["poses"]))]
        columns = [person_columns(src, path.stem, person, frames, split, extractor, body_model, cfg)
                   for person, frames in people if len(frames.frame_id)]
        store.write(path.stem, _concat(columns))
        log.info("%s: %d people, %d frames kept", path.stem, len(people), sum(len(c["frame_id"]) for c in columns))
    rows = assemble_joblib(store, keys, out_path)
    log.info("wrote %s: %d frames from %d sequences", out_path, rows, len(keys))
    if not pre.KEEP_PARTS:
        store.remove()
    return out_path
