"""BVH reader: hierarchy, motion, forward kinematics to the points of convention "cmu_bvh25".

Kinematics: each joint's rotation channels, in the order the file lists them, compose intrinsic
turns (R = R_first @ R_second @ R_third, degrees), as BVH readers do; a joint's rotation turns
its children's OFFSETs. Position channels give the joint's local position in place of its
OFFSET (as Blender reads them; the CMU files have them only on the root, whose OFFSET is 0).
A leading rest-pose frame is dropped (`common.first_motion_frame`); a one-frame file (the skeleton
without motion, `standard.bvh`) reads as its one rest-pose frame.

Unit: the files do not state it. Centimetres make the CMU skeleton human-sized (standard.bvh:
hip joints 0.88 m above the feet, eyes 1.55 m, thigh 0.37 m, shin 0.45 m, upper arm 0.28 m), so
BVH_METRES_PER_UNIT = 0.01.

Points (convention "cmu_bvh25", the shared CMU BVH skeleton `hip, abdomen, chest, ...`): joint
origins, named in the shared vocabulary where they are the same point (`lThigh` origin = left
hip joint, `lShin` = knee, `lFoot` = ankle, `lShldr` = shoulder, `lForeArm` = elbow, `lHand` =
wrist, `leftEye` = left eye centre), `hip` (2.8 cm below the hip joints' midpoint) as "pelvis",
the foot's End Site (12.7 cm ahead of the ankle at floor level, where the ASF skeleton's
`lfoot` bone ends: the ball of the foot) as "left_foot", and the rest with a "cmu_bvh_" prefix.
Fingers are left out: CMU captured no finger motion (their channels are constant in every file).
Left is the subject's left: the `l*` limbs lie on +x while the feet point to +z (y up).

Subject: the files carry none. salsa/ holds couple dances: files n and n + 15 have the same
length and their hips stay a median 0.6-0.85 m apart (two partners of one take), and in every
pair file n + 15's hip stands higher, so 01-15 are one dancer and 16-30 the other (CMU recorded
its salsa takes with two subjects, 60 and 61); their subjects are "bvh_salsa_a" and
"bvh_salsa_b". For other folders the subject cannot be known and is the sequence's own name.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vibe.data.mocap import common, fk
from vibe.data.mocap.types import MocapSequence
from vibe.errors import InputError

CONVENTION = "cmu_bvh25"
BVH_METRES_PER_UNIT = 0.01  # see the module docstring: centimetres give human bone lengths
END_SITE_SUFFIX = "_end"  # native name of a joint's End Site: "<joint>_end"
_AXES = "XYZ"

# Output point -> native BVH point (joint origin, or "<joint>_end" for its End Site).
POINTS = {
    "pelvis": "hip", "cmu_bvh_abdomen": "abdomen", "cmu_bvh_chest": "chest", "cmu_bvh_neck": "neck",
    "cmu_bvh_head": "head", "left_eye": "leftEye", "right_eye": "rightEye",
    "cmu_bvh_lcollar": "lCollar", "left_shoulder": "lShldr", "left_elbow": "lForeArm", "left_wrist": "lHand",
    "cmu_bvh_rcollar": "rCollar", "right_shoulder": "rShldr", "right_elbow": "rForeArm", "right_wrist": "rHand",
    "cmu_bvh_lbuttock": "lButtock", "left_hip": "lThigh", "left_knee": "lShin", "left_ankle": "lFoot",
    "left_foot": "lFoot" + END_SITE_SUFFIX,
    "cmu_bvh_rbuttock": "rButtock", "right_hip": "rThigh", "right_knee": "rShin", "right_ankle": "rFoot",
    "right_foot": "rFoot" + END_SITE_SUFFIX,
}

# salsa/: files 1..SALSA_TAKES are one dancer, the next SALSA_TAKES their partner (module docstring).
SALSA_FOLDER = "salsa"
SALSA_TAKES = 15


@dataclass
class BvhJoint:
    """One joint (or End Site) of the hierarchy: parent index (-1 for the root), OFFSET, CHANNELS."""

    name: str
    parent: int
    offset: np.ndarray
    channels: list[str]


@dataclass
class BvhMotion:
    """A parsed file: joints in file (depth-first) order, frames (T, C) channel values, frame time."""

    joints: list[BvhJoint]
    frames: np.ndarray
    frame_time: float


def read_bvh(path: str | Path) -> MocapSequence:
    """A .bvh file -> MocapSequence in metres, convention CONVENTION."""
    path = Path(path)
    motion = parse_bvh(path)
    points = bvh_points(motion) * BVH_METRES_PER_UNIT
    name = f"bvh/{path.parent.name}/{path.stem}"
    return MocapSequence(name=name, subject=_subject(path, name), source_format="bvh",
                         fps=1.0 / motion.frame_time, convention=CONVENTION,
                         positions=common.select_points(points, [j.name for j in motion.joints], POINTS, CONVENTION,
                                                    str(path)))


def bvh_points(motion: BvhMotion) -> np.ndarray:
    """Forward kinematics: (T, N, 3) positions in file units of every joint and End Site, in file order.

    A leading rest-pose frame is left out (common.first_motion_frame).
    """
    frames = motion.frames
    parents = np.array([j.parent for j in motion.joints])
    local = np.empty((len(frames), len(parents), 3, 3))
    translations = np.broadcast_to(np.stack([j.offset for j in motion.joints]), local.shape[:2] + (3,)).copy()
    column = 0
    for index, joint in enumerate(motion.joints):
        values = frames[:, column:column + len(joint.channels)]
        column += len(joint.channels)
        rotation_axes = "".join(c[0].upper() for c in joint.channels if c.lower().endswith("rotation"))
        rotation_values = [v for v, c in zip(values.T, joint.channels) if c.lower().endswith("rotation")]
        angles = np.radians(np.stack(rotation_values, axis=1)) if rotation_values else values[:, :0]
        local[:, index] = fk.euler_matrices(angles, rotation_axes, intrinsic=True)
        for value, channel in zip(values.T, joint.channels):
            if channel.lower().endswith("position"):
                translations[:, index, _AXES.index(channel[0].upper())] = value
    start = common.first_motion_frame(_root_rotation_values(motion))
    world = fk.chain_rotations(parents, local[start:])
    vectors = fk.rotate(fk.parent_rotations(parents, world), translations[start:])
    return fk.chain_points(parents, translations[start:, 0], vectors)


def _root_rotation_values(motion: BvhMotion) -> np.ndarray:
    """(T, R) the root's rotation channel values (R = 0..3)."""
    channels = motion.joints[0].channels
    return motion.frames[:, [i for i, c in enumerate(channels) if c.lower().endswith("rotation")]]


