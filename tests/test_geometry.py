"""vibe.geometry against independent references: scipy's Rotation, closed forms computed by hand,
and the crop mapping written out in pixels."""
import numpy as np
import pytest
import torch
from scipy.spatial.transform import Rotation

from vibe import geometry as g

PI = np.pi


def _edge_axis_angles() -> np.ndarray:
    """(K, 3) float64 axis-angles: identity, tiny, near and exactly pi, plus random ones."""
    rng = np.random.default_rng(0)
    axes = rng.normal(size=(8, 3))
    axes /= np.linalg.norm(axes, axis=1, keepdims=True)
    angles = [0.0, 1e-8, 1e-4, 0.3, 2.0, PI - 1e-3, PI - 1e-6, PI]
    edge = axes * np.array(angles)[:, None]
    on_axes = np.array([[PI, 0, 0], [0, PI, 0], [0, 0, PI], [PI - 1e-6, 0, 0], [1e-8, 0, 0]])
    random = Rotation.random(64, random_state=1).as_rotvec()
    return np.concatenate([edge, on_axes, random])


AA = _edge_axis_angles()


def _wxyz(rot: Rotation) -> np.ndarray:
    return rot.as_quat()[:, [3, 0, 1, 2]]


def _same_quat(q1: np.ndarray, q2: np.ndarray) -> np.ndarray:
    """Per row: q1 and q2 are the same rotation (q ~ -q)."""
    return np.minimum(np.abs(q1 - q2).max(-1), np.abs(q1 + q2).max(-1))


def test_axis_angle_to_rotmat_matches_scipy():
    ours = g.axis_angle_to_rotmat(torch.from_numpy(AA)).numpy()
    np.testing.assert_allclose(ours, Rotation.from_rotvec(AA).as_matrix(), atol=1e-12)


def test_rotmat_to_axis_angle_matches_scipy():
    R = Rotation.from_rotvec(AA).as_matrix()
    ours = g.rotmat_to_axis_angle(torch.from_numpy(R)).numpy()
    ref = Rotation.from_matrix(R).as_rotvec()
    # Same rotation and same angle everywhere ...
    np.testing.assert_allclose(Rotation.from_rotvec(ours).as_matrix(), R, atol=1e-12)
    np.testing.assert_allclose(np.linalg.norm(ours, axis=1), np.linalg.norm(ref, axis=1), atol=1e-9)
    # ... and the same vector where the axis sign is defined (angle below pi).
    below_pi = np.linalg.norm(ref, axis=1) < PI - 1e-7
    np.testing.assert_allclose(ours[below_pi], ref[below_pi], atol=1e-9)
    assert np.abs(np.linalg.norm(ours, axis=1) - PI)[~below_pi].max() < 1e-6


def test_quaternions_match_scipy():
    rot = Rotation.from_rotvec(AA)
    R = torch.from_numpy(rot.as_matrix())
    q_ref = _wxyz(rot)
    assert _same_quat(g.axis_angle_to_quat(torch.from_numpy(AA)).numpy(), q_ref).max() < 1e-12
    assert _same_quat(g.rotmat_to_quat(R).numpy(), q_ref).max() < 1e-12
    np.testing.assert_allclose(g.quat_to_rotmat(torch.from_numpy(q_ref)).numpy(), rot.as_matrix(), atol=1e-12)
    aa = g.quat_to_axis_angle(torch.from_numpy(q_ref)).numpy()
    np.testing.assert_allclose(Rotation.from_rotvec(aa).as_matrix(), rot.as_matrix(), atol=1e-12)
    assert (g.rotmat_to_quat(R)[:, 0] >= 0).all()


def test_quat_to_axis_angle_accepts_unnormalised_and_negated():
    q = _wxyz(Rotation.from_rotvec(AA))
    aa = g.quat_to_axis_angle(torch.from_numpy(-3.0 * q)).numpy()
    np.testing.assert_allclose(Rotation.from_rotvec(aa).as_matrix(), Rotation.from_rotvec(AA).as_matrix(), atol=1e-12)


