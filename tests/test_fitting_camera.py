"""Fitting camera: focal length, translation initialisation, facing check, orientation unwrap."""
import math

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from vibe.errors import InputError
from vibe.fitting.camera import (
    default_focal_length, facing_from_shoulders, init_translation, translation_to_orig_cam,
)
from vibe.fitting.smplify import unwrap_axis_angle
from vibe.geometry import orig_cam_to_translation
from vibe.keypoints.conventions import joint_index


def test_default_focal_is_the_diagonal():
    assert default_focal_length(1280, 720, 1.0) == pytest.approx(math.sqrt(1280**2 + 720**2))
    assert default_focal_length(300, 400, 2.0) == pytest.approx(1000.0)


def test_translation_to_orig_cam_inverts_geometry():
    transl = np.array([[0.3, -0.2, 4.0], [-1.0, 0.5, 12.0]])
    orig = translation_to_orig_cam(transl, 1920, 1080, 1500.0)
    np.testing.assert_allclose(orig[:, 0] * 1920, orig[:, 1] * 1080)  # square pixels
    np.testing.assert_allclose(orig_cam_to_translation(orig, 1920, 1080, 1500.0), transl, rtol=1e-12)


def _project(points, focal, centre):
    return focal * points[..., :2] / points[..., 2:3] + centre


PAIR = [joint_index("spin49", "op_left_shoulder"), joint_index("spin49", "left_shoulder")]


def test_init_translation_recovers_a_fronto_parallel_body():
    rng = np.random.default_rng(0)
    rest = rng.normal(scale=0.3, size=(49, 3))
    rest[:, 2] = 0.0  # planar: the spread ratio is then exact
    rest[PAIR[1], :2] = rest[PAIR[0], :2] + 0.004  # one body point in two keypoint families
    focal, centre = 1000.0, np.array([320.0, 240.0])
    transl = np.array([[0.5, -0.2, 5.0], [0.4, -0.1, 6.0], [0.2, 0.0, 7.0]])
    kp = np.concatenate([_project(rest[None] + transl[:, None], focal, centre), np.ones((3, 49, 1))], -1)
    est = init_translation(kp, rest, focal, centre, min_confidence=0.1, smooth_frames=1, track_label="7")
    np.testing.assert_allclose(est, transl, rtol=1e-6, atol=1e-6)
    kp[1, :, 2] = 0.0  # a frame without keypoints is interpolated from its neighbours
    est = init_translation(kp, rest, focal, centre, min_confidence=0.1, smooth_frames=1, track_label="7")
    np.testing.assert_allclose(est[1], 0.5 * (transl[0] + transl[2]), rtol=1e-6)
    # only one body point seen, in both keypoint families (a detector's shoulder and SMPL's): it
    # measures no size, so the frame is interpolated too (it once scaled x and y by 1/0: 190 m)
    kp[1, :, 2] = 0.0
    kp[1, PAIR] = [[300.0, 200.0, 1.0], [301.0, 200.5, 1.0]]
    est = init_translation(kp, rest, focal, centre, min_confidence=0.1, smooth_frames=1, track_label="7")
    np.testing.assert_allclose(est[1], 0.5 * (transl[0] + transl[2]), rtol=1e-6)
    kp[..., 2] = 0.0
    with pytest.raises(InputError, match="track 7"):
        init_translation(kp, rest, focal, centre, min_confidence=0.1, smooth_frames=1, track_label="7")


def test_facing_from_shoulders():
    kp = np.zeros((3, 49, 3))
    ls, rs = joint_index("spin49", "op_left_shoulder"), joint_index("spin49", "op_right_shoulder")
    lh, rh = joint_index("spin49", "op_left_hip"), joint_index("spin49", "op_right_hip")
    for t, (left_x, right_x) in enumerate([(60.0, 40.0), (40.0, 60.0), (51.0, 49.0)]):
        kp[t, [ls, rs, lh, rh]] = [[left_x, 0, 1], [right_x, 0, 1], [left_x, 50, 1], [right_x, 50, 1]]
    back, ambiguous = facing_from_shoulders(kp, min_confidence=0.1, ambiguous_ratio=0.35)
    assert back.tolist() == [False, True, False]  # left shoulder on the image's left: facing away
    assert ambiguous.tolist() == [False, False, True]  # 2 px apart over a 50 px torso


def test_unwrap_axis_angle_makes_a_turn_continuous():
    yaw = np.linspace(0.0, 3.0 * math.pi, 40)
    wrapped = Rotation.from_euler("y", yaw[:, None]).as_rotvec()  # scipy wraps angles into [0, pi]
    assert np.abs(np.diff(wrapped[:, 1])).max() > math.pi  # the jump to remove
    np.testing.assert_allclose(unwrap_axis_angle(wrapped)[:, 1], yaw, atol=1e-9)
    same = Rotation.from_rotvec(unwrap_axis_angle(wrapped)).as_matrix()
    np.testing.assert_allclose(same, Rotation.from_rotvec(wrapped).as_matrix(), atol=1e-12)
