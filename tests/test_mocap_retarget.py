"""Retargeting mocap onto the body model (vibe.data.mocap.retarget): round trips through the body's
own joints on the tiny generated model (tests/smpl_factory.py) and the open body, invariance to
the capture's world frame, sequences lacking names, unit and input checks; real CMU takes (slow)."""
import math
import os
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from vibe.data.mocap import MocapSequence, read_mocap
from vibe.data.mocap.retarget import (
    HINGE_AXES, RETARGET_POINTS, Retargeter, RetargetSettings, retarget, retarget_points,
)
from vibe.errors import InputError
from vibe.fitting.flips import forward_kinematics
from vibe.fitting.priors import OWN_PRIOR_MEAN, OWN_PRIOR_SIGMA, JointLimitPrior, per_joint_vector
from vibe.geometry import axis_angle_to_rotmat, rotmat_to_axis_angle
from vibe.keypoints.conventions import SMPL24, SPIN49, SPIN49_MODEL_SOURCES, joint_index, joint_names

_CANDIDATES = [os.environ.get("VIBE_TEST_MOCAP"), Path(__file__).resolve().parents[2] / "shared" / "mocap",
               "/work/shared/mocap"]
MOCAP_DIR = next((Path(p) for p in _CANDIDATES if p and (Path(p) / "cmu_asfamc").is_dir()), None)
needs_mocap = pytest.mark.skipif(MOCAP_DIR is None, reason="shared/mocap (CMU data) not found")

NUM_FRAMES = 20
MOTION_SPREAD = 0.3  # of the prior's per-joint spreads: mostly inside the joint limits
MOTION_HZ = 0.5
LIMIT_STEP, LIMIT_STEPS = 0.005, 300  # rad, Adam steps into the limits
LIMIT_TOLERANCE = 1e-5  # rad^2: a fifth of a degree past a limit at most
FPS = 30.0
# Joints with two or more child bones not on one line: their world rotation is fixed by the joint
# positions alone. Every other joint shows only the direction of its bone (its twist about it is
# the priors' choice), so their angles are compared through the positions.
OBSERVABLE_ROTATIONS = ("smpl_pelvis", "smpl_spine3")

pytestmark = pytest.mark.usefixtures("one_torch_thread")  # small batches: faster on one thread


@pytest.fixture(scope="module")
def open_body():
    from vibe.body import load_body_model

    return load_body_model(kind="open")


def _poses_within_limits(num_frames: int, seed: int) -> torch.Tensor:
    """(T, 69) a smooth random motion about the built-in prior's mean, each joint within a part of
    its typical spread (OWN_PRIOR_SIGMA), the hinges bent forwards, then moved inside the joint
    limits by small gradient steps (a line search could jump a frame to another pose)."""
    gen = torch.Generator().manual_seed(seed)
    mean, spread = per_joint_vector(OWN_PRIOR_MEAN, 0.0), per_joint_vector(OWN_PRIOR_SIGMA, 1.0)
    base, amplitude = MOTION_SPREAD * spread * torch.randn(2, 1, 69, generator=gen)
    phase = torch.rand(1, 69, generator=gen) * 2 * math.pi
    time = torch.arange(num_frames)[:, None] / FPS
    pose = (mean + base + amplitude * torch.sin(2 * math.pi * MOTION_HZ * time + phase)).reshape(num_frames, 23, 3)
    for name, axis in HINGE_AXES.items():  # knees and elbows bend their own way
        joint, axis = SMPL24.index(name) - 1, torch.tensor(axis)
        flexion = pose[:, joint] @ axis
        pose[:, joint] += (flexion.abs() - flexion)[:, None] * axis
    pose = pose.reshape(num_frames, 69).requires_grad_()
    limits = JointLimitPrior()
    optimizer = torch.optim.Adam([pose], lr=LIMIT_STEP)
    for _ in range(LIMIT_STEPS):
        optimizer.zero_grad()
        limits(pose).sum().backward()
        optimizer.step()
    pose = pose.detach()
    assert float(limits(pose).max()) < LIMIT_TOLERANCE
    return pose


