"""Evaluation protocols on VIBE's preprocessed test files, as library calls.

- 3DPW (`3dpw_test_db.pt`, validation `3dpw_val_db.pt`): 14 common joints through the H36M
  regressor of the predicted mesh; MPJPE after pelvis alignment (pelvis = mean of the hips),
  PA-MPJPE, PVE against the mesh of the ground-truth pose and shape, ACCEL and ACCEL_ERR per
  video in mm/frame^2 (VIBE runs them over the whole concatenation, across video boundaries).
- MPI-INF-3DHP (`mpii3d_val_db.pt`, VIBE's name for the test set): the 17 test joints taken from
  the 49 model joints, root-aligned at the pelvis; MPJPE, PA-MPJPE, PCK@150 mm, AUC; frames
  flagged valid only.

Predictions come from a generator over non-overlapping windows of EVAL.SEQLEN frames per video
(VIBE's protocol; a video's tail shorter than a window is not evaluated), or from a file of
per-frame joints (`read_predictions`).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from vibe import metrics
from vibe.data.vibe_db import Dataset3D, spin49_keypoints
from vibe.data.windows import make_windows
from vibe.errors import InputError
from vibe.keypoints.conventions import convert, joint_index, joint_names

log = logging.getLogger(__name__)

PROTOCOL_JOINTS = {"3dpw": "common14", "mpii3d": "mpii3d17"}
ROOT_IDS = {  # pairs averaged to the alignment root
    "3dpw": (joint_index("common14", "right_hip"), joint_index("common14", "left_hip")),
    "mpii3d": (joint_index("mpii3d17", "pelvis"),) * 2,
}
MIN_ACCEL_FRAMES = 3  # a second difference needs three frames
METRIC_NAMES = {"3dpw": ("MPJPE", "PA-MPJPE", "PVE", "ACCEL", "ACCEL_ERR"),
                "mpii3d": ("MPJPE", "PA-MPJPE", "PCK", "AUC")}
UNITS = {"MPJPE": "mm", "PA-MPJPE": "mm", "PVE": "mm", "ACCEL": "mm/frame^2", "ACCEL_ERR": "mm/frame^2",
         "PCK": "%", "AUC": "%"}
# VIBE's published results on the 3DPW test set (no 3DPW training): the target to reproduce.
VIBE_PUBLISHED_3DPW = {"MPJPE": 93.59, "PA-MPJPE": 56.56, "PVE": 113.41, "ACCEL": 27.12, "ACCEL_ERR": 27.99}


def protocol_of(dataset: Dataset3D) -> str:
    if dataset.name not in PROTOCOL_JOINTS:
        raise InputError(f"no evaluation protocol for dataset {dataset.name!r}; use 3dpw or mpii3d")
    return dataset.name


def model_joints(protocol: str, body_model, kp_3d: torch.Tensor, verts: torch.Tensor) -> torch.Tensor:
    """Protocol joints `(B, J, 3)` from model joints `kp_3d (B, 49, 3)` and `verts (B, V, 3)`."""
    if protocol == "3dpw":
        return convert(body_model.h36m_joints(verts), "h36m17", "common14")
    return convert(kp_3d, "spin49", "mpii3d17")


def ground_truth_joints(dataset: Dataset3D, rows: np.ndarray) -> np.ndarray:
    """(n, J, 3) protocol joints of the file's `rows` (3DPW val/test files hold the 14 already)."""
    joints = spin49_keypoints(np.asarray(dataset.db["joints3D"][rows], np.float64), f"{dataset.label} joints3D")
    return convert(joints, "spin49", PROTOCOL_JOINTS[protocol_of(dataset)])


