"""Person detection on real annotated media, and detection + tracking speed by resolution.

Part 1, per detector, on the annotated COCO and CrowdPose photos and vtest.avi's hand-marked
frames (bench/real_media.py says what is ignored): person recall and precision at IoU 0.5,
duplicates (boxes on a person already found), the same recall and precision on the square boxes
the tracker makes of every box (fair to detectors whose boxes are square, as BlazePose's, or
padded, as HOG's), and BlazePose's 2D keypoints on each found person
cut from the detector's box as the pipeline cuts it: box-normalised PCK (a joint is correct within
ALPHA x the annotated person's longer box side; 0.1 is about PCKh@0.5's strictness for a standing
person, half a head being ~7 % of body height), over the joints both conventions share.
Part 2: frames/s of the default detector + tracker (decode included, TRACKER.DETECT_STRIDE as
configured) on vtest scaled to 640x480, 1920x1080 and 3840x2160, the tracks found on the built-in
sample clip at 640x480, portrait 1080x1920 and 3840x2160 (one person is there), and peak memory.

    .venv/bin/python bench/bench_detection.py                  # both parts, Markdown tables
    .venv/bin/python bench/bench_detection.py --detectors centernet --no-speed
"""
from __future__ import annotations

import argparse
import datetime
import os
import platform
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench_tracker import pipeline_peak_memory, run_pipeline  # noqa: E402
from real_media import VTEST, AnnotatedImage, coco_images, vtest_images  # noqa: E402
from tracker.crops import keypoint_crops  # noqa: E402
from tracker.detectors import build_detector, threshold_key  # noqa: E402
from tracker.nms import pairwise_iou  # noqa: E402
from tracker.tracking import cxcywh_to_xyxy, square_boxes, xyxy_to_cxcywh  # noqa: E402
from tracker.video import open_video  # noqa: E402
from vibe.config import get_cfg_defaults  # noqa: E402
from vibe.keypoints.conventions import index_map  # noqa: E402

IOU_MATCH = 0.5
PCK_ALPHAS = (0.05, 0.1, 0.2)
SPEED_FRAMES = 60
SPEED_SIZES = {"640x480": (640, 480), "1920x1080": (1920, 1080), "3840x2160": (3840, 2160)}
SAMPLE_SIZES = {"640x480 (as made)": None, "portrait 1080x1920": (1080, 1920), "3840x2160": (3840, 2160)}


@dataclass
class Counts:
    hits: int = 0
    required: int = 0
    false_boxes: int = 0
    duplicates: int = 0
    seconds: float = 0.0
    images: int = 0
    pck_correct: dict = field(default_factory=lambda: {alpha: 0 for alpha in PCK_ALPHAS})
    pck_joints: int = 0
    square_hits: int = 0
    square_false_boxes: int = 0

    def row(self, name: str) -> str:
        pck = " / ".join(f"{self.pck_correct[a] / max(self.pck_joints, 1):.2f}" for a in PCK_ALPHAS)
        return (f"| {name} | {self.hits}/{self.required} = {self.hits / max(self.required, 1):.2f} | "
                f"{self.hits / max(self.hits + self.false_boxes, 1):.2f} | {self.false_boxes} | {self.duplicates} | "
                f"{self.square_hits / max(self.required, 1):.2f} / "
                f"{self.square_hits / max(self.square_hits + self.square_false_boxes, 1):.2f} | "
                f"{pck} ({self.pck_joints} joints) | {1000 * self.seconds / max(self.images, 1):.0f} |")


def squared(boxes_xyxy: np.ndarray) -> np.ndarray:
    """xyxy boxes (K, 4) -> the tracker's square boxes, xyxy."""
    return cxcywh_to_xyxy(square_boxes(xyxy_to_cxcywh(boxes_xyxy)))


