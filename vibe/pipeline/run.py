"""The demo as a library call: `run(video, output_folder, **options) -> RunResult`.

Stages, in order (each timed; track, crops and reconstruct cached, see vibe.pipeline.cache):
  load models -> track (pass 1) -> crops (pass 2: features and/or keypoints; SPIN's backbone is
  loaded only when features must be computed) -> reconstruct (network, fitting, or network refined
  by fitting; cached without meshes) -> smooth (optional) -> save results -> render (pass 3,
  optional) -> export (glb, bvh, optional obj) -> tracks (--display).
The input is a video file, a photo or a folder of same-size frames; results go to
results_dir(): `<output_folder>/<input stem>/`. The overlay and the tracks drawing are videos
(.mp4), or images (.jpg) for a one-frame input. A run's files are written into a hidden staging
folder swapped in for the results folder once all are written (vibe.io.atomic.staged_folder), so
the results folder holds one whole run's results: a failed, interrupted or killed run leaves the
earlier ones (or none), never a mix; the stage cache stays in the results folder across runs.
Folders a failed run made and left empty are removed. A video nobody is found in is a valid
input: its result file holds no people.
"""
from __future__ import annotations

import contextlib
import importlib.util
import logging
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm
from yacs.config import CfgNode

from tracker.types import Track, VideoInfo
from tracker.video import VideoSource, open_video
from vibe.config import resolve_data_dir
from vibe.device import pick_device
from vibe.errors import InputError, NoPeopleFound, OutputError
from vibe.fitting.parallel import FitCamera, FitJob, fit_tracks, worker_count
from vibe.fitting.smplify import FitInit
from vibe.io.atomic import recover_folder, staged_folder, write_bytes_atomic
from vibe.io.results import TrackResult, save_results
from vibe.keypoints.ownership import release_shared_people
from vibe.pipeline.cache import CACHE_DIR_NAME, StageCache, file_fingerprint, stage_key
from vibe.pipeline.options import MethodChoice, RunOptions, build_config, choose_method
from vibe.pipeline.passes import CropOutputs, crop_pass, tracking_pass
from vibe.pipeline.reconstruct import (
    Camera, network_result, smooth_result, usable_keypoints, with_mesh, with_track_boxes, without_mesh,
)
from vibe.pipeline.shared_models import loaded_once

log = logging.getLogger(__name__)

OVERLAY_SUFFIX = "_vibe_result"  # <stem>_vibe_result.mp4 (VIBE's name), or .jpg for a one-frame input
TRACKS_SUFFIX = "_tracks"
VIDEO_EXTENSION = ".mp4"
STILL_EXTENSION = ".jpg"
SAMPLE_CLIP_NAME = "sample_clip.mp4"
# In a results folder: the name of the input whose results it holds (see results_dir).
INPUT_RECORD_NAME = ".vibe_input"
# Config sections a reconstruction depends on (its cache key); over-inclusive on purpose.
RECONSTRUCT_SECTIONS = ("BODY", "CROP", "KEYPOINTS", "CAMERA", "MODEL", "FITTING", "DEMO")


@dataclass
class RunResult:
    """What a run produced. `results` track id -> TrackResult; `files` named outputs ('results',
    'overlay', 'tracks': videos, or images for a one-frame input); `person_files` track id -> its
    files; `timings` stage -> seconds in run order; `cached` stages read from the cache; `skipped`
    reason -> tracks skipped for it."""

    results: dict[int, TrackResult]
    output_dir: Path
    video: VideoInfo
    method: str
    method_reason: str
    body_model: str
    tracks_found: int
    files: dict[str, Path] = field(default_factory=dict)
    person_files: dict[int, list[Path]] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    cached: list[str] = field(default_factory=list)
    skipped: dict[str, int] = field(default_factory=dict)

    def summary(self) -> str:
        """A few lines for people: who was found, how, how long each stage took, where the files are."""
        lines = [f"input: {self.video.describe()}", f"people: {len(self.results)} (of {self.tracks_found} tracks)"]
        if self.skipped:
            lines.append("skipped: " + ", ".join(f"{n} {reason}" for reason, n in self.skipped.items()))
        if self.results:
            lines.append("frames per person: " + ", ".join(f"#{tid} {len(r.frame_ids)}"
                                                          for tid, r in self.results.items()))
        lines.append(f"method: {self.method} ({self.method_reason})")
        lines.append(f"body model: {self.body_model}")
        stages = ", ".join(f"{name} {seconds:.1f} s" + (" (cached)" if name in self.cached else "")
                           for name, seconds in self.timings.items())
        total = sum(self.timings.values())
        frames = self.video.n_frames or 0
        rate = f", {frames / total:.1f} frames/s" if total > 0 and frames else ""
        lines.append(f"time: {total:.1f} s{rate} ({stages})")
        lines.append(f"output folder: {self.output_dir}")
        for name, path in self.files.items():
            lines.append(f"  {name}: {path.name}")
        if self.person_files:
            lines.append(f"  per person: person_<id>.npz/.glb/.bvh for ids {', '.join(map(str, self.person_files))}")
        return "\n".join(lines)


