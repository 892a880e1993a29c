"""End-to-end accuracy on the built-in sample clip, whose 3D truth is exact (vibe.sample).

The whole product runs on pixels: tracker, BlazePose keypoints, then the reconstruction (the
fitting path by default), and its `vibe_output.pkl` is compared with the truth the clip was
rendered from. Unlike bench_fitting.py (synthetic keypoints), the 2D input carries a real
detector's errors. Printed per motion of the clip and overall, on the 14 common joints:
MPJPE (pelvis-aligned), PA-MPJPE (mm), ACCEL_ERR (mm/frame^2), and the error of the absolute
pelvis position in camera space (VIBE outputs none): its 3D distance and its depth part (mm).

    .venv/bin/python bench/bench_sample_accuracy.py [--output DIR] [--cfg FILE] [--opts KEY VALUE ...]

`--output` keeps the run (a re-run with the same folder reuses its cached stages, so changed
fitting options only refit); `--opts` are config overrides as in demo.py.
"""
from __future__ import annotations

import argparse
import logging
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from vibe import metrics  # noqa: E402
from vibe.body import load_open_body  # noqa: E402
from vibe.config import get_cfg_defaults  # noqa: E402
from vibe.io.results import load_results  # noqa: E402
from vibe.keypoints.conventions import COMMON14, SPIN49  # noqa: E402
from vibe.pipeline import run  # noqa: E402
from vibe.sample import make_sample_clip, sample_truth  # noqa: E402

COMMON = [SPIN49.index(name) for name in COMMON14]
PELVIS = SPIN49.index("pelvis")
MM = 1000.0


def truth_joints(body, truth) -> np.ndarray:
    """(T, 49, 3) camera-space joints (m) of the sample's body."""
    pose = torch.as_tensor(truth.pose, dtype=torch.float32)
    betas = torch.as_tensor(truth.betas, dtype=torch.float32).expand(len(pose), -1)
    with torch.no_grad():
        joints = body(pose[:, :3], pose[:, 3:], betas).joints.numpy()
    return joints + truth.transl[:, None, :]


def motion_spans(cfg, num_frames: int) -> list[tuple[str, slice]]:
    """The clip's motions as frame ranges (SAMPLE.MOTION_SECONDS at SAMPLE.FPS)."""
    ends = np.round(np.cumsum(cfg.SAMPLE.MOTION_SECONDS) * cfg.SAMPLE.FPS).astype(int)
    starts = np.concatenate([[0], ends[:-1]])
    return [(name, slice(start, min(end, num_frames)))
            for name, start, end in zip(cfg.SAMPLE.MOTIONS, starts, ends)]


def errors(pred: np.ndarray, truth: np.ndarray) -> dict[str, float]:
    """pred, truth (n, 49, 3) camera-space joints, m -> the printed metrics."""
    p, t = pred[:, COMMON], truth[:, COMMON]
    root_error = pred[:, PELVIS] - truth[:, PELVIS]
    return {
        "MPJPE": metrics.mpjpe(metrics.align_by_pelvis(p), metrics.align_by_pelvis(t)).mean(),
        "PA-MPJPE": metrics.pa_mpjpe(p, t).mean(),
        "ACCEL_ERR": metrics.accel_error(p, t).mean() if len(p) >= 3 else float("nan"),
        "pelvis 3D": np.linalg.norm(root_error, axis=-1).mean() * MM,
        "pelvis depth": np.abs(root_error[:, 2]).mean() * MM,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--output", type=Path, help="keep the run here (default: a temporary folder)")
    parser.add_argument("--method", default="fitting", choices=("fitting", "auto"))
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--cfg", help="YAML config over the defaults, as in demo.py")
    parser.add_argument("--opts", nargs="*", default=[], help="config overrides KEY VALUE ...")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    torch.set_num_threads(args.threads)
    cfg = get_cfg_defaults()
    with tempfile.TemporaryDirectory() as tmp:
        work = args.output or Path(tmp)
        clip = make_sample_clip(work / "sample_clip.mp4")
        start = time.perf_counter()
        outcome = run(clip, work, method=args.method, progress=False, render=False, cfg_file=args.cfg,
                      opts=args.opts)
        seconds = time.perf_counter() - start
        results = load_results(outcome.output_dir / "vibe_output.pkl")
    truth = sample_truth(cfg)
    truth3d = truth_joints(load_open_body(), truth)
    print(f"{platform.processor() or platform.machine()}, torch {torch.__version__}, {args.threads} thread(s), "
          f"{time.strftime('%Y-%m-%d')}; method {outcome.method}; cfg {args.cfg or '-'}; "
          f"opts {' '.join(args.opts) or '-'}; "
          f"{seconds:.1f} s ({', '.join(f'{k} {v:.1f} s' for k, v in outcome.timings.items())})")
    print(f"people found: {len(results)} (truth: 1)")
    if len(results) != 1:
        raise SystemExit("expected exactly one person in the sample clip")
    result = next(iter(results.values()))
    pred = result.joints3d + result.transl[:, None, :]
    spans = [(name, np.isin(result.frame_ids, np.arange(len(truth3d))[span])) for name, span in
             motion_spans(cfg, len(truth3d))] + [("all", np.ones(len(result.frame_ids), dtype=bool))]
    header = ["motion", "frames", "MPJPE", "PA-MPJPE", "ACCEL_ERR", "pelvis 3D", "pelvis depth"]
    print("| " + " | ".join(header) + " |\n|" + "---|" * len(header))
    for name, chosen in spans:
        row = errors(pred[chosen], truth3d[result.frame_ids[chosen]])
        print(f"| {name} | {int(chosen.sum())} | " + " | ".join(f"{value:.1f}" for value in row.values()) + " |")


if __name__ == "__main__":
    main()
