"""Pose priors: SMPLify's 8-component Gaussian mixture (`gmm_08.pkl`, when the user has it) or
our own (a Gaussian on the body pose plus soft joint limits).

Both are nn.Modules mapping a body pose (T, 69) axis-angle to a per-frame cost (T,), so the
optimiser does not care which one it got.
"""
from __future__ import annotations

import logging
import pickle
from pathlib import Path

import numpy as np
import torch
from torch import nn

from vibe.errors import AssetError

log = logging.getLogger(__name__)

BODY_POSE_DIM = 69
NUM_BODY_JOINTS = BODY_POSE_DIM // 3
_ANGLE_SQ_FLOOR = 1e-12  # keeps the sqrt's gradient finite at the rest pose
GMM_KEYS = ("means", "covars", "weights")
GMM_HINT = ("replace it with the copy from VIBE's vibe_data download (SMPLify's gmm_08.pkl), "
            "or remove it to use the built-in pose prior")


class GMMPosePrior(nn.Module):
    """SMPLify's max-mixture prior: cost(x) = min_k [0.5 (x - mu_k)^T P_k (x - mu_k) - log w_k
    - 0.5 log det P_k], with P_k the inverse covariance (the Gaussian's negative log-likelihood
    without the 2 pi constant, of the component that explains x best)."""

    def __init__(self, means: np.ndarray, covars: np.ndarray, weights: np.ndarray):
        super().__init__()
        covars_t = torch.as_tensor(covars, dtype=torch.float64)
        precisions = torch.linalg.inv(covars_t)
        _, logdet_cov = torch.linalg.slogdet(covars_t)
        constant = -torch.log(torch.as_tensor(weights, dtype=torch.float64)) + 0.5 * logdet_cov
        self.register_buffer("means", torch.as_tensor(means, dtype=torch.float32))
        self.register_buffer("precisions", precisions.float())
        self.register_buffer("constants", constant.float())

    @property
    def mean_pose(self) -> torch.Tensor:
        """(69,) the mean of the heaviest component (the optimiser's starting point without one)."""
        return self.means[torch.argmin(self.constants)]

    def forward(self, body_pose: torch.Tensor) -> torch.Tensor:
        """(T, 69) -> (T,) cost of the best component."""
        diff = body_pose[:, None, :] - self.means  # (T, K, 69)
        mahalanobis = torch.einsum("tki,kij,tkj->tk", diff, self.precisions, diff)
        return (0.5 * mahalanobis + self.constants).min(dim=1).values


# Our own prior's mean pose: arms lowered to the sides, elbows and knees slightly bent (SMPL
# joint -> axis-angle); the rest (T) pose, with arms horizontal, is not how people stand.
OWN_PRIOR_MEAN = {16: (0.0, 0.0, -1.1), 17: (0.0, 0.0, 1.1), 18: (0.0, -0.3, 0.0), 19: (0.0, 0.3, 0.0),
                  4: (0.1, 0.0, 0.0), 5: (0.1, 0.0, 0.0)}
# Per-joint spread (rad) of each axis-angle component (x, y, z), from typical ranges of motion:
# hinges (knees about x, elbows about y) move far on their axis and little off it; the spine,
# collars and feet move little; hips and shoulders a lot.
OWN_PRIOR_SIGMA = {
    1: (0.7, 0.3, 0.3), 2: (0.7, 0.3, 0.3), 3: (0.25, 0.15, 0.15), 4: (0.9, 0.1, 0.1), 5: (0.9, 0.1, 0.1),
    6: (0.15, 0.15, 0.15), 7: (0.3, 0.15, 0.15), 8: (0.3, 0.15, 0.15), 9: (0.15, 0.15, 0.15),
    10: (0.15, 0.1, 0.1), 11: (0.15, 0.1, 0.1), 12: (0.3, 0.3, 0.2), 13: (0.15, 0.15, 0.2),
    14: (0.15, 0.15, 0.2), 15: (0.3, 0.3, 0.2), 16: (0.5, 0.6, 0.6), 17: (0.5, 0.6, 0.6),
    18: (0.2, 0.9, 0.2), 19: (0.2, 0.9, 0.2), 20: (0.3, 0.4, 0.4), 21: (0.3, 0.4, 0.4),
    22: (0.2, 0.2, 0.2), 23: (0.2, 0.2, 0.2),
}


def per_joint_vector(table: dict, default: float) -> torch.Tensor:
    """{SMPL joint (1..23): (x, y, z)} -> (69,) body-pose vector, `default` where absent."""
    vector = torch.full((NUM_BODY_JOINTS, 3), default)
    for joint, values in table.items():
        vector[joint - 1] = torch.tensor(values)
    return vector.reshape(-1)