def run(video, output_folder, *, cfg: CfgNode | None = None, **options) -> RunResult:
    """Run the demo on `video` (a video file, a photo or a folder of same-size frames); results in
    `<output_folder>/<stem>/`. A folder of photos of different sizes is not one sequence (an
    InputError when the first odd one is read); vibe.pipeline.batch runs such photos one by one.

    `options`: RunOptions fields (demo.py's flags). `cfg`: a base config (default: the defaults,
    with options.cfg_file and options.opts merged). Raises a vibe.errors.VibeError subclass with a
    one-line message on bad input, missing assets or unwritable output.
    """
    run_options = RunOptions.from_kwargs(**options)
    return _Run(Path(video), Path(output_folder), run_options, build_config(run_options, cfg)).execute()


def results_dir(video, output_folder) -> Path:
    """The folder run(video, output_folder) writes its results to: `<output_folder>/<stem>/` (an
    image folder's own name for a folder), unless that folder holds the results of another input
    of the same stem (clip.mov run where clip.mp4's results are): then `<stem>_<ext>/` (clip_mov/).
    A results folder names its input in INPUT_RECORD_NAME; one without (written before that record
    existed) counts as the input's own. OutputError when both folders hold other inputs' results."""
    video = Path(video)
    choices = _results_dir_choices(video, Path(output_folder))
    owners = [_recorded_input(folder) for folder in choices]
    for folder, owner in zip(choices, owners):
        if owner in (None, video.name):
            return folder
    raise OutputError(f"{choices[0]} and {choices[1]} hold the results of {owners[0]} and {owners[1]}; rename "
                      f"{video.name} or choose another --output_folder")


def _results_dir_choices(video: Path, output_folder: Path) -> tuple[Path, Path]:
    """The results folder of `video`, and the one it takes when another input of its stem has the first."""
    if not video.is_file():
        return output_folder / video.name, output_folder / f"{video.name}_folder"
    return output_folder / video.stem, output_folder / f"{video.stem}_{video.suffix.lstrip('.').lower()}"


def _recorded_input(folder: Path) -> str | None:
    """The input name recorded in a results folder, or None (no folder, or no record)."""
    try:
        return (folder / INPUT_RECORD_NAME).read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError):
        return None


def sample_video(folder) -> Path:
    """The built-in sample clip in `folder` (rendered by vibe.sample.make_sample_clip on first use)."""
    if importlib.util.find_spec("vibe.sample") is None:
        raise InputError("the built-in sample clip is not available in this version; pass --video FILE")
    from vibe.sample import make_sample_clip

    _prepare_folder(Path(folder), [])
    return Path(make_sample_clip(Path(folder) / SAMPLE_CLIP_NAME))


def _prepare_folder(folder: Path, created: list[Path]) -> None:
    """Create `folder` (recording what was created, outermost first) and check it is writable."""
    missing = [p for p in (folder, *folder.parents) if not p.exists()][::-1]
    try:
        folder.mkdir(parents=True, exist_ok=True)
        created.extend(missing)
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as err:
        raise OutputError(f"cannot write to output folder {folder}: {err.strerror}; choose a writable "
                          "--output_folder") from None


def _subset(track: Track, keep: np.ndarray) -> Track:
    return Track(track.track_id, track.frame_ids[keep], track.bboxes[keep], track.scores[keep],
                 track.interpolated[keep])


