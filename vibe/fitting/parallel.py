"""Fit many tracks: in this process, or spread over worker processes (one per CPU core).

An optimiser step on one track is a few hundred small tensor operations, which extra torch
threads barely speed up; separate processes, each fitting whole tracks on one thread, use the
cores fully when a video has several people. Each worker receives the fitter once (pickled at
start-up), then one track per task; results come back as tracks finish.
"""
from __future__ import annotations

import logging
import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from typing import Iterator

import numpy as np
import torch

from vibe.errors import InputError, VibeError
from vibe.fitting.smplify import FitInit, TemporalSMPLify
from vibe.io.results import TrackResult

log = logging.getLogger(__name__)

_worker_fitter: TemporalSMPLify | None = None  # set in each worker process by _start_worker


@dataclass
class FitJob:
    """One track to fit: keypoints (T, 49, 3) spin49 px + confidence, frame_ids (T,), an
    optional starting point (the network's estimate)."""

    track_id: int
    keypoints: np.ndarray
    frame_ids: np.ndarray
    init: FitInit | None = None

    @property
    def num_frames(self) -> int:
        return len(self.keypoints)


@dataclass
class FitCamera:
    """The image the keypoints live in: size (width, height) px and focal length px."""

    width: int
    height: int
    focal: float


FitOutcome = TrackResult | InputError  # a track the fit refused comes back as its error


def worker_count(requested: int, num_jobs: int, device: torch.device) -> int:
    """Processes to use: `requested` (0 = one per available CPU core), never more than the jobs,
    and 1 on a GPU (the device is shared, so processes would queue for it)."""
    if device.type != "cpu" or num_jobs <= 1:
        return 1
    available = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return max(1, min(requested or available, num_jobs))


def fit_tracks(fitter: TemporalSMPLify, jobs: list[FitJob], camera: FitCamera, workers: int = 1
               ) -> Iterator[tuple[FitJob, FitOutcome]]:
    """Fit each job; yields (job, TrackResult or InputError) as they finish (in job order with
    one worker, in completion order with several)."""
    if workers <= 1:
        for job in jobs:
            yield job, _fit(fitter, job, camera)
        return
    # spawn, not fork: a forked child of a process that already ran OpenMP work can hang.
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(workers, mp_context=context, initializer=_start_worker, initargs=(fitter,)) as pool:
        pending = {pool.submit(_fit_in_worker, job, camera): job for job in jobs}
        try:
            for future in as_completed(pending):
                yield pending[future], future.result()
        except BrokenProcessPool:
            raise VibeError(f"a fitting worker process died (out of memory?); rerun with fewer processes, "
                            f"e.g. --opts FITTING.WORKERS 1 (was {workers})") from None


def _fit(fitter: TemporalSMPLify, job: FitJob, camera: FitCamera) -> FitOutcome:
    try:
        result, _ = fitter.fit(job.keypoints, (camera.width, camera.height), focal_length=camera.focal,
                               init=job.init, frame_ids=job.frame_ids, track_id=job.track_id)
    except InputError as err:
        return err
    return result


def _start_worker(fitter: TemporalSMPLify) -> None:
    global _worker_fitter
    torch.set_num_threads(1)  # the processes share the cores; threads would only compete
    _worker_fitter = fitter


def _fit_in_worker(job: FitJob, camera: FitCamera) -> FitOutcome:
    return _fit(_worker_fitter, job, camera)
