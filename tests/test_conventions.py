"""Keypoint conventions: joint orders against published index facts, conversion semantics."""
import numpy as np
import pytest
import torch

from vibe.errors import InputError
from vibe.keypoints import convert, joint_index, joint_names
from vibe.keypoints.conventions import CONVENTIONS, SPIN49_MODEL_SOURCES, index_map

# Published facts (typed from the sources, not derived from the module under test).
# SPIN/VIBE H36M_TO_J14: J_regressor_h36m rows -> the 14 common LSP-order joints.
H36M_TO_J14 = [6, 5, 4, 1, 2, 3, 16, 15, 14, 11, 12, 13, 8, 10]
# SPIN/VIBE JOINT_MAP: each of the 49 joints as an index into [24 SMPL, 21 smplx vertex joints,
# 9 J_regressor_extra joints].
VIBE_JOINT_MAP = [24, 12, 17, 19, 21, 16, 18, 20, 0, 2, 5, 8, 1, 4, 7, 25, 26, 27, 28, 29, 30, 31, 32,
                  33, 34, 8, 5, 45, 46, 4, 7, 21, 19, 17, 16, 18, 20, 47, 48, 49, 50, 51, 52, 53, 24, 26,
                  25, 28, 27]
# Where VIBE's name-based convert_kps puts each source joint in the 49-joint set.
VIBE_TO_SPIN49 = {
    "coco17": [44, 45, 46, 47, 48, 34, 33, 35, 32, 36, 31, 28, 27, 29, 26, 30, 25],
    "insta25": [24, 10, 9, 12, 13, 21, 4, 3, 2, 5, 6, 7, 1, 38, 0, 16, 15, 18, 17, 19, 22, 20, 23, 14, 11],
    "mpii3d28": [None, None, None, 41, 39, 37, 43, 38, None, 34, 35, 36, None, None, 33, 32, 31, None,
                 28, 29, 30, None, None, 27, 26, 25, None, None],
    "mpii3d17": [38, 37, 33, 32, 31, 34, 35, 36, 27, 26, 25, 28, 29, 30, 39, 41, 43],
    "h36m17": [39, 28, 29, 30, 27, 26, 25, 41, 37, 43, 38, 34, 35, 36, 33, 32, 31],
    "posetrack17": [44, 37, 38, 47, 48, 34, 33, 35, 32, 36, 31, 28, 27, 29, 26, 30, 25],
    "pennaction13": [38, 34, 33, 35, 32, 36, 31, 28, 27, 29, 26, 30, 25],
    # VIBE spells STAF's last two 'Neck (LSP)'/'Top of Head (LSP)', which miss its own 49-joint
    # table; they are the LSP neck and head top, so this layer places them there.
    "staf21": list(range(19)) + [37, 38],
    "openpose25": list(range(25)),
    "common14": list(range(25, 39)),
}
# MediaPipe BlazePose indices of the 17 COCO keypoints, in COCO order.
BLAZEPOSE_COCO = [0, 2, 5, 7, 8, 11, 12, 13, 14, 15, 16, 23, 24, 25, 26, 27, 28]
# VIBE's 3DPW reader: poses2d (OpenPose COCO-18 order) -> the first 12 common joints.
THREEDPW2D_TO_COMMON12 = [10, 9, 8, 11, 12, 13, 4, 3, 2, 5, 6, 7]


def _labelled(num_joints, dims=2):
    """Keypoints whose coordinates are their own index + 1 (so 0 means 'filled with nothing')."""
    return np.repeat(np.arange(1, num_joints + 1, dtype=np.float64)[:, None], dims, axis=1)


@pytest.mark.parametrize("name", sorted(CONVENTIONS))
def test_names_unique_within_each_convention(name):
    names = joint_names(name)
    assert len(names) == len(set(names))
    assert len(names) == int("".join(c for c in name[-2:] if c.isdigit()))


def test_spin49_layout():
    spin = joint_names("spin49")
    assert spin[:25] == joint_names("openpose25")
    assert spin[25:39] == joint_names("common14")
    assert spin[39:] == ["pelvis", "thorax", "spine", "jaw", "head",
                         "nose", "left_eye", "right_eye", "left_ear", "right_ear"]
    assert joint_names("3dpw14") == joint_names("common14")


def test_h36m_to_common14_matches_published_index_list():
    assert index_map("h36m17", "common14").tolist() == H36M_TO_J14


