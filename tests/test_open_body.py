"""The bundled open body model (vibe/body/assets/open_body.npz) loaded through smplx like SMPL.

Expectations come from SMPL's conventions and anatomy (closed-form rotations, SMPL's kinematic
tree, body proportions), not from the build script.
"""
import sys

import numpy as np
import pytest
import torch
from scipy.spatial.transform import Rotation

smplx = pytest.importorskip("smplx")

from vibe.body.smpl import OPEN_BODY_PATH  # noqa: E402

SMPL_PARENTS = [-1, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 9, 12, 13, 14, 16, 17, 18, 19, 20, 21]
PELVIS, L_HIP, R_HIP, L_KNEE, R_KNEE, L_ANKLE, R_ANKLE = 0, 1, 2, 4, 5, 7, 8
NECK, HEAD, L_SHOULDER, R_SHOULDER, L_ELBOW, L_WRIST, R_WRIST = 12, 15, 16, 17, 18, 20, 21
LEAF_JOINTS = (10, 11, 15, 22, 23)
MAX_FILE_BYTES = 10_000_000
MAX_SEGMENT_DISTANCE = 0.3  # m


@pytest.fixture(scope="module")
def arrays():
    with np.load(OPEN_BODY_PATH) as data:
        return {key: data[key] for key in data.files}


@pytest.fixture(scope="module")
def model(arrays):
    vertex_ids = {str(n): int(v) for n, v in zip(arrays["vertex_id_names"], arrays["vertex_id_values"])}
    return smplx.SMPL(str(OPEN_BODY_PATH), data_struct=smplx.utils.Struct(**arrays), vertex_ids=vertex_ids)


def run(model, pose=None, betas=None):
    """(vertices (V, 3), joints (45, 3)) for a (24, 3) axis-angle pose and 10 betas."""
    pose = torch.zeros(24, 3) if pose is None else torch.as_tensor(pose, dtype=torch.float32).reshape(24, 3)
    betas = torch.zeros(1, 10) if betas is None else torch.as_tensor(betas, dtype=torch.float32).reshape(1, 10)
    with torch.no_grad():
        out = model(global_orient=pose[None, 0], body_pose=pose[None, 1:].reshape(1, 69), betas=betas)
    return out.vertices[0].numpy().astype(np.float64), out.joints[0].numpy().astype(np.float64)


def test_file_layout(arrays):
    assert OPEN_BODY_PATH.stat().st_size < MAX_FILE_BYTES
    v = arrays["v_template"].shape[0]
    assert arrays["shapedirs"].shape == (v, 3, 10)
    assert arrays["posedirs"].shape == (v, 3, 207) and not arrays["posedirs"].any()
    assert arrays["weights"].shape == (v, 24) and arrays["f"].shape[1] == 3
    assert arrays["f"].max() == v - 1  # every vertex used, no stray helper geometry indices
    parents = arrays["kintree_table"][0].astype(np.int64)
    parents[0] = -1
    assert parents.tolist() == SMPL_PARENTS
    assert arrays["kintree_table"][1].tolist() == list(range(24))
    assert np.all(arrays["weights"] >= 0) and np.allclose(arrays["weights"].sum(1), 1, atol=1e-5)
    for key, rows in (("J_regressor", 24), ("J_regressor_extra", 9), ("J_regressor_h36m", 17)):
        reg = arrays[key]
        assert reg.shape == (rows, v), key
        assert np.all(reg >= 0) and np.allclose(reg.sum(1), 1, atol=1e-5), f"{key} rows must be convex"


def test_faces_point_outward(arrays):
    """Counter-clockwise faces seen from outside (positive enclosed volume), as SMPL's."""
    tri = arrays["v_template"].astype(np.float64)[arrays["f"]]
    volume = np.einsum("ij,ij->i", tri[:, 0], np.cross(tri[:, 1], tri[:, 2])).sum() / 6
    assert 0.04 < volume < 0.12  # m^3 of an adult (about 1 kg per litre)


