"""Fitting many tracks over worker processes gives what fitting them one by one gives."""
import math
import os

import numpy as np
import pytest
import torch

from vibe.config import get_cfg_defaults
from vibe.errors import InputError, VibeError
from vibe.fitting import TemporalSMPLify, load_pose_prior
from vibe.fitting.parallel import FitCamera, FitJob, fit_tracks, worker_count
from vibe.geometry import perspective_project

WIDTH, HEIGHT = 640, 480
CAMERA = FitCamera(WIDTH, HEIGHT, math.hypot(WIDTH, HEIGHT))


def _job(body, track_id: int, num_frames: int, lean: float) -> FitJob:
    """A body leaning by `lean` rad, 4 m in front of the camera, seen in every frame."""
    pose = torch.zeros(num_frames, 72)
    pose[:, 0] = math.pi  # upright, facing the camera
    pose[:, 3 * 3] = lean  # spine bend
    with torch.no_grad():
        joints = body(pose[:, :3], pose[:, 3:], torch.zeros(num_frames, 10)).joints + torch.tensor([0.0, 0.0, 4.0])
        uv = perspective_project(joints, torch.zeros(num_frames, 3), CAMERA.focal, torch.tensor([WIDTH / 2, HEIGHT / 2]))
    keypoints = np.concatenate([uv.numpy(), np.ones((num_frames, 49, 1))], -1)
    return FitJob(track_id, keypoints, np.arange(num_frames) + 10 * track_id)


@pytest.fixture
def fitter(tiny_body_model):
    cfg = get_cfg_defaults()
    cfg.merge_from_list(["FITTING.STAGE_ITERS", "[5, 5, 10]", "FITTING.CAMERA_ITERS", "5", "FITTING.EXTRA_STARTS", "[]"])
    return TemporalSMPLify(tiny_body_model, cfg, load_pose_prior(cfg.FITTING, None))


def test_workers_give_the_serial_results_and_report_bad_tracks(fitter, tiny_body_model):
    jobs = [_job(tiny_body_model, 0, 4, 0.0), _job(tiny_body_model, 1, 3, 0.3)]
    bad = _job(tiny_body_model, 2, 3, 0.0)
    bad.keypoints[1, 5, 0] = np.nan
    jobs.append(bad)
    before = torch.get_num_threads()
    torch.set_num_threads(1)  # the workers' thread count: same arithmetic, same numbers
    try:
        serial = {job.track_id: outcome for job, outcome in fit_tracks(fitter, jobs, CAMERA, workers=1)}
    finally:
        torch.set_num_threads(before)
    parallel = {job.track_id: outcome for job, outcome in fit_tracks(fitter, jobs, CAMERA, workers=2)}
    assert sorted(parallel) == [0, 1, 2]
    assert isinstance(serial[2], InputError) and isinstance(parallel[2], InputError)
    assert "NaN" in str(parallel[2])
    for track_id in (0, 1):
        np.testing.assert_array_equal(parallel[track_id].frame_ids, jobs[track_id].frame_ids)
        np.testing.assert_allclose(parallel[track_id].joints3d, serial[track_id].joints3d, atol=1e-5)
        np.testing.assert_allclose(parallel[track_id].transl, serial[track_id].transl, atol=1e-5)


def test_worker_count():
    cpu, gpu = torch.device("cpu"), torch.device("cuda")
    assert worker_count(3, 5, cpu) == 3
    assert worker_count(8, 2, cpu) == 2  # never more processes than tracks
    assert worker_count(0, 1, cpu) == 1  # one track: no processes to start
    assert worker_count(4, 5, gpu) == 1  # one GPU: processes would queue for it
    assert 1 <= worker_count(0, 100, cpu) <= 100


class DyingFitter(TemporalSMPLify):
    """A fitter whose process dies mid-fit, as one killed for memory would."""

    def fit(self, *args, **kwargs):
        os._exit(1)


def test_a_dead_worker_is_one_clear_error(tiny_body_model):
    cfg = get_cfg_defaults()
    fitter = DyingFitter(tiny_body_model, cfg, load_pose_prior(cfg.FITTING, None))
    jobs = [_job(tiny_body_model, 0, 3, 0.0), _job(tiny_body_model, 1, 3, 0.0)]
    with pytest.raises(VibeError, match="FITTING.WORKERS 1"):
        list(fit_tracks(fitter, jobs, CAMERA, workers=2))