def test_batched_leading_dims():
    aa = torch.from_numpy(Rotation.random(24, random_state=2).as_rotvec()).reshape(2, 3, 4, 3)
    R = g.axis_angle_to_rotmat(aa)
    assert R.shape == (2, 3, 4, 3, 3)
    ref = Rotation.from_rotvec(aa.reshape(-1, 3)).as_matrix()
    np.testing.assert_allclose(R.reshape(-1, 3, 3).numpy(), ref, atol=1e-12)
    assert g.rotmat_to_axis_angle(R).shape == (2, 3, 4, 3)
    assert g.rotmat_to_quat(R).shape == (2, 3, 4, 4)
    assert g.rotmat_to_rot6d(R).shape == (2, 3, 4, 6)
    assert g.rot6d_to_rotmat(g.rotmat_to_rot6d(R)).shape == (2, 3, 4, 3, 3)


def test_float32_near_pi_stays_accurate():
    """VIBE's acos-style conversion loses the axis near pi in float32; Shepperd + atan2 must not."""
    aa = Rotation.from_rotvec(AA).as_rotvec()
    R32 = torch.from_numpy(Rotation.from_rotvec(aa).as_matrix()).float()
    back = g.rotmat_to_axis_angle(R32).double().numpy()
    np.testing.assert_allclose(Rotation.from_rotvec(back).as_matrix(), R32.double().numpy(), atol=2e-6)


def test_rot6d_examples_by_hand():
    pi_about_x = torch.tensor([[1.0, 0, 0], [0, -1, 0], [0, 0, -1]])
    assert g.rotmat_to_rot6d(pi_about_x).tolist() == [1, 0, 0, -1, 0, 0]
    assert g.rot6d_to_rotmat(torch.tensor([1.0, 0, 0, -1, 0, 0])).tolist() == pi_about_x.tolist()
    # 3x2 matrix [[2, 1], [0, 1], [0, 0]]: a1 = 2 e_x, a2 = e_x + e_y -> b1 = e_x, b2 = e_y, b3 = e_z.
    assert torch.allclose(g.rot6d_to_rotmat(torch.tensor([2.0, 1, 0, 1, 0, 0])), torch.eye(3))
    # a1 = 5 e_z, a2 = 3 e_y -> b1 = e_z, b2 = e_y, b3 = e_z x e_y = -e_x; columns (e_z, e_y, -e_x).
    expected = torch.tensor([[0.0, 0, -1], [0, 1, 0], [1, 0, 0]])
    assert torch.allclose(g.rot6d_to_rotmat(torch.tensor([0.0, 0, 0, 3, 5, 0])), expected)


def test_rot6d_gram_schmidt_matches_qr_and_round_trips():
    rng = np.random.default_rng(3)
    x = rng.normal(size=(32, 6))
    R = g.rot6d_to_rotmat(torch.from_numpy(x)).numpy()
    for xi, Ri in zip(x, R):
        q, r = np.linalg.qr(xi.reshape(3, 2))  # independent Gram-Schmidt of the two columns
        q = q * np.sign(np.diag(r))  # QR's sign convention -> positive projections
        np.testing.assert_allclose(Ri[:, :2], q, atol=1e-12)
        np.testing.assert_allclose(Ri[:, 2], np.cross(q[:, 0], q[:, 1]), atol=1e-12)
    R_ref = torch.from_numpy(Rotation.from_rotvec(AA).as_matrix())
    np.testing.assert_allclose(g.rot6d_to_rotmat(g.rotmat_to_rot6d(R_ref)).numpy(), R_ref.numpy(), atol=1e-12)


@pytest.mark.parametrize("angle", [0.0, 1e-8, PI - 1e-6, PI - 1e-3])
def test_gradients_finite_at_zero_and_near_pi(angle):
    axis = torch.tensor([0.48, -0.6, 0.64], dtype=torch.float64)
    aa = (axis * angle).requires_grad_(True)
    loss = g.rotmat_to_axis_angle(g.axis_angle_to_rotmat(aa)).sum() + g.axis_angle_to_quat(aa).sum()
    loss = loss + g.quat_to_axis_angle(g.axis_angle_to_quat(aa)).sum()
    loss = loss + g.rot6d_to_rotmat(g.rotmat_to_rot6d(g.axis_angle_to_rotmat(aa))).sum()
    (grad,) = torch.autograd.grad(loss, aa)
    assert torch.isfinite(grad).all()


