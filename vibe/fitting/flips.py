"""Depth-flip search: the classic monocular ambiguity of a limb, searched discretely.

Seen through a pinhole, a bone from a joint p (kept where it is) to its child c of length L
leaves the child on the camera ray through c's projection; that ray meets the sphere of radius
L round p in two points, so every bone has two depths that project alike: the child nearer to
the camera than p's perpendicular plane along the ray, or beyond it. A bone's depth state is the
sign of (c - p) . u (u the unit ray to the child); flipping it moves c to the other point. A limb
(shoulder -> elbow -> wrist, hip -> knee -> ankle) has four states: none, upper bone flipped,
lower bone flipped, both; each keeps the elbow's (knee's) and the wrist's (ankle's) projection
(the lower bone keeps its own depth sign when the upper flips, so every flip is its own inverse).

A state becomes joint rotations: the smallest world rotation taking the current bone direction to
the flipped one, composed into the joint's local rotation in its parent's frame. The optimiser
scores the candidates per frame and `viterbi` chooses one state per frame along the track, with
the squared second differences of the limb's joints (the objective's smoothness term) as the
cost of a path, so the choice is temporally consistent: a switch costs its jump, while real
motion costs the same in every state (a first-difference cost would favour the state in which
the limb moves least, e.g. a turning body's arms mirrored in depth).

Shapes: T frames, 24 SMPL joints; positions in camera space (m), the camera centre at the origin.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from vibe.fitting.joints_only import kinematic_levels, world_transforms
from vibe.geometry import axis_angle_to_rotmat

_PARALLEL_FLOOR = 1e-9  # |a x b| below this: the bone turns by 0 or pi about no particular axis


@dataclass(frozen=True)
class Limb:
    """Three SMPL joints in a chain: root (shoulder, hip), middle (elbow, knee), end (wrist, ankle)."""

    name: str
    root: int
    middle: int
    end: int


LIMBS = (Limb("left_arm", 16, 18, 20), Limb("right_arm", 17, 19, 21),
         Limb("left_leg", 1, 4, 7), Limb("right_leg", 2, 5, 8))
# The limb states: (upper bone flipped, lower bone flipped); state 0 is the current pose.
FLIP_STATES = ((False, False), (True, False), (False, True), (True, True))


def forward_kinematics(rotmats: torch.Tensor, rest_joints: torch.Tensor, parents) -> tuple[torch.Tensor, torch.Tensor]:
    """Local rotations (T, 24, 3, 3), rest joints (T or 1, 24, 3), parents (24,) (root: any)
    -> (global rotations (T, 24, 3, 3), joint positions (T, 24, 3)) with the root at its rest
    position (as the body model poses it: add the translation for camera space)."""
    rest = rest_joints.expand(rotmats.shape[0], -1, -1)
    transforms = world_transforms(rotmats, rest, kinematic_levels(parents))
    return transforms[..., :3, :3], transforms[..., :3, 3]


def depth_sign(parent: torch.Tensor, child: torch.Tensor) -> torch.Tensor:
    """(..., 3) camera-space points -> (...,) +1 where the child lies beyond the parent along
    the child's camera ray ((child - parent) . child/|child| >= 0), else -1."""
    ray = child / child.norm(dim=-1, keepdim=True)
    return torch.where(((child - parent) * ray).sum(-1) >= 0.0, 1.0, -1.0)


def point_on_ray(ray_point: torch.Tensor, centre: torch.Tensor, radius: torch.Tensor,
                 sign: torch.Tensor) -> torch.Tensor:
    """The point on the camera ray through `ray_point` (..., 3) at distance `radius` (...,) from
    `centre` (..., 3), on the side `sign` (...,) (+1: beyond the centre's perpendicular plane).
    Where the ray misses the sphere, its closest point to the centre (the limb cannot reach)."""
    ray = ray_point / ray_point.norm(dim=-1, keepdim=True)
    along = (ray * centre).sum(-1)
    discriminant = along.square() - centre.square().sum(-1) + radius.square()
    return (along + sign * discriminant.clamp_min(0.0).sqrt())[..., None] * ray


