"""Keypoint conventions: ordered joint-name lists and one conversion layer between them.

Every convention is an ordered tuple of names from one shared vocabulary; conversion matches
joints BY NAME, so no other module keeps index lists. Two conventions share a name only where
they mean the same point; where they differ the names differ:

- ``op_*``: keypoints as OpenPose (BODY_25 family) detects them. SPIN/VIBE fit these with
  different model joints than the annotated ones (e.g. ``op_right_hip`` = SMPL joint 2, while
  ``right_hip`` = the LSP-style hip from ``J_regressor_extra``), so they stay distinct names, as
  in VIBE's own tables. Where the two families truly denote the same point (nose, eyes, ears,
  shoulders, elbows, wrists, knees, ankles, heels) ``convert(..., fill_equivalent=True)`` may
  fill one from the other; by default it does not, which reproduces VIBE's data conversion.
- annotated joints (LSP / MPII / H36M / COCO / 3DPW / MPI-INF-3DHP): ``right_ankle``,
  ``neck`` (LSP neck), ``head_top``, ``pelvis`` (MPII pelvis), ``thorax`` (MPII thorax),
  ``spine``, ``jaw`` and ``head`` (H36M spine, jaw and head centre; ``head`` != ``head_top``).
- ``smpl_*``: SMPL's own 24 kinematic joints (joint centres, not annotation points).

``spin49`` is SPIN/VIBE's 49-joint set: 25 OpenPose-order joints, then the 14 "common" LSP-order
joints (indices 25..38), then pelvis, thorax, spine, jaw, head, nose, left/right eye and ear.
``smpl54`` is the body model's raw joint stack the 49 are picked from: 24 SMPL joints, the 21
vertex-picked joints smplx appends, then the 9 ``J_regressor_extra`` joints
(``SPIN49_MODEL_SOURCES`` says which feeds which slot).
"""
from __future__ import annotations

import sys
from functools import lru_cache

import numpy as np

from vibe.errors import InputError

_SIDES = ("left", "right")

OPENPOSE25 = (
    "op_nose", "op_neck", "op_right_shoulder", "op_right_elbow", "op_right_wrist",
    "op_left_shoulder", "op_left_elbow", "op_left_wrist", "op_mid_hip",
    "op_right_hip", "op_right_knee", "op_right_ankle", "op_left_hip", "op_left_knee", "op_left_ankle",
    "op_right_eye", "op_left_eye", "op_right_ear", "op_left_ear",
    "op_left_big_toe", "op_left_small_toe", "op_left_heel",
    "op_right_big_toe", "op_right_small_toe", "op_right_heel",
)

# LSP order: the 14 joints VIBE's 3D loss and evaluation use.
COMMON14 = (
    "right_ankle", "right_knee", "right_hip", "left_hip", "left_knee", "left_ankle",
    "right_wrist", "right_elbow", "right_shoulder", "left_shoulder", "left_elbow", "left_wrist",
    "neck", "head_top",
)

SPIN49 = OPENPOSE25 + COMMON14 + (
    "pelvis", "thorax", "spine", "jaw", "head",
    "nose", "left_eye", "right_eye", "left_ear", "right_ear",
)

SMPL24 = tuple(f"smpl_{name}" for name in (
    "pelvis", "left_hip", "right_hip", "spine1", "left_knee", "right_knee", "spine2",
    "left_ankle", "right_ankle", "spine3", "left_foot", "right_foot", "neck",
    "left_collar", "right_collar", "head", "left_shoulder", "right_shoulder",
    "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_hand", "right_hand",
))

_FINGERS = ("thumb", "index", "middle", "ring", "pinky")
# The 21 joints smplx picks from vertices, in smplx's order (face, feet, left tips, right tips).
SMPLX_VERTEX_JOINTS = (
    "nose", "right_eye", "left_eye", "right_ear", "left_ear",
    "left_big_toe", "left_small_toe", "left_heel", "right_big_toe", "right_small_toe", "right_heel",
) + tuple(f"{side}_{finger}_tip" for side in _SIDES for finger in _FINGERS)

# Rows of J_regressor_extra.npy, in file order.
EXTRA9 = ("right_hip", "left_hip", "neck", "head_top", "pelvis", "thorax", "spine", "jaw", "head")

SMPL54 = SMPL24 + SMPLX_VERTEX_JOINTS + EXTRA9

