"""End-to-end demo speed (frames/s, per stage) and peak memory on the built-in sample clip
(640x480, one person, vibe.sample), with rendering and exports, nothing cached.

- the fitting path (what runs without VIBE's weights) and the network path (random weights in
  VIBE's and SPIN's file layouts: speed does not depend on their values);
- peak memory (max RSS of a fresh process) on the clip and on the clip repeated `--long-repeats`
  times: frames are streamed, so only what is kept per frame (boxes, features, results) grows.

Run: `.venv/bin/python bench/bench_demo.py [--methods fitting vibe] [--long-repeats 10] [--opts KEY VALUE ...]`.
Each measurement runs in its own process (`--child`), so max RSS is that run's peak. The long
runs may cut the fitting iterations (`--long-fit-opts`): memory does not depend on them.
"""
from __future__ import annotations

import argparse
import json
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

THREADS = 2
KIB_PER_MIB = 1024
FAST_FIT = ["FITTING.STAGE_ITERS", "[2, 2, 5]", "FITTING.CAMERA_ITERS", "3"]


def write_random_checkpoints(data_dir: Path) -> None:
    """vibe_model_wo_3dpw.pth.tar and spin_model_checkpoint.pth.tar with random weights, VIBE's layouts."""
    import torch

    from vibe.models import MotionDiscriminator, ResNet50Backbone, Regressor, build_generator, save_vibe_checkpoint

    save_vibe_checkpoint(data_dir / "vibe_model_wo_3dpw.pth.tar", build_generator(), MotionDiscriminator(), 0, 0.0)
    spin = {**ResNet50Backbone().state_dict(), **Regressor().state_dict()}
    torch.save({"model": spin}, data_dir / "spin_model_checkpoint.pth.tar")


def repeated_clip(clip: Path, repeats: int, path: Path) -> Path:
    """`clip` played `repeats` times in a row (decoded and re-encoded, streamed)."""
    from tracker.video import open_video
    from vibe.io.video_writer import VideoWriter

    info = open_video(clip).info
    with VideoWriter(path, info.fps, (info.width, info.height)) as writer:
        for _ in range(repeats):
            for _, frame in open_video(clip).frames():
                writer.write(frame)
    return path


def child(clip: str, out: str, method: str, data_dir: str, opts: list[str]) -> None:
    """One pipeline run; prints a JSON line with the timings and this process's peak RSS."""
    import torch

    from vibe.pipeline import run

    torch.set_num_threads(THREADS)
    start = time.perf_counter()
    outcome = run(clip, out, method=method, data_dir=data_dir, use_cache=False, progress=False, opts=opts)
    wall = time.perf_counter() - start
    print(json.dumps({
        "frames": outcome.video.n_frames, "people": len(outcome.results), "wall": wall, "timings": outcome.timings,
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / KIB_PER_MIB,
        "method": outcome.method, "body_model": outcome.body_model,
    }))


def measure(clip: Path, out: Path, method: str, data_dir: Path, opts: list[str]) -> dict:
    command = [sys.executable, __file__, "--child", str(clip), str(out), method, str(data_dir), *opts]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"child failed: {done.stderr.strip().splitlines()[-1:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def report(label: str, result: dict) -> None:
    frames, wall = result["frames"], result["wall"]
    stages = ", ".join(f"{name} {seconds:.1f} s ({frames / seconds:.0f} f/s)" if seconds > 0 else name
                       for name, seconds in result["timings"].items())
    print(f"{label}: {frames} frames, {result['people']} people, {wall:.1f} s = {frames / wall:.2f} frames/s, "
          f"peak RSS {result['peak_rss_mib']:.0f} MiB [{result['method']}, {result['body_model']}]")
    print(f"    {stages}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--methods", nargs="+", default=["fitting", "vibe"], choices=("fitting", "vibe"))
    parser.add_argument("--long-repeats", type=int, default=10, help="0 or 1: skip the long clip")
    parser.add_argument("--long-fit-opts", nargs="*", default=[],
                        help="config overrides for the long runs, e.g. fewer fitting iterations: " + " ".join(FAST_FIT))
    parser.add_argument("--opts", nargs="*", default=[], help="config overrides for every run, e.g. MODEL.AUTOCAST bf16")
    parser.add_argument("--workdir", type=Path, help="keep clips and outputs here (default: a temporary folder)")
    args = parser.parse_args()

    from vibe.sample import make_sample_clip

    with tempfile.TemporaryDirectory() as tmp:
        work = args.workdir or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        data_dir = work / "vibe_data"
        data_dir.mkdir(exist_ok=True)
        write_random_checkpoints(data_dir)
        clip = make_sample_clip(work / "sample.mp4")
        long_clip = repeated_clip(clip, args.long_repeats, work / f"sample_x{args.long_repeats}.mp4") \
            if args.long_repeats > 1 else None
        print(f"machine: {platform.processor() or platform.machine()}, {THREADS} torch threads, python "
              f"{platform.python_version()}, {time.strftime('%Y-%m-%d')}; load average {open('/proc/loadavg').read().split()[:3]}")
        for method in args.methods:
            report(f"{method}, sample clip", measure(clip, work / f"out_{method}", method, data_dir, args.opts))
            if long_clip is None:
                continue
            long_opts = args.opts + (args.long_fit_opts if method == "fitting" else [])
            report(f"{method}, sample x{args.long_repeats}{' (fit opts ' + ' '.join(long_opts) + ')' if long_opts else ''}",
                   measure(long_clip, work / f"out_{method}_long", method, data_dir, long_opts))


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        child(sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5], sys.argv[6:])
    else:
        main()
