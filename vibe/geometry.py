"""Rotations, cameras and rigid alignment.

Rotations are torch functions batched over any leading dims and differentiable, including at
angle 0 (Taylor branches, so gradients stay finite) and near angle pi (rotation matrix ->
quaternion picks the numerically largest component, Shepperd-style, and angles come from atan2,
never from acos). Quaternions are (w, x, y, z).

Camera and keypoint helpers accept numpy arrays or torch tensors and return the input's kind.

Conventions (SPEC section 3):
- weak perspective crop camera (s, tx, ty): a 3D point p maps to s * (p_xy + (tx, ty)) in the
  crop's normalised [-1, 1] coordinates (translation added before scaling, as SPIN/VIBE);
- boxes are square (cx, cy, w, h) with h the box side BEFORE the crop scale; the crop side used is
  side = h * bbox_scale; normalised crop coordinates are n = 2 * (x - cx) / side;
- the original-image camera (sx, sy, tx, ty) maps p to (sx * (p_x + tx), sy * (p_y + ty)) in the
  image's normalised coordinates (u_px = (n_x + 1) * W / 2, v_px = (n_y + 1) * H / 2).
"""
from __future__ import annotations

from typing import Union

import numpy as np
import torch
import torch.nn.functional as F

from vibe.config import get_cfg_defaults

Array = Union[np.ndarray, torch.Tensor]

_CFG = get_cfg_defaults()
DEFAULT_FOCAL_LENGTH = float(_CFG.CAMERA.FOCAL_LENGTH)  # px on a DEFAULT_CROP_SIZE crop
DEFAULT_CROP_SIZE = int(_CFG.CROP.SIZE)
DEFAULT_BBOX_SCALE = float(_CFG.CROP.BBOX_SCALE)

# Below this squared angle (rad^2) the Taylor series replace sin(t)/t and friends. The first
# omitted term is O(t^6) ~ 1e-12 / 5040, far below float64 rounding.
SMALL_ANGLE_SQ = 1e-4

# Taylor coefficients in powers of t^2 (t the rotation angle).
_SIN_T_OVER_T = (1.0, -1.0 / 6.0, 1.0 / 120.0)  # sin(t) / t
_ONE_MINUS_COS_T_OVER_T2 = (0.5, -1.0 / 24.0, 1.0 / 720.0)  # (1 - cos t) / t^2
_SIN_HALF_T_OVER_T = (0.5, -1.0 / 48.0, 1.0 / 3840.0)  # sin(t/2) / t
_COS_HALF_T = (1.0, -1.0 / 8.0, 1.0 / 384.0)  # cos(t/2)
_ATAN_R_OVER_R = (1.0, -1.0 / 3.0, 1.0 / 5.0)  # atan(r) / r, in powers of r^2

# A floor under squared quantities before sqrt, so branches that torch.where discards never
# produce NaN gradients (NaN * 0 is still NaN in the backward pass).
_SQRT_FLOOR = 1e-12


# ---------------------------------------------------------------------------------------------
# Small helpers


def _series(x_sq: torch.Tensor, coeffs: tuple[float, ...]) -> torch.Tensor:
    """sum_k coeffs[k] * x_sq**k (Horner)."""
    out = torch.full_like(x_sq, coeffs[-1])
    for c in reversed(coeffs[:-1]):
        out = out * x_sq + c
    return out


def _exact_or_series(x_sq: torch.Tensor, exact, coeffs: tuple[float, ...]) -> torch.Tensor:
    """exact(x_sq) away from 0, the Taylor series near 0, with finite gradients in both.

    `exact` only ever sees x_sq >= SMALL_ANGLE_SQ (small entries are replaced by 1 before the
    call), so its gradient is finite where torch.where throws it away.
    """
    small = x_sq < SMALL_ANGLE_SQ
    safe = torch.where(small, torch.ones_like(x_sq), x_sq)
    return torch.where(small, _series(x_sq, coeffs), exact(safe))


def _skew(v: torch.Tensor) -> torch.Tensor:
    """(..., 3) -> (..., 3, 3) cross-product matrix [v]_x."""
    x, y, z = v.unbind(-1)
    zero = torch.zeros_like(x)
    rows = (
        torch.stack([zero, -z, y], -1),
        torch.stack([z, zero, -x], -1),
        torch.stack([-y, x, zero], -1),
    )
    return torch.stack(rows, -2)


