"""Depth-flip search (vibe/fitting/flips.py): flips keep the 2D projection, undo themselves, and
the search in temporal SMPLify picks the true depth of a limb started on the wrong side."""
import itertools
import math

import numpy as np
import pytest
import torch

from vibe.config import get_cfg_defaults
from vibe.errors import InputError
from vibe.fitting import TemporalSMPLify, fit_track
from vibe.fitting.flips import (
    FLIP_STATES, LIMBS, acceleration_costs, flip_limb, keep_gaining_runs, smallest_rotation, viterbi,
)
from vibe.fitting.priors import OwnPosePrior
from vibe.fitting.smplify import _Problem
from vibe.geometry import axis_angle_to_rotmat, perspective_project

FOCAL, CENTRE = 800.0, torch.tensor([320.0, 240.0])
L_ELBOW = 18


pytestmark = pytest.mark.usefixtures("one_torch_thread")  # small batches: faster on one thread


def _pose(num_frames: int, seed: int) -> torch.Tensor:
    """(T, 72) axis-angle, a smooth motion: facing the camera (root pi about x), the own prior's
    mean plus a random offset drifting linearly, left forearm bent 1.3 rad forward (towards the camera)."""
    rng = np.random.default_rng(seed)
    drift = np.linspace(0.0, 1.0, num_frames)[:, None] * rng.normal(scale=0.05, size=(1, 69))
    body = OwnPosePrior(1.0, 2.0, 0.0).mean_pose.numpy() + rng.normal(scale=0.2, size=(1, 69)) + drift
    body[:, 3 * (L_ELBOW - 1):3 * L_ELBOW] = (0.0, -1.3, 0.0)
    for hip, knee in ((1, 4), (2, 5)):  # knees bent (a straight leg can rarely reach its flipped ankle ray)
        body[:, 3 * (hip - 1)] += 0.2
        body[:, 3 * (knee - 1)] += 0.6
    root = np.tile([math.pi, 0.0, 0.0], (num_frames, 1)) + rng.normal(scale=0.1, size=(1, 3))
    return torch.as_tensor(np.concatenate([root, body], 1), dtype=torch.float32)


def _smpl_joints(body, rotmats: torch.Tensor, transl: torch.Tensor) -> torch.Tensor:
    """(T, 24, 3) camera-space SMPL joints from the full body model (independent of flips.py)."""
    with torch.no_grad():
        out = body(rotmats[:, :1], rotmats[:, 1:], torch.zeros(len(rotmats), 10), pose2rot=False)
    return out.smpl_joints + transl[:, None]


def _rest_joints(body) -> torch.Tensor:
    with torch.no_grad():
        zero = torch.eye(3).expand(1, 24, 3, 3)
        return body(zero[:, :1], zero[:, 1:], torch.zeros(1, 10), pose2rot=False).smpl_joints


def _setup(body, num_frames=4, seed=0, dtype=torch.float32):
    rotmats = axis_angle_to_rotmat(_pose(num_frames, seed).to(dtype).reshape(-1, 24, 3))
    transl = torch.tensor([0.1, 0.2, 3.0], dtype=dtype).expand(num_frames, 3)
    return rotmats, transl, _rest_joints(body).to(dtype)


@pytest.mark.parametrize("limb, state", list(itertools.product(LIMBS, FLIP_STATES[1:])),
                         ids=lambda v: getattr(v, "name", str(v)))