def test_gradient_of_round_trip_is_identity_at_zero():
    """aa -> R -> aa is the identity map, so its Jacobian at 0 is I (a closed form, not finite)."""
    jac = torch.autograd.functional.jacobian(
        lambda a: g.rotmat_to_axis_angle(g.axis_angle_to_rotmat(a)), torch.zeros(3, dtype=torch.float64)
    )
    assert torch.allclose(jac, torch.eye(3, dtype=torch.float64), atol=1e-12)
    # dR/d(aa_k) at 0 is the generator [e_k]_x.
    jac_r = torch.autograd.functional.jacobian(g.axis_angle_to_rotmat, torch.zeros(3, dtype=torch.float64))
    assert torch.allclose(jac_r[..., 2], torch.tensor([[0.0, -1, 0], [1, 0, 0], [0, 0, 0]], dtype=torch.float64))


@pytest.mark.parametrize("angle", [1e-8, 0.5, PI - 1e-3])
def test_gradcheck(angle):
    axis = torch.tensor([0.48, -0.6, 0.64], dtype=torch.float64)
    aa = (axis * angle).requires_grad_(True)
    assert torch.autograd.gradcheck(g.axis_angle_to_rotmat, (aa,))
    assert torch.autograd.gradcheck(g.axis_angle_to_quat, (aa,))
    R = g.axis_angle_to_rotmat(aa.detach()).requires_grad_(True)
    assert torch.autograd.gradcheck(g.rotmat_to_axis_angle, (R,))


# ---------------------------------------------------------------------------------------------
# Procrustes


def _random_points(n_batch, n_joints, seed):
    return torch.from_numpy(np.random.default_rng(seed).normal(size=(n_batch, n_joints, 3)))


def test_procrustes_recovers_known_similarity():
    src = _random_points(4, 14, 4)
    R = torch.from_numpy(Rotation.random(4, random_state=5).as_matrix())
    s = torch.tensor([0.5, 1.0, 2.0, 7.5], dtype=torch.float64)
    t = torch.tensor([[1.0, 2, 3], [0, 0, 0], [-4, 1, 0.5], [10, -10, 2]], dtype=torch.float64)
    tgt = s[:, None, None] * src @ R.transpose(1, 2) + t[:, None]
    aligned, s_est, R_est, t_est = g.similarity_procrustes(src, tgt)
    assert torch.allclose(s_est, s, atol=1e-12)
    assert torch.allclose(R_est, R, atol=1e-12)
    assert torch.allclose(t_est, t, atol=1e-12)
    assert torch.allclose(aligned, tgt, atol=1e-12)


def test_procrustes_planar_points_recover_proper_rotation():
    """Coplanar points: the cross-covariance has a zero singular value and U V^T may be a mirror."""
    src = _random_points(1, 10, 6)
    src[..., 2] = 0
    R = torch.from_numpy(Rotation.from_rotvec([0.3, -1.2, 2.0]).as_matrix())[None]
    tgt = 1.3 * src @ R.transpose(1, 2) + torch.tensor([0.1, 0.2, 0.3], dtype=torch.float64)
    _, s_est, R_est, _ = g.similarity_procrustes(src, tgt)
    assert torch.allclose(R_est, R, atol=1e-10)
    assert torch.allclose(s_est, torch.tensor([1.3], dtype=torch.float64), atol=1e-12)


def test_procrustes_mirrored_target_gives_best_proper_rotation():
    """The target is a mirror image: naive SVD returns a reflection with zero error; we must
    return the best proper rotation, checked against scipy's Kabsch (align_vectors)."""
    src = _random_points(1, 14, 7)
    mirror = torch.diag(torch.tensor([-1.0, 1, 1], dtype=torch.float64))
    tgt = 0.8 * src @ mirror + 0.5
    x, y = (src - src.mean(1, keepdim=True))[0].numpy(), (tgt - tgt.mean(1, keepdim=True))[0].numpy()
    u, _, vh = np.linalg.svd(y.T @ x)
    assert np.linalg.det(u @ vh) < 0  # the naive solution is a reflection here
    aligned, s_est, R_est, t_est = g.similarity_procrustes(src, tgt)
    assert torch.linalg.det(R_est).item() == pytest.approx(1.0, abs=1e-12)
    rot_ref, _ = Rotation.align_vectors(y, x)
    R_ref = rot_ref.as_matrix()
    np.testing.assert_allclose(R_est[0].numpy(), R_ref, atol=1e-9)
    rx = x @ R_ref.T
    s_ref = (rx * y).sum() / (x * x).sum()  # optimal scale for that rotation
    assert s_est.item() == pytest.approx(s_ref, rel=1e-9)
    expected = s_ref * src[0].numpy() @ R_ref.T + t_est[0].numpy()
    np.testing.assert_allclose(aligned[0].numpy(), expected, atol=1e-9)
    np.testing.assert_allclose(aligned[0].mean(0).numpy(), tgt[0].mean(0).numpy(), atol=1e-12)