# Which smpl54 joint realises each spin49 slot (SPIN/VIBE's joint map). The OpenPose hips, neck
# and mid-hip come from SMPL's kinematic joints; the LSP hips, neck and head top from the extra
# regressor; limbs from SMPL joints in both families; face and feet from smplx's vertex joints.
SPIN49_MODEL_SOURCES = {
    "op_nose": "nose", "op_neck": "smpl_neck",
    "op_right_shoulder": "smpl_right_shoulder", "op_right_elbow": "smpl_right_elbow",
    "op_right_wrist": "smpl_right_wrist", "op_left_shoulder": "smpl_left_shoulder",
    "op_left_elbow": "smpl_left_elbow", "op_left_wrist": "smpl_left_wrist",
    "op_mid_hip": "smpl_pelvis",
    "op_right_hip": "smpl_right_hip", "op_right_knee": "smpl_right_knee", "op_right_ankle": "smpl_right_ankle",
    "op_left_hip": "smpl_left_hip", "op_left_knee": "smpl_left_knee", "op_left_ankle": "smpl_left_ankle",
    "op_right_eye": "right_eye", "op_left_eye": "left_eye", "op_right_ear": "right_ear", "op_left_ear": "left_ear",
    "op_left_big_toe": "left_big_toe", "op_left_small_toe": "left_small_toe", "op_left_heel": "left_heel",
    "op_right_big_toe": "right_big_toe", "op_right_small_toe": "right_small_toe", "op_right_heel": "right_heel",
    "right_ankle": "smpl_right_ankle", "right_knee": "smpl_right_knee", "right_hip": "right_hip",
    "left_hip": "left_hip", "left_knee": "smpl_left_knee", "left_ankle": "smpl_left_ankle",
    "right_wrist": "smpl_right_wrist", "right_elbow": "smpl_right_elbow", "right_shoulder": "smpl_right_shoulder",
    "left_shoulder": "smpl_left_shoulder", "left_elbow": "smpl_left_elbow", "left_wrist": "smpl_left_wrist",
    "neck": "neck", "head_top": "head_top",
    "pelvis": "pelvis", "thorax": "thorax", "spine": "spine", "jaw": "jaw", "head": "head",
    "nose": "nose", "left_eye": "left_eye", "right_eye": "right_eye", "left_ear": "left_ear", "right_ear": "right_ear",
}

H36M17 = (
    "pelvis", "left_hip", "left_knee", "left_ankle", "right_hip", "right_knee", "right_ankle",
    "spine", "neck", "head", "head_top",
    "left_shoulder", "left_elbow", "left_wrist", "right_shoulder", "right_elbow", "right_wrist",
)

COCO17 = (
    "nose", "left_eye", "right_eye", "left_ear", "right_ear",
    "left_shoulder", "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist",
    "left_hip", "right_hip", "left_knee", "right_knee", "left_ankle", "right_ankle",
)

# CrowdPose: 12 COCO limb joints in COCO's order, then its own head top and neck.
CROWDPOSE14 = COCO17[5:] + ("head_top", "neck")

# MediaPipe BlazePose landmark order.
BLAZEPOSE33 = (
    "nose", "left_eye_inner", "left_eye", "left_eye_outer",
    "right_eye_inner", "right_eye", "right_eye_outer", "left_ear", "right_ear",
    "mouth_left", "mouth_right",
    "left_shoulder", "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist",
    "left_pinky", "right_pinky", "left_index", "right_index", "left_thumb", "right_thumb",
    "left_hip", "right_hip", "left_knee", "right_knee", "left_ankle", "right_ankle",
    "left_heel", "right_heel", "left_foot_index", "right_foot_index",
)

# 3DPW's poses2d: OpenPose COCO-18 order, named as VIBE reads them (its neck as the MPII thorax).
THREEDPW2D18 = (
    "nose", "thorax", "right_shoulder", "right_elbow", "right_wrist",
    "left_shoulder", "left_elbow", "left_wrist", "right_hip", "right_knee", "right_ankle",
    "left_hip", "left_knee", "left_ankle", "right_eye", "left_eye", "right_ear", "left_ear",
)

MPII3D28 = (
    "spine3", "spine4", "spine2", "spine", "pelvis", "neck", "head", "head_top",
    "left_clavicle", "left_shoulder", "left_elbow", "left_wrist", "left_hand",
    "right_clavicle", "right_shoulder", "right_elbow", "right_wrist", "right_hand",
    "left_hip", "left_knee", "left_ankle", "left_foot", "left_toe",
    "right_hip", "right_knee", "right_ankle", "right_foot", "right_toe",
)

# MPI-INF-3DHP test set.
MPII3D17 = (
    "head_top", "neck", "right_shoulder", "right_elbow", "right_wrist",
    "left_shoulder", "left_elbow", "left_wrist", "right_hip", "right_knee", "right_ankle",
    "left_hip", "left_knee", "left_ankle", "pelvis", "spine", "head",
)

