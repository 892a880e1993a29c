"""Temporal SMPLify: fit the body model to a track's 2D keypoints, all frames at once.

Unknowns per track: one shape (betas), and per frame the body pose (69-d axis-angle), the global
orientation and the camera-space translation. The global orientation is parametrised as a
rotation `orient` (axis-angle, camera frame) applied after the fixed flip R_x(pi) that turns
SMPL's y-up, +z-facing rest body into an upright person facing an OpenCV camera: `orient` is
near zero for a person facing the camera, (0, pi, 0) for one facing away, and a person who turns
round moves it continuously (an unwrapped sequence may exceed pi), so its second differences are
a meaningful smoothness term.

Stages: (1) camera: orientation and translation on the torso and face joints, each frame alone;
frames whose shoulders are close in 2D are fitted facing both ways and keep the better one;
(2..) body: everything, with the prior weights annealed from strong to weak (SMPLify-X) and
temporal smoothness on 3D joints and pose throughout; the first body stages also run from a few
other start poses (cfg.FITTING.EXTRA_STARTS, up to cfg.FITTING.START_JUDGE_STAGE), each frame
keeping the start that reprojects best. After the stages in cfg.FITTING.FLIP_AFTER_STAGES a
discrete search flips limbs in depth about the camera rays (vibe.fitting.flips) where the
objective prefers it, chosen consistently along the track.
L-BFGS (strong Wolfe line search) over all frames of the track in one batch, on the joints-only
body forward; optionally temporally preconditioned (vibe.fitting.precondition: off by default,
on in configs/precise_keypoints.yaml). Besides the pose prior, every body stage keeps the pose
inside anatomical joint limits (vibe.fitting.priors.JointLimitPrior, not annealed); they replace
SPIN's angle prior, which pushed straight knees and elbows to bend (cfg.FITTING.ANGLE_PRIOR_W, 0
by default).
"""
from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass, field

import numpy as np
import torch

from vibe.body import BodyModel
from vibe.errors import InputError
from vibe.fitting.camera import (
    TORSO_JOINTS, default_focal_length, facing_from_shoulders, init_translation, translation_to_orig_cam,
)
from vibe.fitting.flips import (
    FLIP_STATES, LIMBS, acceleration_costs, flip_limb, forward_kinematics, keep_gaining_runs, viterbi,
)
from vibe.fitting.joints_only import JointsOnlyBody
from vibe.fitting.losses import (
    angle_prior, reprojection_loss, second_difference_loss, shape_prior,
)
from vibe.fitting.precondition import TemporalPreconditioner
from vibe.fitting.priors import OWN_PRIOR_MEAN, JointLimitPrior, per_joint_vector
from vibe.geometry import axis_angle_to_rotmat, orig_cam_to_crop_cam, perspective_project, rotmat_to_axis_angle
from vibe.io.results import TrackResult
from vibe.keypoints.conventions import SPIN49, joint_index

log = logging.getLogger(__name__)

NUM_JOINTS = len(SPIN49)
POSE_DIM = 72
BODY_POSE_DIM = 69
FACE_JOINTS = tuple(joint_index("spin49", name) for name in (
    "op_nose", "op_left_eye", "op_right_eye", "op_left_ear", "op_right_ear",
    "nose", "left_eye", "right_eye", "left_ear", "right_ear",
))
CAMERA_STAGE_JOINTS = TORSO_JOINTS + FACE_JOINTS
PER_FRAME_VARIABLES = ("orient", "body_pose", "transl")  # betas: one per track
START_JUDGES = ("reprojection", "objective")  # cfg.FITTING.START_JUDGE
TURN_AROUND = (0.0, math.pi, 0.0)  # orient of a person facing away (half a turn about the vertical)
_MAX_FRAMES_LISTED = 5  # frames named in an error message
_UNWRAP_MIN_ANGLE = 1e-6  # rad; below this a rotation has no usable axis to unwrap along
# Extra starting body poses for the first body stages ({SMPL joint: axis-angle}, see
# cfg.FITTING.EXTRA_STARTS): the rest pose (arms horizontal); a deep squat (hips flexed 1.4 rad,
# knees 2.1 rad, ankles 0.4 rad, arms lowered as in the own prior's mean); and both with the
# elbows bent 1.2 rad, forearms forward ("reach", "squat_reach"). From straight elbows a forearm
# foreshortened in the image can bend towards the camera or away from it; once bent away, it comes
# forward only by twisting the upper arm through its range, which no term of the objective leads
# towards. The bent starts begin on the more common side; each frame keeps whichever start fits.
_SQUAT = {1: (-1.4, 0.0, 0.0), 2: (-1.4, 0.0, 0.0), 4: (2.1, 0.0, 0.0), 5: (2.1, 0.0, 0.0), 7: (-0.4, 0.0, 0.0),
          8: (-0.4, 0.0, 0.0)}
