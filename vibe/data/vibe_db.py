"""Readers of VIBE's preprocessed files (`data/vibe_db`) as windowed torch datasets.

Files and the facts of their layout (VIBE's preprocessing scripts wrote them):

- `3dpw_{train,val,test}_db.pt` (joblib): vid_name, frame_id, features (N, 2048), joints2D
  (N, 14, 3) common14 order in image pixels with visibility, bbox (N, 4) (cx, cy, w, h), pose
  (N, 72), shape (N, 10), joints3D: (N, 49, 3) spin49 for train, (N, 14, 3) from the H36M
  regressor for val/test (both in metres).
- `mpii3d_{train,val}_db.pt` (joblib; "val" is the MPI-INF-3DHP test set): vid_name, frame_id,
  features, joints2D (N, 49, 3) spin49 pixels, joints3D (N, 49, 3) spin49 metres, pelvis-centred,
  bbox; val also valid_i (N,).
- `insta_train_db.h5`: vid_name (bytes), frame_id, joints2D (N, 25, 3) insta25 order in the
  pixels of the 224-px crop the features came from, features (N, 2048). Read lazily (it is large).
- `amass_db.pt` (joblib): theta (N, 82) = pose 72 + betas 10, vid_name.

Every training dataset yields the same keys so 2D and 3D windows stack in one batch:
`features (T, F)`, `kp_2d (T, 49, 3)` (normalised crop coordinates + confidence), `kp_3d
(T, 49, 3)`, `theta (T, 85)` = [cam (1, 0, 0), pose 72, betas 10], `w_3d (T,)`, `w_smpl (T,)`
(1 where that supervision exists). AMASS yields `motion (T, 69)` (body pose, no root).
Raw-release preprocessing (3DPW sequenceFiles, AMASS npz, ...) can add readers that write these
same files; nothing here depends on how they were made.
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Mapping

import numpy as np
import torch
from torch.utils.data import Dataset

from vibe.errors import AssetError, InputError
from vibe.geometry import image_to_crop_keypoints
from vibe.keypoints.conventions import convert
from vibe.data.windows import WindowIndex, make_windows

log = logging.getLogger(__name__)

DB_FILES = {
    "3dpw": "3dpw_{split}_db.pt",
    "mpii3d": "mpii3d_{split}_db.pt",
    "insta": "insta_train_db.h5",
    "amass": "amass_db.pt",
    "mocap": "mocap_{split}_db.pt",  # our motion library (tools/preprocess.py mocap), amass_db.pt's layout
}
SPLITS = {"3dpw": ("train", "val", "test"), "mpii3d": ("train", "val"), "insta": ("train",), "amass": ("train",),
          "mocap": ("train", "test")}
# VIBE cut the crops its features came from at 1.2 x the stored box side (transfrom_keypoints).
DB_BBOX_SCALE = 1.2
INSTA_CROP_SIZE = 224  # InstaVariety keypoints are pixels of this crop
NUM_KP = 49
POSE_DIM, BETAS_DIM, CAM_DIM = 72, 10, 3
THETA_DIM = CAM_DIM + POSE_DIM + BETAS_DIM
AMASS_THETA_DIM = POSE_DIM + BETAS_DIM
ROOT_DIM = 3
IDENTITY_CAM = (1.0, 0.0, 0.0)  # VIBE's placeholder camera in target thetas
# Joint sets by count, for files whose joints come in VIBE's alternative layouts.
_CONVENTION_BY_COUNT = {49: "spin49", 14: "common14", 25: "insta25"}
_REQUIRED = {
    "3dpw": ("vid_name", "frame_id", "features", "joints2D", "joints3D", "bbox", "pose", "shape"),
    "mpii3d": ("vid_name", "frame_id", "features", "joints2D", "joints3D", "bbox"),
    "insta": ("vid_name", "frame_id", "features", "joints2D"),
    "amass": ("vid_name", "theta"),
    "mocap": ("vid_name", "theta"),
}


def db_path(db_dir: str | Path, name: str, split: str = "train") -> Path:
    """The file of dataset `name` ('3dpw', 'mpii3d', 'insta', 'amass', 'mocap') and `split` in `db_dir`."""
    if name not in DB_FILES:
        raise InputError(f"unknown dataset {name!r}; use one of {', '.join(DB_FILES)}")
    if split not in SPLITS[name]:
        raise InputError(f"dataset {name!r} has no split {split!r}; use one of {', '.join(SPLITS[name])}")
    return Path(db_dir).expanduser() / DB_FILES[name].format(split=split)


def _missing_file(path: Path) -> AssetError:
    return AssetError(f"VIBE preprocessed file {path.name} not found in {path.parent}; put VIBE's data/vibe_db "
                      f"files there or set TRAIN.DB_DIR (see README, 'Training')")


def _check_keys(db: Mapping, required: tuple[str, ...], path: Path) -> None:
    missing = [key for key in required if key not in db]
    if missing:
        raise AssetError(f"{path} lacks the keys {', '.join(missing)}; is it VIBE's preprocessed file?")
    rows = {key: len(db[key]) for key in required}
    if len(set(rows.values())) != 1:
        raise AssetError(f"{path}: its columns have different row counts {rows}; the file is damaged, rebuild it")


def read_joblib_db(path: str | Path, required: tuple[str, ...]) -> dict[str, np.ndarray]:
    """A VIBE joblib db file as a dict of numpy arrays, checked for `required` keys of equal length."""
    import joblib

    path = Path(path)
    if not path.is_file():
        raise _missing_file(path)
    try:
        db = joblib.load(path)
    except Exception as err:  # joblib raises many types for damaged pickles
        raise AssetError(f"{path} is unreadable ({type(err).__name__}); download or rebuild it") from None
    if not isinstance(db, dict):
        raise AssetError(f"{path} holds a {type(db).__name__}, expected VIBE's dict of arrays")
    db = {key: np.asarray(value) for key, value in db.items()}
    _check_keys(db, required, path)
    return db


def spin49_keypoints(joints: np.ndarray, what: str) -> np.ndarray:
    """(..., J, C) joints in one of VIBE's file layouts (49 spin49, 14 common14, 25 insta25) -> (..., 49, C)."""
    convention = _CONVENTION_BY_COUNT.get(joints.shape[-2])
    if convention is None:
        raise AssetError(f"{what} has {joints.shape[-2]} joints; expected one of {sorted(_CONVENTION_BY_COUNT)}")
    return joints if convention == "spin49" else convert(joints, convention, "spin49")


