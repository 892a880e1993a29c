"""Pose priors: SMPLify's 8-component Gaussian mixture (`gmm_08.pkl`, when the user has it) or
our own (a Gaussian on the body pose plus soft joint limits), and anatomical joint limits
(JointLimitPrior: asymmetric ranges of motion, used with either).

All are nn.Modules mapping a body pose (T, 69) axis-angle to a per-frame cost (T,), so the
optimiser does not care which one it got.
"""
from __future__ import annotations

import logging
import math
import pickle
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from vibe.errors import AssetError
from vibe.geometry import axis_angle_to_quat

log = logging.getLogger(__name__)

BODY_POSE_DIM = 69
NUM_BODY_JOINTS = BODY_POSE_DIM // 3
_ANGLE_SQ_FLOOR = 1e-12  # keeps the sqrt's gradient finite at the rest pose
GMM_KEYS = ("means", "covars", "weights")
BUNDLED_PRIOR_DIR = Path(__file__).resolve().parent / "assets"  # tools/fit_pose_prior.py writes here
GMM_HINT = ("replace it with the copy from VIBE's vibe_data download (SMPLify's gmm_08.pkl), "
            "or remove it to use the built-in pose prior")


class GMMPosePrior(nn.Module):
    """SMPLify's max-mixture prior: cost(x) = min_k [0.5 (x - mu_k)^T P_k (x - mu_k) - log w_k
    - 0.5 log det P_k], with P_k the inverse covariance (the Gaussian's negative log-likelihood
    without the 2 pi constant, of the component that explains x best), times `scale`."""

    def __init__(self, means: np.ndarray, covars: np.ndarray, weights: np.ndarray, scale: float = 1.0):
        super().__init__()
        self.scale = scale  # the cost's multiplier: a GMM fitted elsewhere may need another weight than SMPLify's
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

    def start_poses(self, count: int) -> torch.Tensor:
        """(min(count, K), 69) the means of the `count` components with the highest density at
        their mean (lowest constant), most likely first: distinct typical poses to start a fit from."""
        return self.means[torch.argsort(self.constants)[:count]]

    def forward(self, body_pose: torch.Tensor) -> torch.Tensor:
        """(T, 69) -> (T,) cost of the best component."""
        diff = body_pose[:, None, :] - self.means  # (T, K, 69)
        mahalanobis = torch.einsum("tki,kij,tkj->tk", diff, self.precisions, diff)
        return self.scale * (0.5 * mahalanobis + self.constants).min(dim=1).values


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

    def start_poses(self, count: int) -> torch.Tensor:
        """(0, 69): one Gaussian has one typical pose, its mean, which is where a fit starts
        anyway (starting there twice let frames swap between two minima: +7 mm on the sample)."""
        return self.mean[None, :][:0]

    def forward(self, body_pose: torch.Tensor) -> torch.Tensor:
        """(T, 69) -> (T,) cost."""
        gaussian = 0.5 * ((body_pose - self.mean) / self.sigma).pow(2).sum(-1)
        angles = body_pose.reshape(-1, NUM_BODY_JOINTS, 3).pow(2).sum(-1).clamp_min(_ANGLE_SQ_FLOOR).sqrt()
        excess = (angles - self.limit).clamp_min(0.0)
        return gaussian + self.limit_weight * excess.pow(2).sum(-1)


Vec3 = tuple[float, float, float]
_SIN_CLAMP = 1.0 - 1e-6  # keeps asin's gradient finite when a bone points straight along a normal


@dataclass(frozen=True)
class JointLimit:
    """Range of motion of one SMPL joint's local rotation R (parent frame; SMPL's rest T pose,
    y up, x to the body's left, z forward), split into the swing of the bone the joint moves
    and the twist about it: R = swing @ twist, twist a rotation about `bone`, swing the
    smallest rotation taking `bone` to d = R bone.

    bone: the bone's rest direction (unit); leans: (n, max_deg) pairs: d may lean at most
    max_deg degrees past the plane normal to n towards n (asin(d . n) <= max); twist_deg:
    (min, max) of the twist angle about `bone` (right-handed).
    """

    bone: Vec3
    leans: tuple[tuple[Vec3, float], ...]
    twist_deg: tuple[float, float]

    def mirrored(self) -> "JointLimit":
        """The same range on the body's other side (x -> -x: directions flip x, twists flip sign)."""
        flip = lambda v: (-v[0], v[1], v[2])  # noqa: E731
        return JointLimit(flip(self.bone), tuple((flip(n), deg) for n, deg in self.leans),
                          (-self.twist_deg[1], -self.twist_deg[0]))