def match(image: AnnotatedImage, boxes: np.ndarray, scores: np.ndarray, square: bool = False
          ) -> tuple[dict[int, int], int, int]:
    """Greedy by score: detection -> its person (best IoU >= IOU_MATCH among people not yet found;
    required people first). Returns (person -> detection for found required people, false boxes,
    duplicates); boxes on ignore regions or smaller than image.min_height matching nobody count as
    neither. `square`: people and boxes are compared as the tracker's square boxes."""
    people = squared(image.boxes) if square else image.boxes
    iou = pairwise_iou(people, squared(boxes) if square else boxes) if len(boxes) else np.zeros((len(people), 0))
    found: dict[int, int] = {}
    taken_ignored: set[int] = set()
    false_boxes = duplicates = 0
    for det in np.argsort(-scores):
        overlapping = np.flatnonzero(iou[:, det] >= IOU_MATCH)
        free = [p for p in overlapping if p not in found and p not in taken_ignored]
        free.sort(key=lambda p: (not image.required[p], -iou[p, det]))
        if free:
            person = free[0]
            if image.required[person]:
                found[person] = det
            else:
                taken_ignored.add(person)
        elif len(overlapping):
            duplicates += 1
            false_boxes += 1
        elif boxes[det, 3] - boxes[det, 1] >= image.min_height:
            false_boxes += 1
    return found, false_boxes, duplicates


def keypoint_errors(image: AnnotatedImage, boxes: np.ndarray, found: dict[int, int], keypoint_model, cfg) -> list:
    """Per found person with keypoints: (joint errors (J,) px, person size px) on the labelled joints."""
    if image.keypoints is None or not found:
        return []
    people = list(found)
    squares = xyxy_to_cxcywh(squared(boxes[[found[p] for p in people]]))
    crops = keypoint_crops(image.frame, squares, cfg)
    predicted = keypoint_model(crops.images).to_image(squares, float(cfg.KEYPOINTS.BBOX_SCALE))
    mapping = index_map("blazepose33", image.convention)  # per annotated joint: its BlazePose index or -1
    errors = []
    for row, person in enumerate(people):
        labelled = (image.keypoints[person, :, 2] > 0) & (mapping >= 0)
        truth = image.keypoints[person, labelled, :2]
        guess = predicted[row, mapping[labelled]]
        size = float(np.max(image.boxes[person, 2:] - image.boxes[person, :2]))
        errors.append((np.linalg.norm(guess - truth, axis=1), size))
    return errors


def evaluate_detector(spec: str, images: list[AnnotatedImage], keypoint_model) -> Counts:
    """`spec`: a detector name, optionally with its score threshold as NAME@THRESHOLD."""
    cfg = get_cfg_defaults()
    name, _, threshold = spec.partition("@")
    cfg.TRACKER.DETECTOR = name
    if threshold:
        cfg.TRACKER[threshold_key(name)] = float(threshold)
    detector = build_detector(cfg)
    counts = Counts()
    for image in images:
        start = time.perf_counter()
        boxes, scores = detector.detect([image.frame])[0]
        counts.seconds += time.perf_counter() - start
        counts.images += 1
        found, false_boxes, duplicates = match(image, boxes, scores)
        counts.hits += len(found)
        counts.required += int(image.required.sum())
        counts.false_boxes += false_boxes
        counts.duplicates += duplicates
        square_found, square_false, _ = match(image, boxes, scores, square=True)
        counts.square_hits += len(square_found)
        counts.square_false_boxes += square_false
        for errors, size in keypoint_errors(image, boxes, found, keypoint_model, cfg):
            counts.pck_joints += len(errors)
            for alpha in PCK_ALPHAS:
                counts.pck_correct[alpha] += int((errors <= alpha * size).sum())
    return counts


# ---- part 2: speed and track counts by resolution ------------------------------------------------