def _truth(num_frames: int = NUM_FRAMES, seed: int = 0) -> dict[str, torch.Tensor]:
    """A known motion: turning about y while tilted forward, walking along x, a random shape."""
    gen = torch.Generator().manual_seed(seed)
    turn = torch.linspace(0.0, 2.0, num_frames)
    orient_rotmats = (axis_angle_to_rotmat(torch.stack([0 * turn, turn, 0 * turn], 1))
                      @ axis_angle_to_rotmat(torch.tensor([0.2, 0.0, 0.0])))
    transl = torch.stack([torch.linspace(0.0, 1.0, num_frames), torch.full((num_frames,), 0.9),
                          torch.zeros(num_frames)], 1)
    return {"orient": orient_rotmats, "body_pose": _poses_within_limits(num_frames, seed),
            "betas": torch.randn(1, 10, generator=gen), "transl": transl}


def _pose_body(body, truth: dict[str, torch.Tensor]):
    num = len(truth["transl"])
    with torch.no_grad():
        return body(truth["orient"][:, None], axis_angle_to_rotmat(truth["body_pose"].reshape(num, 23, 3)),
                    truth["betas"].expand(num, -1), truth["transl"], pose2rot=False)


def _replay(body, result) -> torch.Tensor:
    """(T, 24, 3) SMPL joints of the full body model posed with a result's parameters."""
    pose = torch.as_tensor(result.pose)
    with torch.no_grad():
        out = body(pose[:, :3], pose[:, 3:], torch.as_tensor(result.betas)[None].expand(len(pose), -1),
                   torch.as_tensor(result.transl))
    return out.smpl_joints


def _sequence(positions, convention: str = "smpl24", name: str = "synthetic") -> MocapSequence:
    positions = np.asarray(positions, dtype=np.float32)
    return MocapSequence(name=name, subject="s", source_format="bvh", fps=FPS, convention=convention,
                         positions=positions)