def test_flip_keeps_the_projection_and_the_bones(tiny_body_model, limb, state):
    rotmats, transl, rest = _setup(tiny_body_model)
    parents = tiny_body_model.smpl.parents
    flipped = flip_limb(rotmats, rest, parents, transl, limb, *state)
    before, after = (_smpl_joints(tiny_body_model, r, transl) for r in (rotmats, flipped))
    zero = torch.zeros(len(transl), 3)
    project = lambda joints: perspective_project(joints, zero, FOCAL, CENTRE)  # noqa: E731
    # every joint keeps its projection but those past the limb's end (hand, foot), which turn with it
    beyond = [j for j in range(24) if int(parents[j]) == limb.end]
    kept = [j for j in range(24) if j not in beyond]
    # ... where the limb can reach: the end's ray passes within the lower bone's length of the new middle
    lower = (before[:, limb.end] - before[:, limb.middle]).norm(dim=-1)
    ray = before[:, limb.end] / before[:, limb.end].norm(dim=-1, keepdim=True)
    offset = after[:, limb.middle]
    ray_distance = (offset - (offset * ray).sum(-1, keepdim=True) * ray).norm(dim=-1)
    reach = ray_distance <= lower
    assert reach.all()  # the test poses allow every flip
    torch.testing.assert_close(project(after)[reach][:, kept], project(before)[reach][:, kept],
                               rtol=0, atol=5e-3)  # px (float32)
    # the chain keeps its bone lengths, and the flipped bones really moved in depth
    for parent, child in ((limb.root, limb.middle), (limb.middle, limb.end)):
        length = lambda j: (j[:, child] - j[:, parent]).norm(dim=-1)  # noqa: E731
        torch.testing.assert_close(length(after), length(before), rtol=0, atol=1e-5)
    moved = (after[:, [limb.middle, limb.end], 2] - before[:, [limb.middle, limb.end], 2]).abs().max(0).values
    assert moved[0 if state[0] else 1] > 0.01  # m
    # nothing outside the limb's two rotations changes
    others = [j for j in range(24) if j not in (limb.root, limb.middle)]
    torch.testing.assert_close(flipped[:, others], rotmats[:, others], rtol=0, atol=0)


@pytest.mark.parametrize("state", FLIP_STATES[1:])
def test_flip_of_a_flip_is_the_identity(tiny_body_model, state):
    rotmats, transl, rest = _setup(tiny_body_model, seed=1, dtype=torch.float64)  # exact to rounding
    parents = tiny_body_model.smpl.parents
    for limb in LIMBS:
        twice = flip_limb(flip_limb(rotmats, rest, parents, transl, limb, *state), rest, parents, transl, limb, *state)
        torch.testing.assert_close(twice, rotmats, rtol=0, atol=1e-9)


def test_smallest_rotation_even_near_a_half_turn():
    rng = np.random.default_rng(3)
    source = torch.as_tensor(rng.normal(size=(6, 3)))
    target = torch.cat([torch.as_tensor(rng.normal(size=(3, 3))),  # generic
                        -source[3:4] + 1e-7,  # all but antiparallel
                        -source[4:5],  # a half turn
                        2.0 * source[5:6]])  # no turn
    rot = smallest_rotation(source, target)
    unit = lambda v: v / v.norm(dim=-1, keepdim=True)  # noqa: E731
    torch.testing.assert_close(rot @ rot.transpose(-1, -2), torch.eye(3, dtype=rot.dtype).expand_as(rot))
    torch.testing.assert_close(torch.linalg.det(rot), torch.ones(6, dtype=rot.dtype))
    torch.testing.assert_close((rot @ unit(source)[..., None])[..., 0], unit(target), rtol=0, atol=1e-6)
    # smallest: the rotation angle equals the angle between the vectors (trace = 1 + 2 cos)
    angle = torch.acos(((rot.diagonal(dim1=-2, dim2=-1).sum(-1) - 1.0) / 2.0).clamp(-1, 1))
    between = torch.acos((unit(source) * unit(target)).sum(-1).clamp(-1, 1))
    torch.testing.assert_close(angle, between, rtol=0, atol=1e-5)


def test_viterbi_matches_brute_force():
    rng = np.random.default_rng(0)
    num_frames, num_states = 6, 3
    unary = rng.uniform(0, 5, size=(num_frames, num_states))
    points = rng.normal(size=(num_frames, num_states, 2, 3))
    accel = acceleration_costs(points, 0.7)
    # independent: the summed second differences of each path, over every path
    def path_cost(path):
        chosen = points[np.arange(num_frames), list(path)]
        return unary[np.arange(num_frames), list(path)].sum() + 0.7 * np.square(
            chosen[:-2] - 2 * chosen[1:-1] + chosen[2:]).sum()
    best = min(itertools.product(range(num_states), repeat=num_frames), key=path_cost)
    assert tuple(viterbi(unary, accel)) == best
    assert viterbi(unary[:1], accel[:0]).tolist() == [int(np.argmin(unary[0]))]