def _subject(path: Path, name: str) -> str:
    """The subject key (module docstring): salsa dancer a or b, else the sequence name."""
    if path.parent.name == SALSA_FOLDER and path.stem.isdigit():
        return f"bvh_salsa_{'a' if int(path.stem) <= SALSA_TAKES else 'b'}"
    return name


def parse_bvh(path: Path) -> BvhMotion:
    """Read a .bvh file; InputError with one line for anything malformed or truncated."""
    text = common.read_text(path)
    head, sep, motion_text = text.partition("MOTION")
    if not sep:
        raise InputError(f"{path}: no MOTION section (not a BVH file, or truncated)")
    joints = _parse_hierarchy(head.split(), path)
    channels = sum(len(j.channels) for j in joints)
    frames, frame_time = _parse_motion(motion_text.splitlines(), channels, path)
    return BvhMotion(joints=joints, frames=frames, frame_time=frame_time)



def _parse_hierarchy(tokens: list[str], path: Path) -> list[BvhJoint]:
    """HIERARCHY tokens -> joints in depth-first order (End Sites named '<parent>_end')."""
    if not tokens or tokens[0] != "HIERARCHY":
        raise InputError(f"{path}: does not start with HIERARCHY (not a BVH file)")
    joints: list[BvhJoint] = []
    open_joints: list[int] = []
    pos = 1
    try:
        while pos < len(tokens):
            token = tokens[pos]
            if token in ("ROOT", "JOINT", "End"):
                parent = open_joints[-1] if open_joints else -1
                name = tokens[pos + 1] if token != "End" else joints[parent].name + END_SITE_SUFFIX
                if token == "ROOT" and joints or token != "ROOT" and parent < 0 or tokens[pos + 2] != "{":
                    raise InputError(f"{path}: malformed hierarchy at {token} {tokens[pos + 1]}")
                joints.append(BvhJoint(name=name, parent=parent, offset=np.zeros(3), channels=[]))
                open_joints.append(len(joints) - 1)
                pos += 3
            elif token == "OFFSET":
                joints[open_joints[-1]].offset = np.array(tokens[pos + 1:pos + 4], dtype=np.float64)
                pos += 4
            elif token == "CHANNELS":
                count = int(tokens[pos + 1])
                joints[open_joints[-1]].channels = _check_channels(tokens[pos + 2:pos + 2 + count], count, path)
                pos += 2 + count
            elif token == "}":
                open_joints.pop()
                pos += 1
            else:
                raise InputError(f"{path}: unexpected {token!r} in the hierarchy")
    except (IndexError, ValueError):
        raise InputError(f"{path}: hierarchy is malformed or truncated near token {pos}") from None
    if open_joints or not joints:
        raise InputError(f"{path}: hierarchy is truncated ({len(open_joints)} joint(s) not closed)")
    return joints


def _check_channels(channels: list[str], count: int, path: Path) -> list[str]:
    valid = {f"{axis}{kind}" for axis in _AXES for kind in ("position", "rotation")}
    if len(channels) != count or any(c[:1].upper() + c[1:].lower() not in valid for c in channels):
        raise InputError(f"{path}: bad CHANNELS {' '.join(channels)!r}")
    return channels


def _parse_motion(lines: list[str], channels: int, path: Path) -> tuple[np.ndarray, float]:
    """MOTION lines -> (T, channels) values and the frame time; truncation is an InputError."""
    rows = [line for line in (raw.strip() for raw in lines) if line]
    try:
        num_frames = int(rows[0].split(":", 1)[1]) if rows[0].startswith("Frames:") else None
        frame_time = float(rows[1].split(":", 1)[1]) if rows[1].startswith("Frame Time:") else None
    except (IndexError, ValueError):
        num_frames = frame_time = None
    if num_frames is None or frame_time is None or num_frames < 1 or frame_time <= 0:
        raise InputError(f"{path}: MOTION needs 'Frames: N' (N >= 1) and 'Frame Time: seconds' lines")
    data = rows[2:]
    if len(data) != num_frames:
        raise InputError(f"{path}: header says {num_frames} frames, file has {len(data)} (truncated?)")
    tokens = " ".join(data).split()
    if len(tokens) != num_frames * channels:
        number, row = next((n, r) for n, r in enumerate(data, start=1) if len(r.split()) != channels)
        raise InputError(f"{path}: frame {number} has {len(row.split())} values, "
                         f"the hierarchy has {channels} channels (truncated?)")
    try:
        values = np.array(tokens, dtype=np.float64)
    except ValueError:
        raise InputError(f"{path}: MOTION holds a value that is not a number") from None
    return values.reshape(num_frames, channels), frame_time