def target_theta(pose: np.ndarray, shape: np.ndarray) -> np.ndarray:
    """(T, 72) pose and (T, 10) betas -> (T, 85) [cam (1, 0, 0), pose, betas] (VIBE's target theta)."""
    cam = np.broadcast_to(np.asarray(IDENTITY_CAM, np.float32), (len(pose), CAM_DIM))
    return np.concatenate([cam, pose, shape], axis=-1).astype(np.float32)


def _tensors(sample: Mapping[str, np.ndarray]) -> dict[str, torch.Tensor]:
    return {key: torch.from_numpy(np.ascontiguousarray(value, dtype=np.float32)) for key, value in sample.items()}


class WindowedDB(Dataset):
    """Windows of `seqlen` rows of one VIBE db; `__getitem__(i)` -> dict of float32 tensors.

    `db` holds the columns (numpy arrays, or lazily read h5 datasets), `windows` the window starts.
    """

    name = ""

    def __init__(self, db: Mapping, seqlen: int, overlap: float, label: str):
        self.db = db
        self.label = label
        self.windows: WindowIndex = make_windows(self.vid_names, seqlen, overlap, label)
        log.info("%s: %d windows of %d frames from %d videos", label, len(self.windows), seqlen,
                 self.windows.num_videos - self.windows.skipped_videos)

    @property
    def vid_names(self) -> np.ndarray:
        return np.asarray(self.db["vid_name"])

    @property
    def seqlen(self) -> int:
        return self.windows.seqlen

    def __len__(self) -> int:
        return len(self.windows)

    def rows(self, index: int) -> slice:
        start = int(self.windows.starts[index])
        return slice(start, start + self.seqlen)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        return _tensors(self.sample(self.rows(index)))

    def sample(self, rows: slice) -> dict[str, np.ndarray]:
        raise NotImplementedError


class Dataset3D(WindowedDB):
    """3DPW / MPI-INF-3DHP windows: 2D keypoints from image pixels through the stored boxes, 3D joints,
    and SMPL parameters where the dataset has them (3DPW)."""

    def __init__(self, name: str, db_dir: str | Path, split: str, seqlen: int, overlap: float = 0.0,
                 bbox_scale: float = DB_BBOX_SCALE):
        path = db_path(db_dir, name, split)
        self.name, self.split, self.bbox_scale = name, split, bbox_scale
        super().__init__(read_joblib_db(path, _REQUIRED[name]), seqlen, overlap, f"{name} {split}")
        self.has_smpl = name == "3dpw"

    def sample(self, rows: slice) -> dict[str, np.ndarray]:
        kp_2d = spin49_keypoints(np.asarray(self.db["joints2D"][rows], np.float32), f"{self.label} joints2D").copy()
        kp_2d[..., :2] = image_to_crop_keypoints(kp_2d[..., :2], np.asarray(self.db["bbox"][rows], np.float32),
                                                 self.bbox_scale)
        kp_3d = spin49_keypoints(np.asarray(self.db["joints3D"][rows], np.float32), f"{self.label} joints3D")
        frames = len(kp_2d)
        if self.has_smpl:
            theta = target_theta(self.db["pose"][rows], self.db["shape"][rows])
        else:
            theta = target_theta(np.zeros((frames, POSE_DIM), np.float32), np.zeros((frames, BETAS_DIM), np.float32))
        return {"features": self.db["features"][rows], "kp_2d": kp_2d, "kp_3d": kp_3d, "theta": theta,
                "w_3d": np.ones(frames), "w_smpl": np.full(frames, float(self.has_smpl))}


