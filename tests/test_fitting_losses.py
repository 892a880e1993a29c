"""Loss terms and pose priors of vibe.fitting against hand-computed values and scipy."""
import math
import pickle

import numpy as np
import pytest
import torch
from scipy.spatial.transform import Rotation
from scipy.stats import multivariate_normal

from vibe.config import get_cfg_defaults
from vibe.errors import AssetError
from vibe.fitting.losses import (
    ANGLE_PRIOR_IDS, angle_prior, geman_mcclure, reprojection_loss, second_difference_loss, shape_prior,
)
from vibe.body.motions import MOTIONS
from vibe.fitting.priors import (
    OWN_PRIOR_SIGMA, GMMPosePrior, JointLimitPrior, OwnPosePrior, all_joint_limits, load_pose_prior,
    read_gmm_file,
)
from vibe.fitting.smplify import START_POSES


def test_geman_mcclure_hand_values():
    r = torch.tensor([0.0, 3.0, -3.0, 1e4])
    out = geman_mcclure(r, sigma=2.0)
    assert out[0] == 0.0
    assert out[1].item() == pytest.approx(4 * 9 / (4 + 9))  # sigma^2 r^2 / (sigma^2 + r^2)
    assert out[2].item() == pytest.approx(36 / 13)
    assert out[3].item() == pytest.approx(4.0, rel=1e-6)  # saturates at sigma^2


def test_reprojection_loss_hand_value():
    projected = torch.tensor([[[1.0, 2.0], [0.0, 0.0]], [[5.0, 5.0], [2.0, 2.0]]])  # (T=2, J=2, 2)
    keypoints = torch.tensor([[[1.0, 4.0, 0.5], [9.0, 9.0, 0.0]], [[5.0, 5.0, 1.0], [3.0, 2.0, 1.0]]])
    scale = torch.tensor([1.0, 2.0])
    out = reprojection_loss(projected, keypoints, scale, sigma=10.0)
    rho = lambda r: 100 * r * r / (100 + r * r)  # noqa: E731
    # frame 0: joint 0 residual (0, -2) with conf 0.5, joint 1 missing; frame 1: joint 1 (-1*2, 0)
    assert out.tolist() == pytest.approx([0.5 * rho(2.0), rho(2.0)])


def test_angle_prior_hand_value():
    pose = torch.zeros(1, 69)
    assert angle_prior(pose).item() == pytest.approx(4.0)  # exp(0)^2 for four hinges
    pose[0, ANGLE_PRIOR_IDS[0]] = 0.5  # left elbow bent backwards: penalised
    pose[0, ANGLE_PRIOR_IDS[2]] = 0.5  # left knee bent naturally: rewarded
    expected = math.exp(1.0) + math.exp(-1.0) + 2.0
    assert angle_prior(pose).item() == pytest.approx(expected)
    # one value per frame, so hypotheses can be compared frame by frame
    two = torch.cat([pose, torch.zeros(1, 69)])
    assert angle_prior(two).tolist() == pytest.approx([expected, 4.0])


def test_shape_prior_and_second_difference():
    assert shape_prior(torch.tensor([[1.0, -2.0, 0.5]])).item() == pytest.approx(5.25)
    seq = torch.tensor([[0.0], [1.0], [4.0], [9.0]])  # t^2: second difference 2 everywhere
    assert second_difference_loss(seq).item() == pytest.approx(8.0)
    assert second_difference_loss(torch.tensor([[0.0], [1.0], [2.0], [3.0]])).item() == 0.0
    assert second_difference_loss(torch.ones(2, 5)).item() == 0.0  # too short to have one


def _random_gmm(rng, num=3, dim=69):
    means = rng.normal(scale=0.3, size=(num, dim))
    factors = rng.normal(size=(num, dim, dim)) * 0.05
    covars = factors @ factors.transpose(0, 2, 1) + 0.02 * np.eye(dim)
    weights = rng.dirichlet(np.ones(num))
    return {"means": means, "covars": covars, "weights": weights}


