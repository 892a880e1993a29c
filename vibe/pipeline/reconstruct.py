"""Per-track reconstruction for the demo: the network path (features -> VIBE -> SMPL) and the
fitting path (keypoints -> temporal SMPLify), both ending in a vibe.io.results.TrackResult, plus
the optional One Euro smoothing.

Every result is placed under one pinhole camera, Intrinsics(f, f, W/2, H/2) with
f = CAMERA.FOCAL_DIAG_FACTOR x image diagonal (the fitting camera): the network's orig_cam
becomes a camera-space translation (vibe.geometry.orig_cam_to_translation), the fitter's comes
as it is. `transl` then places each mesh for the overlay and the exporters with correct depth
order between people, and `joints2d_img_coord` is the projection the overlay shows.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import torch

from tracker.types import Track
from vibe.errors import InputError
from vibe.fitting.camera import default_focal_length, translation_to_orig_cam
from vibe.geometry import crop_cam_to_orig_cam, orig_cam_to_crop_cam, orig_cam_to_translation, perspective_project
from vibe.io.results import TrackResult
from vibe.smoothing import one_euro, smooth_pose

log = logging.getLogger(__name__)

COMPAT_BBOX_SCALE = 1.0  # VIBE's overlay ignores the crop scale (its issue 182)


@dataclass(frozen=True)
class Camera:
    """The run's pinhole camera and crop convention: focal px, image size, and the box scale that
    relates crop cameras to boxes (CROP.BBOX_SCALE, or 1.0 with CAMERA.VIBE_CROP_SIDE_COMPAT)."""

    focal: float
    width: int
    height: int
    bbox_scale: float

    @classmethod
    def from_cfg(cls, cfg, width: int, height: int) -> "Camera":
        scale = COMPAT_BBOX_SCALE if cfg.CAMERA.VIBE_CROP_SIDE_COMPAT else float(cfg.CROP.BBOX_SCALE)
        return cls(default_focal_length(width, height, cfg.CAMERA.FOCAL_DIAG_FACTOR), width, height, scale)

    @property
    def centre(self) -> np.ndarray:
        return np.array([self.width / 2.0, self.height / 2.0])


def project(camera: Camera, joints3d: np.ndarray, transl: np.ndarray) -> np.ndarray:
    """(n, J, 3) camera-frame joints + (n, 3) translation -> (n, J, 2) pixels under `camera`."""
    return perspective_project(torch.as_tensor(joints3d, dtype=torch.float64), torch.as_tensor(transl, dtype=torch.float64),
                               camera.focal, torch.as_tensor(camera.centre)).numpy()


def pose_body(body, pose: np.ndarray, betas: np.ndarray, batch_size: int) -> tuple[np.ndarray, np.ndarray]:
    """Mesh a track: pose (n, 72) axis-angle, one shape betas (10,) -> verts (n, V, 3), joints (n, 49, 3)."""
    device = next(body.buffers()).device
    verts, joints = [], []
    with torch.inference_mode():
        for start in range(0, len(pose), batch_size):
            chunk = torch.as_tensor(pose[start:start + batch_size], dtype=torch.float32, device=device)
            shape = torch.as_tensor(betas, dtype=torch.float32, device=device).expand(len(chunk), -1)
            out = body(chunk[:, :3], chunk[:, 3:], shape)
            verts.append(out.verts.cpu().numpy())
            joints.append(out.joints.cpu().numpy())
    return np.concatenate(verts), np.concatenate(joints)


def network_result(track: Track, prediction, camera: Camera, keypoints: np.ndarray | None, meta: dict) -> TrackResult:
    """A TrackResult from vibe.models.inference's TrackPrediction (computed with a body model)."""
    pred_cam = prediction.cam.numpy().astype(np.float64)
    bboxes = np.asarray(track.bboxes, np.float64)
    orig_cam = crop_cam_to_orig_cam(pred_cam, bboxes, camera.width, camera.height, camera.bbox_scale)
    transl = orig_cam_to_translation(orig_cam, camera.width, camera.height, camera.focal)
    joints3d = prediction.kp_3d.numpy()
    return TrackResult(
        frame_ids=np.asarray(track.frame_ids), bboxes=bboxes, pred_cam=pred_cam, orig_cam=orig_cam,
        pose=prediction.pose.numpy(), betas=prediction.betas.numpy(), verts=prediction.verts.numpy(),
        joints3d=joints3d, joints2d_img_coord=project(camera, joints3d, transl), joints2d=keypoints,
        transl=transl, meta={**meta, "focal_length": camera.focal},
    )


