"""vibe.metrics on small cases computed by hand (inputs in metres, expected values in mm)."""
import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from vibe import metrics
from vibe.errors import InputError


def test_mpjpe_and_pve_by_hand():
    gt = np.zeros((2, 2, 3))
    pred = gt.copy()
    pred[0, 0] = [0.003, 0.004, 0.0]  # 5 mm
    pred[0, 1] = [0.0, 0.0, -0.001]  # 1 mm
    pred[1] += [0.0, 0.012, 0.0]  # 12 mm on both joints
    np.testing.assert_allclose(metrics.mpjpe(pred, gt), [3.0, 12.0])
    np.testing.assert_allclose(metrics.pve(pred, gt), [3.0, 12.0])


def test_mpjpe_does_not_align_by_itself():
    gt = np.zeros((1, 3, 3))
    assert metrics.mpjpe(gt + [0.0, 0.1, 0.0], gt)[0] == pytest.approx(100.0)


def test_align_by_pelvis_by_hand():
    joints = np.array([[[5.0, 5, 5], [0, 0, 0], [1, 0, 0], [3, 2, 0]]])  # hips at 2, 3 -> pelvis (2, 1, 0)
    aligned = metrics.align_by_pelvis(joints)
    np.testing.assert_allclose(aligned[0, 0], [3.0, 4, 5])
    np.testing.assert_allclose(aligned[0, 2:].mean(0), 0.0)
    np.testing.assert_allclose(metrics.align_by_pelvis(joints, hip_ids=(0, 1))[0, 1], [-2.5, -2.5, -2.5])


def test_pa_mpjpe_by_hand():
    # Frame 0: a cross with the y-arm twice too long. Optimal similarity by symmetry: R = I,
    # t = 0, s = sum(p.g) / sum(|p|^2) = (1 + 1 + 2 + 2) / (1 + 1 + 4 + 4) = 0.6; aligned x-points
    # sit at 0.6 (error 0.4 m), y-points at 1.2 (error 0.2 m): mean 0.3 m = 300 mm.
    gt = np.array([[1.0, 0, 0], [-1, 0, 0], [0, 1, 0], [0, -1, 0]])
    pred0 = gt * [1, 2, 1]
    # Frame 1: an exact similarity of gt, so the error vanishes.
    pred1 = 3.0 * gt @ Rotation.from_rotvec([0.4, -0.2, 1.0]).as_matrix().T + [0.5, -1.0, 2.0]
    result = metrics.pa_mpjpe(np.stack([pred0, pred1]), np.stack([gt, gt]))
    np.testing.assert_allclose(result, [300.0, 0.0], atol=1e-9)


def test_accel_by_hand():
    # Joint 0 moves along x as t^2 mm: second difference 2 mm/frame^2. Joint 1 stays still.
    t = np.arange(4.0)
    pred = np.zeros((4, 2, 3))
    pred[:, 0, 0] = t**2 / 1000
    np.testing.assert_allclose(metrics.accel(pred), [1.0, 1.0])  # mean over the 2 joints


def test_accel_error_by_hand_with_visibility():
    t = np.arange(5.0)
    gt = np.zeros((5, 1, 3))
    gt[:, 0, 1] = 0.01 * t  # constant velocity: zero acceleration
    pred = gt.copy()
    pred[:, 0, 1] += 3 * t**2 / 1000  # acceleration 6 mm/frame^2
    np.testing.assert_allclose(metrics.accel_error(pred, gt), [6.0, 6.0, 6.0])
    np.testing.assert_allclose(metrics.accel_error(gt, gt), [0.0, 0.0, 0.0], atol=1e-12)
    # Frame 4 invisible: only the entry centred on frame 3 (index 2) uses it.
    np.testing.assert_allclose(metrics.accel_error(pred, gt, [1, 1, 1, 1, 0]), [6.0, 6.0, np.nan])
    # Frame 0 invisible: only index 0; frame 2 invisible: all three.
    np.testing.assert_allclose(metrics.accel_error(pred, gt, [0, 1, 1, 1, 1]), [np.nan, 6.0, 6.0])
    assert np.isnan(metrics.accel_error(pred, gt, [1, 1, 0, 1, 1])).all()


def test_pck_and_auc_by_hand():
    errors_mm = np.array([10.0, 100.0, 149.9, 150.0, 200.0])
    gt = np.zeros((1, 5, 3))
    pred = gt.copy()
    pred[0, :, 2] = errors_mm / 1000
    # Strictly below the threshold (MPI-INF-3DHP): 10, 100, 149.9 -> 3 of 5.
    np.testing.assert_allclose(metrics.pck(pred, gt), [60.0])
    np.testing.assert_allclose(metrics.pck(pred, gt, threshold=100.0), [20.0])
    # AUC: thresholds 0, 5, ..., 150 (31). One joint 12 mm off: below 15 .. 150 -> 28 of 31;
    # a second joint 200 mm off is never below -> 28 of 62.
    one = np.zeros((1, 1, 3))
    off12 = one + [0.0, 0.012, 0.0]
    np.testing.assert_allclose(metrics.auc(off12, one), [100 * 28 / 31])
    two_gt = np.zeros((1, 2, 3))
    two_pred = np.array([[[0.0, 0.012, 0.0], [0.2, 0.0, 0.0]]])
    np.testing.assert_allclose(metrics.auc(two_pred, two_gt), [100 * 28 / 62])
    # A perfect prediction misses only the threshold 0 (strict inequality): 30 of 31.
    np.testing.assert_allclose(metrics.auc(one, one), [100 * 30 / 31])


PAIRED_METRICS = [metrics.mpjpe, metrics.pa_mpjpe, metrics.pve, metrics.accel_error, metrics.pck, metrics.auc]


@pytest.mark.parametrize("fn", PAIRED_METRICS)
def test_mismatched_shapes_are_input_errors(fn):
    with pytest.raises(InputError, match="same shape"):
        fn(np.zeros((4, 14, 3)), np.zeros((4, 13, 3)))


def test_bad_arrays_are_input_errors():
    with pytest.raises(InputError, match=r"\(frames, joints, 3\)"):
        metrics.mpjpe(np.zeros((14, 3)), np.zeros((14, 3)))
    with pytest.raises(InputError, match=r"\(frames, joints, 3\)"):
        metrics.accel(np.zeros((5, 14, 2)))
    with pytest.raises(InputError, match="visible"):
        metrics.accel_error(np.zeros((5, 2, 3)), np.zeros((5, 2, 3)), visible=[1, 1, 1])


def test_roc_auc_against_pair_counting():
    from vibe.metrics import roc_auc

    positive, negative = [0.9, 0.8, 0.4, 0.4], [0.4, 0.3, 0.1]
    # pairs (p, n) with p > n: 0.9 and 0.8 beat all 3; each 0.4 beats 2 and ties 1 -> (3+3+2.5+2.5) / 12
    assert roc_auc(positive, negative) == pytest.approx(11.0 / 12.0)
    assert roc_auc([1, 2], [3, 4]) == 0.0 and roc_auc([5], [5]) == 0.5