# ---------------------------------------------------------------------------------------------
# Cameras

W, H = 640.0, 480.0


def test_weak_perspective_translation_closed_form_and_round_trip():
    cam = torch.tensor([[1.0, 0.1, -0.2], [0.5, 0.0, 0.3]], dtype=torch.float64)
    transl = g.weak_to_perspective_translation(cam)
    assert transl[0].tolist() == pytest.approx([0.1, -0.2, 2 * 5000 / 224])
    assert transl[1, 2].item() == pytest.approx(2 * 5000 / (224 * 0.5))
    assert torch.allclose(g.perspective_to_weak_camera(transl), cam)
    assert g.weak_to_perspective_translation(np.array([2.0, 0, 0]), focal_length=1000, crop_size=100)[2] == 10.0


def test_perspective_equals_weak_perspective_on_the_depth_plane():
    """For points at z = 0 (the body's depth), 5000 px on a 224 crop == the weak camera."""
    pts = _random_points(3, 10, 8)
    pts[..., 2] = 0
    cam = torch.tensor([[0.9, 0.1, 0.2], [1.2, -0.3, 0.0], [0.5, 0.0, -0.1]], dtype=torch.float64)
    px = g.perspective_project(pts, g.weak_to_perspective_translation(cam), 5000.0, torch.tensor([112.0, 112.0]))
    np.testing.assert_allclose(((px - 112) / 112).numpy(), g.weak_perspective_project(pts, cam).numpy(), atol=1e-12)


def test_perspective_project_by_hand():
    # 90 deg about z takes (1, 0, 0) to (0, 1, 0); +10 in z; f = 100, centre (50, 50).
    R = torch.tensor([[[0.0, -1, 0], [1, 0, 0], [0, 0, 1]]])
    point, transl = torch.tensor([[[1.0, 0, 0]]]), torch.tensor([[0.0, 0, 10]])
    px = g.perspective_project(point, transl, 100.0, torch.tensor([50.0, 50]), R)
    assert px.tolist() == [[[50.0, 60.0]]]
    # (fx, fy) per batch item and a per-item centre.
    point, transl = torch.tensor([[[1.0, 2, 0]]]), torch.tensor([[0.0, 0, 4]])
    px = g.perspective_project(point, transl, torch.tensor([[8.0, 4]]), torch.tensor([[1.0, 2]]))
    assert px.tolist() == [[[3.0, 4.0]]]


def test_crop_cam_to_orig_cam_by_hand():
    cam = np.array([[1.0, 0.0, 0.0], [2.0, 0.1, -0.1]])
    boxes = np.array([[320.0, 240.0, 200.0, 200.0], [480.0, 120.0, 100.0, 100.0]])
    orig = g.crop_cam_to_orig_cam(cam, boxes, W, H)
    # box side 200 x 1.1 = 220 px at the image centre: sx = 220/640, sy = 220/480, no shift.
    np.testing.assert_allclose(orig[0], [220 / 640, 220 / 480, 0, 0])
    sx, sy = 2 * 110 / 640, 2 * 110 / 480
    np.testing.assert_allclose(orig[1], [sx, sy, 0.5 / sx + 0.1, -0.5 / sy - 0.1])
    vibe_compat = g.crop_cam_to_orig_cam(cam, boxes, W, H, bbox_scale=1.0)
    np.testing.assert_allclose(vibe_compat[:, :2], orig[:, :2] / 1.1)


