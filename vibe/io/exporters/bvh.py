"""BVH export of one person's skeleton motion.

Hierarchy: SMPL's 24 joints named as in SMPL, OFFSETs from the person's shaped rest joints in the
y-up world (exporters.skeleton), in `units_per_metre` units (default 1: metres, so Blender's
importer at scale 1 gives the true size, matching the .glb; 100 gives centimetres). The root has
OFFSET 0 0 0 and 6 channels: its absolute world position, then its rotation; every other joint
has 3 rotation channels. Rotation channels follow `euler_order` (default "ZXY"): the local
rotation is R = R_first @ R_second @ R_third (intrinsic axes, as BVH readers compose channels),
angles in degrees, from scipy's Rotation.as_euler. Leaf joints end in an End Site continuing
their incoming bone by END_SITE_FRACTION of its length.

Motion: one frame per video frame from the track's first to its last frame id (Frame Time
1 / fps; BVH frame 0 is video frame frame_ids[0]). Video frames the track misses are filled by
interpolation (slerp for rotations, linear for the root position), as the .glb's LINEAR
animation plays them.
"""
from __future__ import annotations

import io
import logging
import warnings
from pathlib import Path

import numpy as np
from scipy.spatial.transform import Rotation, Slerp

from vibe.config import get_cfg_defaults
from vibe.errors import InputError
from vibe.io.atomic import atomic_path
from vibe.io.exporters.skeleton import (
    JOINT_NAMES, NUM_JOINTS, RestSkeleton, TrackMotion, camera_translation, check_fps, check_track, rest_skeleton,
    track_motion,
)
from vibe.io.results import TrackResult

log = logging.getLogger(__name__)

_CFG = get_cfg_defaults().EXPORT
DEFAULT_UNITS_PER_METRE = float(_CFG.BVH_UNITS_PER_METRE)
DEFAULT_EULER_ORDER = str(_CFG.BVH_EULER_ORDER)
END_SITE_FRACTION = 0.5
NUMBER_FORMAT = "%.6f"
_INDENT = "  "


def export_bvh(path: str | Path, result: TrackResult, model, fps: float,
               image_size: tuple[int, int] | None = None, focal_length: float | None = None,
               units_per_metre: float = DEFAULT_UNITS_PER_METRE, euler_order: str = DEFAULT_EULER_ORDER) -> Path:
    """Write `result` (one track) on `model`'s shaped skeleton as a BVH file at `path`. Atomic.

    image_size (W, H) and focal_length are used only for tracks without `transl`
    (skeleton.camera_translation).
    """
    check_track(result)
    _check_options(fps, units_per_metre, euler_order)
    skeleton = rest_skeleton(model, result.mean_betas)
    motion = fill_gaps(track_motion(result, skeleton, camera_translation(result, image_size, focal_length)))
    order = depth_first_order(skeleton)
    text = io.StringIO()
    _write_hierarchy(text, skeleton, units_per_metre, euler_order)
    _write_motion(text, motion, order, fps, units_per_metre, euler_order)
    path = Path(path)
    with atomic_path(path) as tmp:
        tmp.write_text(text.getvalue())
    log.info("wrote %s (%d frames)", path, len(motion.frame_ids))
    return path


def _check_options(fps: float, units_per_metre: float, euler_order: str) -> None:
    check_fps(fps)
    if not np.isfinite(units_per_metre) or units_per_metre <= 0:
        raise InputError(f"BVH units per metre must be positive, got {units_per_metre}")
    if sorted(euler_order) != ["X", "Y", "Z"]:
        raise InputError(f"BVH Euler order must be a permutation of XYZ (e.g. ZXY), got {euler_order!r}")


def fill_gaps(motion: TrackMotion) -> TrackMotion:
    """`motion` resampled at every frame id from its first to its last: slerp per joint,
    linear root position; frames the track has are kept as they are."""
    frame_ids = np.arange(motion.frame_ids[0], motion.frame_ids[-1] + 1)
    if len(frame_ids) == len(motion.frame_ids):
        return motion
    rotations = np.empty((len(frame_ids), NUM_JOINTS, 3, 3))
    for joint in range(NUM_JOINTS):
        slerp = Slerp(motion.frame_ids, Rotation.from_matrix(motion.rotations[:, joint]))
        rotations[:, joint] = slerp(frame_ids).as_matrix()
    root = np.stack([np.interp(frame_ids, motion.frame_ids, motion.root_positions[:, axis]) for axis in range(3)], -1)
    return TrackMotion(frame_ids=frame_ids, rotations=rotations, root_positions=root)


def depth_first_order(skeleton: RestSkeleton) -> list[int]:
    """Joints in the order the hierarchy lists them (and the motion lines hold their channels)."""
    order, stack = [], [0]
    while stack:
        joint = stack.pop()
        order.append(joint)
        stack.extend(reversed(skeleton.children(joint)))
    return order


def _rotation_channels(euler_order: str) -> str:
    return " ".join(f"{axis}rotation" for axis in euler_order)


def _write_hierarchy(out: io.StringIO, skeleton: RestSkeleton, units_per_metre: float, euler_order: str) -> None:
    out.write("HIERARCHY\n")
    _write_joint(out, skeleton, 0, 0, units_per_metre, euler_order)


def _write_joint(out: io.StringIO, skeleton: RestSkeleton, joint: int, depth: int, units_per_metre: float,
                 euler_order: str) -> None:
    pad = _INDENT * depth
    is_root = skeleton.parents[joint] < 0
    offset = np.zeros(3) if is_root else skeleton.offsets[joint] * units_per_metre
    channels = f"6 Xposition Yposition Zposition {_rotation_channels(euler_order)}" if is_root \
        else f"3 {_rotation_channels(euler_order)}"
    out.write(f"{pad}{'ROOT' if is_root else 'JOINT'} {JOINT_NAMES[joint]}\n{pad}{{\n")
    out.write(f"{pad}{_INDENT}OFFSET {_numbers(offset)}\n{pad}{_INDENT}CHANNELS {channels}\n")
    children = skeleton.children(joint)
    for child in children:
        _write_joint(out, skeleton, child, depth + 1, units_per_metre, euler_order)
    if not children:
        end = skeleton.offsets[joint] * END_SITE_FRACTION * units_per_metre
        out.write(f"{pad}{_INDENT}End Site\n{pad}{_INDENT}{{\n{pad}{_INDENT * 2}OFFSET {_numbers(end)}\n"
                  f"{pad}{_INDENT}}}\n")
    out.write(f"{pad}}}\n")


def _numbers(values: np.ndarray) -> str:
    return " ".join(NUMBER_FORMAT % value for value in values)


def _write_motion(out: io.StringIO, motion: TrackMotion, order: list[int], fps: float, units_per_metre: float,
                  euler_order: str) -> None:
    num_frames = len(motion.frame_ids)
    with warnings.catch_warnings():
        # Near gimbal lock scipy picks one of the equivalent angle triples and warns; any triple
        # reproduces the rotation, which is all a BVH frame needs.
        warnings.filterwarnings("ignore", message="Gimbal lock detected")
        angles = Rotation.from_matrix(motion.rotations[:, order].reshape(-1, 3, 3)).as_euler(euler_order, degrees=True)
    angles = angles.reshape(num_frames, len(order) * 3)
    rows = np.concatenate([motion.root_positions * units_per_metre, angles], axis=1)
    out.write(f"MOTION\nFrames: {num_frames}\nFrame Time: {1.0 / fps:.8f}\n")
    np.savetxt(out, rows, fmt=NUMBER_FORMAT)
