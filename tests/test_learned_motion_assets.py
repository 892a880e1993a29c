"""The assets learned from the CMU motion library, on held-out motion they never saw
(tests/data/motion_test_windows.npz: 16-frame windows of the library's test split, written by
tools/train_discriminator.py): the motion discriminator and the pose prior must tell it from
jittered and procedural motion."""
from pathlib import Path

import numpy as np
import pytest
import torch

from vibe.body.motions import MOTIONS
from vibe.metrics import roc_auc

DATA = Path(__file__).parent / "data" / "motion_test_windows.npz"
REPO = Path(__file__).resolve().parents[1]
DISCRIMINATOR = REPO / "vibe" / "models" / "assets" / "motion_discriminator_cmu.pt"
JITTER_RAD = 0.1  # per-frame noise std of the jittered copies (about 6 degrees per joint axis)
MIN_AUC = 0.9
FPS = 25.0


@pytest.fixture(scope="module")
def held_out() -> np.ndarray:
    return np.load(DATA)["windows"]  # (N, 16, 69)


def _procedural(count: int, frames: int) -> np.ndarray:
    """(count, frames, 69) windows of the procedural motions, evenly spread start frames."""
    windows = []
    for index in range(count):
        motion = list(MOTIONS.values())[index % len(MOTIONS)](frames * 6, fps=FPS)
        start = (index * 7) % (len(motion.pose) - frames)
        windows.append(motion.pose[start:start + frames, 3:])
    return np.stack(windows).astype(np.float32)


def test_discriminator_scores_held_out_real_motion_above_jittered_and_procedural(held_out):
    from vibe.models.checkpoints import load_motion_discriminator

    discriminator = load_motion_discriminator(DISCRIMINATOR)
    assert discriminator.gru.hidden_size == 256
    rng = np.random.default_rng(1)
    jittered = held_out + rng.normal(scale=JITTER_RAD, size=held_out.shape).astype(np.float32)
    procedural = _procedural(len(held_out), held_out.shape[1])
    with torch.no_grad():
        real, noisy, made = (discriminator(torch.as_tensor(w)).squeeze(1).numpy() for w in (held_out, jittered, procedural))
    assert roc_auc(real, noisy) > MIN_AUC
    assert roc_auc(real, made) > MIN_AUC


def test_learned_pose_prior_prefers_held_out_real_poses(held_out):
    from vibe.fitting.priors import BUNDLED_PRIOR_DIR, GMMPosePrior, read_gmm_file

    gmm = GMMPosePrior(**read_gmm_file(BUNDLED_PRIOR_DIR / "cmu_gmm_08.pkl"))
    assert gmm.means.shape == (8, 69)
    poses = torch.as_tensor(held_out.reshape(-1, 69))
    rng = np.random.default_rng(2)
    noisy = poses + torch.as_tensor(rng.normal(scale=3 * JITTER_RAD, size=poses.shape), dtype=torch.float32)
    with torch.no_grad():
        assert roc_auc(-gmm(poses).numpy(), -gmm(noisy).numpy()) > MIN_AUC


def test_the_users_gmm_wins_over_the_bundled_one(tmp_path):
    import pickle

    from vibe.config import get_cfg_defaults
    from vibe.fitting.priors import BUNDLED_PRIOR_DIR, GMMPosePrior, OwnPosePrior, load_pose_prior, read_gmm_file

    fitting = get_cfg_defaults().FITTING
    fitting.BUNDLED_PRIOR = "cmu_gmm_08.pkl"
    bundled = read_gmm_file(BUNDLED_PRIOR_DIR / fitting.BUNDLED_PRIOR)
    prior = load_pose_prior(fitting, tmp_path)  # no gmm_08.pkl there: the bundled one
    assert isinstance(prior, GMMPosePrior)
    np.testing.assert_allclose(prior.means.numpy(), bundled["means"], atol=1e-6)
    users = {"means": np.zeros((2, 69)), "covars": np.stack([np.eye(69)] * 2), "weights": np.array([0.5, 0.5])}
    (tmp_path / fitting.GMM_PRIOR).write_bytes(pickle.dumps(users, protocol=2))
    assert load_pose_prior(fitting, tmp_path).means.shape == (2, 69)
    fitting.BUNDLED_PRIOR = ""
    assert isinstance(load_pose_prior(fitting, None), OwnPosePrior)


def test_prior_start_poses_are_the_components_densest_at_their_means():
    from scipy.stats import multivariate_normal

    from vibe.fitting.priors import BUNDLED_PRIOR_DIR, GMMPosePrior, read_gmm_file

    gmm_file = read_gmm_file(BUNDLED_PRIOR_DIR / "cmu_gmm_08.pkl")
    # independent: each component's weighted density at its own mean, by scipy
    peaks = [np.log(w) + multivariate_normal(mean=m, cov=c).logpdf(m)
             for m, c, w in zip(gmm_file["means"], gmm_file["covars"], gmm_file["weights"])]
    expected = np.asarray(gmm_file["means"])[np.argsort(peaks)[::-1][:3]]
    starts = GMMPosePrior(**gmm_file).start_poses(3)
    np.testing.assert_allclose(starts.numpy(), expected, atol=1e-5)
    assert GMMPosePrior(**gmm_file).start_poses(20).shape == (8, 69)