# InstaVariety (OpenPose detections plus an annotated head top), VIBE's order.
INSTA25 = (
    "op_right_heel", "op_right_knee", "op_right_hip", "op_left_hip", "op_left_knee", "op_left_heel",
    "op_right_wrist", "op_right_elbow", "op_right_shoulder", "op_left_shoulder", "op_left_elbow",
    "op_left_wrist", "op_neck", "head_top", "op_nose", "op_left_eye", "op_right_eye",
    "op_left_ear", "op_right_ear", "op_left_big_toe", "op_right_big_toe",
    "op_left_small_toe", "op_right_small_toe", "op_left_ankle", "op_right_ankle",
)

# STAF (OpenPose-based tracker): the first 19 BODY_25 joints, then LSP neck and head top.
STAF21 = OPENPOSE25[:19] + ("neck", "head_top")

# PoseTrack: its "head_bottom" is the LSP-style neck.
POSETRACK17 = (
    "nose", "neck", "head_top", "left_ear", "right_ear",
    "left_shoulder", "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist",
    "left_hip", "right_hip", "left_knee", "right_knee", "left_ankle", "right_ankle",
)

PENNACTION13 = (
    "head_top", "left_shoulder", "right_shoulder", "left_elbow", "right_elbow",
    "left_wrist", "right_wrist", "left_hip", "right_hip", "left_knee", "right_knee",
    "left_ankle", "right_ankle",
)

# CMU motion capture (vibe.data.mocap), one convention per skeleton of the shared data. Shared
# names where the point is the same joint (the hip, knee and ankle joint centres, "left_foot" =
# the ball of the foot and "left_toe" = the toe tip as in MPII3D28, shoulder, elbow, wrist);
# "cmu_<bone>_end" = where that ASF bone ends, "cmu_root" = the ASF root (10 cm above the hip
# joints, not the annotated pelvis); "cmu_bvh_*" = BVH joint origins with no shared name.
# The readers' docstrings say which native point each name is.
CMU_ASF31 = (
    "cmu_root",
    "left_hip", "left_knee", "left_ankle", "left_foot", "left_toe",
    "right_hip", "right_knee", "right_ankle", "right_foot", "right_toe",
    "cmu_lowerback_end", "cmu_upperback_end", "cmu_thorax_end", "cmu_lowerneck_end", "cmu_upperneck_end",
    "cmu_head_end",
    "left_shoulder", "left_elbow", "left_wrist",
    "cmu_lwrist_end", "cmu_lhand_end", "cmu_lfingers_end", "cmu_lthumb_end",
    "right_shoulder", "right_elbow", "right_wrist",
    "cmu_rwrist_end", "cmu_rhand_end", "cmu_rfingers_end", "cmu_rthumb_end",
)

# The expmap set's skeleton: the ASF points less the thorax's and the wrist bones' ends, which
# coincide with the points before them there (zero-length bones, see vibe.data.mocap.expmap).
CMU_EXPMAP28 = tuple(name for name in CMU_ASF31
                     if name not in ("cmu_thorax_end", "cmu_lwrist_end", "cmu_rwrist_end"))

CMU_BVH25 = (
    "pelvis", "cmu_bvh_abdomen", "cmu_bvh_chest", "cmu_bvh_neck", "cmu_bvh_head", "left_eye", "right_eye",
    "cmu_bvh_lcollar", "left_shoulder", "left_elbow", "left_wrist",
    "cmu_bvh_rcollar", "right_shoulder", "right_elbow", "right_wrist",
    "cmu_bvh_lbuttock", "left_hip", "left_knee", "left_ankle", "left_foot",
    "cmu_bvh_rbuttock", "right_hip", "right_knee", "right_ankle", "right_foot",
)

CONVENTIONS: dict[str, tuple[str, ...]] = {
    "spin49": SPIN49,
    "smpl24": SMPL24,
    "smpl54": SMPL54,
    "common14": COMMON14,
    "3dpw14": COMMON14,  # VIBE evaluates 3DPW on the 14 common joints (J_regressor_h36m -> LSP order)
    "3dpw2d18": THREEDPW2D18,
    "h36m17": H36M17,
    "openpose25": OPENPOSE25,
    "coco17": COCO17,
    "crowdpose14": CROWDPOSE14,
    "blazepose33": BLAZEPOSE33,
    "mpii3d28": MPII3D28,
    "mpii3d17": MPII3D17,
    "insta25": INSTA25,
    "staf21": STAF21,
    "posetrack17": POSETRACK17,
    "pennaction13": PENNACTION13,
    "cmu_asf31": CMU_ASF31,
    "cmu_expmap28": CMU_EXPMAP28,
    "cmu_bvh25": CMU_BVH25,
}