_ELBOWS_BENT = {18: (0.0, -1.2, 0.0), 19: (0.0, 1.2, 0.0)}  # flexion: the forearm swings to +z (forward)
START_POSES = {
    "rest": per_joint_vector({}, 0.0),
    "squat": per_joint_vector({**_SQUAT, **{j: OWN_PRIOR_MEAN[j] for j in (16, 17)}}, 0.0),
    "reach": per_joint_vector(_ELBOWS_BENT, 0.0),
    "squat_reach": per_joint_vector({**_SQUAT, **_ELBOWS_BENT}, 0.0),
}


@dataclass
class FitInit:
    """Optional starting point, e.g. from the network path. pose (T, 72) axis-angle in the
    camera frame (as VIBE outputs it); betas (10,) or (T, 10) (averaged); transl (T, 3) m."""

    pose: np.ndarray | None = None
    betas: np.ndarray | None = None
    transl: np.ndarray | None = None


@dataclass
class FitDiagnostics:
    """How a fit went. loss_terms: final unweighted terms per frame (data in virtual px^2);
    iterations: L-BFGS iterations over all stages; evaluations: loss evaluations."""

    loss_terms: dict[str, float]
    iterations: int
    evaluations: int
    seconds: float
    num_frames: int
    back_facing_frames: int
    stage_losses: list[float] = field(default_factory=list)


@dataclass
class _Problem:
    """A track as tensors. keypoints (T, 49, 3) px (confidence zeroed below the threshold);
    px_scale (T,) virtual px per image px; centre (2,) principal point px."""

    keypoints: torch.Tensor
    px_scale: torch.Tensor
    focal: float
    centre: torch.Tensor

    @property
    def num_frames(self) -> int:
        return self.keypoints.shape[0]