class _Run:
    """One run's state; `execute()` goes through the stages."""

    def __init__(self, video: Path, output_folder: Path, options: RunOptions, cfg: CfgNode):
        self.options = options
        self.cfg = cfg
        self.video = video
        self.output_folder = output_folder
        self.timings: dict[str, float] = {}
        self.cached: list[str] = []
        self.skipped: Counter = Counter()
        self.created: list[Path] = []

    # ------------------------------------------------------------------ driver

    def execute(self) -> RunResult:
        threads = torch.get_num_threads()
        try:
            if self.cfg.NUM_THREADS > 0:
                torch.set_num_threads(int(self.cfg.NUM_THREADS))
            return self._execute()
        except BaseException:
            self._remove_empty_folders()
            raise
        finally:
            torch.set_num_threads(threads)  # the caller's setting, whatever the run used

    def _execute(self) -> RunResult:
        cfg, options = self.cfg, self.options
        source = open_video(self.video, cfg=cfg)
        stem = self.video.stem if self.video.is_file() else self.video.name
        self.out_dir = self._results_folder()
        _prepare_folder(self.out_dir, self.created)
        self.cache = StageCache(self.out_dir / CACHE_DIR_NAME, enabled=options.use_cache and cfg.DEMO.CACHE)
        self.input_fingerprint = file_fingerprint(self.video)
        self.camera = Camera.from_cfg(cfg, source.info.width, source.info.height)
        with self._stage("load models"):
            choice = self._load_models()
        tracking = self._track(source)
        tracks = self._usable_tracks(tracking.tracks)
        results = self._reconstruct_cached(tracks, self._crops(source, tracks, choice), choice) if tracks else {}
        if tracking.tracks and not results:
            raise InputError(f"no usable people in {self.video}: {len(tracking.tracks)} track(s) found, all skipped "
                             f"({self._skipped_text()}); see the warnings above")
        if options.smooth:
            with self._stage("smooth"):
                results = {tid: smooth_result(r, self.body, self.camera, cfg) for tid, r in results.items()}
        run_result = RunResult(results, self.out_dir, tracking.info, choice.method, choice.reason,
                               f"{self.body.kind} ({self.body.num_verts} vertices)", len(tracking.tracks),
                               timings=self.timings, cached=self.cached, skipped=dict(self.skipped))
        with staged_folder(self.out_dir, carry_over=(CACHE_DIR_NAME,)) as staging:
            self._write_outputs(staging, run_result, source, tracking.tracks, stem)
        log.info("done: %d people, results in %s", len(results), self.out_dir)
        return run_result

    def _results_folder(self) -> Path:
        """results_dir(), once what a stopped run left half-swapped in its candidates is put right."""
        choices = _results_dir_choices(self.video, self.output_folder)
        for folder in choices:
            recover_folder(folder, carry_over=(CACHE_DIR_NAME,))
        folder = results_dir(self.video, self.output_folder)
        if folder != choices[0]:
            log.info("%s holds the results of %s; results of %s go to %s", choices[0], _recorded_input(choices[0]),
                     self.video.name, folder)
        return folder

    def _write_outputs(self, staging: Path, run_result: RunResult, source: VideoSource, tracks: list[Track],
                       stem: str) -> None:
        """Every output file into `staging` (which then becomes out_dir); `run_result` gets their final paths."""
        options, results = self.options, run_result.results
        write_bytes_atomic(staging / INPUT_RECORD_NAME, f"{self.video.name}\n".encode())
        with self._stage("save"):
            files = {"results": save_results(results, staging)}
        if options.render:
            with self._stage("render"):
                files["overlay"] = self._render(staging, source, results, stem)
        with self._stage("export"):
            person_files = self._export(staging, results, source.info)
        if options.display:
            with self._stage("tracks"):
                files["tracks"] = self._tracks_drawing(staging, source, tracks, stem)

        def final(path: Path) -> Path:
            return self.out_dir / path.relative_to(staging)

        run_result.files.update({name: final(path) for name, path in files.items()})
        run_result.person_files = {tid: [final(path) for path in paths] for tid, paths in person_files.items()}

    @contextlib.contextmanager
    def _stage(self, name: str, cached: bool = False):
        start = time.perf_counter()
        yield
        self.timings[name] = self.timings.get(name, 0.0) + time.perf_counter() - start
        if cached:
            self.cached.append(name)
        log.debug("stage %s: %.2f s", name, self.timings[name])

    def _remove_empty_folders(self) -> None:
        for folder in reversed(self.created):
            with contextlib.suppress(OSError):
                folder.rmdir()  # only succeeds when empty

    def _skipped_text(self) -> str:
        return ", ".join(f"{n} {reason}" for reason, n in self.skipped.items()) or "none"

    # ------------------------------------------------------------------ models

    @loaded_once  # once per batch inside vibe.pipeline.shared_models.models_shared()
    def _load_models(self) -> MethodChoice:
        """Body model, device, method and the models it needs; fails early on a missing asset."""
        from vibe.body import load_body_model

        cfg, options = self.cfg, self.options
        self.data_dir = resolve_data_dir(None, cfg)
        self.device = pick_device(cfg.DEVICE)
        self.body = load_body_model(self.data_dir, cfg.BODY.GENDER, cfg.BODY.MODEL).to(self.device)
        choice = choose_method(options.method, self.data_dir, cfg)
        log.info("method: %s (%s)", choice.method, choice.reason)
        self.generator = self.keypoint_detector = self.fitter = None
        if choice.method == "vibe":
            from vibe.models import load_vibe

            self.generator = load_vibe(choice.vibe_checkpoint, device=self.device)
        elif options.run_smplify:
            log.info("--run_smplify ignored: the fitting path already fits")
        if choice.method == "fitting" or options.run_smplify:
            from vibe.fitting import TemporalSMPLify, load_pose_prior
            from vibe.keypoints.blazepose import BlazePoseDetector

            self.keypoint_detector = BlazePoseDetector(cfg)
            self.fitter = TemporalSMPLify(self.body, cfg, load_pose_prior(cfg.FITTING, self.data_dir), device=self.device)
        return choice

    @loaded_once
    def _load_backbone(self, choice: MethodChoice):
        """SPIN's ResNet-50, loaded only when features must be computed (its file was checked to exist)."""
        from vibe.models import load_spin_backbone, prepare_backbone

        start = time.perf_counter()
        backbone = prepare_backbone(load_spin_backbone(choice.spin_checkpoint, device=self.device), self.cfg)
        log.info("loaded the ResNet-50 backbone from %s in %.1f s", choice.spin_checkpoint, time.perf_counter() - start)
        return backbone

    @loaded_once
    def _person_detector(self):
        """TRACKER.DETECTOR's detector (a method of its own so that a batch loads it once)."""
        from tracker.detectors import build_detector

        return build_detector(self.cfg, self.data_dir)

    # ------------------------------------------------------------------ passes 1 and 2

    def _track(self, source: VideoSource):
        from tracker.detectors import yolo_files

        cfg = self.cfg
        detector_files = yolo_files(cfg, self.data_dir) if str(cfg.TRACKER.DETECTOR).lower() == "yolo" else ()
        self.track_key = stage_key("track", self.input_fingerprint, cfg.TRACKER.dump(),
                                   [file_fingerprint(p) for p in detector_files])
        tracking = self.cache.load("track", self.track_key)
        with self._stage("track", cached=tracking is not None):
            if tracking is None:
                tracking = self._tracking_pass(source)
                self.cache.save("track", self.track_key, tracking)
        log.info("%d track(s) found", len(tracking.tracks))
        return tracking

    def _tracking_pass(self, source: VideoSource):
        """Pass 1. A video nobody is found in is a valid input, with no people (and a warning)."""
        try:
            return tracking_pass(source, self._person_detector(), self.cfg, self.options.progress)
        except NoPeopleFound as nobody:
            log.warning("%s", nobody)
            return nobody.result

    def _usable_tracks(self, tracks: list[Track]) -> list[Track]:
        min_frames = int(self.cfg.DEMO.MIN_TRACK_FRAMES)
        short = [t.track_id for t in tracks if len(t) < min_frames]
        if short:
            log.warning("%d track(s) shorter than %d frames skipped (DEMO.MIN_TRACK_FRAMES): ids %s",
                        len(short), min_frames, short)
            self.skipped[f"shorter than {min_frames} frames"] += len(short)
        return [t for t in tracks if len(t) >= min_frames]

    def _crops(self, source: VideoSource, tracks: list[Track], choice: MethodChoice) -> CropOutputs:
        """Features (network path) and keypoints (fitting, run_smplify), from the cache or pass 2."""
        cfg = self.cfg
        keys = {}
        if choice.method == "vibe":
            keys["features"] = stage_key("features", self.track_key, cfg.CROP.dump(), cfg.MODEL.FEATURE_DIM,
                                         file_fingerprint(choice.spin_checkpoint))
        if self.keypoint_detector is not None:
            keys["keypoints"] = stage_key("keypoints", self.track_key, cfg.CROP.dump(), cfg.KEYPOINTS.dump())
        loaded = {stage: self.cache.load(stage, key) for stage, key in keys.items()}
        missing = [stage for stage, data in loaded.items() if data is None]
        with self._stage("crops", cached=not missing):
            fresh = CropOutputs()
            if missing:
                backbone = self._load_backbone(choice) if "features" in missing else None
                fresh = crop_pass(source, tracks, cfg, backbone, self.keypoint_detector if "keypoints" in missing else None,
                                  self.options.progress)
            features = loaded.get("features") or {"features": fresh.features, "seen": fresh.seen}
            keypoints = loaded.get("keypoints") or {"keypoints": fresh.keypoints, "scores": fresh.person_scores,
                                                    "seen": fresh.seen}
            for stage in missing:
                self.cache.save(stage, keys[stage], features if stage == "features" else keypoints)
        self.crop_keys = keys
        seen = features["seen"] if "features" in keys else keypoints["seen"]
        person_scores = keypoints.get("scores", {})
        if person_scores:
            person_scores = release_shared_people(tracks, keypoints["keypoints"], person_scores,
                                                  float(cfg.KEYPOINTS.SAME_PERSON_SEPARATION),
                                                  float(cfg.KEYPOINTS.OWNERSHIP_MIN_CONFIDENCE))
        return CropOutputs(features.get("features", {}), keypoints.get("keypoints", {}), person_scores, seen)

    # ------------------------------------------------------------------ reconstruction

    def _reconstruct_cached(self, tracks: list[Track], crops: CropOutputs, choice: MethodChoice) -> dict[int, TrackResult]:
        """Per-track results, from the cache (stored without meshes) or computed."""
        cfg = self.cfg
        sections = {name: cfg[name].dump() for name in RECONSTRUCT_SECTIONS}
        files = [self.body.source, self.data_dir / cfg.FITTING.GMM_PRIOR, choice.vibe_checkpoint]
        key = stage_key("reconstruct", self.crop_keys, choice.method, self.options.run_smplify, sections,
                        [file_fingerprint(p) for p in files], [t.track_id for t in tracks])
        cached = self.cache.load("reconstruct", key)
        with self._stage("reconstruct", cached=cached is not None):
            if cached is None:
                skipped_before = Counter(self.skipped)
                results = self._reconstruct(tracks, crops, choice)
                cached = {"results": {tid: without_mesh(r) for tid, r in results.items()},
                          "skipped": dict(self.skipped - skipped_before)}
                self.cache.save("reconstruct", key, cached)
                return results
            self.skipped.update(cached["skipped"])
            return {tid: with_mesh(data, self.body, cfg) for tid, data in cached["results"].items()}

    def _reconstruct(self, tracks: list[Track], crops: CropOutputs, choice: MethodChoice) -> dict[int, TrackResult]:
        """Network results (if that path), then every fit (fitting path, or --run_smplify) at once,
        spread over worker processes when there are several tracks (FITTING.WORKERS)."""
        results, jobs = {}, []
        by_id = {track.track_id: track for track in tracks}
        for track in tracks:
            seen = crops.seen[track.track_id]
            if not seen.any():
                self._skip(track, "not decodable on the second pass")
                continue
            if choice.method == "vibe":
                results[track.track_id], job = self._network(track, crops, seen)
            else:
                job = self._fit_job(track, crops, seen)
            if job is not None:
                jobs.append(job)
        with contextlib.closing(self._fits(jobs)) as fits:  # an exception in the loop stops the workers at once
            for job, outcome in fits:
                self._add_fit(results, by_id[job.track_id], job, outcome, crops)
        return dict(sorted(results.items()))

    def _add_fit(self, results: dict[int, TrackResult], track: Track, job: FitJob, outcome, crops: CropOutputs) -> None:
        """A track's fit into `results`; a failed fit skips the track (or keeps its network result)."""
        if isinstance(outcome, InputError):
            self._skip(track, "kept unrefined (fit failed)" if job.init else "failed to fit")
            log.warning("track %d: %s", track.track_id, outcome)
            return
        if job.init is not None:
            outcome.meta["method"] = "vibe+smplify"
        results[track.track_id] = with_track_boxes(outcome, _subset(track, crops.seen[track.track_id]), self.camera)

    def _skip(self, track: Track, reason: str) -> None:
        log.warning("track %d (%d frames) skipped: %s", track.track_id, len(track), reason)
        self.skipped[reason] += 1

    def _network(self, track: Track, crops: CropOutputs, seen: np.ndarray) -> tuple[TrackResult, FitJob | None]:
        """The network's result for a track, and its refinement job with --run_smplify."""
        from vibe.models import predict_track

        features = torch.from_numpy(crops.features[track.track_id][seen])
        subset = _subset(track, seen)
        prediction = predict_track(self.generator, features, self.cfg, self.body)
        keypoints = None
        if self.fitter is not None:
            keypoints, fraction = usable_keypoints(crops.keypoints[track.track_id][seen],
                                                   crops.person_scores[track.track_id][seen], self.cfg)
        result = network_result(subset, prediction, self.camera, keypoints,
                                {"method": "vibe", "body_model": self.body.kind})
        if self.fitter is None:
            return result, None
        if fraction < self.cfg.DEMO.MIN_KEYPOINT_FRACTION:
            self._skip_refinement(track, fraction)
            return result, None
        init = FitInit(pose=result.pose, betas=result.betas, transl=result.transl)
        return result, FitJob(track.track_id, keypoints, subset.frame_ids, init)

    def _skip_refinement(self, track: Track, fraction: float) -> None:
        log.warning("track %d: person keypoints on only %.0f%% of frames; network result kept unrefined",
                    track.track_id, 100 * fraction)
        self.skipped["kept unrefined (too few keypoints)"] += 1

    def _fit_job(self, track: Track, crops: CropOutputs, seen: np.ndarray) -> FitJob | None:
        keypoints, fraction = usable_keypoints(crops.keypoints[track.track_id][seen],
                                               crops.person_scores[track.track_id][seen], self.cfg)
        minimum = float(self.cfg.DEMO.MIN_KEYPOINT_FRACTION)
        if fraction < minimum:
            self._skip(track, f"without usable keypoints (person on < {minimum:.0%} of frames)")
            return None
        return FitJob(track.track_id, keypoints, track.frame_ids[seen])

    def _fits(self, jobs: list[FitJob]):
        """fit_tracks over the jobs with a progress bar in person-frames."""
        workers = worker_count(int(self.cfg.FITTING.WORKERS), len(jobs), self.device)
        if jobs:
            log.info("fitting %d track(s) in %d process(es)", len(jobs), workers)
        camera = FitCamera(self.camera.width, self.camera.height, self.camera.focal)
        with tqdm(total=sum(job.num_frames for job in jobs), desc="fit", unit="frame", leave=False,
                  disable=not self.options.progress) as bar, \
                contextlib.closing(fit_tracks(self.fitter, jobs, camera, workers)) as fits:  # stops the workers
            for job, outcome in fits:
                bar.update(job.num_frames)
                yield job, outcome

    # ------------------------------------------------------------------ outputs

    def _render(self, folder: Path, source: VideoSource, results: dict[int, TrackResult], stem: str) -> Path:
        from vibe.pipeline.overlay import render_overlay

        out_path = self._output_path(folder, source, stem, OVERLAY_SUFFIX)
        return render_overlay(source, results, self.body.faces, self.camera, out_path, self.cfg, self.options.wireframe,
                              self.options.sideview, self.options.progress)

    def _export(self, folder: Path, results: dict[int, TrackResult], info: VideoInfo) -> dict[int, list[Path]]:
        from vibe.io.exporters import export_track

        files = {}
        for track_id, result in results.items():
            exported = export_track(folder, track_id, result, self.body, info.fps, (info.width, info.height),
                                    save_obj=self.options.save_obj)
            files[track_id] = [folder / f"person_{track_id}.npz", exported.glb, exported.bvh]
            if exported.obj_folder is not None:
                files[track_id].append(exported.obj_folder)
        return files

    def _tracks_drawing(self, folder: Path, source: VideoSource, tracks: list[Track], stem: str) -> Path:
        from tracker.debug import write_debug_video

        return write_debug_video(source, tracks, self._output_path(folder, source, stem, TRACKS_SUFFIX), self.cfg)

    @staticmethod
    def _output_path(folder: Path, source: VideoSource, stem: str, suffix: str) -> Path:
        """`<folder>/<stem><suffix>.mp4`, or `.jpg` for a one-frame input (a one-frame video is a photo)."""
        return folder / f"{stem}{suffix}{STILL_EXTENSION if source.info.is_still else VIDEO_EXTENSION}"