def ground_truth_verts(dataset: Dataset3D, rows: np.ndarray, body_model) -> np.ndarray:
    """(n, V, 3) meshes of the file's pose and shape at `rows` (no translation, as the predictions)."""
    device = body_model.j_regressor_extra.device
    pose = torch.as_tensor(np.asarray(dataset.db["pose"][rows], np.float32), device=device)
    betas = torch.as_tensor(np.asarray(dataset.db["shape"][rows], np.float32), device=device)
    with torch.no_grad():
        return body_model(global_orient=pose[:, :3], body_pose=pose[:, 3:], betas=betas).verts.double().cpu().numpy()


@dataclass
class ProtocolAccumulator:
    """Collects per-frame predictions of one protocol batch by batch; `result()` gives the metrics.

    `add(rows (n,), joints (n, J, 3), verts (n, V, 3) or None)`: rows index the dataset's file.
    PVE is computed as batches arrive, so full meshes are never all held in memory.
    """

    dataset: Dataset3D
    body_model: object
    rows: list = field(default_factory=list)
    pred: list = field(default_factory=list)
    pve: list = field(default_factory=list)

    @property
    def protocol(self) -> str:
        return protocol_of(self.dataset)

    def add(self, rows: np.ndarray, joints: np.ndarray, verts: np.ndarray | None = None) -> None:
        expected = len(joint_names(PROTOCOL_JOINTS[self.protocol]))
        if joints.shape[1:] != (expected, 3):
            raise InputError(f"{self.protocol} predictions must be shaped (frames, {expected}, 3), got {joints.shape}")
        self.rows.append(np.asarray(rows))
        self.pred.append(np.asarray(joints, np.float64))
        if self.protocol == "3dpw" and verts is not None:
            self.pve.append(metrics.pve(verts, ground_truth_verts(self.dataset, rows, self.body_model)))

    def result(self) -> dict[str, float]:
        if not self.rows:
            raise InputError(f"no {self.protocol} frames were evaluated: the file has no video of a whole window")
        rows, pred = np.concatenate(self.rows), np.concatenate(self.pred)
        gt = ground_truth_joints(self.dataset, rows)
        root = ROOT_IDS[self.protocol]
        pred, gt = metrics.align_by_pelvis(pred, root), metrics.align_by_pelvis(gt, root)
        if self.protocol == "mpii3d":
            return _mpii3d_metrics(pred, gt, self._valid(rows))
        result = {"MPJPE": metrics.mpjpe(pred, gt).mean(), "PA-MPJPE": metrics.pa_mpjpe(pred, gt).mean()}
        if self.pve:
            result["PVE"] = np.concatenate(self.pve).mean()
        accel, accel_err = _per_video_accel(pred, gt, rows, self.dataset.vid_names)
        result.update({"ACCEL": accel, "ACCEL_ERR": accel_err})
        return {key: float(value) for key, value in result.items()}

    def _valid(self, rows: np.ndarray) -> np.ndarray:
        if "valid_i" not in self.dataset.db:
            return np.ones(len(rows), bool)
        return np.asarray(self.dataset.db["valid_i"][rows]).reshape(len(rows)).astype(bool)


def _mpii3d_metrics(pred: np.ndarray, gt: np.ndarray, valid: np.ndarray) -> dict[str, float]:
    pred, gt = pred[valid], gt[valid]
    if not len(pred):
        raise InputError("no MPI-INF-3DHP frame is flagged valid (valid_i) among the evaluated frames")
    return {"MPJPE": float(metrics.mpjpe(pred, gt).mean()), "PA-MPJPE": float(metrics.pa_mpjpe(pred, gt).mean()),
            "PCK": float(metrics.pck(pred, gt).mean()), "AUC": float(metrics.auc(pred, gt).mean())}