def _geodesic_deg(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """(..., 3, 3) pairs of rotations -> (...,) the angle between them, degrees."""
    cos = ((a.transpose(-1, -2) @ b).diagonal(dim1=-2, dim2=-1).sum(-1) - 1.0) / 2.0
    return torch.rad2deg(torch.arccos(cos.clamp(-1.0, 1.0)))


def _world_rotations(body, pose: torch.Tensor, betas: torch.Tensor) -> torch.Tensor:
    """(T, 72) axis-angle, (1, 10) -> (T, 24, 3, 3) global joint rotations."""
    with torch.no_grad():
        rest = body(torch.zeros(1, 3), torch.zeros(1, 69), betas).smpl_joints
        rotations, _ = forward_kinematics(axis_angle_to_rotmat(pose.reshape(-1, 24, 3)), rest, body.smpl.parents)
    return rotations


# A few mm off on child joints 7-11 cm away (the tiny model's pelvis) turn a rotation by 1-3 degrees.
MAX_ROTATION_DEG = {"tiny": 4.0, "open": 2.0}
# The tiny model's shape space moves its joints 1 cm per unit (a real body's 5-10 cm): with the
# default shape prior its betas stay near zero, and the joints a few mm off.
TINY_SETTINGS = replace(RetargetSettings.from_cfg(), shape_w=0.01)


@pytest.mark.parametrize("body_name", ["tiny", "open"])
def test_round_trip_through_the_body_s_own_joints(body_name, tiny_body_model, open_body):
    body, settings = (tiny_body_model, TINY_SETTINGS) if body_name == "tiny" else (open_body, RetargetSettings.from_cfg())
    truth = _truth()
    joints = _pose_body(body, truth).smpl_joints
    result = Retargeter(body, settings).fit(_sequence(joints))

    assert result.pose.shape == (NUM_FRAMES, 72) and result.pose.dtype == np.float32
    assert result.betas.shape == (10,) and result.transl.shape == (NUM_FRAMES, 3)
    assert list(result.points) == list(SMPL24) and not any(np.any(o) for o in result.offsets.values())
    assert result.mean_error_mm < 3.0 and max(result.joint_error_mm.values()) < 8.0
    assert result.frame_error_mm.shape == (NUM_FRAMES,)
    assert 0.8 < result.scale_ratio < 1.25  # the random shape's limbs against the mean shape's
    # the recovered parameters reproduce the joints through the full (mesh) body model
    replayed = _replay(body, result)
    assert float((replayed - joints).norm(dim=-1).mean()) * 1000 < 3.0
    # rotations: in full where the positions fix them, else each bone's direction
    fitted = _world_rotations(body, torch.as_tensor(result.pose), torch.as_tensor(result.betas)[None])
    true_pose = torch.cat([rotmat_to_axis_angle(truth["orient"]), truth["body_pose"]], 1)
    true_rot = _world_rotations(body, true_pose, truth["betas"])
    observable = [SMPL24.index(name) for name in OBSERVABLE_ROTATIONS]
    assert float(_geodesic_deg(fitted[:, observable], true_rot[:, observable]).max()) < MAX_ROTATION_DEG[body_name]


def test_capture_world_frame_is_kept(tiny_body_model):
    """Moved 5 m and turned 90 degrees about y, the same capture gives the same body pose and
    shape, the turned global orientation, and the moved translation (posed about J0)."""
    truth = _truth(seed=1)
    joints = _pose_body(tiny_body_model, truth).smpl_joints
    turn = axis_angle_to_rotmat(torch.tensor([0.0, math.pi / 2, 0.0]))
    shift = torch.tensor([5.0, 0.0, -5.0])
    retargeter = Retargeter(tiny_body_model, TINY_SETTINGS)
    here = retargeter.fit(_sequence(joints))
    there = retargeter.fit(_sequence(joints @ turn.T + shift))

    np.testing.assert_allclose(there.betas, here.betas, atol=0.05)
    local_here, local_there = (axis_angle_to_rotmat(torch.as_tensor(r.pose).reshape(-1, 24, 3)) for r in (here, there))
    assert float(_geodesic_deg(local_there[:, 1:], local_here[:, 1:]).max()) < 2.0
    assert float(_geodesic_deg(local_there[:, 0], turn @ local_here[:, 0]).max()) < 1.0
    with torch.no_grad():
        rest = tiny_body_model(torch.zeros(1, 3), torch.zeros(1, 69), torch.as_tensor(here.betas)[None])
    pelvis = rest.smpl_joints[0, 0]  # J0(betas): the body turns about it
    expected = (torch.as_tensor(here.transl) + pelvis) @ turn.T + shift - pelvis
    assert float((torch.as_tensor(there.transl) - expected).norm(dim=-1).max()) < 0.005
    # and the pelvis sits at J0(betas) + transl
    replayed = _replay(tiny_body_model, here)
    torch.testing.assert_close(replayed[:, 0], torch.as_tensor(here.transl) + pelvis, rtol=0, atol=1e-5)


def _named_points(body, truth, convention: str) -> np.ndarray:
    """(T, J, 3) the body points RETARGET_POINTS gives `convention`'s names, from a posed body
    (zeros for names it lacks: the retargeting leaves them out)."""
    out = _pose_body(body, truth)
    slots = {SPIN49_MODEL_SOURCES[name]: k for k, name in enumerate(SPIN49)}
    table = retarget_points(convention)
    columns = []
    for name in joint_names(convention):
        point = table.get(name)
        if point is None:
            columns.append(torch.zeros_like(out.smpl_joints[:, 0]))
        else:
            columns.append(out.smpl_joints[:, SMPL24.index(point)] if point in SMPL24
                           else out.joints[:, slots[point]])
    return torch.stack(columns, 1).numpy()


def test_sequence_without_hands_and_feet_still_fits(tiny_body_model):
    """h36m17: no hands, feet, collars; shared names (LSP-style hips mapped to SMPL's joints,
    the head top a surface point), each with a learned offset (here about zero)."""
    truth = _truth(seed=2)
    positions = _named_points(tiny_body_model, truth, "h36m17")
    result = retarget(_sequence(positions, "h36m17"), tiny_body_model, TINY_SETTINGS)

    assert list(result.points) == joint_names("h36m17")
    assert not any("hand" in name or "foot" in name for name in result.points)
    assert result.mean_error_mm < 5.0
    assert max(float(np.linalg.norm(o)) for o in result.offsets.values()) < 0.02
    replayed = _replay(tiny_body_model, result)
    seen = [SMPL24.index(point) for point in result.points.values() if point in SMPL24]
    truth_joints = _pose_body(tiny_body_model, truth).smpl_joints
    assert float((replayed[:, seen] - truth_joints[:, seen]).norm(dim=-1).mean()) * 1000 < 10.0


def test_every_table_entry_names_a_body_point():
    body_points = set(joint_names("smpl54"))
    spin49_sources = set(SPIN49_MODEL_SOURCES.values())
    for name, point in RETARGET_POINTS.items():
        assert point in SMPL24 or point in spin49_sources, (name, point)
        assert point in body_points


def test_positions_not_in_metres_are_refused(tiny_body_model):
    joints = _pose_body(tiny_body_model, _truth()).smpl_joints
    with pytest.raises(InputError, match="not in metres"):
        Retargeter(tiny_body_model, TINY_SETTINGS).fit(_sequence(joints * 100.0))


def test_bad_positions_are_refused(tiny_body_model):
    joints = _pose_body(tiny_body_model, _truth()).smpl_joints.numpy()
    broken = joints.copy()
    broken[3, 5, 1] = np.nan
    retargeter = Retargeter(tiny_body_model, TINY_SETTINGS)
    with pytest.raises(InputError, match="not finite"):
        retargeter.fit(_sequence(broken))
    with pytest.raises(InputError, match="do not match"):
        retargeter.fit(_sequence(joints[:, :20]))


def test_torso_points_on_a_line_are_refused(tiny_body_model):
    """coco17's torso points are the hips and shoulders: on one line they show no orientation."""
    positions = _named_points(tiny_body_model, _truth(), "coco17")
    torso = [joint_index("coco17", f"{side}_{part}") for side in ("left", "right") for part in ("hip", "shoulder")]
    positions[:, torso] = np.array([0.0, 1.0, 0.0]) + np.arange(4)[:, None] * np.array([0.1, 0.0, 0.0])
    with pytest.raises(InputError, match="torso points"):
        Retargeter(tiny_body_model, TINY_SETTINGS).fit(_sequence(positions, "coco17"))


@pytest.mark.slow
@needs_mocap
@pytest.mark.parametrize("relative", ["cmu_asfamc/02/02_01.amc", "cmu_bvh/salsa/01.bvh",
                                      "cmu_expmap/train/walking/walking_1.txt"])
def test_real_takes_fit_within_a_centimetre(relative, open_body):
    result = Retargeter(open_body).fit(read_mocap(MOCAP_DIR / relative))
    assert result.mean_error_mm < 10.0 and max(result.joint_error_mm.values()) < 20.0
    assert result.scale_ratio == pytest.approx(1.0, abs=0.1)
    assert np.abs(result.betas).max() < 3.0


def test_retarget_settings_come_from_the_config():
    from vibe.config import load_config

    settings = RetargetSettings.from_cfg(load_config(None, ["MOCAP.RETARGET_SMOOTH_W", "10.0",
                                                            "MOCAP.RETARGET_SHAPE_FRAMES", "8"]))
    assert (settings.smooth_w, settings.shape_frames) == (10.0, 8)
    assert RetargetSettings.from_cfg().smooth_w == 300.0  # the documented default
