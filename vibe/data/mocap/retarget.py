"""Retargeting motion capture onto the body model: SMPL-tree parameters fitted to the 3D joint
positions of a mocap skeleton.

Input: a MocapSequence (vibe.data.mocap.types): positions (T, J, 3) in metres, y up, in the
capture's world frame, the J points named by a keypoint convention (vibe.keypoints.conventions).
Output (RetargetResult): one shape (10 betas) for the subject and, per frame, the 72-d axis-angle
pose (SMPL order, global orientation first) and the root translation of an SMPL-format body (the
open body or the user's SMPL: the same code), with the per-point error of the fit.

Correspondence goes by name. RETARGET_POINTS maps each name a mocap convention may use to the body
point that matches it (a name of the body's smpl54 stack); a sequence uses the names present both
in its convention and in that table. Mocap points are joint centres of a skeleton, so they map to
SMPL's kinematic joints (``smpl_*``) rather than to the annotated surface points of the same shared
name (the LSP hips and neck of J_regressor_extra); only end points (eyes, head, toes) map to
surface points, each rigid to one joint. No two skeletons put their joint centres in the same
places (CMU's thigh is 5 cm longer than SMPL's, its shin 2 cm shorter, its root 10 cm above the
hips), so every point but SMPL's own joints gets a learned offset per subject, constant in the frame
of the body segment that carries the point: the offsets take the skeleton's own proportions, the
betas the subject's build, and the joint rotations stay those of the capture.

World frame: the body's rest pose is y up, facing +z, its left on +x; the capture's world is y up.
Nothing is re-oriented: global_orient rotates the rest body into the capture's world as recorded
(a subject walking along the capture's -x has a global orientation turning +z to -x) and transl is
in the capture's metres. As in smplx, the body is posed about its rest pelvis joint J0(betas) and
transl is added to every point: posed point = R_global (x - J0) + J0 + transl for a point x of the
rest body carried by the root, so the pelvis sits at J0(betas) + transl, not at transl.

Fit (all frames in one batch, L-BFGS in torch on the kinematic chain of vibe.fitting.joints_only;
each point moves rigidly with its carrier joint, exact for SMPL joints and for the single-joint
surface points of the table):
  0. a scale check: the mocap's limb bones (median over frames) against the zero-shape body's; a
     ratio beyond RetargetSettings.max_scale_ratio means the positions are not in metres;
  1. shape: betas, offsets and pose on an evenly spaced subset of frames;
  2. pose: per-frame pose and translation of every frame with the shape fixed, with a small
     temporal smoothness term (second differences of the joint rotation matrices).
Both stages start each frame from inverse kinematics: the root rigidly aligned on the pelvis (or
torso) points, then each segment turned onto the directions of the points it carries, the bones
above the knees and elbows twisted so that their bend lies in the hinge's plane. Both keep a weak
pose prior: anatomical joint limits (vibe.fitting.priors.JointLimitPrior), a pull of each joint's
twist about its bone towards the rest twist (twist is unobservable from joint positions) and a
weak pull of every joint towards the rest pose (joints no used point depends on, e.g. the hands
without finger points, stay at rest). RetargetResult.frame_error_mm flags capture glitches (CMU
01_06 frame 1189 has a knee 0.6 m off for one frame); the smoothness damps them.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass, fields, replace
from typing import TYPE_CHECKING

import numpy as np
import torch
import torch.nn.functional as F

from vibe.body import BodyModel
from vibe.errors import InputError
from vibe.fitting.joints_only import JointsOnlyBody, world_transforms
from vibe.fitting.losses import second_difference_loss
from vibe.fitting.priors import JointLimitPrior
from vibe.fitting.smplify import unwrap_axis_angle
from vibe.geometry import axis_angle_to_rotmat, rotmat_to_axis_angle, similarity_procrustes
from vibe.keypoints.conventions import SMPL24, SPIN49, SPIN49_MODEL_SOURCES, joint_index, joint_names

if TYPE_CHECKING:
    from yacs.config import CfgNode

    from vibe.data.mocap.types import MocapSequence

log = logging.getLogger(__name__)

NUM_JOINTS = len(SMPL24)
BODY_POSE_DIM = (NUM_JOINTS - 1) * 3
MM_PER_M = 1000.0
_SIDES = ("left", "right")


def _both_sides(part: str, body_point: str) -> dict[str, str]:
    return {f"{side}_{part}": body_point.format(side=side) for side in _SIDES}


# Mocap point name -> body point (smpl54 name). The shared vocabulary first ("left_clavicle" is
# MPI-INF-3DHP's collar joint, "left_foot" the ball of the foot, "left_toe" the toe tip), then the
# native points of the CMU skeletons (vibe.data.mocap: conventions cmu_asf31, cmu_expmap28,
# cmu_bvh25), each on the SMPL point at the end of the segment that carries it (the end of CMU's
# lowerback bone moves with SMPL's spine1 segment, whose end is smpl_spine2). All points weigh the
# same: with the offsets learned, a quarter weight on the spine, neck, head and collar points left
# them 13-35 mm off on CMU takes 02_01 and salsa 01, full weight 1-8 mm, the limbs unchanged.
RETARGET_POINTS: dict[str, str] = {
    **{name: name for name in SMPL24},  # the body's own joints
    "pelvis": "smpl_pelvis", "spine": "smpl_spine2", "thorax": "smpl_spine3", "neck": "smpl_neck",
    "head": "smpl_head", "head_top": "head_top",
    **_both_sides("eye", "{side}_eye"), **_both_sides("hip", "smpl_{side}_hip"),
    **_both_sides("knee", "smpl_{side}_knee"), **_both_sides("ankle", "smpl_{side}_ankle"),
    **_both_sides("foot", "smpl_{side}_foot"), **_both_sides("toe", "{side}_big_toe"),
    **_both_sides("heel", "{side}_heel"), **_both_sides("collar", "smpl_{side}_collar"),
    **_both_sides("clavicle", "smpl_{side}_collar"), **_both_sides("shoulder", "smpl_{side}_shoulder"),
    **_both_sides("elbow", "smpl_{side}_elbow"), **_both_sides("wrist", "smpl_{side}_wrist"),
    **_both_sides("hand", "smpl_{side}_hand"),
    # CMU ASF and expmap. Their neck has two bones to SMPL's one: the point between them
    # (cmu_lowerneck_end) is left out, no rigid segment can follow it (12-30 mm off).
    "cmu_root": "smpl_pelvis", "cmu_lowerback_end": "smpl_spine2", "cmu_upperback_end": "smpl_spine3",
    "cmu_thorax_end": "smpl_neck", "cmu_upperneck_end": "smpl_head", "cmu_head_end": "head",
    "cmu_lhand_end": "smpl_left_hand", "cmu_rhand_end": "smpl_right_hand",
    # CMU BVH: a two-joint spine; the buttock joints sit between the root and the hip joints.
    "cmu_bvh_abdomen": "smpl_spine1", "cmu_bvh_chest": "smpl_spine3", "cmu_bvh_neck": "smpl_neck",
    "cmu_bvh_head": "smpl_head", "cmu_bvh_lcollar": "smpl_left_collar", "cmu_bvh_rcollar": "smpl_right_collar",
    "cmu_bvh_lbuttock": "smpl_left_hip", "cmu_bvh_rbuttock": "smpl_right_hip",
}

# Conventions whose points of a shared name sit elsewhere: the expmap set's skeleton has a
# zero-length thorax bone (vibe.data.mocap.expmap), so its neck hangs 11.7 cm lower on the trunk
# than the ASF's: its neck top is where SMPL's neck joint is (18 cm above the upper back's end), its
# head end where SMPL's head joint is. Mapped as in the ASF, the neck's point sat on SMPL's neck
# joint and the neck turned at random (up to 170 degrees between frames).
CONVENTION_POINTS: dict[str, dict[str, str]] = {
    "cmu_expmap28": {"cmu_upperneck_end": "smpl_neck", "cmu_head_end": "smpl_head"},
}


def retarget_points(convention: str) -> dict[str, str]:
    """Mocap point name -> body point for a convention: RETARGET_POINTS with its CONVENTION_POINTS."""
    return RETARGET_POINTS | CONVENTION_POINTS.get(convention, {})


# The limb bones (parent, child) whose lengths the scale check compares, in either vocabulary.
SCALE_BONES = tuple((f"{prefix}{side}_{upper}", f"{prefix}{side}_{lower}") for prefix in ("", "smpl_")
                    for side in _SIDES for upper, lower in (("hip", "knee"), ("knee", "ankle"),
                                                            ("shoulder", "elbow"), ("elbow", "wrist")))

# Joints whose rotation barely changes between a standing rest pose and most motion frames: the
# points they carry (pelvis, hips, spine, neck, collars, shoulders) align each frame's root when
# the pelvis's own points do not span a plane.
TORSO_JOINTS = tuple(joint_index("smpl24", f"smpl_{name}") for name in (
    "pelvis", "spine1", "spine2", "spine3", "left_collar", "right_collar"))
_MIN_ALIGN_POINTS = 3  # a rigid alignment needs three points not on one line
# ... nor nearly on one line: the points' second principal spread over their first, below which
# their plane is unsure (CMU's BVH root sits 2.8 cm below the line of the hip joints: 0.15).
_MIN_SPREAD_RATIO = 0.3
# The hinges: the local axis each knee and elbow flexes about (vibe.fitting.priors.JOINT_LIMITS:
# the shank swings back, the forearm forward). Their bend sets the twist of the bone above them.
HINGE_AXES = {"smpl_left_knee": (1.0, 0.0, 0.0), "smpl_right_knee": (1.0, 0.0, 0.0),
              "smpl_left_elbow": (0.0, -1.0, 0.0), "smpl_right_elbow": (0.0, 1.0, 0.0)}
# A bend below 15 degrees says nothing about its plane (hyperextension up to 5, noise); from 30 on
# the plane is trusted fully; in between its weight grows linearly (sines of the angles).
_HINGE_SIN_RANGE = (0.26, 0.5)
# Weight of keeping a segment's orientation relative to its parent, against 1 for a point: small,
# so it only chooses among rotations that fit the points equally (the twist about a bone).
_REST_TWIST_WEIGHT = 0.01
_LENGTH_FLOOR = 1e-9  # below this (m, or a ratio), a length is zero: no direction, no spread
SMOOTH_REFERENCE_FPS = 30.0  # the frame rate RetargetSettings.smooth_w is given at


@dataclass(frozen=True)
class RetargetSettings:
    """The numbers of a retarget: the config's MOCAP.RETARGET_<NAME> keys (their meaning is
    documented there), e.g. `RetargetSettings.from_cfg(cfg)`."""

    shape_frames: int
    shape_iters: int
    pose_iters: int
    data_sigma_m: float
    shape_w: float
    offset_w: float
    joint_limit_w: float
    twist_w: float
    pose_w: float
    smooth_w: float
    max_scale_ratio: float
    lbfgs_history: int
    tolerance_change: float

    @classmethod
    def from_cfg(cls, cfg: CfgNode | None = None) -> "RetargetSettings":
        """The settings in `cfg.MOCAP` (default: the config's defaults)."""
        if cfg is None:
            from vibe.config import get_cfg_defaults

            cfg = get_cfg_defaults()
        return cls(**{f.name: cfg.MOCAP[f"RETARGET_{f.name.upper()}"] for f in fields(cls)})


@dataclass
class RetargetResult:
    """A retargeted sequence in the capture's world (see the module docstring: y up, nothing
    re-oriented; the pelvis at J0(betas) + transl).

    pose (T, 72) float32 axis-angle, global orientation first (SMPL order); betas (10,) float32;
    transl (T, 3) float32 m. points: mocap name -> body point (smpl54 name) for each name used;
    offsets: mocap name -> (3,) float32 learned offset, m, in the rest frame of the body segment
    carrying the point (zero for SMPL's own joints). joint_error_mm: mocap name -> mean over
    frames of the distance between the mocap point and the fitted body point (offset included),
    mm; mean_error_mm: their mean; frame_error_mm (T,) float32: per frame, the mean over the
    points (a capture glitch, e.g. a marker swapped for one frame, stands out). scale_ratio: the
    mocap's limb bones over the zero-shape body's (nan without a limb bone). seconds: fit time.
    """

    name: str
    subject: str
    fps: float
    pose: np.ndarray
    betas: np.ndarray
    transl: np.ndarray
    points: dict[str, str]
    offsets: dict[str, np.ndarray]
    joint_error_mm: dict[str, float]
    mean_error_mm: float
    frame_error_mm: np.ndarray
    scale_ratio: float
    seconds: float


@dataclass
class _Problem:
    """A sequence's used points, K of them: names, body_points (smpl54 names), the frame rate; as
    tensors target (T, K, 3) m; carriers (K,) the SMPL joint whose segment each point is rigid to;
    sources (K,) where its rest position is in the stack [24 SMPL joints, 49 spin49 points];
    learn_offset (K, 1) 1.0 or 0.0; hinges: {SMPL joint above a knee or elbow: (index of the
    hinge's point, index of a point below it, hinge axis (3,))}; align (K,) bool: the points that
    align each frame's root."""

    names: list[str]
    body_points: list[str]
    fps: float
    target: torch.Tensor
    carriers: torch.Tensor
    sources: torch.Tensor
    learn_offset: torch.Tensor
    hinges: dict[int, tuple[int, int, torch.Tensor]]
    align: torch.Tensor
    needs_surface: bool

    @property
    def num_frames(self) -> int:
        return self.target.shape[0]


class Retargeter:
    """Retargets mocap sequences onto one body model (BodyModel: the open body or SMPL)."""

    def __init__(self, body: BodyModel, settings: RetargetSettings | None = None,
                 device: torch.device | str = "cpu"):
        self.body = body
        self.settings = settings or RetargetSettings.from_cfg()
        self.device = torch.device(device)
        self.joints_model = JointsOnlyBody(body).to(self.device)
        self.joint_limits = JointLimitPrior().to(self.device)
        self.parents = body.smpl.parents.tolist()
        self.surface_carriers = _surface_carriers(body)

    def fit(self, sequence: MocapSequence) -> RetargetResult:
        """Retarget one sequence (all its frames in one batch)."""
        start = time.perf_counter()
        s = self.settings
        problem = self._problem(sequence)
        scale_ratio = self._scale_check(problem, sequence)
        subset = np.unique(np.linspace(0, problem.num_frames - 1, s.shape_frames).round().astype(int))
        sample = replace(problem, target=problem.target[torch.as_tensor(subset, device=self.device)])
        betas = torch.zeros(1, self.body.num_betas, device=self.device)
        shape_vars = self._start(sample, betas, torch.zeros_like(problem.target[0]))
        self._run(shape_vars, sample, ("betas", "offsets", "delta", "body_pose", "transl"), s.shape_iters, smooth=False)
        pose_vars = self._start(problem, shape_vars["betas"], shape_vars["offsets"])
        self._run(pose_vars, problem, ("delta", "body_pose", "transl"), s.pose_iters, smooth=True)
        result = self._result(sequence, problem, pose_vars, scale_ratio, time.perf_counter() - start)
        log.info("retargeted %s (%d frames, %d points) in %.1f s: mean error %.1f mm", sequence.name,
                 problem.num_frames, len(problem.names), result.seconds, result.mean_error_mm)
        return result

    # ------------------------------------------------------------------ setup

    def _problem(self, sequence: MocapSequence) -> _Problem:
        convention_names = joint_names(sequence.convention)
        positions = np.asarray(sequence.positions)
        if positions.ndim != 3 or positions.shape[1:] != (len(convention_names), 3):
            raise InputError(f"mocap sequence {sequence.name}: positions of shape {positions.shape} do not match "
                             f"convention {sequence.convention!r}; expected (T, {len(convention_names)}, 3)")
        if not np.all(np.isfinite(positions)):
            raise InputError(f"mocap sequence {sequence.name}: {int((~np.isfinite(positions)).sum())} coordinates "
                             f"are not finite; fill or drop those frames before retargeting")
        table = retarget_points(sequence.convention)
        names = [name for name in convention_names if name in table]
        body_points = [table[name] for name in names]
        carriers = [self._carrier(point) for point in body_points]
        target = positions[:, [joint_index(sequence.convention, name) for name in names]]
        return _Problem(
            names=names, body_points=body_points, fps=float(sequence.fps), target=self._tensor(target),
            carriers=torch.as_tensor(carriers, device=self.device),
            sources=torch.as_tensor([_source(point) for point in body_points], device=self.device),
            learn_offset=self._tensor([[float(name not in SMPL24)] for name in names]),
            hinges=self._hinges(body_points, carriers), align=self._alignment_points(target, carriers, sequence),
            needs_surface=any(_source(point) >= NUM_JOINTS for point in body_points))

    def _tensor(self, array) -> torch.Tensor:
        # Contiguous: L-BFGS flattens gradients with view().
        return torch.as_tensor(np.ascontiguousarray(array, dtype=np.float32), device=self.device)

    def _carrier(self, body_point: str) -> int:
        """The SMPL joint whose segment carries the point: a joint's parent (the segment ending
        at it; the root itself), a surface point's dominant skinning joint."""
        if body_point in SMPL24:
            return max(self.parents[joint_index("smpl24", body_point)], 0)
        return self.surface_carriers[body_point]

    def _hinges(self, body_points: list[str], carriers: list[int]) -> dict[int, tuple[int, int, torch.Tensor]]:
        """The hinges whose bend the points show: the hinge joint's point and one it carries."""
        hinges = {}
        for name, axis in HINGE_AXES.items():
            joint = joint_index("smpl24", name)
            below = [k for k, carrier in enumerate(carriers) if carrier == joint]
            if name in body_points and below:
                hinges[self.parents[joint]] = (body_points.index(name), below[0], self._tensor(axis))
        return hinges

    def _alignment_points(self, target: np.ndarray, carriers: list[int], sequence: MocapSequence) -> torch.Tensor:
        """(K,) bool: the points that align each frame's root, target (T, K, 3): those the pelvis
        carries when they span a plane, else all the torso's (their pose varies more)."""
        for joints in ((0,), TORSO_JOINTS):
            chosen = np.isin(carriers, joints)
            if chosen.sum() >= _MIN_ALIGN_POINTS and _flatness(target[:, chosen]) >= _MIN_SPREAD_RATIO:
                return torch.as_tensor(chosen, device=self.device)
        usable = sorted(n for n, point in RETARGET_POINTS.items() if self._carrier(point) in TORSO_JOINTS)
        raise InputError(f"mocap sequence {sequence.name}: the torso points of convention {sequence.convention!r} "
                         f"do not span a plane; retargeting needs {_MIN_ALIGN_POINTS} of {', '.join(usable)}")

    def _scale_check(self, problem: _Problem, sequence: MocapSequence) -> float:
        """The mocap's limb bones (SCALE_BONES, median over frames) over the zero-shape body's;
        InputError when the ratio says the positions are not in metres."""
        bones = [(problem.names.index(a), problem.names.index(b)) for a, b in SCALE_BONES
                 if a in problem.names and b in problem.names]
        if not bones:
            log.warning("%s: no limb bone among its points, no scale check", sequence.name)
            return float("nan")
        parent, child = torch.as_tensor(bones, device=self.device).T
        mocap = (problem.target[:, child] - problem.target[:, parent]).norm(dim=-1).median(dim=0).values
        with torch.no_grad():
            rest = self._rest_body(torch.zeros(1, self.body.num_betas, device=self.device),
                                   torch.zeros_like(problem.target[0]), problem)[1]
        ratio = float(mocap.sum() / (rest[child] - rest[parent]).norm(dim=-1).sum())
        limit = self.settings.max_scale_ratio
        if not 1.0 / limit <= ratio <= limit:
            raise InputError(f"mocap sequence {sequence.name}: its limbs are {ratio:.3g} times the body's, so its "
                             f"positions are not in metres (check the reader's length unit)")
        log.debug("%s: limbs %.3f x the zero-shape body's", sequence.name, ratio)
        return ratio

    # ------------------------------------------------------------------ body

    def _rest_body(self, betas: torch.Tensor, offsets: torch.Tensor, problem: _Problem
                   ) -> tuple[torch.Tensor, torch.Tensor]:
        """betas (1, 10), offsets (K, 3) -> the rest pose's SMPL joints (24, 3) and the used points
        on the rest body, offsets included (K, 3)."""
        jm = self.joints_model
        rest_joints = jm.joint_template + torch.einsum("bl,jcl->bjc", betas, jm.joint_shapedirs)
        stack = rest_joints
        if problem.needs_surface:
            identity = torch.eye(3, device=self.device).expand(1, NUM_JOINTS, 3, 3)
            stack = torch.cat([rest_joints, jm(identity, betas)], dim=1)
        return rest_joints[0], stack[0, problem.sources] + offsets * problem.learn_offset

    def _posed_points(self, variables: dict, problem: _Problem) -> tuple[torch.Tensor, torch.Tensor]:
        """The local rotations (T, 24, 3, 3) and the used points (T, K, 3) of the posed body, each
        point moved rigidly with its carrier joint, translation included."""
        rotmats = self._rotmats(variables)
        rest_joints, rest_points = self._rest_body(variables["betas"], variables["offsets"], problem)
        transforms = world_transforms(rotmats, rest_joints.expand(len(rotmats), -1, -1), self.joints_model.tree)
        local = rest_points - rest_joints[problem.carriers]  # (K, 3) from the carrier joint
        carried = transforms[:, problem.carriers]
        points = (carried[..., :3, :3] @ local[..., None]).squeeze(-1) + carried[..., :3, 3]
        return rotmats, points + variables["transl"][:, None]

    @staticmethod
    def _rotmats(variables: dict) -> torch.Tensor:
        """(T, 24, 3, 3): the root R(delta) @ root, then the body pose."""
        root = axis_angle_to_rotmat(variables["delta"]) @ variables["root"]
        body = axis_angle_to_rotmat(variables["body_pose"].reshape(-1, NUM_JOINTS - 1, 3))
        return torch.cat([root[:, None], body], dim=1)

    # ------------------------------------------------------------------ start

    def _start(self, problem: _Problem, betas: torch.Tensor, offsets: torch.Tensor) -> dict[str, torch.Tensor]:
        """The variables of a stage: the given shape; per frame the aligned root (a fixed
        rotation `root`, the optimiser's axis-angle `delta` applied after it) and the pose from
        inverse kinematics."""
        root, transl = self._align_roots(problem, betas, offsets)
        variables = {"betas": betas, "offsets": offsets, "root": root, "delta": torch.zeros_like(transl),
                     "transl": transl}
        variables["body_pose"] = self._inverse_kinematics(problem, variables)
        return variables

    def _align_roots(self, problem: _Problem, betas: torch.Tensor, offsets: torch.Tensor
                     ) -> tuple[torch.Tensor, torch.Tensor]:
        """Per frame, the rigid motion taking the rest body's alignment points onto the mocap's:
        root rotations (T, 3, 3) and translations (T, 3) (the body posed about J0)."""
        with torch.no_grad():
            rest_joints, rest_points = self._rest_body(betas, offsets, problem)
            rest = rest_points[problem.align]
            target = problem.target[:, problem.align]
            _, _, rotation, _ = similarity_procrustes(rest.expand_as(target), target)
            pelvis = rest_joints[0]
            # target ~ R (rest - J0) + J0 + transl, at the centroids
            transl = target.mean(1) - (rotation @ (rest.mean(0) - pelvis)[:, None]).squeeze(-1) - pelvis
        return rotation, transl

    def _inverse_kinematics(self, problem: _Problem, variables: dict) -> torch.Tensor:
        """A start pose (T, 69), unwrapped along time: each segment, root to leaves, turned so that
        its aim points (_aim_points) lie from its joint where the mocap's do (a weighted rotation
        fit of the directions); the segment above a bent knee or elbow also so that the bend lies
        in the hinge's plane; and otherwise as its parent (no twist)."""
        with torch.no_grad():
            rest_joints, rest_points = self._rest_body(variables["betas"], variables["offsets"], problem)
            target = problem.target - variables["transl"][:, None]  # the body posed about J0
            world = [axis_angle_to_rotmat(variables["delta"]) @ variables["root"]]
            origins = [rest_joints[0].expand(problem.num_frames, 3)]
            aims = self._aim_points(problem)
            for joint in range(1, NUM_JOINTS):  # SMPL lists every parent before its children
                parent = self.parents[joint]
                origins.append(origins[parent] + world[parent] @ (rest_joints[joint] - rest_joints[parent]))
                aim = torch.as_tensor(aims[joint], dtype=torch.long, device=self.device)
                directions = (rest_points[aim] - rest_joints[joint], target[:, aim] - origins[joint][:, None])
                world.append(self._segment_rotation(joint, world[parent], directions, problem, target, origins[joint]))
            world = torch.stack(world, dim=1)
            local = rotmat_to_axis_angle(world[:, self.parents[1:]].transpose(-1, -2) @ world[:, 1:])
        # Shoulders reach half a turn (arms overhead): unwrapped, a joint crossing it stays continuous.
        unwrapped = [unwrap_axis_angle(track) for track in local.transpose(0, 1).cpu().numpy()]
        return self._tensor(np.stack(unwrapped, axis=1).reshape(problem.num_frames, BODY_POSE_DIM))

    def _aim_points(self, problem: _Problem) -> list[list[int]]:
        """Per SMPL joint, the points that turn its segment in inverse kinematics: those it
        carries, else those of the nearest segments below it that carry any (a spine joint
        without a point of its own still turns towards the neck and shoulders)."""
        carried = [(problem.carriers == joint).nonzero()[:, 0].tolist() for joint in range(NUM_JOINTS)]
        aims = [[] for _ in range(NUM_JOINTS)]
        for joint in reversed(range(NUM_JOINTS)):  # children before parents
            children = [child for child in range(NUM_JOINTS) if self.parents[child] == joint]
            aims[joint] = carried[joint] or [k for child in children for k in aims[child]]
        return aims

    def _segment_rotation(self, joint: int, parent_world: torch.Tensor, directions: tuple[torch.Tensor, torch.Tensor],
                          problem: _Problem, target: torch.Tensor, origin: torch.Tensor) -> torch.Tensor:
        """(T, 3, 3) world rotation of a segment: the rotation best taking the directions of its
        aim points on the rest body (C, 3) to the mocap's (T, C, 3), each weighing how well their
        lengths agree, plus the plane normal of a hinge below it and its parent's axes (weight
        _REST_TWIST_WEIGHT)."""
        rest, seen = directions
        frames = len(seen)
        sources = [F.normalize(rest, dim=-1).expand(frames, -1, -1),
                   torch.eye(3, device=self.device).expand(frames, 3, 3)]
        targets = [F.normalize(seen, dim=-1), parent_world.transpose(-1, -2)]  # rows: the parent's axes
        # A point much nearer to the joint (or farther) than on the body gives no direction: where the
        # skeletons' proportions differ, the body's joint may sit on the mocap's point.
        rest_length, seen_length = rest.norm(dim=-1), seen.norm(dim=-1)
        agreement = (torch.minimum(rest_length, seen_length)
                     / torch.maximum(rest_length, seen_length).clamp_min(_LENGTH_FLOOR))
        masses = [agreement, torch.full((frames, 3), _REST_TWIST_WEIGHT, device=self.device)]
        if joint in problem.hinges:
            upper, lower, axis = problem.hinges[joint]
            above, below = target[:, upper] - origin, target[:, lower] - target[:, upper]
            normal = torch.cross(above, below, dim=-1)
            sin = normal.norm(dim=-1) / (above.norm(dim=-1) * below.norm(dim=-1)).clamp_min(_LENGTH_FLOOR)
            low, high = _HINGE_SIN_RANGE
            sources.append(axis.expand(frames, 1, 3))
            targets.append(F.normalize(normal, dim=-1)[:, None])
            masses.append(((sin - low) / (high - low)).clamp(0.0, 1.0)[:, None])
        # A fit of directions d is a fit of the point pairs +-d (centroid zero); sqrt(mass) weighs them.
        root_mass = torch.cat(masses, dim=1).sqrt()[..., None]
        source = torch.cat(sources, dim=1) * root_mass
        destination = torch.cat(targets, dim=1) * root_mass
        _, _, rotation, _ = similarity_procrustes(torch.cat([source, -source], 1),
                                                  torch.cat([destination, -destination], 1))
        return rotation

    # ------------------------------------------------------------------ stages

    def _run(self, variables: dict, problem: _Problem, free: tuple[str, ...], iterations: int, smooth: bool) -> None:
        """L-BFGS on the variables named in `free` (updated in place); with "offsets" free the
        shape terms count, with `smooth` (consecutive frames) the temporal term."""
        s = self.settings
        once_scale = float(problem.num_frames)  # per-subject terms count like per-frame ones
        smooth_w = s.smooth_w * (problem.fps / SMOOTH_REFERENCE_FPS) ** 4  # second differences go as 1 / fps^2

        def loss():
            rotmats, points = self._posed_points(variables, problem)
            total = (((points - problem.target) / s.data_sigma_m).pow(2).sum()
                     + self._pose_prior(variables["body_pose"], rotmats))
            if "offsets" in free:
                total = total + once_scale * (s.shape_w * variables["betas"].pow(2).sum()
                                              + s.offset_w * (variables["offsets"] / s.data_sigma_m).pow(2).sum())
            if smooth:
                total = total + smooth_w * second_difference_loss(rotmats)
            return total

        objective = _minimise([variables[name] for name in free], loss, iterations, s)
        log.debug("%s: objective %.3g per frame over %d frames (%s)", ", ".join(free), objective / problem.num_frames,
                  problem.num_frames, "smoothed" if smooth else "apart")

    def _pose_prior(self, body_pose: torch.Tensor, rotmats: torch.Tensor) -> torch.Tensor:
        """Joint limits, twist and rest-pose terms summed over frames; body_pose (T, 69), rotmats
        (T, 24, 3, 3) the same local rotations. The last two are smooth functions of the rotation
        (2 (1 - cos twist) ~ twist^2, |R - I|^2 = 4 (1 - cos angle) ~ 2 angle^2), not of its
        axis-angle: a joint near half a turn (a shoulder overhead, unwrapped along time) is
        pulled the same way in every frame, whichever side of the turn its vector lies."""
        s = self.settings
        _, twists = self.joint_limits.angles(body_pose)
        eye = torch.eye(3, dtype=rotmats.dtype, device=rotmats.device)
        return (s.joint_limit_w * self.joint_limits(body_pose).sum()
                + s.twist_w * 2.0 * (1.0 - torch.cos(twists)).sum() + s.pose_w * (rotmats[:, 1:] - eye).pow(2).sum())

    # ------------------------------------------------------------------ output

    def _result(self, sequence: MocapSequence, problem: _Problem, variables: dict, scale_ratio: float,
                seconds: float) -> RetargetResult:
        with torch.no_grad():
            rotmats, points = self._posed_points(variables, problem)
            distances = (points - problem.target).norm(dim=-1) * MM_PER_M  # (T, K)
            pose = rotmat_to_axis_angle(rotmats).reshape(-1, NUM_JOINTS * 3)
            offsets = (variables["offsets"] * problem.learn_offset).cpu().numpy()
        return RetargetResult(
            name=sequence.name, subject=sequence.subject, fps=float(sequence.fps),
            pose=pose.cpu().numpy().astype(np.float32), betas=variables["betas"][0].cpu().numpy().astype(np.float32),
            transl=variables["transl"].cpu().numpy().astype(np.float32),
            points=dict(zip(problem.names, problem.body_points)), offsets=dict(zip(problem.names, offsets)),
            joint_error_mm={name: float(e) for name, e in zip(problem.names, distances.mean(0).cpu())},
            mean_error_mm=float(distances.mean()), frame_error_mm=distances.mean(1).cpu().numpy(),
            scale_ratio=scale_ratio, seconds=seconds)


def retarget(sequence: MocapSequence, body: BodyModel, settings: RetargetSettings | None = None,
             device: torch.device | str = "cpu") -> RetargetResult:
    """Retarget one sequence onto `body` (for many sequences keep one Retargeter)."""
    return Retargeter(body, settings, device).fit(sequence)


def _source(body_point: str) -> int:
    """Where a body point is in the stack [24 SMPL joints, 49 spin49 points]."""
    if body_point in SMPL24:
        return joint_index("smpl24", body_point)
    slots = {SPIN49_MODEL_SOURCES[name]: k for k, name in enumerate(SPIN49)}
    return NUM_JOINTS + slots[body_point]


def _surface_carriers(body: BodyModel) -> dict[str, int]:
    """Surface point (smpl54 name) -> the SMPL joint with most of its skinning weight."""
    weights = JointsOnlyBody._surface_point_weights(body) @ body.smpl.lbs_weights.double()  # (30, 24)
    return dict(zip(joint_names("smpl54")[NUM_JOINTS:], weights.argmax(1).tolist()))


def _flatness(points: np.ndarray) -> float:
    """(T, P, 3) -> the median over frames of the points' second singular value over their first
    (centred): 0 on a line."""
    singular = np.linalg.svd(points - points.mean(1, keepdims=True), compute_uv=False)
    return float(np.median(singular[:, 1] / np.maximum(singular[:, 0], _LENGTH_FLOOR)))


def _minimise(params: list[torch.Tensor], loss_fn, iterations: int, settings: RetargetSettings) -> float:
    """L-BFGS (strong Wolfe line search) for up to `iterations` iterations; the final loss."""
    for p in params:
        p.requires_grad_(True)
    optimizer = torch.optim.LBFGS(params, max_iter=iterations, history_size=settings.lbfgs_history,
                                  tolerance_change=settings.tolerance_change, line_search_fn="strong_wolfe")

    def closure():
        optimizer.zero_grad()
        loss = loss_fn()
        loss.backward()
        return loss

    optimizer.step(closure)
    for p in params:
        p.requires_grad_(False)
    with torch.no_grad():
        return float(loss_fn())