def _xp(x: Array):
    """The array module of x: torch for tensors, numpy otherwise."""
    return torch if isinstance(x, torch.Tensor) else np


# ---------------------------------------------------------------------------------------------
# Rotations


def axis_angle_to_rotmat(aa: torch.Tensor) -> torch.Tensor:
    """Rodrigues: (..., 3) axis-angle (axis * angle, rad) -> (..., 3, 3) rotation matrices."""
    angle_sq = (aa * aa).sum(-1)
    sin_over = _exact_or_series(angle_sq, lambda t2: torch.sin(t2.sqrt()) / t2.sqrt(), _SIN_T_OVER_T)
    # 1 - cos t = 2 sin^2(t/2): no cancellation for small t.
    one_minus_cos_over = _exact_or_series(
        angle_sq, lambda t2: 2.0 * torch.sin(0.5 * t2.sqrt()) ** 2 / t2, _ONE_MINUS_COS_T_OVER_T2
    )
    k = _skew(aa)
    eye = torch.eye(3, dtype=aa.dtype, device=aa.device).expand(k.shape)
    return eye + sin_over[..., None, None] * k + one_minus_cos_over[..., None, None] * (k @ k)


def axis_angle_to_quat(aa: torch.Tensor) -> torch.Tensor:
    """(..., 3) axis-angle -> (..., 4) unit quaternion (w, x, y, z) with w >= 0 for angles <= pi."""
    angle_sq = (aa * aa).sum(-1)
    w = _exact_or_series(angle_sq, lambda t2: torch.cos(0.5 * t2.sqrt()), _COS_HALF_T)
    sin_half_over = _exact_or_series(
        angle_sq, lambda t2: torch.sin(0.5 * t2.sqrt()) / t2.sqrt(), _SIN_HALF_T_OVER_T
    )
    return torch.cat([w[..., None], aa * sin_half_over[..., None]], -1)


def quat_to_axis_angle(q: torch.Tensor) -> torch.Tensor:
    """(..., 4) quaternion (w, x, y, z), any non-zero norm -> (..., 3) axis-angle, angle in [0, pi].

    q and -q are the same rotation: the sign is chosen so that w >= 0. The angle is
    2 * atan2(|v|, w), accurate at 0 and at pi alike.
    """
    q = F.normalize(q, dim=-1)
    q = torch.where(q[..., :1] < 0, -q, q)
    w, v = q[..., 0], q[..., 1:]
    v_sq = (v * v).sum(-1)
    # angle / |v| = 2 atan2(|v|, w) / |v|; near |v| = 0 (where w ~ 1) the series of atan(r) / r.
    # Each branch gets inputs that keep the discarded one finite (see _exact_or_series).
    small = v_sq < SMALL_ANGLE_SQ
    n_safe = torch.where(small, torch.ones_like(v_sq), v_sq).sqrt()
    w_safe = torch.where(small, w, torch.ones_like(w))
    exact = 2.0 * torch.atan2(n_safe, w) / n_safe
    series = 2.0 / w_safe * _series(v_sq / (w_safe * w_safe), _ATAN_R_OVER_R)
    ratio = torch.where(small, series, exact)
    return v * ratio[..., None]


def quat_to_rotmat(q: torch.Tensor) -> torch.Tensor:
    """(..., 4) quaternion (w, x, y, z), any non-zero norm -> (..., 3, 3) rotation matrices."""
    w, x, y, z = F.normalize(q, dim=-1).unbind(-1)
    rows = (
        torch.stack([1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)], -1),
        torch.stack([2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)], -1),
        torch.stack([2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)], -1),
    )
    return torch.stack(rows, -2)


