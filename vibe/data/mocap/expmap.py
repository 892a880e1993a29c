"""Exponential-map CSV reader (the CMU expmap set), forward kinematics to convention "cmu_expmap28".

Files: one row per frame, the root position (3) then one exponential map (3, radians) per node of
the `skeleton.json` found in the file's folder or an ancestor (`parents`, `offsets`, `names`).
Kinematics as the set's README gives them, with row vectors: R_i = expmap(r_i) @ R_parent and
p_i = (offset_i + t_i) @ R_parent + p_parent (t_i the root position for the root, else 0); in
the column form of `fk`: local rotation expmap(r_i)^T. A leading rest-pose frame is dropped
(`common.first_motion_frame`: every file of the shared set starts with the same placeholder pose).
Unit: CMU's ASF unit, 0.0254 / 0.45 = 0.05644 m.

The skeleton against CMU's ASF (checked on cmu_asfamc/02/02.asf, whose bone vectors the offsets
equal to 1e-5): node i is where the ASF bone `names[i]` starts (`*_end`: where bone `*` ends),
and its offset is the vector of the bone that ends there, except that the `thorax` bone (2.07
units, 11.7 cm) and the `lwrist`/`rwrist` bones (1.68 units, 9.5 cm) have zero length here:
nodes `lowerneck`, `l/rclavicle` sit on node `thorax`, `l/rhand` and `l/rthumb` on `l/rwrist`.
So the neck, head and arms hang 11.7 cm lower on the trunk than in the ASF and the hands are
shorter (the tests compare train/walking/walking_1 with 02_01.amc, the same take). The `l*` nodes
have +x offsets like the ASF's left bones: the names' left/right agree with the ASF.

Points: one per distinct node position, named like the ASF reader's points (the end of bone X is
where bone X's child starts): e.g. node `ltibia` = left knee, `ltoes` = ball of the foot
("left_foot"), `thorax` = the end of `upperback`. Duplicate nodes (zero offsets) are left out.

Subject: the file names carry none (e.g. "walking_13" exists in train and test as different
takes), so the subject is the sequence's own name, except for takes matched to a CMU subject
(KNOWN_SUBJECTS).
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vibe.data.mocap import common, fk
from vibe.data.mocap.types import MocapSequence
from vibe.errors import InputError

CONVENTION = "cmu_expmap28"
SKELETON_FILE = "skeleton.json"
EXPMAP_METRES_PER_UNIT = 0.0254 / 0.45  # CMU's ASF unit (README): 1/0.45 inch
EXPMAP_FPS = 30.0  # the files carry no rate; the shared set is at 30 fps (README)
ROOT_POSITION = 3  # values before the per-node exponential maps
AXIS_ANGLE = 3

# Sequence path below the skeleton's folder -> CMU subject, for takes identified by content:
# train/walking/walking_1 is CMU take 02_01 (its root path equals 02_01.amc's to 2 mm when
# sampled a quarter frame later; same length, 86 frames).
KNOWN_SUBJECTS = {"train/walking/walking_1": "cmu02"}

# Output point -> skeleton.json node at that point.
POINTS = {
    "cmu_root": "root",
    "left_hip": "lfemur", "left_knee": "ltibia", "left_ankle": "lfoot", "left_foot": "ltoes", "left_toe": "ltoes_end",
    "right_hip": "rfemur", "right_knee": "rtibia", "right_ankle": "rfoot", "right_foot": "rtoes",
    "right_toe": "rtoes_end",
    "cmu_lowerback_end": "upperback", "cmu_upperback_end": "thorax", "cmu_lowerneck_end": "upperneck",
    "cmu_upperneck_end": "head", "cmu_head_end": "head_end",
    "left_shoulder": "lhumerus", "left_elbow": "lradius", "left_wrist": "lwrist", "cmu_lhand_end": "lfingers",
    "cmu_lfingers_end": "lfingers_end", "cmu_lthumb_end": "lthumb_end",
    "right_shoulder": "rhumerus", "right_elbow": "rradius", "right_wrist": "rwrist", "cmu_rhand_end": "rfingers",
    "cmu_rfingers_end": "rfingers_end", "cmu_rthumb_end": "rthumb_end",
}


@dataclass(frozen=True)
class ExpmapSkeleton:
    """skeleton.json: (J,) parents (-1 for the root), (J, 3) offsets, J node names."""

    parents: np.ndarray
    offsets: np.ndarray
    names: tuple[str, ...]


def read_expmap(path: str | Path, fps: float = EXPMAP_FPS) -> MocapSequence:
    """An expmap .txt (with skeleton.json in its folder or an ancestor) -> MocapSequence in metres."""
    path = Path(path)
    skeleton_path = find_skeleton(path)
    skeleton = parse_skeleton(skeleton_path)
    rows = parse_rows(path, ROOT_POSITION + AXIS_ANGLE * len(skeleton.names))
    points = expmap_points(skeleton, rows) * EXPMAP_METRES_PER_UNIT
    relative = path.resolve().relative_to(skeleton_path.parent).with_suffix("").as_posix()
    name = f"expmap/{relative}"
    return MocapSequence(name=name, subject=KNOWN_SUBJECTS.get(relative, name), source_format="expmap", fps=fps,
                         convention=CONVENTION,
                         positions=common.select_points(points, list(skeleton.names), POINTS, CONVENTION, str(path)))


def find_skeleton(path: Path) -> Path:
    """SKELETON_FILE in `path`'s folder or the nearest ancestor holding one."""
    for folder in path.resolve().parents:
        if (folder / SKELETON_FILE).is_file():
            return folder / SKELETON_FILE
    raise InputError(f"{path}: no {SKELETON_FILE} in its folder or any folder above it")