UP, DOWN, FORWARD, BACK, LEFT, RIGHT = (0, 1, 0), (0, -1, 0), (0, 0, 1), (0, 0, -1), (1, 0, 0), (-1, 0, 0)
# Published active ranges of motion (AAOS / common clinical tables; degrees), left side and
# spine, in SMPL's frames (the right side mirrors them). "LEFT" is outward on the left side.
# Spinal and cervical ranges are split over SMPL's three spine and two neck joints.
JOINT_LIMITS = {
    # hip: flexion 125 (thigh up to 35 above horizontal), extension 30, abduction 45, adduction
    # 30; internal rotation 40 (twist about the downward bone: positive turns the knee inwards),
    # external 45
    1: JointLimit(DOWN, ((UP, 35.0), (BACK, 30.0), (LEFT, 45.0), (RIGHT, 30.0)), (-45.0, 40.0)),
    # knee: a hinge, flexion 0..150 (the shank swings back and up), no hyperextension beyond 5,
    # little sideways; tibial rotation +-30
    4: JointLimit(DOWN, ((FORWARD, 5.0), (UP, 60.0), (LEFT, 10.0), (RIGHT, 10.0)), (-30.0, 30.0)),
    # ankle (bone towards the toes): dorsiflexion 35 (weight-bearing), plantarflexion 50,
    # foot turned out/in 25, inversion/eversion (twist about the foot) +-35
    7: JointLimit(FORWARD, ((UP, 35.0), (DOWN, 50.0), (LEFT, 25.0), (RIGHT, 25.0)), (-35.0, 35.0)),
    # toes: extension 60, flexion 40
    10: JointLimit(FORWARD, ((UP, 60.0), (DOWN, 40.0), (LEFT, 10.0), (RIGHT, 10.0)), (-10.0, 10.0)),
    # each spine joint: a third of thoracolumbar flexion 90, extension 45, lateral bending 45,
    # rotation 60
    3: JointLimit(UP, ((FORWARD, 30.0), (BACK, 15.0), (LEFT, 15.0), (RIGHT, 15.0)), (-20.0, 20.0)),
    6: JointLimit(UP, ((FORWARD, 30.0), (BACK, 15.0), (LEFT, 15.0), (RIGHT, 15.0)), (-20.0, 20.0)),
    9: JointLimit(UP, ((FORWARD, 30.0), (BACK, 15.0), (LEFT, 15.0), (RIGHT, 15.0)), (-20.0, 20.0)),
    # neck and head: about half each of cervical flexion 50-60, extension 60, lateral bending
    # 45, rotation 80
    12: JointLimit(UP, ((FORWARD, 35.0), (BACK, 35.0), (LEFT, 25.0), (RIGHT, 25.0)), (-45.0, 45.0)),
    15: JointLimit(UP, ((FORWARD, 30.0), (BACK, 30.0), (LEFT, 20.0), (RIGHT, 20.0)), (-40.0, 40.0)),
    # collar (sternoclavicular): elevation 30, depression 15, protraction 25, retraction 20
    13: JointLimit(LEFT, ((UP, 30.0), (DOWN, 15.0), (FORWARD, 25.0), (BACK, 20.0)), (-30.0, 30.0)),
    # shoulder: flexion and abduction up to 180 (no limit up or forward), extension 55 (the arm
    # at most 55 behind the body's frontal plane), across the chest 45 past the midline;
    # rotation about the humerus: internal 80 (positive: a forward forearm turns down),
    # external 90
    16: JointLimit(LEFT, ((BACK, 55.0), (RIGHT, 45.0)), (-90.0, 80.0)),
    # elbow: a hinge, flexion 0..150 forwards (the forearm swings to +z, then inwards), no
    # hyperextension beyond 5, little up/down; forearm rotation left loose (it moves no joint)
    18: JointLimit(LEFT, ((BACK, 5.0), (RIGHT, 60.0), (UP, 15.0), (DOWN, 15.0)), (-120.0, 120.0)),
    # wrist: flexion 70 / extension 70 (palm down in the T pose), radial/ulnar deviation 30
    20: JointLimit(LEFT, ((UP, 70.0), (DOWN, 70.0), (FORWARD, 30.0), (BACK, 30.0)), (-30.0, 30.0)),
}
MIRROR_JOINTS = {1: 2, 4: 5, 7: 8, 10: 11, 13: 14, 16: 17, 18: 19, 20: 21}  # left -> right