def test_gmm_prior_matches_scipy_mixture_components():
    rng = np.random.default_rng(0)
    gmm = _random_gmm(rng)
    prior = GMMPosePrior(**gmm)
    x = gmm["means"][1] + rng.normal(scale=0.1, size=(4, 69))
    nll = np.stack([-np.log(w) - multivariate_normal(m, c).logpdf(x)
                    for m, c, w in zip(gmm["means"], gmm["covars"], gmm["weights"])], -1)
    expected = nll.min(-1) - 0.5 * 69 * math.log(2 * math.pi)  # the prior drops the 2 pi constant
    got = prior(torch.as_tensor(x, dtype=torch.float32)).numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-2)


def test_own_prior_hand_values():
    prior = OwnPosePrior(sigma_scale=1.0, limit=2.0, limit_weight=10.0)
    mean = prior.mean_pose.clone()
    assert prior(mean[None]).item() == pytest.approx(0.0, abs=1e-6)
    shifted = mean.clone()
    shifted[0] += OWN_PRIOR_SIGMA[1][0]  # one sigma on the left hip's x
    assert prior(shifted[None]).item() == pytest.approx(0.5, rel=1e-5)
    bent = torch.zeros(1, 69)
    bent[0, 6] = 2.5  # spine1 (sigma 0.25 on x) rotated 2.5 rad: 0.5 beyond the limit
    gaussian = 0.5 * (((bent[0] - mean) / prior.sigma) ** 2).sum().item()
    assert prior(bent).item() == pytest.approx(gaussian + 10.0 * 0.25, rel=1e-5)


def _write_py2_style_pickle(path, data):
    with open(path, "wb") as handle:
        pickle.dump(data, handle, protocol=2)


def test_gmm_loader_reads_written_file(tmp_path):
    gmm = _random_gmm(np.random.default_rng(1), num=8)
    path = tmp_path / "gmm_08.pkl"
    _write_py2_style_pickle(path, gmm)
    arrays = read_gmm_file(path)
    for key in ("means", "covars", "weights"):
        np.testing.assert_array_equal(arrays[key], gmm[key])
    prior = load_pose_prior(get_cfg_defaults().FITTING, tmp_path)
    assert isinstance(prior, GMMPosePrior)
    hand_made = get_cfg_defaults().FITTING
    hand_made.BUNDLED_PRIOR = ""  # without the user's file and without the bundled GMM
    assert isinstance(load_pose_prior(hand_made, tmp_path / "empty"), OwnPosePrior)


@pytest.mark.parametrize("content", ["garbage", "missing_key", "bad_shape", "not_pd"])
def test_gmm_loader_errors_name_the_file(tmp_path, content):
    gmm = _random_gmm(np.random.default_rng(2), num=2)
    path = tmp_path / "gmm_08.pkl"
    if content == "garbage":
        path.write_bytes(b"not a pickle")
    else:
        if content == "missing_key":
            del gmm["covars"]
        elif content == "bad_shape":
            gmm["means"] = gmm["means"][:, :10]
        else:
            gmm["covars"][0] = -np.eye(69)
        _write_py2_style_pickle(path, gmm)
    with pytest.raises(AssetError, match="gmm_08.pkl") as err:
        read_gmm_file(path)
    assert "\n" not in str(err.value)
    with pytest.raises(AssetError):  # a present but broken file is not silently replaced
        load_pose_prior(get_cfg_defaults().FITTING, tmp_path)


def _one_joint_pose(joint: int, rotvec) -> torch.Tensor:
    """(1, 69) body pose with one SMPL joint (1..23) rotated, the rest at the T pose."""
    pose = torch.zeros(1, 69)
    pose[0, 3 * (joint - 1):3 * joint] = torch.as_tensor(rotvec, dtype=torch.float32)
    return pose