def with_track_boxes(result: TrackResult, track: Track, camera: Camera) -> TrackResult:
    """The fitter's result re-expressed on the tracker's boxes (SPEC: `bboxes` are the crops' boxes;
    the fitter derives boxes from its projected joints): pred_cam follows the boxes."""
    result.bboxes = np.asarray(track.bboxes, np.float64)
    result.pred_cam = orig_cam_to_crop_cam(result.orig_cam, result.bboxes, camera.width, camera.height, camera.bbox_scale)
    return result


def usable_keypoints(keypoints: np.ndarray, person_scores: np.ndarray, cfg) -> tuple[np.ndarray, float]:
    """Keypoints with the confidence zeroed on frames where BlazePose saw no person
    (score < KEYPOINTS.MIN_PERSON_SCORE), and the fraction of frames that kept theirs."""
    person = person_scores >= cfg.KEYPOINTS.MIN_PERSON_SCORE
    cleaned = np.array(keypoints, np.float64)
    cleaned[~person, :, 2] = 0.0
    return cleaned, float(person.mean()) if len(person) else 0.0


def without_mesh(result: TrackResult) -> dict:
    """The result as a dict without `verts` (the bulk; the mesh follows from pose and shape)."""
    data = result.to_vibe_dict()
    del data["verts"]
    return data


def with_mesh(data: dict, body, cfg) -> TrackResult:
    """Inverse of without_mesh: the mesh recomputed from pose and the track's mean shape."""
    verts, _ = pose_body(body, data["pose"], np.asarray(data["betas"]).mean(axis=0), cfg.MODEL.BODY_BATCH_SIZE)
    return TrackResult(**data, verts=verts)


def smooth_result(result: TrackResult, body, camera: Camera, cfg) -> TrackResult:
    """One Euro smoothing of the pose (rotation-safe, in 6D) and the translation, then the mesh,
    joints and cameras recomputed from them (the shape stays the track's mean)."""
    min_cutoff, beta = float(cfg.RENDER.SMOOTH_MIN_CUTOFF), float(cfg.RENDER.SMOOTH_BETA)
    if min_cutoff <= 0 or beta < 0:
        raise InputError(f"smoothing needs smooth_min_cutoff > 0 and smooth_beta >= 0, got {min_cutoff}, {beta}")
    d_cutoff = float(cfg.DEMO.SMOOTH_D_CUTOFF)
    result.pose = smooth_pose(result.pose, min_cutoff, beta, d_cutoff)
    result.transl = one_euro(result.transl, min_cutoff, beta, d_cutoff)
    result.verts, result.joints3d = pose_body(body, result.pose, result.mean_betas, cfg.MODEL.BODY_BATCH_SIZE)
    result.orig_cam = translation_to_orig_cam(result.transl, camera.width, camera.height, camera.focal)
    result.pred_cam = orig_cam_to_crop_cam(result.orig_cam, result.bboxes, camera.width, camera.height, camera.bbox_scale)
    result.joints2d_img_coord = project(camera, result.joints3d, result.transl)
    result.meta["smoothed"] = {"min_cutoff": min_cutoff, "beta": beta, "d_cutoff": d_cutoff}
    return result