def test_rest_pose_axes_and_t_pose(model):
    verts, joints = run(model)
    assert np.linalg.norm(joints[PELVIS]) < 0.3
    assert joints[HEAD, 1] > joints[PELVIS, 1] > joints[L_KNEE, 1] > joints[L_ANKLE, 1]  # y up
    assert joints[L_HIP, 0] > 0 > joints[R_HIP, 0] and joints[L_SHOULDER, 0] > 0  # left on +x
    nose = joints[24]
    assert nose[2] > joints[HEAD, 2] + 0.05  # facing +z
    for shoulder, wrist in ((L_SHOULDER, L_WRIST), (R_SHOULDER, R_WRIST)):
        assert abs(joints[wrist, 1] - joints[shoulder, 1]) < 0.05  # arms horizontal
        assert abs(joints[wrist, 0] - joints[shoulder, 0]) > 0.4  # and stretched out sideways
    height = verts[:, 1].max() - verts[:, 1].min()
    assert 1.6 < height < 1.8
    assert verts[:, 0].max() - verts[:, 0].min() > 0.95 * height  # T-pose arm span ~ stature


def test_joint_centres_are_anatomical(model):
    verts, joints = run(model)
    hip_mid = 0.5 * (joints[L_HIP] + joints[R_HIP])
    assert 0.03 < joints[PELVIS, 1] - hip_mid[1] < 0.15  # SMPL's pelvis sits a little above the hips
    for joint in (L_HIP, L_KNEE, L_ANKLE, L_SHOULDER, L_ELBOW, NECK):  # inside the body, not on the skin
        assert np.linalg.norm(verts - joints[joint], axis=1).min() > 0.015, joint
    spine = [joints[j, 1] for j in (0, 3, 6, 9, 12, 15)]
    assert spine == sorted(spine)
    thigh = np.linalg.norm(joints[L_KNEE] - joints[L_HIP])
    shank = np.linalg.norm(joints[L_ANKLE] - joints[L_KNEE])
    assert 0.8 < thigh / shank < 1.3


def test_first_shape_component_is_stature(model):
    heights = []
    for value in (-2.0, 2.0):
        betas = np.zeros(10)
        betas[0] = value
        verts, joints = run(model, betas=betas)
        heights.append(verts[:, 1].max() - verts[:, 1].min())
        # the regressed joints follow the shape: knees stay between hips and ankles
        ratio = (joints[L_HIP, 1] - joints[L_KNEE, 1]) / (joints[L_HIP, 1] - joints[L_ANKLE, 1])
        assert 0.4 < ratio < 0.6
    assert heights[1] - heights[0] >= 0.10


def test_left_shoulder_minus_90_about_z_lowers_the_arm(model):
    _, rest = run(model)
    pose = np.zeros((24, 3))
    pose[L_SHOULDER] = [0, 0, -np.pi / 2]
    verts, joints = run(model, pose)
    expected = rest[L_SHOULDER] + Rotation.from_rotvec([0, 0, -np.pi / 2]).apply(rest[L_WRIST] - rest[L_SHOULDER])
    np.testing.assert_allclose(joints[L_WRIST], expected, atol=1e-3)
    arm = np.linalg.norm(rest[L_WRIST] - rest[L_SHOULDER])
    assert joints[L_WRIST, 1] < joints[L_SHOULDER, 1] - 0.95 * arm  # hanging down at the side
    assert abs(joints[L_WRIST, 0] - joints[L_SHOULDER, 0]) < 0.05
    assert verts[:, 0].max() < rest[L_WRIST, 0] - 0.3  # no vertex left out at the old hand place


def test_landmark_vertices(model):
    _, j = run(model)
    nose, reye, leye, rear, lear = j[24:29]
    lbig, lsmall, lheel, rbig, rsmall, rheel = j[29:35]
    assert nose[2] > max(reye[2], leye[2]) and nose[1] < reye[1]
    assert leye[0] > 0 > reye[0] and lear[0] > leye[0] and rear[0] < reye[0]
    for big, small, heel, ankle in ((lbig, lsmall, lheel, j[L_ANKLE]), (rbig, rsmall, rheel, j[R_ANKLE])):
        assert big[2] > heel[2] + 0.15 and small[2] > heel[2] + 0.1  # toes ahead of the heel
        assert heel[2] < ankle[2] and heel[1] < ankle[1]
        assert abs(big[0]) < abs(small[0])  # big toe on the inside
    assert lbig[0] > 0 > rbig[0]
    for tips, wrist, sign in ((j[35:40], j[L_WRIST], 1.0), (j[40:45], j[R_WRIST], -1.0)):
        assert np.all(sign * (tips[:, 0] - wrist[0]) > 0.05)  # fingertips beyond the wrist
        assert np.all(sign * tips[:, 0] > 0)


