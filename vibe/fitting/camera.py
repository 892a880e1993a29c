"""The fitting camera: a pinhole with square pixels, the principal point at the image centre,
and the body placed in it per frame (OpenCV axes: x right, y down, z forward).

Default focal length: CAMERA.FOCAL_DIAG_FACTOR x the image diagonal (1.0: a 53 degree diagonal field of
view). A video rarely says its focal length; consumer lenses sit near that field of view, and a
focal tied to the diagonal keeps the same field of view at any resolution (CLIFF's choice),
whereas SPIN's 5000 px on a 224 crop is a near-orthographic camera that makes depth meaningless.

Translation initialisation (SMPLify): depth = f * 3D torso size / 2D torso size per frame, with
the 3D size taken from the body model's rest joints; the per-frame depths are median-filtered,
and frames without a visible torso are interpolated from their neighbours.
"""
from __future__ import annotations

import numpy as np
from scipy.ndimage import median_filter

from vibe.errors import InputError
from vibe.keypoints.conventions import joint_index

# Joints of the torso (both keypoint families: detectors fill one or the other) and the
# left/right shoulder pairs that tell which way the person faces.
TORSO_JOINTS = tuple(joint_index("spin49", name) for name in (
    "op_left_shoulder", "op_right_shoulder", "op_left_hip", "op_right_hip",
    "left_shoulder", "right_shoulder", "left_hip", "right_hip",
))
SHOULDER_PAIRS = tuple((joint_index("spin49", left), joint_index("spin49", right)) for left, right in (
    ("op_left_shoulder", "op_right_shoulder"), ("left_shoulder", "right_shoulder"),
))
HIP_PAIRS = tuple((joint_index("spin49", left), joint_index("spin49", right)) for left, right in (
    ("op_left_hip", "op_right_hip"), ("left_hip", "right_hip"),
))
MIN_SPREAD_JOINTS = 2  # a spread needs at least two points
# m: visible joints closer than this on the body measure no size (a shoulder in both keypoint
# families is one point twice); a frame with only those is interpolated from its neighbours.
MIN_SPREAD_3D = 0.05


def default_focal_length(img_width: float, img_height: float, diag_factor: float) -> float:
    """Focal length in px: diag_factor * sqrt(W^2 + H^2)."""
    return float(diag_factor * np.hypot(img_width, img_height))


def translation_to_orig_cam(transl, img_width: float, img_height: float, focal_length: float) -> np.ndarray:
    """(N, 3) camera-space translation -> (N, 4) orig camera (sx, sy, tx, ty): the inverse of
    vibe.geometry.orig_cam_to_translation (sx = 2 f / (W tz), sy = 2 f / (H tz))."""
    transl = np.asarray(transl, dtype=np.float64)
    depth = transl[:, 2]
    sx = 2.0 * focal_length / (img_width * depth)
    sy = 2.0 * focal_length / (img_height * depth)
    return np.stack([sx, sy, transl[:, 0], transl[:, 1]], -1)


def _spread(points: np.ndarray) -> float:
    """RMS distance of (N, D) points from their centroid."""
    return float(np.sqrt(((points - points.mean(0)) ** 2).sum(-1).mean()))


def _frame_estimate(kp: np.ndarray, visible: np.ndarray, rest: np.ndarray, joints, focal: float):
    """(translation z, translation xy) for one frame from the `joints` visible in it, or None.

    kp (J, 2) px relative to the principal point; rest (J, 3) body joints in camera orientation.
    Depth = f * 3D spread (xy of the rest joints) / 2D spread; then xy so that the centroids align.
    """
    ids = [j for j in joints if visible[j]]
    if len(ids) < MIN_SPREAD_JOINTS:
        return None
    spread_2d, spread_3d = _spread(kp[ids]), _spread(rest[ids, :2])
    if spread_2d <= 0.0 or spread_3d < MIN_SPREAD_3D:
        return None
    depth = focal * spread_3d / spread_2d  # of the joints' centroid
    centre_3d = rest[ids].mean(0)
    xy = kp[ids].mean(0) * depth / focal - centre_3d[:2]
    return depth - centre_3d[2], xy