def _per_video_accel(pred: np.ndarray, gt: np.ndarray, rows: np.ndarray, vid_names: np.ndarray) -> tuple[float, float]:
    """Mean ACCEL and ACCEL_ERR over runs of consecutive file rows of one video (>= 3 frames each)."""
    order = np.argsort(rows, kind="stable")
    rows, pred, gt = rows[order], pred[order], gt[order]
    breaks = np.flatnonzero((np.diff(rows) != 1) | (vid_names[rows[1:]] != vid_names[rows[:-1]])) + 1
    accel, accel_err = [], []
    for start, stop in zip(np.r_[0, breaks], np.r_[breaks, len(rows)]):
        if stop - start >= MIN_ACCEL_FRAMES:
            accel.append(metrics.accel(pred[start:stop]))
            accel_err.append(metrics.accel_error(pred[start:stop], gt[start:stop]))
    if not accel:
        return float("nan"), float("nan")
    return float(np.concatenate(accel).mean()), float(np.concatenate(accel_err).mean())


def evaluate_generator(generator, dataset: Dataset3D, body_model, seqlen: int, batch_size: int,
                       device: torch.device | str = "cpu") -> dict[str, float]:
    """Metrics of `generator` (features `(N, T, F)` -> VibeOutput) on `dataset`'s file, VIBE's protocol."""
    protocol = protocol_of(dataset)
    accumulator = ProtocolAccumulator(dataset, body_model)
    starts = make_windows(dataset.vid_names, seqlen, 0.0, dataset.label).starts
    was_training = generator.training
    generator.eval()
    with torch.no_grad():
        for first in range(0, len(starts), batch_size):
            rows = starts[first:first + batch_size, None] + np.arange(seqlen)  # (n, T)
            features = torch.as_tensor(np.asarray(dataset.db["features"][rows.reshape(-1)], np.float32), device=device)
            output = generator(features.reshape(len(rows), seqlen, -1))
            verts = output.verts.reshape(-1, *output.verts.shape[-2:])
            joints = model_joints(protocol, body_model, output.kp_3d.reshape(-1, *output.kp_3d.shape[-2:]), verts)
            accumulator.add(rows.reshape(-1), joints.double().cpu().numpy(),
                            verts.double().cpu().numpy() if protocol == "3dpw" else None)
    generator.train(was_training)
    return accumulator.result()


def read_predictions(path: str | Path, dataset: Dataset3D) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """A predictions .npz (keys vid_name (N,), frame_id (N,), joints (N, J, 3) in the protocol's joints,
    optional verts (N, V, 3)) matched to the file's rows -> (rows, joints, verts or None)."""
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as arrays:
            columns = {key: arrays[key] for key in arrays.files}
    except (OSError, ValueError) as err:
        raise InputError(f"predictions file {path} is unreadable ({err}); write it with numpy.savez") from None
    missing = [key for key in ("vid_name", "frame_id", "joints") if key not in columns]
    if missing:
        raise InputError(f"predictions file {path} lacks the keys {', '.join(missing)}")
    row_of = {(str(v), int(f)): i for i, (v, f) in enumerate(zip(dataset.vid_names, dataset.db["frame_id"]))}
    keys = [(str(v), int(f)) for v, f in zip(columns["vid_name"], columns["frame_id"])]
    unknown = [key for key in keys if key not in row_of]
    if unknown:
        raise InputError(f"predictions file {path}: {len(unknown)} frames are not in {dataset.label}, "
                         f"e.g. {unknown[0]}; match vid_name and frame_id to the dataset file")
    return np.array([row_of[key] for key in keys]), columns["joints"], columns.get("verts")


def evaluate_predictions(path: str | Path, dataset: Dataset3D, body_model) -> dict[str, float]:
    """Metrics of a predictions file (see `read_predictions`) on `dataset`'s file."""
    rows, joints, verts = read_predictions(path, dataset)
    accumulator = ProtocolAccumulator(dataset, body_model)
    accumulator.add(rows, joints, verts)
    return accumulator.result()


def format_metrics(result: dict[str, float]) -> str:
    """One line, e.g. 'MPJPE 93.59 mm, PA-MPJPE 56.56 mm, ...'."""
    return ", ".join(f"{name} {value:.2f} {UNITS.get(name, '')}".rstrip() for name, value in result.items())