class TemporalSMPLify:
    """Fits one track at a time; cfg is the full config (vibe.config), pose_prior a module from
    vibe.fitting.priors.load_pose_prior. smooth=False drops the temporal terms (for comparison)."""

    def __init__(self, body: BodyModel, cfg, pose_prior: torch.nn.Module, device: torch.device | str = "cpu",
                 smooth: bool = True):
        self.body = body
        self.cfg = cfg
        self.fit_cfg = cfg.FITTING
        self.focal_diag_factor = float(cfg.CAMERA.FOCAL_DIAG_FACTOR)
        self.device = torch.device(device)
        self.joints_model = JointsOnlyBody(body).to(self.device)
        self.pose_prior = pose_prior.to(self.device)
        self.joint_limits = JointLimitPrior().to(self.device)
        self.smooth = smooth
        self.flip_limbs = [limb for limb in LIMBS if limb.name in self.fit_cfg.FLIP_LIMBS]
        flip = torch.tensor([[1.0, 0.0, 0.0], [0.0, -1.0, 0.0], [0.0, 0.0, -1.0]])  # R_x(pi)
        self.base_rotation = flip.to(self.device)
        self._evaluations = 0
        self._iterations = 0
        _check_schedule(self.fit_cfg)

    # ------------------------------------------------------------------ public

    def fit(self, keypoints: np.ndarray, image_size: tuple[int, int], focal_length: float | None = None,
            init: FitInit | None = None, frame_ids: np.ndarray | None = None, track_id=0
            ) -> tuple[TrackResult, FitDiagnostics]:
        """Fit a track. keypoints (T, 49, 3) spin49 (x px, y px, confidence; 0 = missing);
        image_size (W, H) px; focal_length px (None: cfg.CAMERA.FOCAL_DIAG_FACTOR x diagonal)."""
        start = time.perf_counter()
        self._evaluations = self._iterations = 0
        keypoints = check_keypoints(keypoints, track_id)
        init = init or FitInit()
        check_init(init, len(keypoints), track_id)
        width, height = _check_image_size(image_size, track_id)
        focal = focal_length or default_focal_length(width, height, self.focal_diag_factor)
        variables, problem, back, guessed_pose = self._initialise(keypoints, (width, height), focal, init, track_id)
        stage_losses = self._run_stages(variables, problem, try_starts=guessed_pose)
        terms = {name: float(value) / problem.num_frames
                 for name, value in self._terms(variables, problem).items()}
        result = self._result(variables, problem, keypoints, (width, height), frame_ids)
        diagnostics = FitDiagnostics(loss_terms=terms, iterations=self._iterations, evaluations=self._evaluations,
                                     seconds=time.perf_counter() - start, num_frames=problem.num_frames,
                                     back_facing_frames=int(back.sum()), stage_losses=stage_losses)
        log.info("track %s: fitted %d frames in %.2f s (%d L-BFGS iterations)", track_id,
                 problem.num_frames, diagnostics.seconds, diagnostics.iterations)
        return result, diagnostics

    # ------------------------------------------------------------------ setup

    def _tensor(self, array) -> torch.Tensor:
        # Contiguous: L-BFGS flattens gradients with view(), which fails on e.g. Fortran-ordered inputs.
        return torch.as_tensor(np.ascontiguousarray(array, dtype=np.float32), device=self.device)

    def _initialise(self, keypoints, image_size, focal, init: FitInit, track_id):
        fc = self.fit_cfg
        num_frames = len(keypoints)
        used = keypoints.copy()
        used[..., 2] = np.where(used[..., 2] >= fc.MIN_CONFIDENCE, used[..., 2], 0.0)
        centre = np.array(image_size, dtype=np.float64) / 2.0
        betas = np.zeros((1, self.body.num_betas)) if init.betas is None else np.atleast_2d(init.betas).mean(0, keepdims=True)
        if init.pose is None:
            body_pose = np.tile(self.pose_prior.mean_pose.cpu().numpy(), (num_frames, 1))
        else:
            body_pose = init.pose[:, 3:]
        back, ambiguous = facing_from_shoulders(used, fc.MIN_CONFIDENCE, fc.FACING_AMBIGUOUS_RATIO)
        if init.pose is None:
            orient = np.where(back[:, None], np.array(TURN_AROUND), 0.0)
        else:
            orient = self._orient_from_global(self._tensor(init.pose[:, :3])).cpu().numpy()
        rest = self._rest_joints(betas)
        transl = init.transl if init.transl is not None else init_translation(
            used, rest, focal, centre, fc.MIN_CONFIDENCE, fc.DEPTH_SMOOTH_FRAMES, str(track_id))
        px_scale = fc.PX_PER_METRE * transl[:, 2] / focal
        problem = _Problem(self._tensor(used), self._tensor(px_scale), focal, self._tensor(centre))
        variables = {
            "orient": self._tensor(orient), "body_pose": self._tensor(body_pose),
            "betas": self._tensor(betas), "transl": self._tensor(transl),
        }
        if init.pose is None:  # a network estimate already knows the facing: only guess without it
            back = self._camera_stage(variables, problem, ambiguous)
        return variables, problem, back, init.pose is None

    def _rest_joints(self, betas: np.ndarray) -> np.ndarray:
        """(49, 3) joints of the zero-pose body in the camera's orientation, no translation."""
        rotmats = torch.eye(3, device=self.device).repeat(1, 24, 1, 1)
        rotmats[:, 0] = self.base_rotation
        with torch.no_grad():
            return self.joints_model(rotmats, self._tensor(betas))[0].cpu().numpy().astype(np.float64)

    def _rest_smpl_joints(self, betas: torch.Tensor) -> torch.Tensor:
        """(1, num_betas) -> (1, 24, 3) the body's SMPL joints in its rest pose (body frame)."""
        return self.joints_model.joint_template + torch.einsum("bl,jcl->bjc", betas, self.joints_model.joint_shapedirs)

    def _orient_from_global(self, global_orient: torch.Tensor) -> torch.Tensor:
        """(T, 3) global orientation axis-angle -> (T, 3) unwrapped `orient` (R = R(orient) R_x(pi))."""
        relative = axis_angle_to_rotmat(global_orient) @ self.base_rotation.T
        return torch.from_numpy(unwrap_axis_angle(rotmat_to_axis_angle(relative).cpu().numpy())).to(self.device)

    # ------------------------------------------------------------------ model

    def _rotmats(self, orient: torch.Tensor, body_pose: torch.Tensor) -> torch.Tensor:
        """(T, 3), (T, 69) -> (T, 24, 3, 3) with the root R(orient) R_x(pi)."""
        root = axis_angle_to_rotmat(orient) @ self.base_rotation
        body = axis_angle_to_rotmat(body_pose.reshape(-1, BODY_POSE_DIM // 3, 3))
        return torch.cat([root[:, None], body], dim=1)

    def _camera_joints(self, variables: dict) -> torch.Tensor:
        """(T, 49, 3) joints in camera space (translation applied)."""
        joints = self.joints_model(self._rotmats(variables["orient"], variables["body_pose"]), variables["betas"])
        return joints + variables["transl"][:, None, :]

    def _project(self, joints: torch.Tensor, problem: _Problem) -> torch.Tensor:
        zero = torch.zeros(joints.shape[0], 3, device=self.device)
        return perspective_project(joints, zero, problem.focal, problem.centre)

    # ------------------------------------------------------------------ stages

    def _camera_stage(self, variables: dict, problem: _Problem, ambiguous: np.ndarray) -> np.ndarray:
        """Fit orientation + translation per frame on torso and face joints; frames flagged
        ambiguous also try the opposite facing. Updates `variables`; returns back-facing flags."""
        fc = self.fit_cfg
        flips = np.flatnonzero(ambiguous)
        index = torch.as_tensor(np.concatenate([np.arange(problem.num_frames), flips]), device=self.device)
        # Initial orients are 0 or TURN_AROUND (both about the vertical), so adding is composing.
        turned = variables["orient"][flips] + self._tensor(TURN_AROUND)
        cand = {"orient": torch.cat([variables["orient"], turned]), "transl": variables["transl"][index],
                "body_pose": variables["body_pose"][index], "betas": variables["betas"]}
        mask = torch.zeros(NUM_JOINTS, device=self.device)
        mask[list(CAMERA_STAGE_JOINTS)] = 1.0
        keypoints = problem.keypoints[index].clone()
        keypoints[..., 2] *= mask
        cand_problem = _Problem(keypoints, problem.px_scale[index], problem.focal, problem.centre)

        def per_frame_loss():
            projected = self._project(self._camera_joints(cand), cand_problem)
            return reprojection_loss(projected, cand_problem.keypoints, cand_problem.px_scale, fc.ROBUST_SIGMA)

        self._minimise([cand["orient"], cand["transl"]], lambda: per_frame_loss().sum(), fc.CAMERA_ITERS)
        with torch.no_grad():
            losses = per_frame_loss().cpu().numpy()
        num = problem.num_frames
        better_flipped = losses[num:] < losses[flips]
        chosen = np.arange(num)
        chosen[flips[better_flipped]] = num + np.flatnonzero(better_flipped)
        orient = cand["orient"].detach()[chosen].cpu().numpy()
        variables["orient"] = self._tensor(unwrap_axis_angle(orient))
        variables["transl"] = cand["transl"].detach()[chosen].clone()
        return np.abs(_yaw(orient)) > math.pi / 2

    def _run_stages(self, variables: dict, problem: _Problem, try_starts: bool = False) -> list[float]:
        """The body stages. With try_starts, the stages up to cfg.FITTING.START_JUDGE_STAGE also
        run from each of the start poses cfg.FITTING.EXTRA_STARTS (START_POSES), and each frame
        keeps whichever start reprojects best: a limb that the prior's mean pose starts on the
        wrong side of a depth ambiguity (arms raised in front seen from the side, thighs pointing
        at the camera) stays there otherwise. After the stages in cfg.FITTING.FLIP_AFTER_STAGES,
        the depth-flip search (_flip_search) proposes flipped limbs; the first
        cfg.FITTING.FLIP_VERIFY_ITERS iterations of the next stage run from both poses and the
        track keeps whichever ends lower (an unrefined flip's cost is only a guess: kept on it
        alone, flips lost as often as they won)."""
        fc = self.fit_cfg
        stages = list(zip(fc.STAGE_PRIOR_SCALES, fc.STAGE_ITERS))
        stage_losses = []
        flipped = None  # the flip search's hypothesis, verified by the next stage
        for index, (prior_scale, iters) in enumerate(stages):
            if flipped is not None:
                verify_iters = min(iters, fc.FLIP_VERIFY_ITERS)
                loss = self._keep_better_track(variables, flipped, problem, prior_scale, verify_iters)
                iters -= verify_iters
                flipped = None
            if iters > 0:  # L-BFGS with max_iter 0 would not stop at all
                loss = self._run_stage(variables, problem, prior_scale, iters)
            stage_losses.append(loss)
            if index == fc.START_JUDGE_STAGE and try_starts:
                for name, pose in self._extra_starts():
                    start = {key: value.detach().clone() for key, value in variables.items()}
                    start["body_pose"] = pose.to(self.device).expand_as(start["body_pose"]).clone()
                    for earlier_scale, earlier_iters in stages[:index + 1]:
                        self._run_stage(start, problem, earlier_scale, earlier_iters)
                    self._keep_better_frames(variables, start, problem, name, prior_scale)
            if index in fc.FLIP_AFTER_STAGES and self.flip_limbs:
                flipped = self._flip_search(variables, problem, stages[index + 1][0])
        return stage_losses

    def _extra_starts(self) -> list[tuple[str, torch.Tensor]]:
        """(name, (69,) body pose) of each extra start: cfg.FITTING.EXTRA_STARTS, then the
        cfg.FITTING.PRIOR_STARTS most likely component means of the pose prior."""
        named = [(name, START_POSES[name]) for name in self.fit_cfg.EXTRA_STARTS]
        components = self.pose_prior.start_poses(int(self.fit_cfg.PRIOR_STARTS))
        return named + [(f"prior component {k}", pose) for k, pose in enumerate(components)]

    def _run_stage(self, variables: dict, problem: _Problem, prior_scale: float, iters: int) -> float:
        """`iters` L-BFGS iterations on the whole objective; with cfg.FITTING.PRECONDITION_STIFFNESS
        (and smoothing on) the per-frame variables move in the temporally preconditioned
        coordinate of vibe.fitting.precondition. Updates `variables`; returns the final objective."""
        fc = self.fit_cfg
        stiffness = fc.PRECONDITION_STIFFNESS if self.smooth else 0.0
        precondition = TemporalPreconditioner(problem.num_frames, stiffness, fc.PRECONDITION_WINDOW, self.device)
        start = {key: variables[key].detach() for key in PER_FRAME_VARIABLES}
        steps = {key: torch.zeros_like(value) for key, value in start.items()}

        def moved():
            return {**{key: start[key] + precondition.apply(steps[key]) for key in PER_FRAME_VARIABLES},
                    "betas": variables["betas"]}

        def total():
            return self._weighted_total(self._terms(moved(), problem), prior_scale)

        loss = self._minimise([*steps.values(), variables["betas"]], total, iters)
        with torch.no_grad():
            variables.update({key: value.detach() for key, value in moved().items()})
        return loss

    def _keep_better_track(self, variables: dict, other: dict, problem: _Problem, prior_scale: float,
                           iters: int) -> float:
        """Run a stage of `iters` (> 0) iterations from both `variables` and `other`; `variables`
        takes whichever ends with the lower objective (updated in place). Returns that objective."""
        mine = self._run_stage(variables, problem, prior_scale, iters)
        theirs = self._run_stage(other, problem, prior_scale, iters)
        log.debug("flip search: %.1f flipped, %.1f not after %d iterations", theirs, mine, iters)
        if theirs < mine:
            variables.update(other)
        return min(mine, theirs)

    def _keep_better_frames(self, variables: dict, other: dict, problem: _Problem, name: str,
                            prior_scale: float) -> None:
        """Per frame, replace `variables`' orient/body_pose/transl with `other`'s where `other`
        is better by cfg.FITTING.START_JUDGE: reprojects better, or has the lower per-frame
        objective under `prior_scale` (betas: the better track's). Updates `variables` in place."""
        with torch.no_grad():
            if self.fit_cfg.START_JUDGE == "objective":
                mine, theirs = (self._frame_objective(v, problem, prior_scale) for v in (variables, other))
            else:
                mine, theirs = (reprojection_loss(self._project(self._camera_joints(v), problem), problem.keypoints,
                                                  problem.px_scale, self.fit_cfg.ROBUST_SIGMA) for v in (variables, other))
            take = theirs < mine
            for key in ("orient", "body_pose", "transl"):
                variables[key] = torch.where(take[:, None], other[key], variables[key]).detach()
            if theirs.sum() < mine.sum():
                variables["betas"] = other["betas"].detach()
        log.debug("start pose %s kept in %d of %d frames", name, int(take.sum()), problem.num_frames)

    def _flip_search(self, variables: dict, problem: _Problem, prior_scale: float) -> dict | None:
        """Per limb, choose along the track one of the four depth states (vibe.fitting.flips) by
        the per-frame objective (no temporal terms) under `prior_scale`, where the flip puts it,
        plus, along the track, cfg.FITTING.FLIP_SMOOTH_W x the squared second differences of the
        limb's joints (Viterbi). Returns a copy of `variables` with the flipped body pose, or None
        when no limb flips."""
        num = problem.num_frames
        poses = self._flip_candidates(variables)  # (S, T, 69), S = 1 + limbs x 3 flips
        count = len(poses)
        batch = {"orient": variables["orient"].repeat(count, 1), "body_pose": poses.reshape(count * num, -1),
                 "betas": variables["betas"], "transl": variables["transl"].repeat(count, 1)}
        tiled = _Problem(problem.keypoints.repeat(count, 1, 1), problem.px_scale.repeat(count), problem.focal,
                         problem.centre)
        with torch.no_grad():
            costs = self._frame_objective(batch, tiled, prior_scale).reshape(count, num)
            _, positions = forward_kinematics(self._rotmats(batch["orient"], batch["body_pose"]),
                                              self._rest_smpl_joints(variables["betas"]), self.body.smpl.parents)
            positions = positions.reshape(count, num, -1, 3)
        body_pose = variables["body_pose"].clone()
        for index, limb in enumerate(self.flip_limbs):
            states = [0] + [1 + index * (len(FLIP_STATES) - 1) + k for k in range(len(FLIP_STATES) - 1)]
            points = positions[states][:, :, [limb.middle, limb.end]].permute(1, 0, 2, 3).cpu().numpy()
            unary = costs[states].T.cpu().numpy()
            path = viterbi(unary, acceleration_costs(points, self.fit_cfg.FLIP_SMOOTH_W))
            path = keep_gaining_runs(path, unary, self.fit_cfg.FLIP_MIN_GAIN)
            chosen = torch.as_tensor(np.asarray(states)[path], device=self.device)
            body_pose = torch.where(_limb_mask(limb, self.device)[None], poses[chosen, torch.arange(num)], body_pose)
            log.debug("flip search: %s flipped in %d of %d frames", limb.name, int((path > 0).sum()), num)
        if torch.equal(body_pose, variables["body_pose"]):
            return None
        return {**{key: value.detach().clone() for key, value in variables.items()}, "body_pose": body_pose}

    def _flip_candidates(self, variables: dict) -> torch.Tensor:
        """(S, T, 69) body poses: the current one, then per limb of self.flip_limbs its flipped states
        (FLIP_STATES[1:]), each changing only that limb's root and middle joints."""
        with torch.no_grad():
            rotmats = self._rotmats(variables["orient"], variables["body_pose"])
            rest = self._rest_smpl_joints(variables["betas"])
            poses = [variables["body_pose"]]
            for limb in self.flip_limbs:
                for state in FLIP_STATES[1:]:
                    flipped = flip_limb(rotmats, rest, self.body.smpl.parents, variables["transl"], limb, *state)
                    pose = variables["body_pose"].clone()
                    for joint in (limb.root, limb.middle):
                        pose[:, 3 * (joint - 1):3 * joint] = rotmat_to_axis_angle(flipped[:, joint])
                    poses.append(pose)
        return torch.stack(poses)

    def _frame_objective(self, variables: dict, problem: _Problem, prior_scale: float) -> torch.Tensor:
        """(T,) the weighted per-frame terms of the objective (data, pose and angle priors, joint
        limits; no temporal or shape terms), to compare hypotheses frame by frame."""
        fc = self.fit_cfg
        projected = self._project(self._camera_joints(variables), problem)
        body_pose = variables["body_pose"]
        data = reprojection_loss(projected, problem.keypoints, problem.px_scale, fc.ROBUST_SIGMA)
        return fc.DATA_W * data + fc.JOINT_LIMIT_W * self.joint_limits(body_pose) + prior_scale * (
            fc.POSE_PRIOR_W * self.pose_prior(body_pose) + _weighted(fc.ANGLE_PRIOR_W, angle_prior(body_pose)))

    def _terms(self, variables: dict, problem: _Problem) -> dict[str, torch.Tensor]:
        """Unweighted loss terms, each summed over the track's frames."""
        joints = self._camera_joints(variables)
        projected = self._project(joints, problem)
        body_pose = variables["body_pose"]
        pose_sequence = torch.cat([variables["orient"], body_pose], dim=1)
        terms = {
            "data": reprojection_loss(projected, problem.keypoints, problem.px_scale, self.fit_cfg.ROBUST_SIGMA).sum(),
            "pose_prior": self.pose_prior(body_pose).sum(),
            "joint_limits": self.joint_limits(body_pose).sum(),
            "angle_prior": angle_prior(body_pose).sum(),
            "shape_prior": shape_prior(variables["betas"]) * problem.num_frames,
            "smooth_joints": second_difference_loss(joints),
            "smooth_pose": second_difference_loss(pose_sequence),
        }
        return terms

    def _weighted_total(self, terms: dict[str, torch.Tensor], prior_scale: float) -> torch.Tensor:
        fc = self.fit_cfg
        # Joint limits are not annealed: they are zero on every reachable pose, so they never pull a
        # plausible fit and must still hold in the last, data-dominated stage.
        total = fc.DATA_W * terms["data"] + fc.JOINT_LIMIT_W * terms["joint_limits"] + prior_scale * (
            fc.POSE_PRIOR_W * terms["pose_prior"] + _weighted(fc.ANGLE_PRIOR_W, terms["angle_prior"])
            + fc.SHAPE_PRIOR_W * terms["shape_prior"])
        if self.smooth:
            total = total + fc.SMOOTH_JOINTS_W * terms["smooth_joints"] + fc.SMOOTH_POSE_W * terms["smooth_pose"]
        return total

    def _minimise(self, params: list[torch.Tensor], loss_fn, iterations: int) -> float:
        """L-BFGS with a strong Wolfe line search for up to `iterations` iterations; the final loss."""
        fc = self.fit_cfg
        for p in params:
            p.requires_grad_(True)
        optimizer = torch.optim.LBFGS(params, lr=fc.LBFGS_LR, max_iter=iterations, history_size=fc.LBFGS_HISTORY,
                                      tolerance_change=fc.TOLERANCE_CHANGE, line_search_fn="strong_wolfe")

        def closure():
            optimizer.zero_grad()
            loss = loss_fn()
            loss.backward()
            self._evaluations += 1
            return loss

        optimizer.step(closure)
        self._iterations += optimizer.state[optimizer._params[0]].get("n_iter", 0)
        for p in params:
            p.requires_grad_(False)
        with torch.no_grad():
            return float(loss_fn())

    # ------------------------------------------------------------------ output

    def _result(self, variables: dict, problem: _Problem, keypoints: np.ndarray, image_size, frame_ids
                ) -> TrackResult:
        width, height = image_size
        num = problem.num_frames
        with torch.no_grad():
            rotmats = self._rotmats(variables["orient"], variables["body_pose"])
            global_orient = rotmat_to_axis_angle(rotmats[:, 0])
            pose = torch.cat([global_orient, variables["body_pose"]], dim=1)
            verts, joints3d = self._mesh(rotmats, variables["betas"])
            transl = variables["transl"]
            joints2d_img = perspective_project(joints3d, transl, problem.focal, problem.centre)
        transl_np = transl.cpu().numpy().astype(np.float64)
        joints2d_np = joints2d_img.cpu().numpy()
        bboxes = boxes_from_points(joints2d_np)
        orig_cam = translation_to_orig_cam(transl_np, width, height, problem.focal)
        pred_cam = orig_cam_to_crop_cam(orig_cam, bboxes, width, height, self.cfg.CROP.BBOX_SCALE)
        betas = variables["betas"].cpu().numpy().repeat(num, axis=0)
        return TrackResult(
            frame_ids=np.arange(num) if frame_ids is None else np.asarray(frame_ids),
            bboxes=bboxes, pred_cam=pred_cam, orig_cam=orig_cam, pose=pose.cpu().numpy(), betas=betas,
            verts=verts, joints3d=joints3d.cpu().numpy(), joints2d_img_coord=joints2d_np,
            joints2d=keypoints.astype(np.float32), transl=transl_np,
            meta={"method": "fitting", "focal_length": problem.focal, "body_model": self.body.kind},
        )

    def _mesh(self, rotmats: torch.Tensor, betas: torch.Tensor) -> tuple[np.ndarray, torch.Tensor]:
        """Full body forward in batches of cfg.MODEL.BODY_BATCH_SIZE: verts (T, V, 3) numpy, joints (T, 49, 3)."""
        verts, joints = [], []
        for chunk in torch.split(rotmats, self.cfg.MODEL.BODY_BATCH_SIZE):
            out = self.body(chunk[:, :1], chunk[:, 1:], betas.expand(len(chunk), -1), pose2rot=False)
            verts.append(out.verts.cpu().numpy())
            joints.append(out.joints)
        return np.concatenate(verts), torch.cat(joints)


# ---------------------------------------------------------------------- helpers


def _weighted(weight: float, term: torch.Tensor) -> torch.Tensor | float:
    """weight x term, and 0 for a zero weight whatever the term: 0 x an overflowed term (the angle
    prior's exp, once a line search's trial step has sent a joint spinning) would be NaN, and a NaN
    objective sends the line search stepping on to overflow instead of back."""
    return weight * term if weight else 0.0


def _check_schedule(fit_cfg) -> None:
    """InputError for a stage schedule the optimiser cannot run (cfg.FITTING)."""
    if len(fit_cfg.STAGE_PRIOR_SCALES) != len(fit_cfg.STAGE_ITERS):
        raise InputError("FITTING.STAGE_PRIOR_SCALES and FITTING.STAGE_ITERS must have the same length")
    num_stages = len(fit_cfg.STAGE_ITERS)
    if not 0 <= fit_cfg.START_JUDGE_STAGE < max(num_stages, 1):
        raise InputError(f"FITTING.START_JUDGE_STAGE is {fit_cfg.START_JUDGE_STAGE}; it must name one of the "
                         f"{num_stages} body stages (0-based)")
    if fit_cfg.FLIP_VERIFY_ITERS < 1 or min(fit_cfg.STAGE_ITERS, default=1) < 1:
        raise InputError("FITTING.FLIP_VERIFY_ITERS and every FITTING.STAGE_ITERS must be at least 1")
    if any(not 0 <= index < num_stages - 1 for index in fit_cfg.FLIP_AFTER_STAGES):
        raise InputError(f"FITTING.FLIP_AFTER_STAGES is {list(fit_cfg.FLIP_AFTER_STAGES)}; each must name one of "
                         f"the {num_stages} body stages but the last (0-based: a later stage verifies the flips)")
    unknown_limbs = sorted(set(fit_cfg.FLIP_LIMBS) - {limb.name for limb in LIMBS})
    if unknown_limbs:
        known = [limb.name for limb in LIMBS]
        raise InputError(f"FITTING.FLIP_LIMBS has unknown limbs {unknown_limbs}; known: {known}")
    unknown = [name for name in fit_cfg.EXTRA_STARTS if name not in START_POSES]
    if unknown:
        raise InputError(f"FITTING.EXTRA_STARTS has unknown start poses {unknown}; known: {sorted(START_POSES)}")
    if fit_cfg.START_JUDGE not in START_JUDGES:
        raise InputError(f"FITTING.START_JUDGE is {fit_cfg.START_JUDGE!r}; choose one of {', '.join(START_JUDGES)}")
    if fit_cfg.PRIOR_STARTS < 0:
        raise InputError(f"FITTING.PRIOR_STARTS is {fit_cfg.PRIOR_STARTS}; it must be 0 or more")


def _limb_mask(limb, device) -> torch.Tensor:
    """(69,) bool: the body-pose components of a limb's root and middle joints (the ones a flip changes)."""
    mask = torch.zeros(BODY_POSE_DIM, dtype=torch.bool, device=device)
    for joint in (limb.root, limb.middle):
        mask[3 * (joint - 1):3 * joint] = True
    return mask


def check_keypoints(keypoints, track_id) -> np.ndarray:
    """(T, 49, 3) float64 finite keypoints, or an InputError naming the track (and bad frames)."""
    keypoints = np.asarray(keypoints, dtype=np.float64)
    if keypoints.ndim != 3 or keypoints.shape[1:] != (NUM_JOINTS, 3) or len(keypoints) == 0:
        raise InputError(f"track {track_id}: keypoints have shape {keypoints.shape}, expected (T, {NUM_JOINTS}, 3) "
                         f"in spin49 order (x px, y px, confidence) with T >= 1")
    bad = np.flatnonzero(~np.isfinite(keypoints).all(axis=(1, 2)))
    if len(bad):
        shown = ", ".join(map(str, bad[:_MAX_FRAMES_LISTED])) + (", ..." if len(bad) > _MAX_FRAMES_LISTED else "")
        raise InputError(f"track {track_id}: keypoints hold NaN or inf in {len(bad)} frame(s) (index {shown}); "
                         f"mark missing joints with confidence 0 and finite coordinates instead")
    return keypoints


def check_init(init: FitInit, num_frames: int, track_id) -> None:
    expected = {"pose": (num_frames, POSE_DIM), "transl": (num_frames, 3)}
    for name, shape in expected.items():
        value = getattr(init, name)
        if value is not None and (np.shape(value) != shape or not np.all(np.isfinite(value))):
            raise InputError(f"track {track_id}: initial {name} has shape {np.shape(value)} (or non-finite "
                             f"values), expected finite {shape}")
    if init.betas is not None and (np.shape(init.betas)[-1:] != (10,) or not np.all(np.isfinite(init.betas))):
        raise InputError(f"track {track_id}: initial betas have shape {np.shape(init.betas)}, expected (10,) or (T, 10)")


def _check_image_size(image_size, track_id) -> tuple[float, float]:
    try:
        width, height = (float(v) for v in image_size)
    except (TypeError, ValueError):
        raise InputError(f"track {track_id}: image size {image_size!r} must be (width, height)") from None
    if not (width > 0 and height > 0):
        raise InputError(f"track {track_id}: image size {image_size!r} must be positive")
    return width, height


def unwrap_axis_angle(aa: np.ndarray) -> np.ndarray:
    """(T, 3) axis-angle sequence -> the same rotations, each frame's vector replaced by its
    equivalent aa + 2 pi k aa/|aa| (integer k) nearest to the previous frame's, so a turning
    rotation stays continuous instead of jumping at angle pi."""
    out = np.array(aa, dtype=np.float64)
    for t in range(1, len(out)):
        angle = np.linalg.norm(out[t])
        reference = out[t] if angle >= _UNWRAP_MIN_ANGLE else out[t - 1]  # a null rotation takes any axis
        if np.linalg.norm(reference) < _UNWRAP_MIN_ANGLE:
            continue
        axis = reference / np.linalg.norm(reference)
        angle = float(out[t] @ axis)
        nearest_turns = round((float(out[t - 1] @ axis) - angle) / (2.0 * math.pi))
        candidates = [out[t] + 2.0 * math.pi * k * axis for k in range(nearest_turns - 1, nearest_turns + 2)]
        out[t] = min(candidates, key=lambda c: np.linalg.norm(c - out[t - 1]))
    return out


def _yaw(orient: np.ndarray) -> np.ndarray:
    """(T, 3) orient -> (T,) rotation about the camera's vertical axis, in (-pi, pi]."""
    rot = axis_angle_to_rotmat(torch.as_tensor(orient, dtype=torch.float64)).numpy()
    return np.arctan2(rot[:, 0, 2], rot[:, 2, 2])


def boxes_from_points(points: np.ndarray) -> np.ndarray:
    """(T, J, 2) px -> (T, 4) square boxes (cx, cy, side, side) around the points' extent."""
    low, high = points.min(axis=1), points.max(axis=1)
    centre = 0.5 * (low + high)
    side = (high - low).max(axis=1)
    return np.concatenate([centre, side[:, None], side[:, None]], axis=1)
