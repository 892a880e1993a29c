"""VIBE's training losses (SPEC section 3, "Training recipe").

Generator: 2D keypoints = mean(conf * squared error) over the 49 joints (x and y); 3D keypoints =
mean squared error on the 14 common joints after centring both sets on their pelvis (mean of the
hips); SMPL pose = MSE of the 24 rotation matrices; shape = MSE of the betas; adversarial = mean
(D(fake) - 1)^2. Discriminator = 0.5 [mean (D(real) - 1)^2 + mean D(fake)^2] (least squares).
3D, pose and shape terms use only frames whose validity weight (w_3d, w_smpl) is positive, and are
zero when a batch has none. Each term is multiplied by its LOSS.*_W weight in `VibeLoss`.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from vibe.geometry import axis_angle_to_rotmat
from vibe.keypoints.conventions import convert, joint_index

HIP_IDS = (joint_index("common14", "right_hip"), joint_index("common14", "left_hip"))
NUM_SMPL_JOINTS = 24
CAM_DIM, POSE_DIM = 3, 72
ROOT_DIM = 3
# Slices of the 85-d theta (cam 3, pose 72, betas 10).
POSE_SLICE = slice(CAM_DIM, CAM_DIM + POSE_DIM)
BETAS_SLICE = slice(CAM_DIM + POSE_DIM, None)
BODY_POSE_SLICE = slice(CAM_DIM + ROOT_DIM, CAM_DIM + POSE_DIM)  # the discriminator's 69-d input


def keypoint_2d_loss(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """`pred (..., 49, 2)`, `target (..., 49, 3)` (x, y, confidence) -> mean(conf * (pred - xy)^2)."""
    conf = target[..., 2:3]
    return (conf * (pred - target[..., :2]) ** 2).mean()


def _valid(weights: torch.Tensor) -> torch.Tensor:
    return weights.reshape(-1) > 0


def _zero(like: torch.Tensor) -> torch.Tensor:
    return like.sum() * 0.0  # keeps the graph (and DDP's gradient bookkeeping) intact


def pelvis_centred_common14(joints: torch.Tensor) -> torch.Tensor:
    """(..., 49, 3) spin49 joints -> (..., 14, 3) common joints minus the mean of the two hips."""
    common = convert(joints, "spin49", "common14")
    return common - common[..., list(HIP_IDS), :].mean(dim=-2, keepdim=True)


def keypoint_3d_loss(pred: torch.Tensor, target: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """`pred`, `target (B, T, 49, 3)`, `weights (B, T)` -> MSE of pelvis-centred common14 joints over valid frames."""
    valid = _valid(weights)
    pred, target = pred.reshape(-1, *pred.shape[-2:])[valid], target.reshape(-1, *target.shape[-2:])[valid]
    if not len(pred):
        return _zero(pred)
    return ((pelvis_centred_common14(pred) - pelvis_centred_common14(target)) ** 2).mean()


def smpl_pose_loss(pred_rotmat: torch.Tensor, target_pose: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """`pred_rotmat (B, T, 24, 3, 3)`, `target_pose (B, T, 72)` axis-angle, `weights (B, T)` -> MSE of rotation matrices."""
    valid = _valid(weights)
    pred = pred_rotmat.reshape(-1, NUM_SMPL_JOINTS, 3, 3)[valid]
    if not len(pred):
        return _zero(pred)
    target = axis_angle_to_rotmat(target_pose.reshape(-1, NUM_SMPL_JOINTS, 3)[valid])
    return ((pred - target) ** 2).mean()


def shape_loss(pred_betas: torch.Tensor, target_betas: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """`(B, T, 10)` x2, `weights (B, T)` -> MSE of the betas over valid frames."""
    valid = _valid(weights)
    pred = pred_betas.reshape(-1, pred_betas.shape[-1])[valid]
    if not len(pred):
        return _zero(pred)
    return ((pred - target_betas.reshape(-1, target_betas.shape[-1])[valid]) ** 2).mean()


def generator_adversarial_loss(fake_scores: torch.Tensor) -> torch.Tensor:
    """`(N, 1)` discriminator scores of generated motion -> mean (D(fake) - 1)^2."""
    return ((fake_scores - 1.0) ** 2).mean()


def discriminator_loss(real_scores: torch.Tensor, fake_scores: torch.Tensor) -> torch.Tensor:
    """0.5 [mean (D(real) - 1)^2 + mean D(fake)^2]."""
    return 0.5 * (((real_scores - 1.0) ** 2).mean() + (fake_scores ** 2).mean())


@dataclass
class LossWeights:
    """Multipliers of the generator's terms (LOSS section of the config)."""

    kp_2d: float
    kp_3d: float
    pose: float
    shape: float
    adversarial: float

    @classmethod
    def from_cfg(cls, cfg) -> "LossWeights":
        loss = cfg.LOSS
        return cls(loss.KP_2D_W, loss.KP_3D_W, loss.POSE_W, loss.SHAPE_W, loss.D_MOTION_LOSS_W)


def generator_losses(pred_kp_2d: torch.Tensor, pred_kp_3d: torch.Tensor, pred_rotmat: torch.Tensor,
                     pred_betas: torch.Tensor, fake_scores: torch.Tensor, target: dict[str, torch.Tensor],
                     weights: LossWeights) -> dict[str, torch.Tensor]:
    """Weighted generator terms by name (`kp_2d`, `kp_3d`, `pose`, `shape`, `adv`) for one batch.

    Predictions `(B, T, ...)` as `VibeOutput`; `target` as `TrainBatch.data`; `fake_scores (B, 1)`.
    """
    return {
        "kp_2d": weights.kp_2d * keypoint_2d_loss(pred_kp_2d, target["kp_2d"]),
        "kp_3d": weights.kp_3d * keypoint_3d_loss(pred_kp_3d, target["kp_3d"], target["w_3d"]),
        "pose": weights.pose * smpl_pose_loss(pred_rotmat, target["theta"][..., POSE_SLICE], target["w_smpl"]),
        "shape": weights.shape * shape_loss(pred_betas, target["theta"][..., BETAS_SLICE], target["w_smpl"]),
        "adv": weights.adversarial * generator_adversarial_loss(fake_scores),
    }
