"""AMASS (SMPL-H `.npz` per sequence) -> `amass_db.pt`: theta (N, 82) = SMPL pose 72 + betas 10, vid_name.

Pose: SMPL-H's 52 joints are the 22 body joints (0-21) then 15 per hand (left 22-36, right
37-51). SMPL's 24 are taken as VIBE did: SMPL-H joints 0-22 (22 = the left hand's first joint
stands in for SMPL's left hand) and joint 37 (the right hand's first joint) for SMPL's right hand.

Rate: each clip is resampled to `PREPROCESS.AMASS_FPS` by taking, at every target time
k / fps, the source frame nearest in time. Unlike a fixed integer stride (VIBE's
`framerate // 25`), this keeps the true speed for rates like 59.94 or 100 fps. Clips recorded
slower than the target rate are skipped with a warning: upsampling would repeat frames, a
stutter the motion discriminator would learn as real.
"""
from __future__ import annotations

import logging
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from yacs.config import CfgNode

from vibe.config import get_cfg_defaults
from vibe.data.preprocess.parts import PartStore, assemble_joblib, work_dir_for
from vibe.data.vibe_db import AMASS_THETA_DIM, BETAS_DIM, db_path
from vibe.errors import InputError

log = logging.getLogger(__name__)

SMPLH_POSE_DIM = 156  # 52 joints x 3
AXIS_ANGLE = 3
SMPL_FROM_SMPLH_JOINTS = (*range(23), 37)  # SMPL joint j <- SMPL-H joint SMPL_FROM_SMPLH_JOINTS[j]
REQUIRED_KEYS = ("poses", "betas", "mocap_framerate")


@dataclass
class AmassClip:
    """One resampled clip: pose (T, 72) SMPL axis-angle, betas (10,)."""

    pose: np.ndarray
    betas: np.ndarray


def smplh_to_smpl_pose(poses: np.ndarray) -> np.ndarray:
    """(N, 156) SMPL-H axis-angle -> (N, 72) SMPL axis-angle (joints SMPL_FROM_SMPLH_JOINTS)."""
    joints = np.asarray(poses).reshape(len(poses), -1, AXIS_ANGLE)
    return joints[:, list(SMPL_FROM_SMPLH_JOINTS)].reshape(len(poses), -1)


def resample_indices(num_frames: int, source_fps: float, target_fps: float) -> np.ndarray:
    """Source frame nearest in time to each target time k / target_fps within the clip (halves round up)."""
    duration = (num_frames - 1) / source_fps
    times = np.arange(int(np.floor(duration * target_fps + 1e-9)) + 1) / target_fps
    return np.minimum(np.floor(times * source_fps + 0.5).astype(np.int64), num_frames - 1)


def find_sequences(src: Path) -> list[Path]:
    """Every `.npz` under `src`, sorted (AMASS's per-subject `shape.npz` files are skipped when read)."""
    if not src.is_dir():
        raise InputError(f"AMASS folder {src} not found; pass the folder holding the unpacked AMASS datasets to --src")
    files = sorted(src.rglob("*.npz"))
    if not files:
        raise InputError(f"no .npz files under {src}; unpack AMASS's SMPL-H (or SMPL+H G) archives there")
    return files


def read_clip(path: Path, target_fps: float) -> AmassClip | None:
    """One AMASS file resampled, or None for files without motion (shape.npz) or slower than target_fps."""
    try:
        with np.load(path, allow_pickle=False) as data:
            if "poses" not in data:
                return None
            missing = [key for key in REQUIRED_KEYS if key not in data]
            if missing:
                raise InputError(f"AMASS file {path} lacks {', '.join(missing)}; is it an AMASS SMPL-H sequence?")
            poses, betas, fps = data["poses"], data["betas"], float(data["mocap_framerate"])
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as err:
        raise InputError(f"AMASS file {path} is unreadable ({type(err).__name__}); download it again or remove it") from None
    if poses.ndim != 2 or poses.shape[1] != SMPLH_POSE_DIM:
        raise InputError(f"AMASS file {path}: poses has shape {poses.shape}, expected (N, {SMPLH_POSE_DIM}) SMPL-H")
    if fps < target_fps:
        log.warning("skipping %s: recorded at %.3g fps, below the target %.3g fps", path, fps, target_fps)
        return None
    frames = resample_indices(len(poses), fps, target_fps)
    return AmassClip(pose=smplh_to_smpl_pose(poses[frames]).astype(np.float32),
                     betas=np.asarray(betas[:BETAS_DIM], np.float32))


def preprocess_amass(src: str | Path, out_dir: str | Path, cfg: CfgNode | None = None) -> Path:
    """All AMASS clips under `src` -> `<out_dir>/amass_db.pt`, resumable through a work dir."""
    cfg = cfg or get_cfg_defaults()
    src, fps = Path(src).expanduser(), float(cfg.PREPROCESS.AMASS_FPS)
    out_path = db_path(out_dir, "amass")
    store = PartStore(work_dir_for(out_dir, cfg.PREPROCESS.WORK_DIR, "amass", "train"), {"fps": fps})
    keys = []
    for path in find_sequences(src):
        key = path.relative_to(src).with_suffix("").as_posix()
        keys.append(key)
        if store.has(key):
            continue
        clip = read_clip(path, fps)
        frames = 0 if clip is None else len(clip.pose)
        theta = (np.zeros((0, AMASS_THETA_DIM), np.float32) if clip is None else
                 np.concatenate([clip.pose, np.broadcast_to(clip.betas, (frames, BETAS_DIM))], axis=1))
        store.write(key, {"theta": theta, "vid_name": np.array([key] * frames, dtype=str)})
        log.debug("%s: %d frames", key, frames)
    rows = assemble_joblib(store, keys, out_path)
    log.info("wrote %s: %d frames from %d files", out_path, rows, len(keys))
    if not cfg.PREPROCESS.KEEP_PARTS:
        store.remove()
    return out_path