def expmap_points(skeleton: ExpmapSkeleton, rows: np.ndarray) -> np.ndarray:
    """(T, 3 + 3J) rows -> (T, J, 3) node positions in file units (README's kinematics).

    A leading rest-pose frame is left out (common.first_motion_frame).
    """
    rotvecs = rows[:, ROOT_POSITION:].reshape(len(rows), -1, AXIS_ANGLE)
    start = common.first_motion_frame(rotvecs[:, 0])
    local = np.swapaxes(fk.expmap_matrices(rotvecs[start:]), -1, -2)
    world = fk.chain_rotations(skeleton.parents, local)
    vectors = fk.rotate(fk.parent_rotations(skeleton.parents, world), skeleton.offsets)
    root = skeleton.offsets[0] + rows[start:, :ROOT_POSITION]
    return fk.chain_points(skeleton.parents, root, vectors)


def parse_skeleton(path: Path) -> ExpmapSkeleton:
    """Read skeleton.json; InputError unless parents, offsets and names agree and parents precede children."""
    try:
        data = json.loads(common.read_text(path))
        parents = np.array(data["parents"], dtype=np.int64)
        offsets = np.array(data["offsets"], dtype=np.float64)
        names = tuple(str(n) for n in data["names"])
    except (ValueError, KeyError, TypeError) as exc:
        raise InputError(f"{path}: not a readable skeleton (needs parents, offsets, names): {exc}") from None
    count = len(names)
    if parents.shape != (count,) or offsets.shape != (count, 3) or count == 0 or parents[0] != -1 \
            or np.any(parents[1:] < 0) or np.any(parents[1:] >= np.arange(1, count)):
        raise InputError(f"{path}: parents ({parents.shape}), offsets ({offsets.shape}) and names ({count}) "
                         f"disagree, or a parent does not precede its child")
    return ExpmapSkeleton(parents=parents, offsets=offsets, names=names)


def parse_rows(path: Path, width: int) -> np.ndarray:
    """(T, width) comma-separated values; InputError naming the first row of another width."""
    lines = [line for line in common.read_text(path).splitlines() if line.strip()]
    if not lines:
        raise InputError(f"{path}: no rows")
    for number, line in enumerate(lines, start=1):
        if line.count(",") + 1 != width:
            raise InputError(f"{path}: row {number} has {line.count(',') + 1} values, "
                             f"the skeleton needs {width} (3 + 3 x nodes)")
    try:
        return np.array(",".join(lines).split(","), dtype=np.float64).reshape(len(lines), width)
    except ValueError:
        raise InputError(f"{path}: a value is not a number") from None
