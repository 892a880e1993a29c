"""Tracker benchmark: decode / detect / track speed on a 640x480 clip and on vtest.avi, detector
recall on hand-marked vtest pedestrians, detector-stride agreement, peak memory on a 3x longer clip,
and MOTA / IDF1 / ID switches on every synthetic scene (tracker/synthetic.py) at strides 1 and 3.

    .venv/bin/python bench/bench_tracker.py            # prints a Markdown table, writes docs/tracker_vtest.png
"""
from __future__ import annotations

import argparse
import datetime
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from real_media import HAND_MARKED, VTEST  # noqa: E402
from tracker.debug import contact_sheet  # noqa: E402
from tracker.detectors import build_detector  # noqa: E402
from tracker.evaluation import evaluate, tracks_to_table  # noqa: E402
from tracker.synthetic import scenarios  # noqa: E402
from tracker.tracking import cxcywh_to_xyxy, track_detections, track_video  # noqa: E402
from tracker.video import open_video  # noqa: E402
from vibe.config import get_cfg_defaults  # noqa: E402

CLIP_FRAMES = 200
CLIP_SIZE = (640, 480)
DETECT_SAMPLE = 20  # frames timed per detector
SHEET_FRAMES = [0, 100, 200, 300]
SHEET_SCALE = 0.5
SHEET_COLOURS = 128
DETECTORS = ("centernet", "blazepose", "hog")
SCENE_FPS = 10.0
CENTRE_TOLERANCE = 0.5  # a person counts as found if a box centre lies within half their height


def found_people(marked: np.ndarray, boxes_xyxy: np.ndarray) -> tuple[int, int]:
    """(people found, boxes matching nobody) under the centre-distance rule."""
    if not len(boxes_xyxy):
        return 0, 0
    centres = (marked[:, :2] + marked[:, 2:]) / 2
    heights = marked[:, 3] - marked[:, 1]
    box_centres = (boxes_xyxy[:, :2] + boxes_xyxy[:, 2:]) / 2
    close = np.linalg.norm(centres[:, None] - box_centres[None], axis=2) <= CENTRE_TOLERANCE * heights[:, None]
    return int(close.any(axis=1).sum()), int((~close.any(axis=0)).sum())


def save_small_png(image_rgb: np.ndarray, path: Path) -> None:
    """A palette PNG (photo content in full colour would be ~800 kB in the repo)."""
    from PIL import Image  # matplotlib's dependency; only the benchmark needs it

    Image.fromarray(image_rgb).quantize(colors=SHEET_COLOURS, method=Image.Quantize.MEDIANCUT).save(path, optimize=True)


def make_clip(path: Path, repeats: int = 1) -> None:
    """The first CLIP_FRAMES vtest frames resized to 640x480, at vtest's 10 fps, `repeats` times over."""
    frames = []
    for frame_id, frame in open_video(VTEST).frames():
        if frame_id >= CLIP_FRAMES:
            break
        frames.append(cv2.resize(frame, CLIP_SIZE, interpolation=cv2.INTER_AREA))
    from vibe.io.video_writer import VideoWriter

    with VideoWriter(path, open_video(VTEST).info.fps, CLIP_SIZE) as writer:
        for _ in range(repeats):
            for frame in frames:
                writer.write(frame)


def time_decode(path: Path) -> float:
    source = open_video(path)
    start = time.perf_counter()
    count = sum(1 for _ in source.frames())
    return count / (time.perf_counter() - start)


def time_detector(cfg, name: str, path: Path) -> tuple[float, list]:
    cfg.TRACKER.DETECTOR = name
    detector = build_detector(cfg)
    frames = [f for i, f in open_video(path).frames() if i < DETECT_SAMPLE]
    start = time.perf_counter()
    detector.detect(frames)
    return len(frames) / (time.perf_counter() - start), detector


def detector_recall(detector) -> tuple[int, int, int]:
    wanted = {i: f for i, f in open_video(VTEST).frames() if i in HAND_MARKED and i <= max(HAND_MARKED)}
    found = extra = total = 0
    for frame_id, marked in HAND_MARKED.items():
        boxes, _ = detector.detect([wanted[frame_id]])[0]
        hit, spare = found_people(np.asarray(marked, float), boxes)
        found, extra, total = found + hit, extra + spare, total + len(marked)
    return found, total, extra


def track_recall(tracks) -> tuple[int, int]:
    found = total = 0
    for frame_id, marked in HAND_MARKED.items():
        boxes = [cxcywh_to_xyxy(t.bboxes[t.frame_ids == frame_id])[0] for t in tracks if frame_id in t.frame_ids]
        found += found_people(np.asarray(marked, float), np.asarray(boxes).reshape(-1, 4))[0]
        total += len(marked)
    return found, total


def run_pipeline(path: Path, stride: int | None = None):
    cfg = get_cfg_defaults()
    if stride is not None:
        cfg.TRACKER.DETECT_STRIDE = stride
    detector = build_detector(cfg)
    source = open_video(path)
    start = time.perf_counter()
    result = track_video(source, detector, cfg)
    return result, result.decode.frames_read / (time.perf_counter() - start)