# Same point in the OpenPose and annotated families; used only with fill_equivalent=True.
_EQUIVALENT_PARTS = ("shoulder", "elbow", "wrist", "knee", "ankle", "heel", "eye", "ear")
EQUIVALENT_JOINTS: dict[str, str] = {"op_nose": "nose"} | {
    f"op_{side}_{part}": f"{side}_{part}" for side in _SIDES for part in _EQUIVALENT_PARTS
}
EQUIVALENT_JOINTS |= {annotated: op for op, annotated in list(EQUIVALENT_JOINTS.items())}


def joint_names(convention: str) -> list[str]:
    """The ordered joint names of `convention` (e.g. 'spin49', 'coco17')."""
    return list(_names(convention))


def joint_index(convention: str, name: str) -> int:
    """Position of joint `name` in `convention`; InputError if the convention lacks it."""
    names = _names(convention)
    if name not in names:
        raise InputError(f"keypoint convention {convention!r} has no joint {name!r}; "
                         f"see joint_names({convention!r})")
    return names.index(name)


@lru_cache(maxsize=None)
def _index_map(src: str, dst: str, fill_equivalent: bool) -> tuple[int, ...]:
    src_pos = {name: i for i, name in enumerate(_names(src))}
    positions = []
    for name in _names(dst):
        pos = src_pos.get(name, -1)
        if pos < 0 and fill_equivalent:
            pos = src_pos.get(EQUIVALENT_JOINTS.get(name, ""), -1)
        positions.append(pos)
    return tuple(positions)


def index_map(src: str, dst: str, fill_equivalent: bool = False) -> np.ndarray:
    """(J_dst,) int array: for each `dst` joint its index in `src`, -1 where `src` lacks it."""
    return np.array(_index_map(src, dst, fill_equivalent), dtype=np.int64)


def convert(keypoints, src: str, dst: str, *, add_confidence: bool = False, fill_equivalent: bool = False):
    """Reorder keypoints (..., J_src, D) from convention `src` to `dst` -> (..., J_dst, D).

    Works on numpy arrays and torch tensors (differentiable, same device and dtype). Joints the
    source lacks are all zeros, so a confidence channel (x, y, conf) reads 0 there. With
    `add_confidence` a channel is appended: 1 for joints taken from the source, 0 for missing
    ones (-> (..., J_dst, D + 1)). `fill_equivalent` also fills an OpenPose joint from its
    annotated twin and vice versa (see EQUIVALENT_JOINTS); off by default, as in VIBE.
    """
    torch = _torch_if_tensor(keypoints)
    if torch is None:
        keypoints = np.asarray(keypoints)
    num_src = len(_names(src))
    if keypoints.ndim < 2 or keypoints.shape[-2] != num_src:
        raise InputError(f"keypoints of shape {tuple(keypoints.shape)} do not match convention {src!r} "
                         f"({num_src} joints); expected (..., {num_src}, D)")
    positions = index_map(src, dst, fill_equivalent)
    present = positions >= 0
    gather = np.where(present, positions, num_src)  # index num_src = the appended zero joint
    if torch is not None:
        zero_joint = keypoints.new_zeros(keypoints.shape[:-2] + (1, keypoints.shape[-1]))
        padded = torch.cat([keypoints, zero_joint], dim=-2)
        out = padded.index_select(-2, torch.as_tensor(gather, device=keypoints.device))
        if add_confidence:
            conf = torch.as_tensor(present, dtype=out.dtype, device=out.device)
            out = torch.cat([out, conf[:, None].expand(out.shape[:-1] + (1,))], dim=-1)
        return out
    zero_joint = np.zeros(keypoints.shape[:-2] + (1, keypoints.shape[-1]), dtype=keypoints.dtype)
    out = np.concatenate([keypoints, zero_joint], axis=-2)[..., gather, :]
    if add_confidence:
        conf = np.broadcast_to(present.astype(out.dtype)[:, None], out.shape[:-1] + (1,))
        out = np.concatenate([out, conf], axis=-1)
    return out


def _names(convention: str) -> tuple[str, ...]:
    try:
        return CONVENTIONS[convention]
    except KeyError:
        raise InputError(f"unknown keypoint convention {convention!r}; "
                         f"use one of {', '.join(CONVENTIONS)}") from None


def _torch_if_tensor(array):
    """The torch module when `array` is a torch tensor (without importing torch otherwise)."""
    torch = sys.modules.get("torch")
    return torch if torch is not None and isinstance(array, torch.Tensor) else None