@pytest.mark.parametrize("joint, rotvec, excess_rad", [
    (1, (-1.0, 0, 0), 0.0),  # left hip flexed 57 deg (thigh forward): fine
    (1, (-2.0, 0, 0), 0.0),  # flexed 115 deg (< 125)
    (1, (1.0, 0, 0), 1.0 - math.radians(30)),  # extended 57 deg: 27 past the 30 deg limit
    (2, (1.0, 0, 0), 1.0 - math.radians(30)),  # right hip, same
    (4, (2.0, 0, 0), 0.0),  # left knee flexed 115 deg
    (4, (-0.5, 0, 0), 0.5 - math.radians(5)),  # hyperextended 29 deg
    (18, (0, -1.5, 0), 0.0),  # left elbow flexed forwards
    (18, (0, 1.0, 0), 1.0 - math.radians(5)),  # bent backwards
    (19, (0, 1.5, 0), 0.0),  # right elbow flexed forwards (the sign mirrors)
    (16, (0, 1.5, 0), 1.5 - math.radians(55)),  # left arm swung 86 deg behind the body
    (16, (0, -1.5, 0), 0.0),  # ... and 86 deg in front of it
    (3, (-0.5, 0, 0), 0.5 - math.radians(15)),  # spine bent 29 deg backwards (one joint's share is 15)
])
def test_joint_limits_on_known_poses(joint, rotvec, excess_rad):
    """Single-joint rotations in SMPL's frames (signs as vibe/body/motions.py documents them):
    the cost is the squared excess of the one violated range (published ranges of motion)."""
    cost = JointLimitPrior()(_one_joint_pose(joint, rotvec)).item()
    assert cost == pytest.approx(excess_rad ** 2, abs=1e-6)


def test_joint_limit_angles_match_scipy_swing_and_twist():
    """A pose built as swing @ twist (scipy) is split back into the same lean and twist."""
    prior = JointLimitPrior()
    limits = all_joint_limits()
    joints = list(limits)
    rng = np.random.default_rng(0)
    pose = np.zeros((5, 69))
    expected_twist = rng.uniform(-1.2, 1.2, size=(5, len(joints)))
    for k, joint in enumerate(joints):
        bone = np.array(limits[joint].bone, dtype=float)
        swing_axis = np.cross(bone, rng.normal(size=(5, 3)))
        swing_axis /= np.linalg.norm(swing_axis, axis=-1, keepdims=True)
        swing = Rotation.from_rotvec(swing_axis * rng.uniform(0.0, 2.0, size=(5, 1)))
        twist = Rotation.from_rotvec(expected_twist[:, k:k + 1] * bone)
        pose[:, 3 * (joint - 1):3 * joint] = (swing * twist).as_rotvec()
    leans, twists = prior.angles(torch.as_tensor(pose, dtype=torch.float32))
    np.testing.assert_allclose(twists.numpy(), expected_twist, atol=1e-4)
    expected_leans = []
    for joint in joints:
        direction = Rotation.from_rotvec(pose[:, 3 * (joint - 1):3 * joint]).apply(limits[joint].bone)
        expected_leans += [np.arcsin(direction @ np.array(normal)) for normal, _ in limits[joint].leans]
    np.testing.assert_allclose(leans.numpy(), np.stack(expected_leans, -1), atol=1e-4)


def test_joint_limits_are_left_right_symmetric():
    """A pose and its mirror image (x -> -x: left and right swapped, rotation vectors (x, -y, -z))
    cost the same."""
    pairs = {1: 2, 4: 5, 7: 8, 10: 11, 13: 14, 16: 17, 18: 19, 20: 21, 22: 23}
    swap = list(range(24))
    for left, right in pairs.items():
        swap[left], swap[right] = right, left
    pose = np.random.default_rng(1).normal(scale=0.8, size=(6, 24, 3))
    mirrored = pose[:, swap] * np.array([1.0, -1.0, -1.0])
    prior = JointLimitPrior()
    cost, cost_mirrored = (prior(torch.as_tensor(p[:, 1:].reshape(6, 69), dtype=torch.float32)) for p in
                           (pose, mirrored))
    assert cost.min() > 0.1  # random poses break some limits
    torch.testing.assert_close(cost, cost_mirrored, rtol=1e-4, atol=1e-5)


def test_joint_limits_hold_natural_poses():
    """Walking, arm swings, turning, crouching, the prior's mean and the start poses: within range."""
    prior = JointLimitPrior()
    poses = [torch.as_tensor(motion(60).pose[:, 3:], dtype=torch.float32) for motion in MOTIONS.values()]
    poses += [OwnPosePrior(1.0, 2.0, 0.0).mean_pose[None]] + [p[None] for p in START_POSES.values()]
    for pose in poses:
        assert prior(pose).max().item() == 0.0


def test_joint_limit_gradient_is_finite_at_the_rest_pose():
    pose = torch.zeros(2, 69, requires_grad=True)
    JointLimitPrior()(pose).sum().backward()
    assert torch.isfinite(pose.grad).all()