def test_extra_and_h36m_regressors(arrays, model):
    verts, j = run(model)
    extra = arrays["J_regressor_extra"].astype(np.float64) @ verts
    r_hip, l_hip, neck, head_top, pelvis, thorax, spine, jaw, head = extra
    assert r_hip[0] < 0 < l_hip[0]
    assert abs(head_top[1] - verts[:, 1].max()) < 0.02
    np.testing.assert_allclose(pelvis, 0.5 * (j[L_HIP] + j[R_HIP]), atol=0.01)
    assert pelvis[1] < spine[1] < thorax[1] < neck[1] < jaw[1] < head[1] < head_top[1]
    assert abs(thorax[1] - j[L_SHOULDER, 1]) < 0.1 and abs(thorax[0]) < 0.01
    assert jaw[2] > neck[2]  # the jaw is forward of the neck
    h36m = arrays["J_regressor_h36m"].astype(np.float64) @ verts
    # VIBE/SPIN's row order: legs mirrored against the textbook H36M labels (SPEC's eval index list).
    smpl_twins = {1: L_HIP, 2: L_KNEE, 3: L_ANKLE, 4: R_HIP, 5: R_KNEE, 6: R_ANKLE, 11: L_SHOULDER,
                  12: L_ELBOW, 13: L_WRIST, 14: R_SHOULDER, 16: R_WRIST}
    for h36m_index, smpl_index in smpl_twins.items():
        np.testing.assert_allclose(h36m[h36m_index], j[smpl_index], atol=0.01)
    assert h36m[0][1] < h36m[7][1] < h36m[8][1] < h36m[9][1] < h36m[10][1]  # pelvis up to head
    np.testing.assert_allclose(h36m[8], neck, atol=0.01)  # read as the LSP neck by the evaluation
    np.testing.assert_allclose(h36m[10], head_top, atol=0.01)
    assert h36m[15][0] < h36m[14][0] < 0  # right elbow outside the right shoulder


def extreme_poses():
    rng = np.random.default_rng(0)
    named = []
    for joints_angles in ({1: (-2.0, 0, 0), 2: (-2.0, 0, 0), 4: (2.3, 0, 0), 5: (2.3, 0, 0)},  # deep squat
                          {16: (0, 0, 1.4), 17: (0, 0, -1.4), 18: (0, -2.4, 0), 19: (0, 2.4, 0)},  # arms up, bent
                          {3: (0.8, 0, 0), 6: (0.6, 0, 0), 9: (0.5, 0, 0), 12: (0.6, 0, 0), 15: (0.5, 0, 0)},  # curl
                          {0: (0, 3.0, 0), 1: (0, 0, 1.2), 2: (0, 0, -1.2), 16: (1.5, 0, 0), 17: (-1.5, 0, 0)}):
        pose = np.zeros((24, 3))
        for joint, aa in joints_angles.items():
            pose[joint] = aa
        named.append(pose)
    named.append(rng.uniform(-1.2, 1.2, size=(24, 3)))
    return named


@pytest.mark.parametrize("pose", extreme_poses())
def test_posed_vertices_stay_near_their_bones(arrays, model, pose):
    verts, joints = run(model, pose)
    dominant = arrays["weights"].argmax(1)
    for joint in range(24):
        mine = verts[dominant == joint]
        children = [c for c, p in enumerate(SMPL_PARENTS) if p == joint]
        ends = [joints[c] for c in children] if joint not in LEAF_JOINTS else [joints[joint]]
        distance = np.min([segment_distance(mine, joints[joint], end) for end in ends], axis=0)
        assert distance.max() < MAX_SEGMENT_DISTANCE, f"joint {joint}: {distance.max():.3f} m"


def segment_distance(points, a, b):
    """Distance of each point (N, 3) to the segment a-b (closed form)."""
    ab = b - a
    t = np.clip((points - a) @ ab / max(ab @ ab, 1e-12), 0.0, 1.0)
    return np.linalg.norm(points - (a + t[:, None] * ab), axis=1)


def test_loads_through_the_body_api_without_anny():
    body = pytest.importorskip("vibe.body")
    model = body.load_body_model(None, "neutral", kind="open")
    zeros = torch.zeros(1, 3)
    out = model(global_orient=zeros, body_pose=torch.zeros(1, 69), betas=torch.zeros(1, 10))
    assert out.joints.shape == (1, 49, 3) and out.smpl_joints.shape == (1, 24, 3)
    assert out.verts.shape[1] == np.load(OPEN_BODY_PATH)["v_template"].shape[0]
    assert "anny" not in sys.modules
