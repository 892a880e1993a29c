"""Loss terms and pose priors of vibe.fitting against hand-computed values and scipy."""
import math
import pickle

import numpy as np
import pytest
import torch
from scipy.stats import multivariate_normal

from vibe.config import get_cfg_defaults
from vibe.errors import AssetError
from vibe.fitting.losses import (
    ANGLE_PRIOR_IDS, angle_prior, geman_mcclure, reprojection_loss, second_difference_loss, shape_prior,
)
from vibe.fitting.priors import (
    OWN_PRIOR_SIGMA, GMMPosePrior, OwnPosePrior, load_pose_prior, read_gmm_file,
)


def test_geman_mcclure_hand_values():
    r = torch.tensor([0.0, 3.0, -3.0, 1e4])
    out = geman_mcclure(r, sigma=2.0)
    assert out[0] == 0.0
    assert out[1].item() == pytest.approx(4 * 9 / (4 + 9))  # sigma^2 r^2 / (sigma^2 + r^2)
    assert out[2].item() == pytest.approx(36 / 13)
    assert out[3].item() == pytest.approx(4.0, rel=1e-6)  # saturates at sigma^2


def test_reprojection_loss_hand_value():
    projected = torch.tensor([[[1.0, 2.0], [0.0, 0.0]], [[5.0, 5.0], [2.0, 2.0]]])  # (T=2, J=2, 2)
    keypoints = torch.tensor([[[1.0, 4.0, 0.5], [9.0, 9.0, 0.0]], [[5.0, 5.0, 1.0], [3.0, 2.0, 1.0]]])
    scale = torch.tensor([1.0, 2.0])
    out = reprojection_loss(projected, keypoints, scale, sigma=10.0)
    rho = lambda r: 100 * r * r / (100 + r * r)  # noqa: E731
    # frame 0: joint 0 residual (0, -2) with conf 0.5, joint 1 missing; frame 1: joint 1 (-1*2, 0)
    assert out.tolist() == pytest.approx([0.5 * rho(2.0), rho(2.0)])


def test_angle_prior_hand_value():
    pose = torch.zeros(1, 69)
    assert angle_prior(pose).item() == pytest.approx(4.0)  # exp(0)^2 for four hinges
    pose[0, ANGLE_PRIOR_IDS[0]] = 0.5  # left elbow bent backwards: penalised
    pose[0, ANGLE_PRIOR_IDS[2]] = 0.5  # left knee bent naturally: rewarded
    expected = math.exp(1.0) + math.exp(-1.0) + 2.0
    assert angle_prior(pose).item() == pytest.approx(expected)


def test_shape_prior_and_second_difference():
    assert shape_prior(torch.tensor([[1.0, -2.0, 0.5]])).item() == pytest.approx(5.25)
    seq = torch.tensor([[0.0], [1.0], [4.0], [9.0]])  # t^2: second difference 2 everywhere
    assert second_difference_loss(seq).item() == pytest.approx(8.0)
    assert second_difference_loss(torch.tensor([[0.0], [1.0], [2.0], [3.0]])).item() == 0.0
    assert second_difference_loss(torch.ones(2, 5)).item() == 0.0  # too short to have one


def _random_gmm(rng, num=3, dim=69):
    means = rng.normal(scale=0.3, size=(num, dim))
    factors = rng.normal(size=(num, dim, dim)) * 0.05
    covars = factors @ factors.transpose(0, 2, 1) + 0.02 * np.eye(dim)
    weights = rng.dirichlet(np.ones(num))
    return {"means": means, "covars": covars, "weights": weights}


def test_gmm_prior_matches_scipy_mixture_components():
    rng = np.random.default_rng(0)
    gmm = _random_gmm(rng)
    prior = GMMPosePrior(**gmm)
    x = gmm["means"][1] + rng.normal(scale=0.1, size=(4, 69))
    nll = np.stack([-np.log(w) - multivariate_normal(m, c).logpdf(x)
                    for m, c, w in zip(gmm["means"], gmm["covars"], gmm["weights"])], -1)
    expected = nll.min(-1) - 0.5 * 69 * math.log(2 * math.pi)  # the prior drops the 2 pi constant
    got = prior(torch.as_tensor(x, dtype=torch.float32)).numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-2)


def test_own_prior_hand_values():
    prior = OwnPosePrior(sigma_scale=1.0, limit=2.0, limit_weight=10.0)
    mean = prior.mean_pose.clone()
    assert prior(mean[None]).item() == pytest.approx(0.0, abs=1e-6)
    shifted = mean.clone()
    shifted[0] += OWN_PRIOR_SIGMA[1][0]  # one sigma on the left hip's x
    assert prior(shifted[None]).item() == pytest.approx(0.5, rel=1e-5)
    bent = torch.zeros(1, 69)
    bent[0, 6] = 2.5  # spine1 (sigma 0.25 on x) rotated 2.5 rad: 0.5 beyond the limit
    gaussian = 0.5 * (((bent[0] - mean) / prior.sigma) ** 2).sum().item()
    assert prior(bent).item() == pytest.approx(gaussian + 10.0 * 0.25, rel=1e-5)


def _write_py2_style_pickle(path, data):
    with open(path, "wb") as handle:
        pickle.dump(data, handle, protocol=2)


def test_gmm_loader_reads_written_file(tmp_path):
    gmm = _random_gmm(np.random.default_rng(1), num=8)
    path = tmp_path / "gmm_08.pkl"
    _write_py2_style_pickle(path, gmm)
    arrays = read_gmm_file(path)
    for key in ("means", "covars", "weights"):
        np.testing.assert_array_equal(arrays[key], gmm[key])
    prior = load_pose_prior(get_cfg_defaults().FITTING, tmp_path)
    assert isinstance(prior, GMMPosePrior)
    assert isinstance(load_pose_prior(get_cfg_defaults().FITTING, tmp_path / "empty"), OwnPosePrior)


@pytest.mark.parametrize("content", ["garbage", "missing_key", "bad_shape", "not_pd"])
def test_gmm_loader_errors_name_the_file(tmp_path, content):
    gmm = _random_gmm(np.random.default_rng(2), num=2)
    path = tmp_path / "gmm_08.pkl"
    if content == "garbage":
        path.write_bytes(b"not a pickle")
    else:
        if content == "missing_key":
            del gmm["covars"]
        elif content == "bad_shape":
            gmm["means"] = gmm["means"][:, :10]
        else:
            gmm["covars"][0] = -np.eye(69)
        _write_py2_style_pickle(path, gmm)
    with pytest.raises(AssetError, match="gmm_08.pkl") as err:
        read_gmm_file(path)
    assert "\n" not in str(err.value)
    with pytest.raises(AssetError):  # a present but broken file is not silently replaced
        load_pose_prior(get_cfg_defaults().FITTING, tmp_path)
