"""Batch wall time: CLIPS short clips (cut from the built-in sample, one person each) run by
`demo.py --video list.txt` as one process, then as SHARDS processes at once (`--shard I/N`), each
shard with an equal share of the cores. Prints a table of wall times and clips per minute.

    .venv/bin/python bench/bench_batch.py [--clips 20] [--frames 25] [--shards 2]
"""
from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

DEMO_FLAGS = ("--no_render", "--no_progress")


def cut_clips(sample: Path, folder: Path, count: int, frames: int) -> Path:
    """`count` clips of `frames` frames from consecutive stretches of the sample (wrapping);
    -> a list file naming them."""
    from tracker.video import open_video
    from vibe.io.video_writer import VideoWriter

    source = open_video(sample)
    images = [frame for _, frame in source.frames()]  # RGB; a 7.8 s 640x480 clip fits in memory
    fps, width, height = source.info.fps, source.info.width, source.info.height
    names = []
    for index in range(count):
        start = (index * frames) % (len(images) - frames)
        path = folder / f"clip_{index:02d}.mp4"
        with VideoWriter(path, fps, (width, height)) as writer:
            for image in images[start:start + frames]:
                writer.write(image)
        names.append(path.name)
    listing = folder / "clips.txt"
    listing.write_text("\n".join(names) + "\n")
    return listing


def run_batch(listing: Path, output: Path, shards: int) -> float:
    """Wall seconds of `shards` demo.py processes started together, each on cores / shards threads."""
    threads = max(1, (os.cpu_count() or 1) // shards)
    env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
    commands = [[sys.executable, str(ROOT / "demo.py"), "--video", str(listing), "--output_folder", str(output),
                 *DEMO_FLAGS, "--opts", "NUM_THREADS", str(threads), "KEYPOINTS.NUM_THREADS", str(threads),
                  "FITTING.WORKERS", "1"]
                + (["--shard", f"{index}/{shards}"] if shards > 1 else []) for index in range(1, shards + 1)]
    start = time.perf_counter()
    processes = [subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                 for command in commands]
    codes = [process.wait() for process in processes]
    if any(codes):
        raise SystemExit(f"a shard failed: exit codes {codes}")
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=20)
    parser.add_argument("--frames", type=int, default=25)
    parser.add_argument("--shards", type=int, default=2)
    args = parser.parse_args()
    from vibe.pipeline import sample_video

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        listing = cut_clips(sample_video(folder / "sample"), folder, args.clips, args.frames)
        warm_up = folder / "warm_up.txt"  # imports and model files into the page cache before timing
        warm_up.write_text(listing.read_text().splitlines()[0] + "\n")
        run_batch(warm_up, folder / "out_warm_up", 1)
        rows = [(shards, run_batch(listing, folder / f"out_{shards}", shards)) for shards in (1, args.shards)]
    print(f"{args.clips} clips x {args.frames} frames, fitting path; {platform.machine()}, {os.cpu_count()} cores")
    print("| shards | wall s | clips/min |\n|---|---|---|")
    for shards, seconds in rows:
        print(f"| {shards} | {seconds:.1f} | {60 * args.clips / seconds:.1f} |")


if __name__ == "__main__":
    main()
