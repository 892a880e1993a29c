"""What every exporter needs from a track: the person's shaped rest skeleton and mesh, and the
per-frame joint rotations and root path in the export world.

The export world is y-up, right-handed, metres (glTF's; Blender and three.js show it upright).
Results live in OpenCV camera axes (x right, y down, z forward): the one conversion between them
is `CAMERA_TO_Y_UP`, a rotation of 180 degrees about x, applied in `camera_to_y_up` (points) and
to the root joint's rotation in `track_motion` (the rest of the chain inherits it). The camera
sits at the world origin looking down -z; the person stands upright in front of it.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.spatial.transform import Rotation

from vibe.config import get_cfg_defaults
from vibe.errors import InputError
from vibe.geometry import orig_cam_to_translation
from vibe.io.results import TrackResult
from vibe.keypoints.conventions import SMPL24

CAMERA_TO_Y_UP = np.diag([1.0, -1.0, -1.0])  # rotation by pi about x: OpenCV camera -> y-up world
JOINT_NAMES = tuple(name.removeprefix("smpl_") for name in SMPL24)
NUM_JOINTS = len(JOINT_NAMES)
POSE_DIM = 3 * NUM_JOINTS
DEFAULT_FOCAL_DIAG_FACTOR = float(get_cfg_defaults().CAMERA.FOCAL_DIAG_FACTOR)


@dataclass
class RestSkeleton:
    """A person's body in SMPL's rest (T) pose with their averaged shape, y-up metres.

    joints (24, 3) rest joint positions; parents (24,) int, -1 for the root; verts (V, 3);
    weights (V, 24) skinning weights; faces (F, 3) int64.
    """

    joints: np.ndarray
    parents: np.ndarray
    verts: np.ndarray
    weights: np.ndarray
    faces: np.ndarray

    @property
    def offsets(self) -> np.ndarray:
        """(24, 3) each joint relative to its parent; the root's is its rest position."""
        parent_joints = np.where(self.parents[:, None] >= 0, self.joints[self.parents], 0.0)
        return self.joints - parent_joints

    def children(self, joint: int) -> list[int]:
        return [int(child) for child in np.flatnonzero(self.parents == joint)]


@dataclass
class TrackMotion:
    """Per-frame animation of a track in the export world.

    frame_ids (n,) int, strictly increasing; rotations (n, 24, 3, 3) local joint rotations
    (SMPL's pose, with the root's already turned into the y-up world); root_positions (n, 3)
    world position of the root joint (metres).
    """

    frame_ids: np.ndarray
    rotations: np.ndarray
    root_positions: np.ndarray


def camera_to_y_up(points: np.ndarray) -> np.ndarray:
    """(..., 3) points in OpenCV camera axes -> the y-up export world."""
    return points @ CAMERA_TO_Y_UP.T


def rest_skeleton(model, betas: np.ndarray) -> RestSkeleton:
    """The rest body of `model` (a vibe.body.BodyModel) shaped by `betas` (num_betas,):
    v_template + shapedirs @ betas, and joints regressed from it (as smplx does before posing)."""
    smpl = model.smpl
    betas = np.asarray(betas, dtype=np.float64)
    shapedirs = smpl.shapedirs.detach().cpu().numpy().astype(np.float64)
    if betas.shape != (shapedirs.shape[-1],):
        raise InputError(f"betas have shape {betas.shape}, the body model takes ({shapedirs.shape[-1]},); "
                         f"export with the body model the track was made with")
    verts = smpl.v_template.detach().cpu().numpy().astype(np.float64) + shapedirs @ betas
    regressor = smpl.J_regressor.detach().cpu().numpy().astype(np.float64)
    parents = smpl.parents.detach().cpu().numpy().astype(np.int64)
    return RestSkeleton(joints=regressor @ verts, parents=parents, verts=verts,
                        weights=smpl.lbs_weights.detach().cpu().numpy().astype(np.float64),
                        faces=np.asarray(model.faces, dtype=np.int64))


def check_track(result: TrackResult, num_verts: int | None = None) -> None:
    """Raise InputError unless `result` is a non-empty track with SMPL poses, increasing frame
    ids and (when `num_verts` is given) meshes of that many vertices."""
    num_frames = len(result.frame_ids)
    if num_frames == 0:
        raise InputError("cannot export an empty track (0 frames); skip tracks without frames")
    if result.pose.shape != (num_frames, POSE_DIM):
        raise InputError(f"track pose has shape {result.pose.shape}, expected ({num_frames}, {POSE_DIM}) axis-angle")
    if result.transl is not None and np.shape(result.transl) != (num_frames, 3):
        raise InputError(f"track transl has shape {np.shape(result.transl)}, expected ({num_frames}, 3)")
    if np.any(np.diff(np.asarray(result.frame_ids)) <= 0):
        raise InputError("track frame_ids must be strictly increasing; sort the track and drop duplicate frames")
    if num_verts is not None and np.shape(result.verts)[1:] != (num_verts, 3):
        raise InputError(f"track verts have shape {np.shape(result.verts)}, the body model has {num_verts} "
                         f"vertices; export with the body model the track was made with")


def check_fps(fps: float) -> None:
    """Raise InputError unless `fps` is a positive finite frame rate."""
    if not np.isfinite(fps) or fps <= 0:
        raise InputError(f"fps must be a positive number, got {fps}")


def camera_translation(result: TrackResult, image_size: tuple[int, int] | None = None,
                       focal_length: float | None = None,
                       focal_diag_factor: float = DEFAULT_FOCAL_DIAG_FACTOR) -> np.ndarray:
    """(n, 3) camera-space translation of the track (OpenCV axes, metres).

    `result.transl` when present; else derived from the weak-perspective `orig_cam` for a pinhole
    camera centred on the image with focal `focal_length` px, or result.meta['focal_length'], or
    `focal_diag_factor` x the image diagonal (depth = 2 f / (W sx)). image_size (W, H) px is
    needed only in that case.
    """
    if result.transl is not None:
        return np.asarray(result.transl, dtype=np.float64)
    if image_size is None:
        raise InputError("the track has no translation: pass the video's image size (width, height) "
                         "to derive the root motion from its orig_cam")
    width, height = image_size
    focal = focal_length or result.meta.get("focal_length") or focal_diag_factor * float(np.hypot(width, height))
    return orig_cam_to_translation(np.asarray(result.orig_cam, dtype=np.float64), width, height, float(focal))


def track_motion(result: TrackResult, skeleton: RestSkeleton, transl: np.ndarray) -> TrackMotion:
    """Local joint rotations and the root path of `result` in the y-up world.

    SMPL puts the root joint at rest_joint_0 rotated by R_0 and then adds `transl` (n, 3, camera
    axes); converting that to the world turns R_0 into CAMERA_TO_Y_UP @ R_0 and the root position
    into CAMERA_TO_Y_UP @ (rest_joint_0 + transl). Child joints keep SMPL's local rotations.
    """
    num_frames = len(result.frame_ids)
    rotations = Rotation.from_rotvec(np.asarray(result.pose, np.float64).reshape(-1, 3)).as_matrix()
    rotations = rotations.reshape(num_frames, NUM_JOINTS, 3, 3)
    rotations[:, 0] = CAMERA_TO_Y_UP @ rotations[:, 0]
    root_positions = camera_to_y_up(skeleton.joints[0] + transl)
    return TrackMotion(frame_ids=np.asarray(result.frame_ids, dtype=np.int64), rotations=rotations,
                       root_positions=root_positions)
