"""One Euro filter (Casiez, Roussel and Vogel, CHI 2012) for per-frame results: jitter goes, fast
motion keeps little lag.

Per step, the signal's speed (low-passed with cutoff `d_cutoff`) raises the cutoff of the main
low-pass filter: cutoff = min_cutoff + beta * |speed|. Time is counted in frames (one step per
frame, as VIBE's `--smooth` does), so VIBE's defaults (min_cutoff 0.004, beta 0.7, d_cutoff 1)
mean the same here. A vector (the last axis) is filtered as one: its components share the cutoff
set by the vector's speed, so e.g. a joint rotation is not sheared by smoothing its components
at different rates.

Rotations are filtered in the continuous 6D representation (two columns of the rotation matrix)
and re-orthonormalised afterwards (vibe.geometry.rot6d_to_rotmat), so axis-angle's jump at pi
and quaternions' double cover never reach the filter.
"""
from __future__ import annotations

import math

import numpy as np
import torch

from vibe.geometry import axis_angle_to_rotmat, rot6d_to_rotmat, rotmat_to_axis_angle, rotmat_to_rot6d

AXIS_ANGLE = 3
DEFAULT_D_CUTOFF = 1.0  # cycles per frame for the speed estimate (the paper's and VIBE's default)


def smoothing_factor(cutoff: np.ndarray | float) -> np.ndarray:
    """Exponential smoothing weight of the new sample for a low-pass of `cutoff` cycles per frame:
    r / (r + 1) with r = 2 pi cutoff (one frame per step)."""
    rate = 2.0 * math.pi * np.asarray(cutoff, dtype=np.float64)
    return rate / (rate + 1.0)


def one_euro(signal, min_cutoff: float, beta: float, d_cutoff: float = DEFAULT_D_CUTOFF) -> np.ndarray:
    """Filter `signal` (T, ..., D) along time (axis 0); vectors along the last axis share a cutoff.

    Returns float64 (T, ..., D); the first frame passes unchanged.
    """
    values = np.asarray(signal, dtype=np.float64)
    if values.ndim < 2:
        raise ValueError(f"one_euro expects (T, ..., D), got shape {values.shape}")
    filtered = np.empty_like(values)
    if len(values) == 0:
        return filtered
    filtered[0] = values[0]
    speed = np.zeros_like(values[0])
    speed_weight = smoothing_factor(d_cutoff)
    for t in range(1, len(values)):
        raw_speed = values[t] - filtered[t - 1]
        speed = speed + speed_weight * (raw_speed - speed)
        cutoff = min_cutoff + beta * np.linalg.norm(speed, axis=-1, keepdims=True)
        filtered[t] = filtered[t - 1] + smoothing_factor(cutoff) * (values[t] - filtered[t - 1])
    return filtered


def smooth_rotmats(rotmats, min_cutoff: float, beta: float, d_cutoff: float = DEFAULT_D_CUTOFF) -> np.ndarray:
    """(T, J, 3, 3) rotation matrices -> smoothed (T, J, 3, 3) rotations (filtered in 6D per joint)."""
    rot6d = rotmat_to_rot6d(torch.as_tensor(np.asarray(rotmats, dtype=np.float64)))
    filtered = one_euro(rot6d.numpy(), min_cutoff, beta, d_cutoff)
    return rot6d_to_rotmat(torch.from_numpy(filtered)).numpy()


def smooth_pose(pose, min_cutoff: float, beta: float, d_cutoff: float = DEFAULT_D_CUTOFF) -> np.ndarray:
    """(T, 3 J) axis-angle poses (e.g. SMPL's 72) -> smoothed (T, 3 J) axis-angle (float64)."""
    pose = np.asarray(pose, dtype=np.float64)
    num_frames = len(pose)
    rotmats = axis_angle_to_rotmat(torch.from_numpy(pose.reshape(num_frames, -1, AXIS_ANGLE))).numpy()
    smoothed = smooth_rotmats(rotmats, min_cutoff, beta, d_cutoff)
    return rotmat_to_axis_angle(torch.from_numpy(smoothed)).numpy().reshape(num_frames, -1)
