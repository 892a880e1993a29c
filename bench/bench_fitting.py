"""Benchmark temporal SMPLify on synthetic tracks with known 3D truth.

The body model (the open body when vibe/body/assets/open_body.npz exists, else a generated
SMPL-format model with SMPL's 6890 vertices) plays the motions of vibe/body/motions.py at several
distances and camera angles; its joints are projected with the fitting camera (focal = image
diagonal), the joints a BlazePose detector provides are kept, and noise is added: Gaussian pixel
noise, dropped joints and outliers. Reported per noise level, with temporal smoothing on and
off: MPJPE (pelvis-aligned), PA-MPJPE (mm) and ACCEL_ERR (mm/frame^2) on the 14 common joints,
and seconds per frame; per track also the final objective per frame. `--start truth` starts every
fit from the truth: comparing its objectives with the default run's tells a search failure (the
truth's basin is lower) from an objective that prefers the wrong pose.

`--noise rendered` replaces projected keypoints by the real keypoint network's: each frame is
rendered (the body clothed as in the built-in sample, over a plain background) and BlazePose runs
on the demo's keypoint crop (bench/rendered_tracks.py).

`--real N` adds N real motions: windows of sequences of the motion library's test split
(`mocap_test_db.pt`, tools/preprocess.py mocap: CMU motion capture retargeted onto the body, in
the subject's own shape), seen by the same cameras; `--motions` then filters procedural ones
(`--motions` with no name runs the real ones alone).

    .venv/bin/python bench/bench_fitting.py [--frames 60] [--threads 1] [--noise clean] [--smoothing on]
        [--tracks] [--start truth] [--cfg configs/precise_keypoints.yaml] [--opts FITTING.KEY VALUE ...]
        [--real 8 --db data/vibe_db]
"""
from __future__ import annotations

import argparse
import itertools
import platform
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from vibe.body.motions import MOTIONS, Motion, place_in_camera  # noqa: E402
from vibe import metrics  # noqa: E402
from vibe.body import OPEN_BODY_PATH, load_open_body, load_smpl  # noqa: E402
from vibe.config import load_config  # noqa: E402
from vibe.fitting import FitInit, TemporalSMPLify, load_pose_prior  # noqa: E402
from vibe.geometry import perspective_project  # noqa: E402
from vibe.keypoints.blazepose import BlazePoseDetector  # noqa: E402
from vibe.keypoints.conventions import COMMON14, SPIN49, index_map  # noqa: E402
from vibe.render import Intrinsics  # noqa: E402
from rendered_tracks import detected_keypoints  # noqa: E402

WIDTH, HEIGHT = 1280, 720
DISTANCES = (4.0, 10.0)  # m: the body ~600 px and ~250 px tall
CAMERA_ANGLES = ((0.0, 0.0), (20.0, 60.0))  # (elevation, azimuth) degrees
CAMERA = Intrinsics(float(np.hypot(WIDTH, HEIGHT)), float(np.hypot(WIDTH, HEIGHT)), WIDTH / 2.0, HEIGHT / 2.0)
COMMON = [SPIN49.index(name) for name in COMMON14]
DETECTED = index_map("blazepose33", "spin49", fill_equivalent=True) >= 0  # what BlazePose fills
GENERATED_VERTS = 6890
REGRESSOR_SUPPORT = 16  # vertices per joint in the generated model's J_regressor (SMPL's is sparse too)


@dataclass
class Noise:
    name: str
    pixel_sigma: float  # px
    drop_rate: float  # fraction of detected joints set missing
    outlier_rate: float  # fraction of detected joints moved far away
    outlier_px: float = 150.0  # outliers move up to this far in x and y


NOISE_LEVELS = (Noise("clean", 0.0, 0.0, 0.0), Noise("noisy", 2.0, 0.1, 0.02), Noise("heavy", 5.0, 0.2, 0.05),
                # pixel noise alone (no dropped joints, no outliers): where precise keypoints end
                Noise("jitter1", 1.0, 0.0, 0.0), Noise("jitter2", 2.0, 0.0, 0.0),
                # no synthetic noise: the body is rendered and BlazePose finds the keypoints (bench/rendered_tracks.py)
                Noise("rendered", 0.0, 0.0, 0.0))
RENDERED = "rendered"
DEFAULT_NOISE = ("clean", "noisy", "heavy")