def rotmat_to_quat(R: torch.Tensor) -> torch.Tensor:
    """(..., 3, 3) rotation matrices -> (..., 4) unit quaternions (w, x, y, z) with w >= 0.

    Shepperd's method: of the four ways to read a quaternion off R, use the one whose pivot
    (4 w^2, 4 x^2, 4 y^2 or 4 z^2) is largest, so the divisor is never small (VIBE's version
    divides by a vanishing w near angle pi).
    """
    r = R.unbind(-2)
    (r00, r01, r02), (r10, r11, r12), (r20, r21, r22) = (row.unbind(-1) for row in r)
    # Each candidate: pivot = 1 +- diagonal terms = 4 c^2 for the pivot component c, and the
    # other three components times 4c, in (w, x, y, z) order.
    pivots = torch.stack(
        [1 + r00 + r11 + r22, 1 + r00 - r11 - r22, 1 - r00 + r11 - r22, 1 - r00 - r11 + r22], -1
    )
    pivots = pivots.clamp_min(_SQRT_FLOOR)
    four_c = 2.0 * pivots.sqrt()  # (..., 4): 4 |c| for each candidate's pivot component c
    a, b, c = r21 - r12, r02 - r20, r10 - r01  # 4wx, 4wy, 4wz
    d, e, f = r01 + r10, r02 + r20, r12 + r21  # 4xy, 4xz, 4yz
    scaled = torch.stack(
        [
            torch.stack([pivots[..., 0], a, b, c], -1),  # pivot w: 4w * (w, x, y, z)
            torch.stack([a, pivots[..., 1], d, e], -1),  # pivot x: 4x * (w, x, y, z)
            torch.stack([b, d, pivots[..., 2], f], -1),  # pivot y
            torch.stack([c, e, f, pivots[..., 3]], -1),  # pivot z
        ],
        -2,
    )  # (..., 4 candidates, 4 components)
    candidates = scaled / four_c[..., None]
    best = F.one_hot(pivots.argmax(-1), 4).to(R.dtype)  # (..., 4)
    q = (candidates * best[..., None]).sum(-2)
    q = F.normalize(q, dim=-1)  # also absorbs R that are slightly off SO(3)
    return torch.where(q[..., :1] < 0, -q, q)


def rotmat_to_axis_angle(R: torch.Tensor) -> torch.Tensor:
    """(..., 3, 3) rotation matrices -> (..., 3) axis-angle, angle in [0, pi] (via Shepperd)."""
    return quat_to_axis_angle(rotmat_to_quat(R))


def rot6d_to_rotmat(x: torch.Tensor) -> torch.Tensor:
    """(..., 6) -> (..., 3, 3), SPIN/VIBE's convention.

    The 6 numbers are a 3x2 matrix read row-major; its columns a1, a2 are Gram-Schmidt
    orthonormalised into b1, b2; b3 = b1 x b2; R = [b1 b2 b3] as columns.
    """
    m = x.reshape(*x.shape[:-1], 3, 2)
    a1, a2 = m[..., 0], m[..., 1]
    b1 = F.normalize(a1, dim=-1)
    b2 = F.normalize(a2 - (b1 * a2).sum(-1, keepdim=True) * b1, dim=-1)
    b3 = torch.cross(b1, b2, dim=-1)
    return torch.stack([b1, b2, b3], -1)


def rotmat_to_rot6d(R: torch.Tensor) -> torch.Tensor:
    """(..., 3, 3) -> (..., 6): R's first two columns read row-major (pi about x -> 1,0,0,-1,0,0)."""
    return R[..., :, :2].reshape(*R.shape[:-2], 6)


# ---------------------------------------------------------------------------------------------
# Cameras (numpy or torch in, the same kind out)


def weak_to_perspective_translation(
    cam: Array, focal_length: float = DEFAULT_FOCAL_LENGTH, crop_size: float = DEFAULT_CROP_SIZE
) -> Array:
    """(..., 3) crop camera (s, tx, ty) -> (..., 3) translation (tx, ty, 2 f / (crop_size * s)).

    A pinhole camera with focal `focal_length` px on a `crop_size` crop, centred, at that depth
    reproduces the weak perspective projection for points near the body's depth. s must be
    non-zero (a zero scale has no finite depth).
    """
    xp = _xp(cam)
    s, tx, ty = cam[..., 0], cam[..., 1], cam[..., 2]
    return xp.stack([tx, ty, 2.0 * focal_length / (crop_size * s)], -1)