def init_translation(keypoints: np.ndarray, rest_joints: np.ndarray, focal: float, principal_point,
                     min_confidence: float, smooth_frames: int, track_label: str) -> np.ndarray:
    """Per-frame camera translation (T, 3) from the torso's 2D size (else all joints' size).

    keypoints (T, 49, 3) px + confidence; rest_joints (49, 3) the body's joints in the camera's
    orientation (upright, facing the camera) without translation.
    """
    kp = keypoints[..., :2] - np.asarray(principal_point, dtype=np.float64)
    visible = keypoints[..., 2] >= min_confidence
    estimates = _estimates(kp, visible, rest_joints, focal, TORSO_JOINTS)
    if all(e is None for e in estimates):
        estimates = _estimates(kp, visible, rest_joints, focal, range(keypoints.shape[1]))
    known = np.array([e is not None for e in estimates])
    if not known.any():
        raise InputError(f"track {track_label}: no frame has two confident keypoints; "
                         f"cannot place the body (check the keypoints or drop the track)")
    frames = np.arange(len(estimates))
    values = np.array([[e[0], *e[1]] for e in estimates if e is not None])  # (K, 3) depth, x, y
    filled = np.stack([np.interp(frames, frames[known], values[:, k]) for k in range(3)], -1)
    depth = median_filter(filled[:, 0], size=min(smooth_frames, len(frames)), mode="nearest")
    scale = depth / filled[:, 0]  # keep x, y consistent with the smoothed depth
    return np.stack([filled[:, 1] * scale, filled[:, 2] * scale, depth], -1)


def _estimates(kp, visible, rest, focal, joints):
    return [_frame_estimate(kp[t], visible[t], rest, joints, focal) for t in range(len(kp))]


def facing_from_shoulders(keypoints: np.ndarray, min_confidence: float, ambiguous_ratio: float):
    """Which way each frame's person faces, from the left/right order of shoulders (else hips).

    keypoints (T, 49, 3). Returns (back (T,) bool: the person's left is on the image's left,
    i.e. they face away; ambiguous (T,) bool: the shoulders are closer than ambiguous_ratio x the
    torso length, or not visible, so both facings must be tried).
    """
    width = np.zeros(len(keypoints))
    torso = np.zeros(len(keypoints))
    for t, frame in enumerate(keypoints):
        width[t] = _signed_width(frame, SHOULDER_PAIRS, min_confidence)
        if width[t] == 0.0:
            width[t] = _signed_width(frame, HIP_PAIRS, min_confidence)
        torso[t] = _torso_length(frame, min_confidence)
    back = width < 0.0
    ambiguous = (np.abs(width) < ambiguous_ratio * torso) | (width == 0.0)
    return back, ambiguous


def _signed_width(frame: np.ndarray, pairs, min_confidence: float) -> float:
    """x(left) - x(right) of the first pair visible in this frame (0.0 if none)."""
    for left, right in pairs:
        if frame[left, 2] >= min_confidence and frame[right, 2] >= min_confidence:
            return float(frame[left, 0] - frame[right, 0])
    return 0.0


def _torso_length(frame: np.ndarray, min_confidence: float) -> float:
    """Distance from the mid-shoulder to the mid-hip point (0.0 if not visible)."""
    for (ls, rs), (lh, rh) in zip(SHOULDER_PAIRS, HIP_PAIRS):
        ids = (ls, rs, lh, rh)
        if all(frame[j, 2] >= min_confidence for j in ids):
            shoulders = 0.5 * (frame[ls, :2] + frame[rs, :2])
            hips = 0.5 * (frame[lh, :2] + frame[rh, :2])
            return float(np.linalg.norm(shoulders - hips))
    return 0.0