class OwnPosePrior(nn.Module):
    """Without SMPLify's GMM: a Gaussian on the body pose around a natural standing pose,
    0.5 |(theta - mean) / (sigma_scale * sigma)|^2 with per-joint, per-axis spreads
    (OWN_PRIOR_MEAN, OWN_PRIOR_SIGMA), plus limit_w * max(0, |theta_j| - limit)^2 per joint, a
    soft limit on how far any one joint rotates. The angle prior handles wrong-way knees and
    elbows."""

    def __init__(self, sigma_scale: float, limit: float, limit_weight: float):
        super().__init__()
        self.register_buffer("mean", per_joint_vector(OWN_PRIOR_MEAN, 0.0))
        self.register_buffer("sigma", sigma_scale * per_joint_vector(OWN_PRIOR_SIGMA, 1.0))
        self.limit, self.limit_weight = limit, limit_weight

    @property
    def mean_pose(self) -> torch.Tensor:
        """(69,) the most likely body pose (the optimiser's starting point without one)."""
        return self.mean

    def forward(self, body_pose: torch.Tensor) -> torch.Tensor:
        """(T, 69) -> (T,) cost."""
        gaussian = 0.5 * ((body_pose - self.mean) / self.sigma).pow(2).sum(-1)
        angles = body_pose.reshape(-1, NUM_BODY_JOINTS, 3).pow(2).sum(-1).clamp_min(_ANGLE_SQ_FLOOR).sqrt()
        excess = (angles - self.limit).clamp_min(0.0)
        return gaussian + self.limit_weight * excess.pow(2).sum(-1)


def read_gmm_file(path: str | Path) -> dict[str, np.ndarray]:
    """Read and check a SMPLify GMM pickle (python-2 pickled dict with means (K, 69),
    covars (K, 69, 69), weights (K,)). AssetError naming the file on any fault."""
    path = Path(path)
    where = f"pose prior file {path.name} in {path.parent}"
    try:
        with open(path, "rb") as handle:
            data = pickle.load(handle, encoding="latin1")
    except FileNotFoundError:
        raise AssetError(f"{where} not found; {GMM_HINT}") from None
    except Exception as err:  # any unpickling failure means the same to the user
        raise AssetError(f"{where} cannot be read ({type(err).__name__}: {err}); {GMM_HINT}") from None
    if not isinstance(data, dict) or any(key not in data for key in GMM_KEYS):
        raise AssetError(f"{where} is not a GMM dict with keys {', '.join(GMM_KEYS)}; {GMM_HINT}")
    arrays = {key: np.asarray(data[key], dtype=np.float64) for key in GMM_KEYS}
    _check_gmm_shapes(arrays, where)
    return arrays


def _check_gmm_shapes(arrays: dict[str, np.ndarray], where: str) -> None:
    means, covars, weights = (arrays[key] for key in GMM_KEYS)
    num = len(weights)
    if (weights.ndim != 1 or means.shape != (num, BODY_POSE_DIM)
            or covars.shape != (num, BODY_POSE_DIM, BODY_POSE_DIM)):
        raise AssetError(f"{where} has means {means.shape}, covars {covars.shape}, weights {weights.shape}; "
                         f"expected (K, {BODY_POSE_DIM}), (K, {BODY_POSE_DIM}, {BODY_POSE_DIM}), (K,); {GMM_HINT}")
    if not (np.all(np.isfinite(means)) and np.all(np.isfinite(covars)) and np.all(weights > 0)):
        raise AssetError(f"{where} holds non-finite values or non-positive weights; {GMM_HINT}")
    if np.any(np.linalg.eigvalsh(covars) <= 0):
        raise AssetError(f"{where} has a covariance that is not positive definite; {GMM_HINT}")


def load_pose_prior(fitting_cfg, data_dir: str | Path | None) -> nn.Module:
    """GMMPosePrior from data_dir / cfg.GMM_PRIOR when that file exists, else OwnPosePrior.

    fitting_cfg: the FITTING section of the config. A present but broken file is an AssetError
    (silently falling back would hide that the user's prior is not used).
    """
    if data_dir is not None and fitting_cfg.GMM_PRIOR:
        path = Path(data_dir) / fitting_cfg.GMM_PRIOR
        if path.is_file():
            log.info("pose prior: SMPLify GMM from %s", path)
            return GMMPosePrior(**read_gmm_file(path))
        log.info("pose prior: %s not in %s; using the built-in prior", fitting_cfg.GMM_PRIOR, data_dir)
    return OwnPosePrior(fitting_cfg.OWN_PRIOR_SIGMA_SCALE, fitting_cfg.OWN_PRIOR_LIMIT, fitting_cfg.OWN_PRIOR_LIMIT_W)