def pipeline_peak_memory(path: Path) -> float:
    """Peak RSS (MB) of a fresh process running the default pipeline on `path`."""
    out = subprocess.run([sys.executable, __file__, "--pipeline-only", str(path)], capture_output=True, text=True,
                         check=True)
    return float(out.stdout.strip().splitlines()[-1])


def synthetic_rows() -> list[tuple[str, str]]:
    """MOTA / IDF1 / ID switches / tracks per synthetic scene, detector every frame and every third."""
    rows = []
    for name, scene in scenarios().items():
        detections = scene.detections()
        for stride in (1, 3):
            tracks = track_detections(((f, d if f % stride == 0 else None) for f, d in enumerate(detections)),
                                      get_cfg_defaults(), SCENE_FPS)
            m = evaluate(scene.truth(), tracks_to_table(tracks))
            rows.append((f"synthetic {name} ({len(scene.walkers)} people), stride {stride}",
                         f"MOTA {m.mota:.3f}, IDF1 {m.idf1:.3f}, {m.id_switches} ID switches, {len(tracks)} tracks"))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--pipeline-only", type=Path)
    args = parser.parse_args()
    cv2.setNumThreads(2)
    if args.pipeline_only:
        run_pipeline(args.pipeline_only)
        print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
        return

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        clip, clip3 = Path(tmp) / "clip640.mp4", Path(tmp) / "clip640x3.mp4"
        make_clip(clip)
        make_clip(clip3, repeats=3)
        cfg = get_cfg_defaults()
        for label, path in (("640x480 clip", clip), ("vtest.avi 768x576", VTEST)):
            rows.append((f"decode, {label}", f"{time_decode(path):.0f} frames/s"))
            for name in DETECTORS:
                fps, detector = time_detector(cfg, name, path)
                rows.append((f"detect {name} (every frame), {label}", f"{fps:.1f} frames/s"))
        for name in DETECTORS:
            cfg.TRACKER.DETECTOR = name
            found, total, extra = detector_recall(build_detector(cfg))
            rows.append((f"{name} recall on {total} hand-marked vtest people (frames 0/100/200)",
                         f"{found}/{total} ({extra} other boxes)"))

        result_clip, fps_clip = run_pipeline(clip)
        rows.append(("default pipeline (decode+detect+track), 640x480 clip", f"{fps_clip:.1f} frames/s"))
        reference, fps_ref = run_pipeline(VTEST, stride=1)
        result_vtest, fps_vtest = run_pipeline(VTEST)
        stride = get_cfg_defaults().TRACKER.DETECT_STRIDE
        for label, result, fps in (("stride 1", reference, fps_ref), (f"stride {stride} (default)", result_vtest, fps_vtest)):
            long_tracks = sum(len(t) >= result.info.fps for t in result.tracks)
            found, total = track_recall(result.tracks)
            rows.append((f"vtest.avi {label}: speed", f"{fps:.1f} frames/s"))
            rows.append((f"vtest.avi {label}: tracks (>= 1 s) / hand-marked people covered",
                         f"{len(result.tracks)} ({long_tracks}) / {found}/{total}"))
        agreement = evaluate(tracks_to_table(reference.tracks), tracks_to_table(result_vtest.tracks))
        rows.append((f"vtest.avi stride {stride} vs stride 1 tracks", f"MOTA {agreement.mota:.3f}, IDF1 {agreement.idf1:.3f}"))

        crowd = scenarios()["crowd_noisy"]
        crowd_detections = list(enumerate(crowd.detections()))
        track_start = time.perf_counter()
        track_detections(crowd_detections, get_cfg_defaults(), 10.0)
        rows.append((f"tracker alone, {len(crowd.walkers)} people + noise (synthetic, every frame detected)",
                     f"{len(crowd_detections) / (time.perf_counter() - track_start):.0f} frames/s"))

        rows.extend(synthetic_rows())
        mem1, mem3 = pipeline_peak_memory(clip), pipeline_peak_memory(clip3)
        rows.append((f"peak RSS, default pipeline, {CLIP_FRAMES} / {3 * CLIP_FRAMES} frames", f"{mem1:.0f} MB / {mem3:.0f} MB"))

        sheet = contact_sheet(open_video(VTEST), result_vtest.tracks, SHEET_FRAMES)
        sheet = cv2.resize(sheet, None, fx=SHEET_SCALE, fy=SHEET_SCALE, interpolation=cv2.INTER_AREA)
        save_small_png(sheet, REPO / "docs" / "tracker_vtest.png")

    print(f"Tracker benchmark, {datetime.date.today()}, {platform.processor() or platform.machine()}, "
          f"{len(__import__('os').sched_getaffinity(0))} cores, load {__import__('os').getloadavg()[0]:.1f}")
    print("| measurement | value |\n|---|---|")
    for name, value in rows:
        print(f"| {name} | {value} |")


if __name__ == "__main__":
    main()
