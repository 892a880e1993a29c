"""Body model loading and posing, checked against an independent skinning computation."""
import logging

import numpy as np
import pytest
import torch
from scipy.spatial.transform import Rotation
from smpl_factory import SMPL_PARENTS, make_smpl_arrays, write_smpl_file, write_vibe_regressors

import vibe.body.smpl as body_smpl
from vibe.body import load_body_model, load_smpl
from vibe.errors import AssetError, InputError

# SPIN/VIBE JOINT_MAP (published): the 49 joints as indices into [24 SMPL joints, 21 smplx vertex
# joints (nose, reye, leye, rear, lear, LBigToe, LSmallToe, LHeel, RBigToe, RSmallToe, RHeel,
# l/r thumb..pinky tips), 9 J_regressor_extra joints].
VIBE_JOINT_MAP = [24, 12, 17, 19, 21, 16, 18, 20, 0, 2, 5, 8, 1, 4, 7, 25, 26, 27, 28, 29, 30, 31, 32,
                  33, 34, 8, 5, 45, 46, 4, 7, 21, 19, 17, 16, 18, 20, 47, 48, 49, 50, 51, 52, 53, 24, 26,
                  25, 28, 27]
SMPLX_SELECTOR_ORDER = ["nose", "reye", "leye", "rear", "lear", "LBigToe", "LSmallToe", "LHeel",
                        "RBigToe", "RSmallToe", "RHeel", "lthumb", "lindex", "lmiddle", "lring", "lpinky",
                        "rthumb", "rindex", "rmiddle", "rring", "rpinky"]
SMPL_NOSE_VERTEX = 332  # smplx's SMPL-H/SMPL vertex id for the nose
TOL = dict(rtol=1e-5, atol=2e-6)


def _random_params(batch, seed, scale=0.4):
    gen = torch.Generator().manual_seed(seed)
    return (torch.randn(batch, 3, generator=gen) * scale, torch.randn(batch, 69, generator=gen) * scale,
            torch.randn(batch, 10, generator=gen), torch.randn(batch, 3, generator=gen))


def _lbs_reference(arrays, global_orient, body_pose, betas, transl):
    """SMPL written out with scipy rotations: (V, 3) vertices and (24, 3) joints for one body."""
    pose = np.concatenate([global_orient, body_pose]).reshape(24, 3)
    rots = Rotation.from_rotvec(pose).as_matrix()
    v_shaped = arrays["v_template"] + arrays["shapedirs"] @ betas
    rest = arrays["J_regressor"] @ v_shaped
    pose_feature = (rots[1:] - np.eye(3)).reshape(-1)
    v_posed = v_shaped + arrays["posedirs"] @ pose_feature
    world = np.zeros((24, 4, 4))
    for j, parent in enumerate(SMPL_PARENTS):
        local = np.eye(4)
        local[:3, :3] = rots[j]
        local[:3, 3] = rest[j] - (rest[parent] if parent >= 0 else 0)
        world[j] = local if parent < 0 else world[parent] @ local
    skin = world.copy()
    skin[:, :3, 3] -= np.einsum("jab,jb->ja", world[:, :3, :3], rest)  # transform relative to rest
    per_vertex = np.einsum("vj,jab->vab", arrays["weights"], skin)
    homo = np.concatenate([v_posed, np.ones((len(v_posed), 1))], axis=1)
    verts = np.einsum("vab,vb->va", per_vertex, homo)[:, :3] + transl
    return verts, world[:, :3, 3] + transl


def test_pkl_and_npz_give_the_same_body(tmp_path, tiny_smpl_arrays):
    params = _random_params(3, seed=0)
    pkl = load_smpl(write_smpl_file(tmp_path / "model.pkl", tiny_smpl_arrays))
    npz = load_smpl(write_smpl_file(tmp_path / "model.npz", tiny_smpl_arrays))
    out_pkl, out_npz = pkl(*params), npz(*params)
    torch.testing.assert_close(out_pkl.verts, out_npz.verts, **TOL)
    torch.testing.assert_close(out_pkl.joints, out_npz.joints, **TOL)
    np.testing.assert_array_equal(pkl.faces, tiny_smpl_arrays["f"])


