"""SPIN/HMR iterative error feedback (IEF) regressor: features -> SMPL pose (6D), betas, camera.

Input per step: [feature 2048, pose 144 (24 joints in 6D), betas 10, cam 3] -> fc1 -> dropout
-> fc2 -> dropout (no activation, as SPIN) -> residual updates from decpose / decshape / deccam.
It starts from the mean parameters (`init_pose`, `init_shape`, `init_cam`, buffers stored in the
checkpoints) and only the last of the `n_iter` (3) iterations is returned.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from vibe.errors import AssetError
from vibe.geometry import rot6d_to_rotmat

NUM_JOINTS = 24
ROT6D_DIM = 6
POSE_6D_DIM = NUM_JOINTS * ROT6D_DIM  # 144
NUM_BETAS = 10
CAM_DIM = 3  # weak perspective (s, tx, ty)
HIDDEN_DIM = 1024
DROPOUT = 0.5
DEFAULT_IEF_ITERS = 3
DEFAULT_FEATURE_DIM = 2048
MEAN_PARAMS_FILE = "smpl_mean_params.npz"
# Without smpl_mean_params.npz: rest pose (identity rotations), mean shape, SPEC's camera.
IDENTITY_6D = (1.0, 0.0, 0.0, 1.0, 0.0, 0.0)  # first two columns of I, row-major
FALLBACK_CAM = (0.9, 0.0, 0.0)


@dataclass
class MeanParams:
    """Initial regressor state: pose `(144,)` in 6D, betas `(10,)`, cam `(3,)`."""

    pose6d: np.ndarray
    betas: np.ndarray
    cam: np.ndarray


def fallback_mean_params() -> MeanParams:
    """Identity rotations for all 24 joints, zero betas, camera (0.9, 0, 0)."""
    return MeanParams(
        pose6d=np.tile(np.asarray(IDENTITY_6D, np.float32), NUM_JOINTS),
        betas=np.zeros(NUM_BETAS, np.float32),
        cam=np.asarray(FALLBACK_CAM, np.float32),
    )


def load_mean_params(data_dir: str | Path | None = None) -> MeanParams:
    """`smpl_mean_params.npz` (keys pose 144, shape 10, cam 3) from `data_dir` when present, else the fallback."""
    path = Path(data_dir) / MEAN_PARAMS_FILE if data_dir else None
    if path is None or not path.is_file():
        return fallback_mean_params()
    try:
        with np.load(path) as arrays:
            params = MeanParams(*(np.asarray(arrays[key], np.float32).reshape(-1) for key in ("pose", "shape", "cam")))
    except (OSError, ValueError, KeyError) as err:
        raise AssetError(f"{path} is unreadable ({err}); replace it with VIBE's smpl_mean_params.npz or remove it") from None
    expected = (POSE_6D_DIM, NUM_BETAS, CAM_DIM)
    if tuple(a.size for a in (params.pose6d, params.betas, params.cam)) != expected:
        raise AssetError(f"{path}: expected pose/shape/cam of sizes {expected}; replace it with VIBE's smpl_mean_params.npz")
    return params


@dataclass
class RegressorOutput:
    """Last IEF iteration for B inputs: `pose6d (B, 144)`, `rotmat (B, 24, 3, 3)`, `betas (B, 10)`, `cam (B, 3)`."""

    pose6d: torch.Tensor
    rotmat: torch.Tensor
    betas: torch.Tensor
    cam: torch.Tensor


class Regressor(nn.Module):
    """The HMR head with SPIN/VIBE's parameter names (`fc1`, `fc2`, `decpose`, ... `init_cam`)."""

    def __init__(self, feature_dim: int = DEFAULT_FEATURE_DIM, n_iter: int = DEFAULT_IEF_ITERS,
                 mean_params: MeanParams | None = None):
        super().__init__()
        self.n_iter = n_iter
        self.fc1 = nn.Linear(feature_dim + POSE_6D_DIM + NUM_BETAS + CAM_DIM, HIDDEN_DIM)
        self.drop1 = nn.Dropout(DROPOUT)
        self.fc2 = nn.Linear(HIDDEN_DIM, HIDDEN_DIM)
        self.drop2 = nn.Dropout(DROPOUT)
        self.decpose = nn.Linear(HIDDEN_DIM, POSE_6D_DIM)
        self.decshape = nn.Linear(HIDDEN_DIM, NUM_BETAS)
        self.deccam = nn.Linear(HIDDEN_DIM, CAM_DIM)
        mean = mean_params or fallback_mean_params()
        self.register_buffer("init_pose", torch.as_tensor(mean.pose6d, dtype=torch.float32).reshape(1, -1))
        self.register_buffer("init_shape", torch.as_tensor(mean.betas, dtype=torch.float32).reshape(1, -1))
        self.register_buffer("init_cam", torch.as_tensor(mean.cam, dtype=torch.float32).reshape(1, -1))

    def forward(self, features: torch.Tensor) -> RegressorOutput:
        """`features (B, feature_dim)` -> the last of `n_iter` IEF iterations."""
        batch = features.shape[0]
        pose = self.init_pose.expand(batch, -1)
        betas = self.init_shape.expand(batch, -1)
        cam = self.init_cam.expand(batch, -1)
        for _ in range(self.n_iter):
            hidden = torch.cat([features, pose, betas, cam], dim=1)
            hidden = self.drop2(self.fc2(self.drop1(self.fc1(hidden))))
            pose = pose + self.decpose(hidden)
            betas = betas + self.decshape(hidden)
            cam = cam + self.deccam(hidden)
        rotmat = rot6d_to_rotmat(pose.reshape(batch, NUM_JOINTS, ROT6D_DIM))
        return RegressorOutput(pose6d=pose, rotmat=rotmat, betas=betas, cam=cam)