def test_only_runs_of_flips_that_lower_the_objective_are_kept():
    unary = np.array([[5.0, 9.0, 9.0],  # frame 0: state 0 kept
                      [5.0, 6.0, 9.0],  # frames 1-2: a run worse in frame 1, better overall (6 + 2 < 5 + 5)
                      [5.0, 2.0, 9.0],
                      [5.0, 9.0, 9.0],
                      [5.0, 9.0, 5.5]])  # frame 4: a run worse than staying (5.5 >= 5)
    assert keep_gaining_runs(np.array([0, 1, 1, 0, 2]), unary, 0.0).tolist() == [0, 1, 1, 0, 0]
    assert keep_gaining_runs(np.array([1, 1, 1, 1, 1]), unary, 0.0).tolist() == [0, 0, 0, 0, 0]  # 35 >= 25
    # a margin per frame: the run of frames 1-2 gains 2 over 2 frames
    assert keep_gaining_runs(np.array([0, 1, 1, 0, 0]), unary, 0.9).tolist() == [0, 1, 1, 0, 0]
    assert keep_gaining_runs(np.array([0, 1, 1, 0, 0]), unary, 1.0).tolist() == [0, 0, 0, 0, 0]


def test_search_restores_a_limb_started_at_the_wrong_depth(tiny_body_model):
    """Truth: the left forearm bent towards the camera; start: the same 2D with the forearm bent
    backwards (lower bone flipped: a hyperextended elbow) in every frame. The search must return
    the truth to float32 rounding."""
    num_frames = 6
    truth = _pose(num_frames, seed=2)
    rotmats = axis_angle_to_rotmat(truth.reshape(-1, 24, 3))
    transl = torch.tensor([0.0, 0.2, 3.0]).expand(num_frames, 3).clone()
    fitter = TemporalSMPLify(tiny_body_model, get_cfg_defaults(), OwnPosePrior(1.0, 2.0, 100.0))
    rest = fitter.joints_model.joint_template[None]
    left_arm = LIMBS[0]
    wrong = flip_limb(rotmats, rest, tiny_body_model.smpl.parents, transl, left_arm, False, True)
    wrong_pose = truth[:, 3:].clone()
    from vibe.geometry import rotmat_to_axis_angle
    for joint in (left_arm.root, left_arm.middle):
        wrong_pose[:, 3 * (joint - 1):3 * joint] = rotmat_to_axis_angle(wrong[:, joint])
    assert (wrong_pose - truth[:, 3:]).abs().max() > 0.5  # a real error to undo
    with torch.no_grad():
        camera = fitter.joints_model(rotmats, torch.zeros(1, 10)) + transl[:, None]
        keypoints = torch.cat([perspective_project(camera, torch.zeros(num_frames, 3), FOCAL, CENTRE),
                               torch.ones(num_frames, 49, 1)], -1)
    problem = _Problem(keypoints, torch.full((num_frames,), 100.0 * 3.0 / FOCAL), FOCAL, CENTRE)
    orient = rotmat_to_axis_angle(rotmats[:, 0] @ fitter.base_rotation.T)
    variables = {"orient": orient, "body_pose": wrong_pose, "betas": torch.zeros(1, 10), "transl": transl}
    proposal = fitter._flip_search(variables, problem, prior_scale=0.5)
    found = axis_angle_to_rotmat(proposal["body_pose"].reshape(num_frames, 23, 3))
    arm = [left_arm.root - 1, left_arm.middle - 1]  # the other limbs' depths are the objective's free choice
    torch.testing.assert_close(found[:, arm], rotmats[:, 1:][:, arm], rtol=0, atol=5e-3)  # float32
    assert proposal["body_pose"] is not variables["body_pose"]  # a proposal: the caller's pose is untouched
    torch.testing.assert_close(variables["body_pose"], wrong_pose, rtol=0, atol=0)


@pytest.mark.parametrize("key, value, message", [
    ("FLIP_LIMBS", ["left_arm", "tail"], r"FLIP_LIMBS has unknown limbs \['tail'\]"),
    ("FLIP_AFTER_STAGES", [0, 2], r"FLIP_AFTER_STAGES is \[0, 2\]; each must name one of the 3 body stages but"),
    ("START_JUDGE_STAGE", 5, r"START_JUDGE_STAGE is 5; it must name one of the 3 body stages"),
])
def test_bad_search_settings_are_clear_errors(tiny_body_model, key, value, message):
    cfg = get_cfg_defaults()
    setattr(cfg.FITTING, key, value)
    with pytest.raises(InputError, match=message) as err:
        fit_track(tiny_body_model, np.ones((5, 49, 3)), (640, 480), cfg=cfg)
    assert "\n" not in str(err.value)
