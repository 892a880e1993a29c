"""Fit many tracks: in this process, or spread over worker processes (one per CPU core).

An optimiser step on one track is a few hundred small tensor operations, which extra torch
threads barely speed up; separate processes, each fitting whole tracks on one thread, use the
cores fully when a video has several people. Each worker receives the fitter once (pickled at
start-up), then one track per task; results come back as tracks finish.

The workers never see Ctrl-C (they start with SIGINT blocked; a terminal sends it to the whole
process group): the parent gets it, or SIGTERM, or any error, and stops them at once, so an
interrupt ends in the parent's one error line, never in a worker's traceback.
"""
from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
import signal
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
    pool = ProcessPoolExecutor(workers, mp_context=context, initializer=_start_worker, initargs=(fitter,))
    try:
        with _ctrl_c_blocked():  # the workers start (in submit) with the block, and keep it
            pending = {pool.submit(_fit_in_worker, job, camera): job for job in jobs}
        for future in as_completed(pending):
            yield pending[future], future.result()
    except BrokenProcessPool:
        raise VibeError(f"a fitting worker process died (out of memory?); rerun with fewer processes, "
                        f"e.g. --opts FITTING.WORKERS 1 (was {workers})") from None
    finally:  # also on Ctrl-C, SIGTERM (run_cli) or the caller closing this generator early
        _stop_workers(pool)


@contextlib.contextmanager
def _ctrl_c_blocked():
    """SIGINT blocked in this thread (and in the processes it starts) within the block; one that
    arrives meanwhile is delivered when the block ends."""
    if not hasattr(signal, "pthread_sigmask"):  # Windows: no signal masks
        yield
        return
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


def _stop_workers(pool: ProcessPoolExecutor) -> None:
    """End the pool's worker processes now, fits in progress abandoned (idle after a full run)."""
    processes = list((pool._processes or {}).values())  # no public handle on them before Python 3.14
    for process in processes:
        process.terminate()
    pool.shutdown(wait=True, cancel_futures=True)


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