def scaled_clip(source: Path, path: Path, size: tuple[int, int] | None, frames: int | None = None) -> Path:
    """`source` letterboxed into `size` (w, h), centred on black (None: as it is), first `frames`."""
    from vibe.io.video_writer import VideoWriter

    video = open_video(source)
    size = size or (video.info.width, video.info.height)
    with VideoWriter(path, video.info.fps, size) as writer:
        for frame_id, frame in video.frames():
            if frames is not None and frame_id >= frames:
                break
            writer.write(letterbox_centre(frame, size))
    return path


def letterbox_centre(frame: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    width, height = size
    scale = min(width / frame.shape[1], height / frame.shape[0])
    new_w, new_h = round(frame.shape[1] * scale), round(frame.shape[0] * scale)
    canvas = np.zeros((height, width, 3), np.uint8)
    top, left = (height - new_h) // 2, (width - new_w) // 2
    canvas[top:top + new_h, left:left + new_w] = cv2.resize(frame, (new_w, new_h), interpolation=cv2.INTER_LINEAR)
    return canvas


def speed_rows(tmp: Path) -> list[tuple[str, str]]:
    rows = []
    for label, size in SPEED_SIZES.items():
        clip = scaled_clip(VTEST, tmp / f"vtest_{label}.mp4", size, SPEED_FRAMES)
        result, fps = run_pipeline(clip)
        long_tracks = sum(len(t) >= result.info.fps for t in result.tracks)
        rows.append((f"detect + track, vtest scaled to {label} ({SPEED_FRAMES} frames)",
                     f"{fps:.1f} frames/s, {len(result.tracks)} tracks ({long_tracks} >= 1 s)"))
    rows.append(("peak RSS, detect + track at 3840x2160", f"{pipeline_peak_memory(tmp / 'vtest_3840x2160.mp4'):.0f} MB"))
    from vibe.sample import make_sample_clip

    sample = Path(make_sample_clip(tmp / "sample.mp4"))
    for label, size in SAMPLE_SIZES.items():
        clip = sample if size is None else scaled_clip(sample, tmp / f"sample_{size[0]}x{size[1]}.mp4", size)
        result, fps = run_pipeline(clip)
        long_tracks = sum(len(t) >= result.info.fps for t in result.tracks)
        rows.append((f"built-in sample (1 person), {label}: tracks (>= 1 s)", f"{len(result.tracks)} ({long_tracks}), {fps:.1f} frames/s"))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--detectors", nargs="+", default=["centernet", "centernet@0.2", "centernet@0.4", "blazepose", "hog"],
                        help="names, each optionally @ its score threshold (default: TRACKER.<NAME>_THRESHOLD)")
    parser.add_argument("--no-speed", action="store_true", help="only the detection table")
    args = parser.parse_args()
    cv2.setNumThreads(2)
    from vibe.keypoints.blazepose import BlazePoseDetector

    keypoint_model = BlazePoseDetector(get_cfg_defaults())
    sets = {"COCO + CrowdPose photos": coco_images(), "vtest.avi marked frames": vtest_images()}
    sets["all"] = [image for images in list(sets.values()) for image in images]
    print(f"Detection benchmark, {datetime.date.today()}, {platform.processor() or platform.machine()}, "
          f"{len(os.sched_getaffinity(0))} cores, load {os.getloadavg()[0]:.1f}\n")
    print(f"| detector, images | recall | precision | false boxes | duplicates | square boxes: recall / precision | "
          f"BlazePose PCK@{'/'.join(map(str, PCK_ALPHAS))} | ms/image |\n|---|---|---|---|---|---|---|---|")
    for name in args.detectors:
        for label, images in sets.items():
            print(evaluate_detector(name, images, keypoint_model).row(f"{name}, {label}"))
    if args.no_speed:
        return
    with tempfile.TemporaryDirectory() as tmp:
        rows = speed_rows(Path(tmp))
    print("\n| measurement | value |\n|---|---|")
    for name, value in rows:
        print(f"| {name} | {value} |")


if __name__ == "__main__":
    main()
