"""Loss terms of temporal SMPLify. Each sums over joints and frames (the reprojection term
returns one value per frame, so hypotheses can be compared frame by frame). The optimiser scales
the once-per-track shape term by the frame count, so the balance between the terms is per frame
and does not depend on the track's length.

Shapes: T frames, J joints. Body pose is the 69-d axis-angle vector of SMPL's 23 body joints.
"""
from __future__ import annotations

import torch

# SMPLify's angle prior: body-pose components (69-d, no root) of the left elbow (y), right elbow
# (y), left knee (x), right knee (x), and the sign that makes their unnatural bending positive.
ANGLE_PRIOR_IDS = (52, 55, 9, 12)
ANGLE_PRIOR_SIGNS = (1.0, -1.0, -1.0, -1.0)


def geman_mcclure(residual: torch.Tensor, sigma: float) -> torch.Tensor:
    """Geman-McClure robustifier, elementwise: sigma^2 r^2 / (sigma^2 + r^2) (-> r^2 near 0, sigma^2 far)."""
    squared = residual * residual
    sigma_sq = sigma * sigma
    return sigma_sq * squared / (sigma_sq + squared)


def reprojection_loss(projected: torch.Tensor, keypoints: torch.Tensor, px_scale: torch.Tensor,
                      sigma: float) -> torch.Tensor:
    """Per frame (T,): sum_j conf_tj * sum_xy rho(scale_t * (proj - kp)), rho = Geman-McClure.

    projected (T, J, 2) px; keypoints (T, J, 3) px + confidence (0 = missing); px_scale (T,)
    virtual px per image px (see cfg.FITTING.PX_PER_METRE).
    """
    residual = (projected - keypoints[..., :2]) * px_scale[:, None, None]
    return (keypoints[..., 2] * geman_mcclure(residual, sigma).sum(-1)).sum(-1)


def angle_prior(body_pose: torch.Tensor) -> torch.Tensor:
    """SMPLify's exp penalty on elbows and knees bending the wrong way: (T, 69) -> (T,) sum exp(s theta)^2."""
    ids = torch.tensor(ANGLE_PRIOR_IDS, device=body_pose.device)
    signs = torch.tensor(ANGLE_PRIOR_SIGNS, dtype=body_pose.dtype, device=body_pose.device)
    return torch.exp(body_pose[:, ids] * signs).pow(2).sum(-1)


def shape_prior(betas: torch.Tensor) -> torch.Tensor:
    """(B, 10) -> sum of squared betas (betas are in units of the shape space's std)."""
    return betas.pow(2).sum()


def second_difference_loss(sequence: torch.Tensor) -> torch.Tensor:
    """(T, ...) -> sum |x[t-1] - 2 x[t] + x[t+1]|^2 over t and all other dims (0 for T < 3)."""
    if sequence.shape[0] < 3:
        return sequence.new_zeros(())
    accel = sequence[:-2] - 2.0 * sequence[1:-1] + sequence[2:]
    return accel.pow(2).sum()
