"""Forward kinematics shared by the readers: rotations and tree chaining, vectorised over frames.

Column vectors throughout: a joint's world rotation is G_j = G_parent @ L_j and a point's world
position is p_j = p_parent + (its bone vector in the world frame). Rotations are numpy closed
forms vectorised over frames (scipy's Rotation is about 10x slower here; the tests check these
against it). Joints come in topological order: every parent index is smaller than its
children's, the root is joint 0 with parent -1.
"""
from __future__ import annotations

import numpy as np

SMALL_ANGLE = 1e-4  # rad: below it expmap_matrices uses the Taylor series (no 0 / 0)


def axis_rotations(axis: str, angles: np.ndarray) -> np.ndarray:
    """(T,) angles in radians -> (T, 3, 3) right-handed turns about `axis` ("X", "Y" or "Z")."""
    c, s = np.cos(angles), np.sin(angles)
    one, zero = np.ones_like(angles), np.zeros_like(angles)
    rows = {
        "X": ((one, zero, zero), (zero, c, -s), (zero, s, c)),
        "Y": ((c, zero, s), (zero, one, zero), (-s, zero, c)),
        "Z": ((c, -s, zero), (s, c, zero), (zero, zero, one)),
    }[axis.upper()]
    return np.stack([np.stack(row, axis=-1) for row in rows], axis=-2)


def euler_matrices(angles: np.ndarray, axes: str, *, intrinsic: bool) -> np.ndarray:
    """(T, K) angles in radians about `axes` (K letters, e.g. "ZXY") -> (T, 3, 3) rotations.

    intrinsic: R = R(axes[0]) @ R(axes[1]) @ ..., each turn about the axes the earlier turns
    moved (BVH channels). Extrinsic: R = ... @ R(axes[1]) @ R(axes[0]), each turn about the
    fixed axes, the first listed applied first (ASF `axis` and AMC `dof`). No axes: identity.
    """
    result = np.broadcast_to(np.eye(3), (len(angles), 3, 3))
    for k, axis in enumerate(axes):
        turn = axis_rotations(axis, angles[:, k])
        result = result @ turn if intrinsic else turn @ result
    return np.array(result)


def expmap_matrices(rotvecs: np.ndarray) -> np.ndarray:
    """(..., 3) exponential maps (axis * angle, radians) -> (..., 3, 3) rotations (Rodrigues).

    R = I + sin(t)/t K + (1 - cos t)/t^2 K^2 with K = [r]_x; below SMALL_ANGLE the series
    1 - t^2/6 and 1/2 - t^2/24 replace the two factors (error O(t^4) < 1e-17 there).
    """
    angle_sq = np.sum(rotvecs * rotvecs, axis=-1)
    angle = np.sqrt(angle_sq)
    small = angle < SMALL_ANGLE
    safe = np.where(small, 1.0, angle)
    sin_over = np.where(small, 1.0 - angle_sq / 6.0, np.sin(safe) / safe)
    one_minus_cos_over = np.where(small, 0.5 - angle_sq / 24.0, (1.0 - np.cos(safe)) / (safe * safe))
    x, y, z = np.moveaxis(rotvecs, -1, 0)
    zero = np.zeros_like(x)
    skew = np.stack([np.stack(row, axis=-1) for row in ((zero, -z, y), (z, zero, -x), (-y, x, zero))], axis=-2)
    return (np.eye(3) + sin_over[..., None, None] * skew
            + one_minus_cos_over[..., None, None] * (skew @ skew))


def chain_rotations(parents: np.ndarray, local: np.ndarray) -> np.ndarray:
    """(J,) parents + (T, J, 3, 3) local rotations -> (T, J, 3, 3) world rotations G_j = G_parent @ L_j."""
    world = np.empty_like(local)
    for joint, parent in enumerate(parents):
        world[:, joint] = local[:, joint] if parent < 0 else world[:, parent] @ local[:, joint]
    return world


def parent_rotations(parents: np.ndarray, world: np.ndarray) -> np.ndarray:
    """(T, J, 3, 3) world rotations -> each joint's parent's world rotation (identity for the root)."""
    padded = np.concatenate([np.broadcast_to(np.eye(3), world[:, :1].shape), world], axis=1)
    return padded[:, np.asarray(parents) + 1]


def rotate(rotations: np.ndarray, vectors: np.ndarray) -> np.ndarray:
    """(T, J, 3, 3) rotations applied to (J, 3) or (T, J, 3) vectors -> (T, J, 3)."""
    return (rotations @ vectors[..., None])[..., 0]


def chain_points(parents: np.ndarray, root: np.ndarray, vectors: np.ndarray) -> np.ndarray:
    """(T, 3) root position + (T, J, 3) world-frame vectors parent -> joint -> (T, J, 3) positions.

    The root's own vector is ignored: it sits at `root`.
    """
    points = np.empty_like(vectors)
    for joint, parent in enumerate(parents):
        points[:, joint] = root if parent < 0 else points[:, parent] + vectors[:, joint]
    return points