def all_joint_limits() -> dict[int, JointLimit]:
    """{SMPL joint: JointLimit} for both sides (right = mirrored left)."""
    limits = dict(JOINT_LIMITS)
    limits.update({right: JOINT_LIMITS[left].mirrored() for left, right in MIRROR_JOINTS.items()})
    return dict(sorted(limits.items()))


class JointLimitPrior(nn.Module):
    """Soft anatomical joint limits: per frame, sum over joints of the squared excess (rad) of
    each lean and of the twist beyond its range (zero inside the ranges; see JointLimit)."""

    def __init__(self, limits: dict[int, JointLimit] | None = None):
        super().__init__()
        limits = all_joint_limits() if limits is None else limits
        joints = list(limits)
        leans = [(k, n, deg) for k, joint in enumerate(joints) for n, deg in limits[joint].leans]
        self.register_buffer("pose_index", torch.tensor([j - 1 for j in joints]))  # body pose has no root
        self.register_buffer("bones", torch.tensor([limits[j].bone for j in joints], dtype=torch.float32))
        self.register_buffer("lean_joint", torch.tensor([k for k, _, _ in leans]))
        self.register_buffer("lean_normal", torch.tensor([n for _, n, _ in leans], dtype=torch.float32))
        self.register_buffer("lean_max", torch.tensor([math.radians(deg) for _, _, deg in leans]))
        twist = torch.tensor([limits[j].twist_deg for j in joints], dtype=torch.float32)
        self.register_buffer("twist_range", torch.deg2rad(twist))

    def angles(self, body_pose: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(T, 69) -> (leans (T, L) asin(d . n) per lean constraint, twists (T, N) per joint), rad."""
        aa = body_pose.reshape(body_pose.shape[0], -1, 3)[:, self.pose_index]
        quat = axis_angle_to_quat(aa)
        quat = torch.where(quat[..., :1] < 0, -quat, quat)  # w >= 0: twist in (-pi, pi]
        w, v = quat[..., 0], quat[..., 1:]
        bones = self.bones.expand_as(v)
        # d = q bone q^-1 = bone + 2 w (v x bone) + 2 v x (v x bone)
        v_cross_b = torch.cross(v, bones, dim=-1)
        direction = bones + 2.0 * w[..., None] * v_cross_b + 2.0 * torch.cross(v, v_cross_b, dim=-1)
        lean_sin = (direction[:, self.lean_joint] * self.lean_normal).sum(-1)
        leans = torch.asin(lean_sin.clamp(-_SIN_CLAMP, _SIN_CLAMP))
        twists = 2.0 * torch.atan2((v * bones).sum(-1), w)  # the twist quaternion is (w, (v . bone) bone)
        return leans, twists

    def forward(self, body_pose: torch.Tensor) -> torch.Tensor:
        """(T, 69) -> (T,) sum of squared excesses (rad^2)."""
        leans, twists = self.angles(body_pose)
        lean_excess = (leans - self.lean_max).clamp_min(0.0)
        low, high = self.twist_range[:, 0], self.twist_range[:, 1]
        twist_excess = (low - twists).clamp_min(0.0) + (twists - high).clamp_min(0.0)
        return lean_excess.pow(2).sum(-1) + twist_excess.pow(2).sum(-1)


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
    """The fitting path's pose prior: the user's SMPLify GMM (data_dir / cfg.GMM_PRIOR) when that
    file exists, else the bundled GMM learned from the motion library (cfg.BUNDLED_PRIOR, a file in
    vibe/fitting/assets; "" for none), else OwnPosePrior.

    fitting_cfg: the FITTING section of the config. A present but broken file is an AssetError
    (silently falling back would hide that the user's prior is not used).
    """
    if data_dir is not None and fitting_cfg.GMM_PRIOR:
        path = Path(data_dir) / fitting_cfg.GMM_PRIOR
        if path.is_file():
            log.info("pose prior: SMPLify GMM from %s", path)
            return GMMPosePrior(**read_gmm_file(path))
        log.info("pose prior: %s not in %s", fitting_cfg.GMM_PRIOR, data_dir)
    if fitting_cfg.BUNDLED_PRIOR:
        path = BUNDLED_PRIOR_DIR / fitting_cfg.BUNDLED_PRIOR
        log.info("pose prior: the bundled GMM %s (learned from CMU motion capture)", path.name)
        return GMMPosePrior(**read_gmm_file(path), scale=fitting_cfg.BUNDLED_PRIOR_SCALE)
    log.info("pose prior: the built-in prior")
    return OwnPosePrior(fitting_cfg.OWN_PRIOR_SIGMA_SCALE, fitting_cfg.OWN_PRIOR_LIMIT, fitting_cfg.OWN_PRIOR_LIMIT_W)