def test_posed_vertices_match_independent_skinning(tiny_body_model, tiny_smpl_arrays):
    global_orient, body_pose, betas, transl = _random_params(2, seed=1)
    out = tiny_body_model(global_orient, body_pose, betas, transl)
    assert out.verts.shape == (2, 300, 3) and out.joints.shape == (2, 49, 3) and out.smpl_joints.shape == (2, 24, 3)
    for b in range(2):
        verts, joints = _lbs_reference(tiny_smpl_arrays, *(x[b].double().numpy() for x in
                                                          (global_orient, body_pose, betas, transl)))
        np.testing.assert_allclose(out.verts[b].numpy(), verts, rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(out.smpl_joints[b].numpy(), joints, rtol=1e-4, atol=1e-5)


def test_rest_pose_joints_are_the_designed_t_pose(tiny_body_model, tiny_smpl_arrays):
    zeros = torch.zeros(1, 3), torch.zeros(1, 69), torch.zeros(1, 10)
    out = tiny_body_model(*zeros)
    np.testing.assert_allclose(out.smpl_joints[0].numpy(), tiny_smpl_arrays["J"], atol=1e-6)
    np.testing.assert_allclose(out.verts[0].numpy(), tiny_smpl_arrays["v_template"], atol=1e-6)


def test_rotation_matrices_equal_axis_angle(tiny_body_model):
    global_orient, body_pose, betas, _ = _random_params(2, seed=2)
    mats = torch.tensor(Rotation.from_rotvec(torch.cat([global_orient, body_pose], 1).reshape(-1, 3).numpy())
                        .as_matrix(), dtype=torch.float32).reshape(2, 24, 3, 3)
    by_angle = tiny_body_model(global_orient, body_pose, betas)
    by_matrix = tiny_body_model(mats[:, :1], mats[:, 1:], betas, pose2rot=False)
    torch.testing.assert_close(by_angle.verts, by_matrix.verts, rtol=1e-4, atol=1e-5)


def test_49_joints_follow_vibe_joint_map(tiny_body_model, tiny_smpl_arrays):
    out = tiny_body_model(*_random_params(2, seed=3))
    verts = out.verts.double().numpy()
    ids = dict(zip(tiny_smpl_arrays["vertex_id_names"].tolist(), tiny_smpl_arrays["vertex_id_values"].tolist()))
    vertex_joints = verts[:, [ids[name] for name in SMPLX_SELECTOR_ORDER]]
    extra = np.einsum("jv,bvc->bjc", tiny_smpl_arrays["J_regressor_extra"], verts)
    stack = np.concatenate([out.smpl_joints.double().numpy(), vertex_joints, extra], axis=1)
    np.testing.assert_allclose(out.joints.numpy(), stack[:, VIBE_JOINT_MAP], rtol=1e-5, atol=1e-5)
    # the SPEC's examples, spelled out
    np.testing.assert_allclose(out.joints[:, 25 + 2].numpy(), extra[:, 0], atol=1e-5)  # common right hip
    np.testing.assert_allclose(out.joints[:, 9].numpy(), out.smpl_joints[:, 2].numpy())  # OP RHip
    np.testing.assert_allclose(out.joints[:, 8].numpy(), out.smpl_joints[:, 0].numpy())  # OP MidHip


def test_h36m_joints(tiny_body_model, tiny_smpl_arrays):
    out = tiny_body_model(*_random_params(2, seed=4))
    expected = np.einsum("jv,bvc->bjc", tiny_smpl_arrays["J_regressor_h36m"], out.verts.double().numpy())
    np.testing.assert_allclose(tiny_body_model.h36m_joints(out.verts).numpy(), expected, rtol=1e-5, atol=1e-6)


@pytest.fixture(scope="module")
def smpl_sized_dir(tmp_path_factory):
    """A 6890-vertex model without embedded keys, plus VIBE-style regressor .npy files."""
    folder = tmp_path_factory.mktemp("smpl6890")
    arrays = make_smpl_arrays(num_verts=6890, seed=5, embed_extras=False)
    arrays = {k: v.astype(np.float32) if v.dtype == np.float64 else v for k, v in arrays.items()}
    write_smpl_file(folder / "SMPL_NEUTRAL.pkl", arrays)
    regressors = write_vibe_regressors(folder, 6890, seed=5)
    return folder, regressors


def test_smpl_sized_model_uses_data_dir_regressors_and_smplx_vertex_ids(smpl_sized_dir):
    folder, regressors = smpl_sized_dir
    model = load_body_model(folder, kind="auto")
    out = model(*_random_params(1, seed=6))
    verts = out.verts[0].double().numpy()
    np.testing.assert_allclose(out.joints[0, 0].numpy(), verts[SMPL_NOSE_VERTEX], atol=1e-6)
    np.testing.assert_allclose(out.joints[0, 27].numpy(), regressors["J_regressor_extra"][0] @ verts, atol=1e-5)
    np.testing.assert_allclose(model.h36m_joints(out.verts)[0].numpy(),
                               regressors["J_regressor_h36m"] @ verts, atol=1e-5)


def test_wrong_shape_regressor_error_text(smpl_sized_dir, tmp_path):
    folder, _ = smpl_sized_dir
    (tmp_path / "SMPL_NEUTRAL.pkl").symlink_to(folder / "SMPL_NEUTRAL.pkl")
    np.save(tmp_path / "J_regressor_extra.npy", np.zeros((9, 100)))
    with pytest.raises(AssetError) as err:
        load_smpl(tmp_path)
    assert str(err.value) == (f"J_regressor_extra.npy has shape (9, 100), expected (9, 6890); replace it "
                              f"(in {tmp_path}) with the copy from VIBE's vibe_data download")


def test_missing_smpl_file_error_text(tmp_path):
    with pytest.raises(AssetError) as err:
        load_body_model(tmp_path, kind="smpl")
    assert str(err.value) == (
        f"SMPL model file SMPL_NEUTRAL.pkl not found in {tmp_path}; download it from "
        "https://smpl.is.tue.mpg.de (chumpy-free .pkl or .npz) into that folder, or run without "
        "--body_model smpl to use the bundled open body model")


def test_chumpy_garbage_and_incomplete_files(tmp_path):
    # A pickle that refers to chumpy.ch.Ch, as the original SMPL release does.
    (tmp_path / "SMPL_MALE.pkl").write_bytes(b"\x80\x02}X\x01\x00\x00\x00acchumpy.ch\nCh\ns.")
    with pytest.raises(AssetError, match=r"^SMPL model file SMPL_MALE.pkl in .* is pickled with chumpy"):
        load_smpl(tmp_path, gender="male")
    (tmp_path / "SMPL_FEMALE.npz").write_bytes(b"not a zip")
    with pytest.raises(AssetError, match=r"SMPL_FEMALE.npz in .* cannot be read \(not an .npz archive\)"):
        load_smpl(tmp_path, gender="female")
    arrays = make_smpl_arrays(num_verts=96, seed=7)
    write_smpl_file(tmp_path / "no_weights.npz", {k: v for k, v in arrays.items() if k != "weights"})
    with pytest.raises(AssetError, match="lacks weights; it is not an SMPL-format model file"):
        load_smpl(tmp_path / "no_weights.npz")
    write_smpl_file(tmp_path / "plain.npz", make_smpl_arrays(num_verts=96, seed=7, embed_extras=False))
    with pytest.raises(AssetError, match="has 96 vertices .* no embedded J_regressor_extra"):
        load_smpl(tmp_path / "plain.npz")
    bad = dict(arrays, J_regressor_extra=arrays["J_regressor_extra"][:, :10])
    write_smpl_file(tmp_path / "bad_extra.npz", bad)
    with pytest.raises(AssetError, match=r"key J_regressor_extra has shape \(9, 10\), expected \(9, 96\)"):
        load_smpl(tmp_path / "bad_extra.npz")


def test_gender_and_file_choice(tiny_smpl_dir, tiny_smpl_arrays):
    assert load_smpl(tiny_smpl_dir, gender="female").source.name == "SMPL_FEMALE.npz"
    male = load_smpl(tiny_smpl_dir, gender="male")
    assert male.source.name == "SMPL_MALE.pkl"
    assert not np.allclose(male.smpl.v_template.numpy(), tiny_smpl_arrays["v_template"])
    with pytest.raises(InputError, match="unknown body model gender 'other'"):
        load_body_model(tiny_smpl_dir, gender="other")
    with pytest.raises(InputError, match="unknown body model kind 'smplx'"):
        load_body_model(tiny_smpl_dir, kind="smplx")


def test_auto_falls_back_to_open_body_and_logs_once(tmp_path, tiny_smpl_dir, tiny_smpl_arrays, monkeypatch, caplog):
    open_path = tmp_path / "assets" / "open_body.npz"
    monkeypatch.setattr(body_smpl, "OPEN_BODY_PATH", open_path)
    empty = tmp_path / "vibe_data"
    empty.mkdir()
    with pytest.raises(AssetError, match=r"^open body model file open_body.npz not found in .*assets"):
        load_body_model(empty)
    open_path.parent.mkdir()
    write_smpl_file(open_path, make_smpl_arrays(num_verts=96, seed=8))
    monkeypatch.setenv("VIBE_DATA_DIR", str(empty))  # data_dir None -> resolve_data_dir()
    with caplog.at_level(logging.INFO, logger="vibe.body.smpl"):
        first, second = load_body_model(), load_body_model()
    assert (first.kind, first.num_verts, second.kind) == ("open", 96, "open")
    assert len([r for r in caplog.records if "body model: open" in r.message]) == 1
    assert load_body_model(tiny_smpl_dir).kind == "smpl"
    assert load_body_model(tiny_smpl_dir, kind="open").source == open_path


def test_bad_pose_shapes_are_input_errors(tiny_body_model):
    with pytest.raises(InputError, match=r"body_pose has shape \(2, 72\), expected \(B, 69\) axis-angle"):
        tiny_body_model(torch.zeros(2, 3), torch.zeros(2, 72), torch.zeros(2, 10))
    with pytest.raises(InputError, match=r"global_orient has shape \(2, 3\), expected \(B, 1, 3, 3\)"):
        tiny_body_model(torch.zeros(2, 3), torch.zeros(2, 23, 3, 3), torch.zeros(2, 10), pose2rot=False)


@pytest.mark.skipif(not body_smpl.OPEN_BODY_PATH.is_file(), reason="open body model not built yet")
def test_open_body_joint_sides_match_the_conventions():
    """The bundled open body's regressors mean what the joint conventions say: in SMPL's frame the
    body's left is +x, so every left joint of the 14 common ones lies at x > 0 in the rest pose,
    both from the 49-joint set and from J_regressor_h36m read through VIBE's H36M order."""
    from vibe.keypoints import convert, joint_names

    model = load_body_model(kind="open")
    out = model(torch.zeros(1, 3), torch.zeros(1, 69), torch.zeros(1, 10))
    names = joint_names("common14")
    sided = [i for i, name in enumerate(names) if name.startswith(("left_", "right_"))]
    expected_sign = np.array([1.0 if names[i].startswith("left_") else -1.0 for i in sided])
    for joints, src in ((out.joints, "spin49"), (model.h36m_joints(out.verts), "h36m17")):
        common = convert(joints[0].numpy(), src, "common14")
        np.testing.assert_array_equal(np.sign(common[sided, 0]), expected_sign, err_msg=src)
        assert common[names.index("head_top"), 1] == common[:, 1].max(), src
