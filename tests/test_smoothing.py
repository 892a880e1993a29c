"""One Euro filter: checked against closed forms (a first-order IIR via scipy.signal.lfilter) and
rotations about a fixed axis (where filtering in 6D reduces to atan2 of filtered cos and sin)."""
import math

import numpy as np
import pytest
from scipy.signal import lfilter
from scipy.spatial.transform import Rotation

from vibe.smoothing import one_euro, smooth_pose, smooth_rotmats


def ema(x, weight):
    """y[0] = x[0]; y[t] = y[t-1] + weight (x[t] - y[t-1]), by scipy's IIR filter."""
    y, _ = lfilter([weight], [1.0, weight - 1.0], x[1:], zi=[(1.0 - weight) * x[0]])
    return np.concatenate([[x[0]], y])


def test_beta_zero_is_exponential_smoothing_with_the_cutoff_weight():
    rng = np.random.default_rng(0)
    signal = rng.normal(size=(50, 1))
    cutoff = 0.05
    r = 2 * math.pi * cutoff  # one step per frame: alpha = r / (1 + r)
    expected = ema(signal[:, 0], r / (1 + r))
    np.testing.assert_allclose(one_euro(signal, cutoff, beta=0.0)[:, 0], expected, atol=1e-12)


def test_constant_signal_passes_unchanged():
    signal = np.tile([[1.5, -2.0, 3.0]], (20, 1))
    np.testing.assert_allclose(one_euro(signal, 0.004, 0.7), signal)


def test_speed_raises_the_cutoff_so_fast_motion_lags_less():
    ramp = np.arange(40.0)[:, None] * 0.5  # steady motion
    slow = one_euro(ramp, 0.004, beta=0.0)
    adaptive = one_euro(ramp, 0.004, beta=0.7)
    lag_slow, lag_adaptive = ramp[-1, 0] - slow[-1, 0], ramp[-1, 0] - adaptive[-1, 0]
    assert lag_adaptive < 0.25 * lag_slow
    noise = np.random.default_rng(1).normal(scale=0.01, size=(200, 1))  # jitter at rest
    assert one_euro(noise, 0.004, 0.7)[100:].std() < 0.2 * noise[100:].std()


def test_vector_components_share_one_cutoff():
    rng = np.random.default_rng(2)
    signal = rng.normal(size=(30, 4, 3))
    out = one_euro(signal, 0.01, 0.7)
    # each joint's three components moved by the same fraction of their step
    steps, moves = signal[1:] - out[:-1], out[1:] - out[:-1]
    fractions = moves / steps
    np.testing.assert_allclose(fractions, fractions[..., :1].repeat(3, axis=-1), rtol=1e-9)


def test_rotation_about_a_fixed_axis_matches_atan2_of_filtered_cos_sin():
    angles = np.linspace(0.0, 2.5, 40) + np.random.default_rng(3).normal(scale=0.05, size=40)
    rotmats = Rotation.from_rotvec(np.outer(angles, [0, 0, 1.0])).as_matrix()[:, None]
    out = smooth_rotmats(rotmats, 0.05, beta=0.0)[:, 0]
    r = 2 * math.pi * 0.05
    expected = np.arctan2(ema(np.sin(angles), r / (1 + r)), ema(np.cos(angles), r / (1 + r)))
    got = Rotation.from_matrix(out).as_rotvec()
    np.testing.assert_allclose(got[:, :2], 0.0, atol=1e-9)  # still about z
    np.testing.assert_allclose(got[:, 2], expected, atol=1e-9)


def test_pose_through_the_axis_angle_wrap_stays_continuous():
    # a turn from 150 to 210 degrees about y: axis-angle flips sign at 180 degrees
    angles = np.deg2rad(np.linspace(150, 210, 31))
    pose = np.zeros((31, 72))
    pose[:, :3] = Rotation.from_rotvec(np.outer(angles, [0, 1.0, 0])).as_rotvec()
    assert np.abs(np.diff(pose[:, 1])).max() > 5  # the raw representation jumps
    out = smooth_pose(pose, 0.004, 0.7)
    rot = Rotation.from_rotvec(out[:, :3])
    turned = np.unwrap(np.arctan2(rot.as_matrix()[:, 0, 2], rot.as_matrix()[:, 0, 0]))
    assert np.all(np.diff(turned) > -1e-9)  # no jump back: the turn stays monotonic
    assert np.rad2deg(turned[-1] - turned[0]) > 30
    mats = rot.as_matrix()
    np.testing.assert_allclose(mats @ mats.transpose(0, 2, 1), np.broadcast_to(np.eye(3), mats.shape), atol=1e-9)
    np.testing.assert_allclose(out[:, 3:], 0.0, atol=1e-12)  # resting joints stay at rest


def test_rejects_a_bare_vector():
    with pytest.raises(ValueError):
        one_euro(np.zeros(5), 0.1, 0.1)
