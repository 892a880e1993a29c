"""The VIBE generator: temporal encoder -> IEF regressor -> SMPL parameters (+ body when attached).

`theta (N, T, 85)` = [cam (s, tx, ty), pose axis-angle (72), betas (10)], as VIBE. With a body model
(vibe.body `BodyModel`) attached, also `verts`, `kp_3d` (49 joints) and `kp_2d` (the weak
perspective projection of kp_3d with the predicted camera, crop coordinates in [-1, 1]).
Without an encoder it is SPIN's single-frame HMR.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from vibe.geometry import rotmat_to_axis_angle, weak_perspective_project
from vibe.models.regressor import CAM_DIM, DEFAULT_IEF_ITERS, NUM_BETAS, NUM_JOINTS, MeanParams, Regressor
from vibe.models.temporal import TemporalEncoder

POSE_AA_DIM = NUM_JOINTS * 3  # 72
THETA_DIM = CAM_DIM + POSE_AA_DIM + NUM_BETAS  # 85


@dataclass
class BodyGeometry:
    """Posed body for B frames: `verts (B, V, 3)`, `kp_3d (B, 49, 3)`, `kp_2d (B, 49, 2)`."""

    verts: torch.Tensor
    kp_3d: torch.Tensor
    kp_2d: torch.Tensor


@dataclass
class VibeOutput:
    """Per-frame predictions for N sequences of T frames.

    `theta (N, T, 85)`, `rotmat (N, T, 24, 3, 3)`; with a body model `verts (N, T, V, 3)`,
    `kp_3d (N, T, 49, 3)`, `kp_2d (N, T, 49, 2)`, else None.
    """

    theta: torch.Tensor
    rotmat: torch.Tensor
    verts: torch.Tensor | None = None
    kp_3d: torch.Tensor | None = None
    kp_2d: torch.Tensor | None = None

    @property
    def cam(self) -> torch.Tensor:
        return self.theta[..., :CAM_DIM]

    @property
    def pose(self) -> torch.Tensor:
        return self.theta[..., CAM_DIM:CAM_DIM + POSE_AA_DIM]

    @property
    def betas(self) -> torch.Tensor:
        return self.theta[..., CAM_DIM + POSE_AA_DIM:]


def pose_body(body_model: nn.Module, rotmat: torch.Tensor, betas: torch.Tensor, cam: torch.Tensor) -> BodyGeometry:
    """Body for B frames from `rotmat (B, 24, 3, 3)`, `betas (B, 10)` and crop camera `cam (B, 3)`."""
    body = body_model(global_orient=rotmat[:, :1], body_pose=rotmat[:, 1:], betas=betas, pose2rot=False)
    return BodyGeometry(verts=body.verts, kp_3d=body.joints, kp_2d=weak_perspective_project(body.joints, cam))


class VibeGenerator(nn.Module):
    """`forward(features (N, T, 2048))` -> `VibeOutput`. Keys `encoder.*` and `regressor.*` as VIBE's."""

    def __init__(self, encoder: TemporalEncoder | None, regressor: Regressor, body_model: nn.Module | None = None):
        super().__init__()
        self.encoder = encoder
        self.regressor = regressor
        self.body_model = body_model

    def forward(self, features: torch.Tensor, with_body: bool = True) -> VibeOutput:
        """`features (N, T, 2048)`; `with_body=False` skips the attached body model (parameters only)."""
        n_seq, n_frames = features.shape[:2]
        refined = self.encoder(features) if self.encoder is not None else features
        params = self.regressor(refined.reshape(n_seq * n_frames, -1))
        pose_aa = rotmat_to_axis_angle(params.rotmat).reshape(-1, POSE_AA_DIM)
        theta = torch.cat([params.cam, pose_aa, params.betas], dim=1)
        output = VibeOutput(theta=theta.reshape(n_seq, n_frames, THETA_DIM),
                            rotmat=params.rotmat.reshape(n_seq, n_frames, NUM_JOINTS, 3, 3))
        if with_body and self.body_model is not None:
            body = pose_body(self.body_model, params.rotmat, params.betas, params.cam)
            output.verts, output.kp_3d, output.kp_2d = (
                t.reshape(n_seq, n_frames, *t.shape[1:]) for t in (body.verts, body.kp_3d, body.kp_2d))
        return output


def build_generator(mean_params: MeanParams | None = None, n_iter: int = DEFAULT_IEF_ITERS, temporal: bool = True,
                    body_model: nn.Module | None = None) -> VibeGenerator:
    """A freshly initialised generator (training or loading); `temporal=False` gives SPIN's HMR head alone.

    `mean_params`: `load_mean_params(data_dir)` for training; loaded checkpoints bring their own.
    """
    regressor = Regressor(n_iter=n_iter, mean_params=mean_params)
    return VibeGenerator(TemporalEncoder() if temporal else None, regressor, body_model)