def perspective_to_weak_camera(
    transl: Array, focal_length: float = DEFAULT_FOCAL_LENGTH, crop_size: float = DEFAULT_CROP_SIZE
) -> Array:
    """(..., 3) translation (tx, ty, tz) -> (..., 3) crop camera (2 f / (crop_size * tz), tx, ty)."""
    xp = _xp(transl)
    tx, ty, tz = transl[..., 0], transl[..., 1], transl[..., 2]
    return xp.stack([2.0 * focal_length / (crop_size * tz), tx, ty], -1)


def _box_offsets(bboxes: Array, img_width, img_height):
    """Box centres in the image's normalised coordinates: ((cx - W/2) / (W/2), (cy - H/2) / (H/2))."""
    half_w, half_h = 0.5 * img_width, 0.5 * img_height
    return (bboxes[..., 0] - half_w) / half_w, (bboxes[..., 1] - half_h) / half_h


def crop_cam_to_orig_cam(
    cam: Array, bboxes: Array, img_width, img_height, bbox_scale: float = DEFAULT_BBOX_SCALE
) -> Array:
    """(N, 3) crop cameras (s, tx, ty) + (N, 4) boxes (cx, cy, w, h) -> (N, 4) (sx, sy, tx', ty').

    h is the box side before scaling; the crop covered h * bbox_scale pixels. sx = s * side / W,
    sy = s * side / H, tx' = (cx - W/2) / (W/2) / sx + tx, ty' = (cy - H/2) / (H/2) / sy + ty.
    bbox_scale=1.0 reproduces VIBE's overlay (its issue 182: it forgets the crop scale).
    img_width / img_height: scalars or arrays broadcastable to (N,).
    """
    xp = _xp(cam)
    side = bboxes[..., 3] * bbox_scale
    sx = cam[..., 0] * side / img_width
    sy = cam[..., 0] * side / img_height
    off_x, off_y = _box_offsets(bboxes, img_width, img_height)
    return xp.stack([sx, sy, off_x / sx + cam[..., 1], off_y / sy + cam[..., 2]], -1)


def orig_cam_to_crop_cam(
    orig_cam: Array, bboxes: Array, img_width, img_height, bbox_scale: float = DEFAULT_BBOX_SCALE
) -> Array:
    """Inverse of crop_cam_to_orig_cam: (N, 4) (sx, sy, tx', ty') + (N, 4) boxes -> (N, 3) (s, tx, ty).

    s is read from sx (sy carries the same information for a consistent orig camera).
    """
    xp = _xp(orig_cam)
    sx, sy = orig_cam[..., 0], orig_cam[..., 1]
    side = bboxes[..., 3] * bbox_scale
    off_x, off_y = _box_offsets(bboxes, img_width, img_height)
    return xp.stack([sx * img_width / side, orig_cam[..., 2] - off_x / sx, orig_cam[..., 3] - off_y / sy], -1)


def weak_perspective_project(points: Array, cam: Array) -> Array:
    """(..., J, 3) points, (..., 3) crop cameras (s, tx, ty) -> (..., J, 2) = s * (xy + (tx, ty))."""
    return cam[..., None, :1] * (points[..., :2] + cam[..., None, 1:3])


def orig_weak_perspective_project(points: Array, orig_cam: Array) -> Array:
    """(..., J, 3) points, (..., 4) orig cameras (sx, sy, tx, ty) -> (..., J, 2) normalised image coords.

    Pixels: u = (n_x + 1) * W / 2, v = (n_y + 1) * H / 2.
    """
    return orig_cam[..., None, :2] * (points[..., :2] + orig_cam[..., None, 2:4])


def orig_cam_to_translation(orig_cam: Array, img_width, img_height, focal_length: float) -> Array:
    """(N, 4) orig cameras (sx, sy, tx, ty) -> (N, 3) camera-space translation (tx, ty, 2 f / (W sx)).

    For a pinhole camera of focal `focal_length` px with the principal point at the image centre
    ((W/2, H/2)), this translation reproduces the orig weak perspective projection at the body's
    depth, so renderers can place several people with correct depth order between them.
    The frame is the one the network's vertices live in and the projection uses: x right,
    y DOWN, z forward into the scene (OpenCV). SMPL's own rest pose is y-up; an OpenGL renderer
    (y up, looking down -z) must rotate the posed mesh and translation by pi about x itself.
    img_height is accepted for symmetry: with square pixels sy * H == sx * W, so it is not needed.
    """
    del img_height  # depth follows from sx * W alone (== sy * H)
    xp = _xp(orig_cam)
    depth = 2.0 * focal_length / (img_width * orig_cam[..., 0])
    return xp.stack([orig_cam[..., 2], orig_cam[..., 3], depth], -1)


