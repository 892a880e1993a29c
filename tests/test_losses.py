"""Each training loss against a value computed by hand (plain loops / closed forms)."""
import math

import numpy as np
import pytest
import torch
from scipy.spatial.transform import Rotation

from vibe.keypoints.conventions import joint_index
from vibe.losses import (
    LossWeights, discriminator_loss, generator_adversarial_loss, generator_losses, keypoint_2d_loss,
    keypoint_3d_loss, shape_loss, smpl_pose_loss,
)

COMMON_START = 25  # spin49 rows 25..38 are the 14 common joints (SPEC section 3)
R_HIP, L_HIP = joint_index("spin49", "right_hip"), joint_index("spin49", "left_hip")


def test_2d_loss_is_confidence_weighted_mean_over_49_joints_and_both_coordinates():
    target = torch.zeros(1, 49, 3)
    target[0, :, 2] = 1.0
    target[0, 7, 2] = 0.0  # an unconfident joint counts for nothing
    target[0, 3, 2] = 0.5
    pred = torch.zeros(1, 49, 2)
    pred[0, 0] = torch.tensor([1.0, 2.0])  # squared error 1 + 4, conf 1
    pred[0, 3] = torch.tensor([2.0, 0.0])  # squared error 4, conf 0.5
    pred[0, 7] = torch.tensor([100.0, 100.0])  # conf 0
    expected = (5.0 + 0.5 * 4.0) / (49 * 2)
    assert keypoint_2d_loss(pred, target).item() == pytest.approx(expected)


def _joints(rng, frames):
    return torch.from_numpy(rng.normal(size=(1, frames, 49, 3))).float()


def test_3d_loss_centres_common14_on_the_hips_and_skips_invalid_frames():
    rng = np.random.default_rng(0)
    pred, target = _joints(rng, 3), _joints(rng, 3)
    weights = torch.tensor([[1.0, 0.0, 1.0]])
    total = 0.0
    for frame in (0, 2):  # frame 1 has weight 0
        p, t = pred[0, frame, COMMON_START:COMMON_START + 14], target[0, frame, COMMON_START:COMMON_START + 14]
        p = p - (pred[0, frame, R_HIP] + pred[0, frame, L_HIP]) / 2
        t = t - (target[0, frame, R_HIP] + target[0, frame, L_HIP]) / 2
        total += float(((p - t) ** 2).sum())
    expected = total / (2 * 14 * 3)
    assert keypoint_3d_loss(pred, target, weights).item() == pytest.approx(expected, rel=1e-5)
    # A global shift and any change outside the common joints leave it unchanged.
    moved = pred.clone()
    moved += torch.tensor([0.3, -1.0, 2.0])
    moved[..., :COMMON_START, :] = 9.0
    assert keypoint_3d_loss(moved, target, weights).item() == pytest.approx(expected, rel=1e-5)
    assert keypoint_3d_loss(pred, target, torch.zeros(1, 3)).item() == 0.0


def test_pose_loss_is_mse_of_rotation_matrices_against_scipy():
    rng = np.random.default_rng(1)
    target_aa = rng.normal(scale=0.7, size=(2, 24, 3))
    pred_rot = Rotation.random(48, random_state=2).as_matrix().reshape(2, 24, 3, 3)
    target_rot = Rotation.from_rotvec(target_aa.reshape(-1, 3)).as_matrix().reshape(2, 24, 3, 3)
    expected = float(((pred_rot[0] - target_rot[0]) ** 2).mean())  # frame 1 invalid
    loss = smpl_pose_loss(torch.from_numpy(pred_rot).float()[None], torch.from_numpy(target_aa.reshape(1, 2, 72)).float(),
                          torch.tensor([[1.0, 0.0]]))
    assert loss.item() == pytest.approx(expected, rel=1e-5)


def test_shape_loss_is_mse_of_betas_over_valid_frames():
    pred = torch.zeros(1, 2, 10)
    target = torch.zeros(1, 2, 10)
    pred[0, 0, 0] = 2.0
    pred[0, 1, :] = 100.0
    assert shape_loss(pred, target, torch.tensor([[1.0, 0.0]])).item() == pytest.approx(4.0 / 10)


def test_adversarial_losses_are_least_squares():
    real = torch.tensor([[1.0], [0.5], [2.0]])
    fake = torch.tensor([[0.0], [1.0]])
    assert generator_adversarial_loss(fake).item() == pytest.approx((1.0 + 0.0) / 2)
    expected = 0.5 * ((0.0 + 0.25 + 1.0) / 3 + (0.0 + 1.0) / 2)
    assert discriminator_loss(real, fake).item() == pytest.approx(expected)


def test_generator_terms_carry_their_config_weights():
    weights = LossWeights(kp_2d=300.0, kp_3d=300.0, pose=60.0, shape=0.06, adversarial=0.5)
    frames = 2
    target = {"kp_2d": torch.zeros(1, frames, 49, 3), "kp_3d": torch.zeros(1, frames, 49, 3),
              "theta": torch.zeros(1, frames, 85), "w_3d": torch.ones(1, frames), "w_smpl": torch.ones(1, frames)}
    target["kp_2d"][..., 2] = 1.0
    pred_2d = torch.full((1, frames, 49, 2), 0.1)
    rotmat = torch.eye(3).expand(1, frames, 24, 3, 3).clone()
    betas = torch.full((1, frames, 10), 0.5)
    terms = generator_losses(pred_2d, torch.zeros(1, frames, 49, 3), rotmat, betas, torch.zeros(3, 1), target, weights)
    assert terms["kp_2d"].item() == pytest.approx(300.0 * 0.01)
    assert terms["kp_3d"].item() == 0.0
    assert terms["pose"].item() == pytest.approx(0.0, abs=1e-7)  # identity vs zero axis-angle
    assert terms["shape"].item() == pytest.approx(0.06 * 0.25)
    assert terms["adv"].item() == pytest.approx(0.5 * 1.0)
    assert all(math.isfinite(t.item()) for t in terms.values())