def smallest_rotation(source: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """(..., 3) non-zero vectors -> (..., 3, 3) the smallest rotation turning source's direction
    into target's (Rodrigues about a x b by atan2(|a x b|, a . b)). A half turn has no unique
    axis: it takes any axis normal to a (a depth flip turns a bone pointing along the ray by
    nearly pi, so this case is real)."""
    a = source / source.norm(dim=-1, keepdim=True)
    b = target / target.norm(dim=-1, keepdim=True)
    cross = torch.cross(a, b, dim=-1)
    sin = cross.norm(dim=-1, keepdim=True)
    # fallback axis for (anti)parallel vectors: a x (the coordinate axis least aligned with a)
    least = torch.nn.functional.one_hot(a.abs().argmin(-1), 3).to(a.dtype)
    normal = torch.cross(a, least, dim=-1)
    axis = torch.where(sin > _PARALLEL_FLOOR, cross / sin.clamp_min(_PARALLEL_FLOOR),
                       normal / normal.norm(dim=-1, keepdim=True))
    angle = torch.atan2(sin[..., 0], (a * b).sum(-1))
    return axis_angle_to_rotmat(axis * angle[..., None])


def flip_limb(rotmats: torch.Tensor, rest_joints: torch.Tensor, parents, transl: torch.Tensor, limb: Limb,
              flip_upper: bool, flip_lower: bool) -> torch.Tensor:
    """Local rotations (T, 24, 3, 3) with one limb moved to another depth state; rest_joints
    (T or 1, 24, 3), transl (T, 3) camera-space translation. Only the limb's root and middle
    joints' rotations change; the middle and end joints keep their projections (the end as
    nearly as the limb's length allows)."""
    dtype = rotmats.dtype
    rotmats, rest_joints, transl = rotmats.double(), rest_joints.double(), transl.double()  # near-pi turns
    rotations, positions = forward_kinematics(rotmats, rest_joints, parents)
    positions = positions + transl[:, None]
    root, middle, end = (positions[:, j] for j in (limb.root, limb.middle, limb.end))
    upper_sign, lower_sign = depth_sign(root, middle), depth_sign(middle, end)
    new_middle = point_on_ray(middle, root, (middle - root).norm(dim=-1), -upper_sign if flip_upper else upper_sign)
    turn_upper = smallest_rotation(middle - root, new_middle - root)
    carried_end = new_middle + (turn_upper @ (end - middle)[..., None])[..., 0]
    new_end = point_on_ray(end, new_middle, (end - middle).norm(dim=-1), -lower_sign if flip_lower else lower_sign)
    turn_lower = smallest_rotation(carried_end - new_middle, new_end - new_middle) @ turn_upper
    out = rotmats.clone()
    # A world rotation Q of joint j's bone: G_j' = Q G_j, so R_j' = G_parent'^T Q G_j.
    root_parent = rotations[:, int(parents[limb.root])]
    out[:, limb.root] = root_parent.transpose(-1, -2) @ turn_upper @ rotations[:, limb.root]
    new_root_global = turn_upper @ rotations[:, limb.root]
    out[:, limb.middle] = new_root_global.transpose(-1, -2) @ turn_lower @ rotations[:, limb.middle]
    return out.to(dtype)


def viterbi(unary: np.ndarray, accel: np.ndarray) -> np.ndarray:
    """Cheapest state path under a second-order chain: unary (T, S) cost per frame and state,
    accel (T-2, S, S, S) cost of states (a, b, c) at frames (t, t+1, t+2) -> (T,) int states.
    Dynamic programme over state pairs (S^2 of them; S = 4 here)."""
    num_frames, num_states = unary.shape
    if num_frames == 1:
        return np.array([int(np.argmin(unary[0]))])
    total = unary[0][:, None] + unary[1][None, :]  # (a, b): cheapest path ending in a, b
    back = np.zeros((num_frames, num_states, num_states), dtype=np.int64)
    for t in range(2, num_frames):
        through = total[:, :, None] + accel[t - 2]  # (a, b, c)
        back[t] = np.argmin(through, axis=0)  # best a for each (b, c)
        total = np.take_along_axis(through, back[t][None], axis=0)[0] + unary[t][None, :]
    path = np.zeros(num_frames, dtype=np.int64)
    path[-2], path[-1] = np.unravel_index(int(np.argmin(total)), total.shape)
    for t in range(num_frames - 1, 1, -1):
        path[t - 2] = back[t, path[t - 1], path[t]]
    return path


def acceleration_costs(limb_points: np.ndarray, weight: float) -> np.ndarray:
    """limb_points (T, S, K, 3): K joints of the limb in each state -> (T-2, S, S, S) weight x the
    summed squared second differences of those joints through states (a, b, c) at t, t+1, t+2
    (the objective's own joint smoothness term, so real motion costs the same in every state
    and a state switch costs its jump)."""
    first, middle, last = limb_points[:-2], limb_points[1:-1], limb_points[2:]
    accel = (first[:, :, None, None] - 2.0 * middle[:, None, :, None] + last[:, None, None, :])
    return weight * np.square(accel).sum(axis=(-1, -2))


def keep_gaining_runs(path: np.ndarray, unary: np.ndarray, margin: float) -> np.ndarray:
    """path (T,) states, unary (T, S) -> the path with each run of consecutive frames off state 0
    set back to 0 unless its summed unary cost is lower than state 0's over the same frames by
    more than `margin` per frame: smoothness may carry a flip through frames where it is slightly
    worse, but it must not move a limb off the optimiser's current pose where the per-frame
    objective as a whole prefers that pose (on noisy tracks it did, for the worse), nor flip on a
    gain too small to survive the next stage (an unrefined candidate's cost is only a guess)."""
    out = path.copy()
    flipped = np.concatenate([[False], path != 0, [False]])
    edges = np.flatnonzero(np.diff(flipped.astype(np.int8)))
    for start, stop in zip(edges[::2], edges[1::2]):
        frames = np.arange(start, stop)
        if unary[frames, path[frames]].sum() + margin * len(frames) >= unary[frames, 0].sum():
            out[frames] = 0
    return out