def perspective_project(
    points: torch.Tensor,
    translation: torch.Tensor,
    focal_length,
    camera_center: torch.Tensor,
    rotation: torch.Tensor | None = None,
) -> torch.Tensor:
    """Pinhole projection to pixels: (B, J, 3) points -> (B, J, 2).

    translation (B, 3); focal_length a float, (B,) or (B, 2) (fx, fy) px; camera_center
    (2,) or (B, 2) px; rotation (B, 3, 3) or None (identity). p_cam = R p + t,
    u = fx * p_x / p_z + cx, v = fy * p_y / p_z + cy (OpenCV axes: y down, z forward).
    """
    if rotation is not None:
        points = points @ rotation.transpose(-1, -2)
    p_cam = points + translation[..., None, :]
    focal = torch.as_tensor(focal_length, dtype=points.dtype, device=points.device)
    if focal.ndim <= 1:
        focal = focal[..., None]  # a scalar or one focal per batch item: the same for x and y
    center = torch.as_tensor(camera_center, dtype=points.dtype, device=points.device)
    return focal[..., None, :] * p_cam[..., :2] / p_cam[..., 2:3] + center[..., None, :]


def crop_to_image_keypoints(kp: Array, bboxes: Array, bbox_scale: float = DEFAULT_BBOX_SCALE) -> Array:
    """(..., J, 2) normalised crop coords in [-1, 1] + (..., 4) boxes (cx, cy, w, h) -> (..., J, 2) px.

    x = cx + n * side / 2 with side = h * bbox_scale (the inverse of n = 2 (x - cx) / side).
    """
    half_side = 0.5 * bboxes[..., None, 3:4] * bbox_scale
    return bboxes[..., None, 0:2] + kp[..., :2] * half_side


def image_to_crop_keypoints(kp: Array, bboxes: Array, bbox_scale: float = DEFAULT_BBOX_SCALE) -> Array:
    """(..., J, 2) image px + (..., 4) boxes (cx, cy, w, h) -> (..., J, 2) normalised crop coords."""
    half_side = 0.5 * bboxes[..., None, 3:4] * bbox_scale
    return (kp[..., :2] - bboxes[..., None, 0:2]) / half_side


# ---------------------------------------------------------------------------------------------
# Alignment


def similarity_procrustes(source: torch.Tensor, target: torch.Tensor):
    """Best s R x + t onto target (least squares), R a proper rotation (det +1).

    source, target: (..., J, 3) tensors (J >= 3, source not all one point).
    Returns (aligned (..., J, 3), scale (...,), R (..., 3, 3), t (..., 3)).
    Umeyama's closed form: SVD of the cross-covariance; when U V^T would be a reflection the
    last singular direction is flipped, which is the optimum over proper rotations.
    """
    mu_src, mu_tgt = source.mean(-2, keepdim=True), target.mean(-2, keepdim=True)
    x, y = source - mu_src, target - mu_tgt
    cov = y.transpose(-1, -2) @ x  # (..., 3, 3) sum_j y_j x_j^T
    u, sing, vh = torch.linalg.svd(cov)
    sign = torch.sign(torch.linalg.det(u @ vh))
    sign = torch.where(sign == 0, torch.ones_like(sign), sign)
    d = torch.cat([torch.ones_like(sing[..., :2]), sign[..., None]], -1)  # diag(1, 1, det(U V^T))
    rot = (u * d[..., None, :]) @ vh
    scale = (sing * d).sum(-1) / (x * x).sum((-2, -1))
    transl = mu_tgt[..., 0, :] - scale[..., None] * (rot @ mu_src[..., 0, :, None])[..., 0]
    aligned = scale[..., None, None] * (source @ rot.transpose(-1, -2)) + transl[..., None, :]
    return aligned, scale, rot, transl