class _LazyH5:
    """Columns of an h5 file opened on first use in each process (h5py handles do not survive fork)."""

    def __init__(self, path: Path, vid_names: np.ndarray):
        self.path = path
        self._vid_names = vid_names
        self._file = None

    def __contains__(self, key: str) -> bool:
        return key == "vid_name" or key in self._h5()

    def _h5(self):
        if self._file is None:
            import h5py

            self._file = h5py.File(self.path, "r")
        return self._file

    def __getitem__(self, key: str):
        return self._vid_names if key == "vid_name" else self._h5()[key]

    def __getstate__(self):
        return {**self.__dict__, "_file": None}


class InstaVariety(WindowedDB):
    """InstaVariety windows (2D only): OpenPose keypoints in 224-px crop pixels, normalised to [-1, 1]."""

    name = "insta"

    def __init__(self, db_dir: str | Path, seqlen: int, overlap: float = 0.0, crop_size: int = INSTA_CROP_SIZE):
        import h5py

        path = db_path(db_dir, "insta")
        if not path.is_file():
            raise _missing_file(path)
        try:
            with h5py.File(path, "r") as h5:
                _check_keys(h5, _REQUIRED["insta"], path)
                vid_names = np.asarray(h5["vid_name"][:])
        except OSError as err:
            raise AssetError(f"{path} is unreadable ({err}); download or rebuild it") from None
        self.crop_size = crop_size
        super().__init__(_LazyH5(path, vid_names), seqlen, overlap, "insta train")

    def sample(self, rows: slice) -> dict[str, np.ndarray]:
        kp_2d = spin49_keypoints(np.asarray(self.db["joints2D"][rows], np.float32), "insta joints2D").copy()
        kp_2d[..., :2] = 2.0 * kp_2d[..., :2] / self.crop_size - 1.0
        frames = len(kp_2d)
        zeros_pose = np.zeros((frames, POSE_DIM), np.float32)
        return {"features": np.asarray(self.db["features"][rows]), "kp_2d": kp_2d,
                "kp_3d": np.zeros((frames, NUM_KP, 3), np.float32),
                "theta": target_theta(zeros_pose, np.zeros((frames, BETAS_DIM), np.float32)),
                "w_3d": np.zeros(frames), "w_smpl": np.zeros(frames)}


class Amass(WindowedDB):
    """Motion windows for the motion discriminator: `motion (T, 69)` body pose (no root), from
    AMASS (`amass_db.pt`) or our motion library (`mocap_{split}_db.pt`, the same layout).

    VIBE cuts them without overlap (stride = seqlen)."""

    name = "amass"

    def __init__(self, db_dir: str | Path, seqlen: int, source: str = "amass", split: str = "train",
                 overlap: float = 0.0):
        path = db_path(db_dir, source, split)
        db = read_joblib_db(path, _REQUIRED[source])
        if db["theta"].ndim != 2 or db["theta"].shape[1] != AMASS_THETA_DIM:
            raise AssetError(f"{path}: theta has shape {db['theta'].shape}, expected (N, {AMASS_THETA_DIM})")
        super().__init__(db, seqlen, overlap, source)

    def sample(self, rows: slice) -> dict[str, np.ndarray]:
        return {"motion": self.db["theta"][rows, ROOT_DIM:POSE_DIM]}


def open_dataset(name: str, db_dir: str | Path, split: str, seqlen: int, overlap: float,
                 bbox_scale: float = DB_BBOX_SCALE) -> WindowedDB:
    """The windowed dataset `name` ('3dpw', 'mpii3d', 'insta', 'amass', 'mocap') of `split`."""
    if name in ("3dpw", "mpii3d"):
        return Dataset3D(name, db_dir, split, seqlen, overlap, bbox_scale)
    db_path(db_dir, name, split)  # validates name and split
    if name == "insta":
        return InstaVariety(db_dir, seqlen, overlap)
    return Amass(db_dir, seqlen, name, split)  # motion windows never overlap here, as VIBE


def motion_source(db_dir: str | Path) -> str:
    """Where the discriminator's real motion comes from: AMASS when `amass_db.pt` is in `db_dir`,
    else our motion library when `mocap_train_db.pt` is (tools/preprocess.py mocap), else 'amass'
    (whose missing file then gives the error that says what to get)."""
    if db_path(db_dir, "amass").is_file() or not db_path(db_dir, "mocap", "train").is_file():
        return "amass"
    return "mocap"