@pytest.mark.parametrize("src", sorted(VIBE_TO_SPIN49))
def test_placement_in_spin49_matches_vibe(src):
    num_src = len(joint_names(src))
    out = convert(_labelled(num_src), src, "spin49", add_confidence=True)
    expected_conf = np.zeros(49)
    for src_index, slot in enumerate(VIBE_TO_SPIN49[src]):
        if slot is not None:
            assert out[slot, 0] == src_index + 1, (src, src_index, slot)
            expected_conf[slot] = 1
    np.testing.assert_array_equal(out[:, 2], expected_conf)
    np.testing.assert_array_equal(out[expected_conf == 0, :2], 0)


def test_threedpw_poses2d_to_common_like_vibe():
    out = convert(_labelled(18), "3dpw2d18", "common14", add_confidence=True)
    np.testing.assert_array_equal(out[:12, 0], np.array(THREEDPW2D_TO_COMMON12) + 1)
    np.testing.assert_array_equal(out[:, 2], [1] * 12 + [0, 0])  # no neck, no head top


def test_blazepose_to_coco():
    assert index_map("blazepose33", "coco17").tolist() == BLAZEPOSE_COCO


def test_model_sources_match_vibe_joint_map():
    stack = joint_names("smpl54")
    assert [stack.index(SPIN49_MODEL_SOURCES[name]) for name in joint_names("spin49")] == VIBE_JOINT_MAP


def test_missing_joints_get_zero_confidence_and_coordinates():
    rng = np.random.default_rng(0)
    coco = np.concatenate([rng.uniform(10, 200, (5, 17, 2)), rng.uniform(0.5, 1, (5, 17, 1))], axis=-1)
    spin = convert(coco, "coco17", "spin49")
    assert spin.shape == (5, 49, 3)
    filled = VIBE_TO_SPIN49["coco17"]
    missing = sorted(set(range(49)) - set(filled))
    np.testing.assert_array_equal(spin[:, missing], 0)  # coordinates and confidence
    np.testing.assert_array_equal(spin[:, filled], coco)
    np.testing.assert_array_equal(convert(spin, "spin49", "coco17"), coco)  # round trip


def test_round_trip_through_a_smaller_set_keeps_shared_joints_only():
    spin = np.random.default_rng(1).normal(size=(2, 3, 49, 3))
    back = convert(convert(spin, "spin49", "common14"), "common14", "spin49")
    np.testing.assert_array_equal(back[..., 25:39, :], spin[..., 25:39, :])
    np.testing.assert_array_equal(np.delete(back, np.s_[25:39], axis=-2), 0)


def test_torch_matches_numpy_and_passes_gradients():
    values = np.random.default_rng(2).normal(size=(4, 49, 3))
    tensor = torch.tensor(values, requires_grad=True)
    out = convert(tensor, "spin49", "coco17", add_confidence=True)
    assert isinstance(out, torch.Tensor) and out.shape == (4, 17, 4)
    np.testing.assert_array_equal(out.detach().numpy(), convert(values, "spin49", "coco17", add_confidence=True))
    out[..., :3].sum().backward()
    used = np.zeros(49)
    used[VIBE_TO_SPIN49["coco17"]] = 1
    np.testing.assert_array_equal(tensor.grad[0, :, 0].numpy(), used)


def test_fill_equivalent_links_openpose_and_annotated_families():
    op = _labelled(25)
    assert not convert(op, "openpose25", "coco17", add_confidence=True)[:, 2].any()  # VIBE: no shared names
    filled = convert(op, "openpose25", "coco17", add_confidence=True, fill_equivalent=True)
    coco = joint_names("coco17")
    absent = [coco.index("left_hip"), coco.index("right_hip")]  # OpenPose hips are different points
    assert filled[absent, 2].tolist() == [0, 0]
    assert filled[:, 2].sum() == 15
    assert filled[coco.index("right_ankle"), 0] == 11 + 1  # BODY_25 index 11 = RAnkle
    assert filled[coco.index("nose"), 0] == 0 + 1


def test_joint_index_and_errors():
    assert joint_index("spin49", "head_top") == 38
    assert joint_index("coco17", "right_ankle") == 16
    with pytest.raises(InputError, match="has no joint 'head_top'"):
        joint_index("coco17", "head_top")
    with pytest.raises(InputError, match="unknown keypoint convention 'lsp99'"):
        convert(np.zeros((14, 2)), "lsp99", "spin49")
    with pytest.raises(InputError, match=r"do not match convention 'coco17' \(17 joints\)"):
        convert(np.zeros((3, 18, 2)), "coco17", "spin49")