def test_crop_orig_round_trip_torch_and_numpy():
    rng = np.random.default_rng(9)
    cam = np.stack([rng.uniform(0.5, 1.5, 6), rng.normal(size=6) * 0.2, rng.normal(size=6) * 0.2], 1)
    boxes = np.concatenate([rng.uniform(50, 400, (6, 2)), np.repeat(rng.uniform(40, 300, (6, 1)), 2, 1)], 1)
    back = g.orig_cam_to_crop_cam(g.crop_cam_to_orig_cam(cam, boxes, W, H), boxes, W, H)
    np.testing.assert_allclose(back, cam, atol=1e-12)
    out = g.crop_cam_to_orig_cam(torch.from_numpy(cam), torch.from_numpy(boxes), W, H)
    assert isinstance(out, torch.Tensor) and out.shape == (6, 4)


def test_crop_keypoints_follow_the_shared_pixel_formula():
    box = np.array([[100.0, 50.0, 20.0, 20.0]])  # side 22 px after x1.1
    img = np.array([[[111.0, 50.0], [89.0, 39.0], [100.0, 50.0]]])
    np.testing.assert_allclose(g.image_to_crop_keypoints(img, box), [[[1.0, 0.0], [-1.0, -1.0], [0.0, 0.0]]])
    # crop pixel u = (x - cx) * out / side + out / 2 with out = 224, then normalise u to [-1, 1].
    u = (img - box[:, None, :2]) * 224 / 22 + 112
    np.testing.assert_allclose(g.image_to_crop_keypoints(img, box), (u - 112) / 112, atol=1e-12)
    np.testing.assert_allclose(g.crop_to_image_keypoints(g.image_to_crop_keypoints(img, box), box), img)


@pytest.mark.parametrize("bbox_scale", [1.1, 1.0])
def test_crop_projection_then_image_mapping_equals_orig_projection(bbox_scale):
    rng = np.random.default_rng(10)
    pts = torch.from_numpy(rng.normal(size=(5, 17, 3)) * 0.5)
    cam = np.stack([rng.uniform(0.6, 1.2, 5), rng.normal(size=5) * 0.1, rng.normal(size=5) * 0.1], 1)
    boxes = np.concatenate([rng.uniform(100, 500, (5, 2)), np.repeat(rng.uniform(60, 300, (5, 1)), 2, 1)], 1)
    cam, boxes = torch.from_numpy(cam), torch.from_numpy(boxes)
    via_crop = g.crop_to_image_keypoints(g.weak_perspective_project(pts, cam), boxes, bbox_scale)
    orig = g.crop_cam_to_orig_cam(cam, boxes, W, H, bbox_scale)
    norm = g.orig_weak_perspective_project(pts, orig)
    via_orig = torch.stack([(norm[..., 0] + 1) * W / 2, (norm[..., 1] + 1) * H / 2], -1)
    assert torch.allclose(via_crop, via_orig, atol=1e-9)


def test_orig_cam_to_translation_reproduces_orig_projection():
    rng = np.random.default_rng(11)
    pts = torch.from_numpy(rng.normal(size=(4, 12, 3)) * 0.5)
    pts[..., 2] = 0  # on the body's depth plane the two cameras agree exactly
    cam = torch.tensor([[0.9, 0.1, 0.0], [1.1, -0.2, 0.1], [0.7, 0.0, 0.3], [1.0, 0.0, 0.0]], dtype=torch.float64)
    boxes = torch.tensor([[100.0, 200, 80, 80], [500, 300, 150, 150], [320, 240, 300, 300], [50, 400, 40, 40]])
    orig = g.crop_cam_to_orig_cam(cam, boxes.double(), W, H)
    focal = 800.0
    transl = g.orig_cam_to_translation(orig, W, H, focal)
    assert torch.allclose(transl[:, 2], 2 * focal / (W * orig[:, 0]))
    px = g.perspective_project(pts, transl, focal, torch.tensor([W / 2, H / 2]))
    norm = g.orig_weak_perspective_project(pts, orig)
    expected = torch.stack([(norm[..., 0] + 1) * W / 2, (norm[..., 1] + 1) * H / 2], -1)
    assert torch.allclose(px, expected, atol=1e-9)
