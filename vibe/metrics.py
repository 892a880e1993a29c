"""3D pose and mesh metrics (numpy in, numpy out).

Inputs are metres, shaped (N, J, 3) (N frames, J joints or vertices); outputs are per frame, in
millimetres (accelerations in mm/frame^2; WHAM-era papers report m/s^2 instead). No function
aligns by itself: call `align_by_pelvis` first for MPJPE as VIBE reports it. `pa_mpjpe` does
its own per-frame similarity Procrustes, which makes any prior alignment irrelevant.
"""
from __future__ import annotations

import numpy as np
import torch

from vibe.errors import InputError
from vibe.geometry import similarity_procrustes

MM_PER_M = 1000.0
PCK_THRESHOLD_MM = 150.0  # MPI-INF-3DHP protocol
# AUC thresholds 0, 5, ..., 150 mm (31 values), as the MPI-INF-3DHP test-set evaluation.
AUC_THRESHOLDS_MM = np.linspace(0.0, PCK_THRESHOLD_MM, 31)
DEFAULT_HIP_IDS = (2, 3)  # right and left hip in the 14 common (LSP-order) joints


def _points(name: str, x) -> np.ndarray:
    """x as a float64 (N, J, 3) array, or an InputError naming `name`."""
    arr = np.asarray(x, dtype=np.float64)
    if arr.ndim != 3 or arr.shape[-1] != 3:
        raise InputError(f"{name} must be shaped (frames, joints, 3), got {arr.shape}")
    return arr


def _pair(pred, gt, names=("pred", "gt")) -> tuple[np.ndarray, np.ndarray]:
    pred, gt = _points(names[0], pred), _points(names[1], gt)
    if pred.shape != gt.shape:
        raise InputError(f"{names[0]} {pred.shape} and {names[1]} {gt.shape} must have the same shape")
    return pred, gt


def _mean_distance_mm(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(N, J, 3) x2 -> (N,) mean Euclidean distance in mm."""
    return np.linalg.norm(a - b, axis=-1).mean(-1) * MM_PER_M


def _second_difference(x: np.ndarray) -> np.ndarray:
    """(N, J, 3) -> (N-2, J, 3): x[t-1] - 2 x[t] + x[t+1] for t = 1 .. N-2."""
    return x[:-2] - 2.0 * x[1:-1] + x[2:]


def align_by_pelvis(joints, hip_ids: tuple[int, int] = DEFAULT_HIP_IDS) -> np.ndarray:
    """(..., J, 3) -> (..., J, 3) minus the mean of the two hip joints (the pelvis)."""
    joints = np.asarray(joints, dtype=np.float64)
    pelvis = joints[..., list(hip_ids), :].mean(-2, keepdims=True)
    return joints - pelvis


def mpjpe(pred, gt) -> np.ndarray:
    """Mean per-joint position error: (N, J, 3) m x2 -> (N,) mm. No alignment is done here."""
    pred, gt = _pair(pred, gt)
    return _mean_distance_mm(pred, gt)


def pa_mpjpe(pred, gt) -> np.ndarray:
    """MPJPE after a per-frame similarity Procrustes (scale, rotation, translation) of pred onto
    gt: (N, J, 3) m x2 -> (N,) mm."""
    pred, gt = _pair(pred, gt)
    aligned, _, _, _ = similarity_procrustes(torch.from_numpy(pred), torch.from_numpy(gt))
    return _mean_distance_mm(aligned.numpy(), gt)


def pve(pred_verts, gt_verts) -> np.ndarray:
    """Per-vertex error: (N, V, 3) m x2 -> (N,) mean vertex distance in mm."""
    pred_verts, gt_verts = _pair(pred_verts, gt_verts, ("pred_verts", "gt_verts"))
    return _mean_distance_mm(pred_verts, gt_verts)


def accel(pred) -> np.ndarray:
    """Acceleration magnitude: (N, J, 3) m -> (N-2,) mm/frame^2, the mean over joints of
    |x[t-1] - 2 x[t] + x[t+1]| for t = 1 .. N-2 (frame-rate dependent: per frame, not per s)."""
    pred = _points("pred", pred)
    return np.linalg.norm(_second_difference(pred), axis=-1).mean(-1) * MM_PER_M


def accel_error(pred, gt, visible=None) -> np.ndarray:
    """Acceleration error: (N, J, 3) m x2 -> (N-2,) mm/frame^2, the mean over joints of
    |a_pred[t] - a_gt[t]| with a the second difference of `accel`.

    visible: optional (N,) bools. The entry for frame t uses frames t-1, t, t+1; if any of them
    is not visible the entry is NaN (so the output always has N-2 entries, index i <-> frame i+1;
    average with np.nanmean). VIBE instead drops those entries.
    """
    pred, gt = _pair(pred, gt)
    err = np.linalg.norm(_second_difference(pred) - _second_difference(gt), axis=-1).mean(-1) * MM_PER_M
    if visible is None:
        return err
    visible = np.asarray(visible, dtype=bool)
    if visible.shape != (pred.shape[0],):
        raise InputError(f"visible must be shaped ({pred.shape[0]},) (one flag per frame), got {visible.shape}")
    valid = visible[:-2] & visible[1:-1] & visible[2:]
    return np.where(valid, err, np.nan)


def _joint_errors_mm(pred, gt) -> np.ndarray:
    pred, gt = _pair(pred, gt)
    return np.linalg.norm(pred - gt, axis=-1) * MM_PER_M


def pck(pred, gt, threshold: float = PCK_THRESHOLD_MM) -> np.ndarray:
    """Percentage of correct keypoints: (N, J, 3) m x2 -> (N,) % of joints with error < threshold mm
    (strictly below, as MPI-INF-3DHP's evaluation)."""
    return (_joint_errors_mm(pred, gt) < threshold).mean(-1) * 100.0


def auc(pred, gt) -> np.ndarray:
    """Area under the PCK curve over thresholds 0, 5, ..., 150 mm (31 values, MPI-INF-3DHP):
    (N, J, 3) m x2 -> (N,) %, the mean of the 31 PCK values."""
    errors = _joint_errors_mm(pred, gt)  # (N, J)
    below = errors[..., None] < AUC_THRESHOLDS_MM  # (N, J, 31)
    return below.mean((-2, -1)) * 100.0


def roc_auc(positive_scores, negative_scores) -> float:
    """Area under the ROC curve of scores meant to be higher for positives: the probability that a
    random positive outscores a random negative, ties counting half (the Mann-Whitney U statistic
    over the product of the counts)."""
    from scipy.stats import rankdata

    positive = np.asarray(positive_scores, np.float64).ravel()
    negative = np.asarray(negative_scores, np.float64).ravel()
    ranks = rankdata(np.concatenate([positive, negative]))  # ties get their mean rank
    u_statistic = ranks[:len(positive)].sum() - len(positive) * (len(positive) + 1) / 2.0
    return float(u_statistic / (len(positive) * len(negative)))