def generated_body(folder: Path):
    """A 6890-vertex SMPL-format model from tests/smpl_factory.py, J_regressor made sparse."""
    sys.path.insert(0, str(ROOT / "tests"))
    from smpl_factory import make_smpl_arrays, write_smpl_file

    arrays = make_smpl_arrays(num_verts=GENERATED_VERTS, seed=0)
    rng = np.random.default_rng(0)
    sparse = np.zeros_like(arrays["J_regressor"])
    for joint, row in enumerate(arrays["J_regressor"]):
        picked = rng.choice(np.flatnonzero(row), size=REGRESSOR_SUPPORT, replace=False)
        sparse[joint, picked] = 1.0 / REGRESSOR_SUPPORT
    arrays["J_regressor"] = sparse
    return load_smpl(write_smpl_file(folder / "SMPL_NEUTRAL.npz", arrays))


@dataclass
class Scene:
    """A motion to fit: procedural (betas None: random per track) or from the library (its betas)."""

    motion: Motion
    betas: np.ndarray | None = None


def library_scenes(body, db_dir: Path, count: int, frames: int) -> list[Scene]:
    """`count` real motions from the library's test split: windows of `frames` frames from the
    middle of sequences spread evenly over the (sorted) names long enough to hold them, each with
    its retargeted shape; root = the pelvis trajectory in the capture's world (y up)."""
    import joblib

    from vibe.data.vibe_db import db_path

    library = joblib.load(db_path(db_dir, "mocap", "test"))
    names, starts, lengths = np.unique(library["vid_name"], return_index=True, return_counts=True)
    usable = [(name, start, length) for name, start, length in zip(names, starts, lengths) if length >= frames]
    picked = [usable[int(i)] for i in np.linspace(0, len(usable) - 1, min(count, len(usable)))]
    scenes = []
    for name, start, length in picked:
        rows = slice(start + (length - frames) // 2, start + (length - frames) // 2 + frames)
        theta, transl = library["theta"][rows], library["transl"][rows]
        pose, betas = theta[:, :72], theta[0, 72:]
        with torch.no_grad():
            rest = body(*(torch.zeros(1, n) for n in (3, 69)), torch.as_tensor(betas[None])).smpl_joints[0, 0]
        scenes.append(Scene(Motion(str(name), pose.astype(np.float64), transl + rest.numpy()), betas))
    return scenes


def synthesise(body, scene: Scene, distance, angles, rng):
    """Truth joints (T, 49, 3) without translation, clean keypoints (T, 49, 3) px + conf, the
    truth as a fitting start (FitInit: pose (T, 72), betas (10,), camera translation (T, 3)) and
    the camera-space vertices (T, V, 3)."""
    pose, root = place_in_camera(scene.motion, distance, *angles)
    frames = len(pose)
    shape = rng.normal(scale=1.0, size=(1, 10)) if scene.betas is None else scene.betas[None]
    betas = torch.as_tensor(shape, dtype=torch.float32)
    pose_t = torch.as_tensor(pose, dtype=torch.float32)
    with torch.no_grad():
        out = body(pose_t[:, :3], pose_t[:, 3:], betas.expand(frames, -1))
        transl = torch.as_tensor(root, dtype=torch.float32) - out.smpl_joints[:1, 0]
        uv = perspective_project(out.joints + transl[:, None], torch.zeros(frames, 3), CAMERA.fx,
                                 torch.tensor([CAMERA.cx, CAMERA.cy]))
    conf = np.broadcast_to(DETECTED[None, :, None], (frames, len(SPIN49), 1)).astype(np.float64)
    start = FitInit(pose=pose, betas=betas[0].numpy(), transl=transl.numpy())
    return out.joints.numpy(), np.concatenate([uv.numpy(), conf], -1), start, (out.verts + transl[:, None]).numpy()


def corrupt(keypoints, noise: Noise, rng):
    kp = keypoints.copy()
    detected = kp[..., 2] > 0
    kp[..., :2] += rng.normal(scale=noise.pixel_sigma, size=kp[..., :2].shape) if noise.pixel_sigma else 0.0
    outliers = detected & (rng.random(detected.shape) < noise.outlier_rate)
    kp[outliers, :2] += rng.uniform(-noise.outlier_px, noise.outlier_px, size=(outliers.sum(), 2))
    dropped = detected & (rng.random(detected.shape) < noise.drop_rate)
    kp[dropped] = 0.0
    return kp


def evaluate(pred, truth):
    pred, truth = pred[:, COMMON], truth[:, COMMON]
    return (metrics.mpjpe(metrics.align_by_pelvis(pred), metrics.align_by_pelvis(truth)).mean(),
            metrics.pa_mpjpe(pred, truth).mean(), metrics.accel_error(pred, truth).mean())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=60)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--motions", nargs="*", default=list(MOTIONS))
    parser.add_argument("--noise", nargs="*", default=list(DEFAULT_NOISE), choices=[n.name for n in NOISE_LEVELS],
                        help="noise levels to run (split a run over processes); jitter1 and jitter2 add 1 or 2 px "
                             "of Gaussian noise alone")
    parser.add_argument("--smoothing", nargs="*", default=["on", "off"], choices=["on", "off"])
    parser.add_argument("--tracks", action="store_true",
                        help="per-track rows for every run (default: only clean, smoothing on)")
    parser.add_argument("--start", choices=["neutral", "truth"], default="neutral",
                        help="truth: start every fit from the true pose, shape and translation (what the "
                             "objective's own minimum near the truth costs, apart from the search)")
    parser.add_argument("--cfg", help="YAML config over the defaults, e.g. configs/precise_keypoints.yaml")
    parser.add_argument("--opts", nargs="*", default=[], help="config overrides, e.g. FITTING.FLIP_AFTER_STAGES []")
    parser.add_argument("--real", type=int, default=0, help="also fit this many real motions from mocap_test_db.pt")
    parser.add_argument("--db", type=Path, help="folder of mocap_test_db.pt (default TRAIN.DB_DIR)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    cfg = load_config(args.cfg, args.opts)
    with tempfile.TemporaryDirectory() as tmp:
        body = load_open_body() if OPEN_BODY_PATH.is_file() else generated_body(Path(tmp))
    prior = load_pose_prior(cfg.FITTING, None)
    fitters = {smooth: TemporalSMPLify(body, cfg, prior, smooth=smooth) for smooth in (True, False)}
    runs = [(noise, smooth) for noise, smooth in itertools.product(NOISE_LEVELS, (True, False))
            if noise.name in args.noise and ("on" if smooth else "off") in args.smoothing]
    print(f"body model: {body.kind} ({body.num_verts} vertices; the joints-only forward "
          f"skins {fitters[True].joints_model.num_pairs} (point, joint) pairs); {platform.processor() or platform.machine()}, "
          f"torch {torch.__version__}, {args.threads} thread(s); {args.frames} frames per track, "
          f"{WIDTH}x{HEIGHT}, focal = diagonal")
    motions = [Scene(MOTIONS[name](args.frames)) for name in args.motions]
    if args.real:
        motions += library_scenes(body, args.db or Path(cfg.TRAIN.DB_DIR), args.real, args.frames)
    scenes = list(itertools.product(motions, DISTANCES, CAMERA_ANGLES))
    detector = BlazePoseDetector(cfg) if RENDERED in args.noise else None
    for noise, smooth in runs:
        results, seconds = [], 0.0
        for index, (scene, distance, angles) in enumerate(scenes):
            rng = np.random.default_rng(index)
            truth, clean, truth_start, verts = synthesise(body, scene, distance, angles, rng)
            keypoints = (detected_keypoints(body, verts, CAMERA, (WIDTH, HEIGHT), cfg, detector)
                         if noise.name == RENDERED else corrupt(clean, noise, rng))
            start = time.perf_counter()
            init = truth_start if args.start == "truth" else None
            result, diagnostics = fitters[smooth].fit(keypoints, (WIDTH, HEIGHT), init=init)
            seconds += time.perf_counter() - start
            results.append(evaluate(result.joints3d, truth))
            if args.tracks or (noise.name == "clean" and smooth):
                print(f"  {scene.motion.name:10s} {distance:4.0f} m  elev {angles[0]:3.0f} az {angles[1]:3.0f}: "
                      f"MPJPE {results[-1][0]:6.1f}  PA-MPJPE {results[-1][1]:6.1f}  ACCEL_ERR {results[-1][2]:5.2f}  "
                      f"objective/frame {diagnostics.stage_losses[-1] / args.frames:7.2f}")
        mean = np.mean(results, axis=0)
        per_frame = seconds / (len(scenes) * args.frames)
        print(f"{noise.name:6s} smoothing {'on ' if smooth else 'off'}: MPJPE {mean[0]:6.1f} mm  "
              f"PA-MPJPE {mean[1]:6.1f} mm  ACCEL_ERR {mean[2]:6.2f} mm/frame^2  {per_frame:.3f} s/frame",
              flush=True)


if __name__ == "__main__":
    main()
