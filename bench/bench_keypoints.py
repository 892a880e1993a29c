"""Benchmark the BlazePose keypoint detector on person crops of the sample clip.

Speed: crops/s of `BlazePoseDetector` for batch sizes 1, 8 and 32 (one interpreter call per
crop), of the same interpreter with its batch dimension resized to the batch size, and of
mediapipe's graph (`mp.solutions.pose`, static images, one call per crop).

Crop margin: people found by OpenCV's HOG detector on frames of vtest.avi. The reference is
mediapipe's graph with its own detector and ROI logic on a generous context crop (box x 2) at
512 px; each person's square box is the extent of those reference landmarks (height + 10 % for the
head top above the eyes), i.e. a tight box as a tracker gives. For each crop margin (box x 1.1,
1.25, 1.4), per person: the median distance in frame pixels to the reference over the landmarks
the reference sees (visibility > 0.5); reported: its median and 90th percentile over people and
the number of people above FAILURE_PX, for our direct path, our path with a second hips-centred
pass (mediapipe's tracking ROI: centre = auxiliary landmark 33, side = 2.5 x its distance to
landmark 34), and mediapipe's graph on the same crop; and how often each finds the person.

    .venv/bin/python bench/bench_keypoints.py [--threads 2] [--frames 16]
"""
from __future__ import annotations

import argparse
import platform
import sys
import time
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from vibe.config import get_cfg_defaults  # noqa: E402
from vibe.keypoints.blazepose import (  # noqa: E402
    MODEL_LANDMARKS, MODEL_NAME, VALUES_PER_LANDMARK, BlazePoseDetector,
)
from vibe.keypoints.litert import bundled_mediapipe_model, load_interpreter  # noqa: E402
from tracker.crops import cut_crops

VIDEO = ROOT.parent / "shared" / "media" / "vtest.avi"
BATCH_SIZES = (1, 8, 32)
MARGINS = (1.1, 1.25, 1.4)
REFERENCE_MARGIN, REFERENCE_SIZE = 2.0, 512
HEAD_TOP_EXTRA = 1.1  # landmarks stop at the eyes; the head top is ~10 % of the height above
VISIBLE = 0.5
HIPS_CENTRE, ROI_SCALE_POINT, ROI_SIDE_PER_DISTANCE = 33, 34, 2.5  # mediapipe: 2 x dist x 1.25
SPEED_REPEATS = 5
GRAPH_REPEATS = 2  # mediapipe is the slow reference: fewer repeats
FAILURE_PX = 10.0  # a person whose median landmark error exceeds this counts as a failure


def read_frames(frame_ids):
    cap = cv2.VideoCapture(str(VIDEO))
    frames = {}
    for frame_id in frame_ids:
        cap.set(cv2.CAP_PROP_POS_FRAMES, frame_id)
        ok, bgr = cap.read()
        if ok:
            frames[frame_id] = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
    cap.release()
    return frames


def hog_boxes(frame):
    """Square boxes (cx, cy, h, h) around HOG's upright-person windows."""
    hog = cv2.HOGDescriptor()
    hog.setSVMDetector(cv2.HOGDescriptor_getDefaultPeopleDetector())
    bgr = cv2.cvtColor(frame, cv2.COLOR_RGB2BGR)
    rects, _ = hog.detectMultiScale(bgr, winStride=(8, 8), padding=(8, 8), scale=1.05)
    return [(x + w / 2, y + h / 2, h, h) for x, y, w, h in rects]


def mediapipe_landmarks(graph, crop):
    """(33, 2) crop pixels (centres at integers) and (33,) visibility, or None when not found."""
    found = graph.process(crop).pose_landmarks
    if found is None:
        return None
    xy = np.array([[lm.x, lm.y] for lm in found.landmark]) * crop.shape[0] - 0.5
    return xy, np.array([lm.visibility for lm in found.landmark])


def crop_to_frame(xy, box, margin, size):
    side = box[3] * margin
    return box[:2] + (xy - size / 2) * side / size


def reference_people(graph, frames):
    """[(frame_id, tight square box, (33, 2) frame landmarks, (33,) visible mask)] from mediapipe."""
    people = []
    for frame_id, frame in frames.items():
        for box in hog_boxes(frame):
            box = np.array(box, dtype=np.float64)
            found = mediapipe_landmarks(graph, cut_crops(frame, box[None], REFERENCE_MARGIN, REFERENCE_SIZE).images[0])
            if found is None:
                continue
            landmarks = crop_to_frame(found[0], box, REFERENCE_MARGIN, REFERENCE_SIZE)
            low, high = landmarks.min(axis=0), landmarks.max(axis=0)
            side = (high[1] - low[1]) * HEAD_TOP_EXTRA
            centre = np.array([(low[0] + high[0]) / 2, high[1] - side / 2])
            people.append((frame_id, np.array([*centre, side, side]), landmarks, found[1] > VISIBLE))
    return people


def raw_model_outputs(interpreter, crop):
    """The (39, 5) raw landmark tensor of one crop, for the ROI of the second pass."""
    inp = interpreter.get_input_details()[0]["index"]
    out = next(o["index"] for o in interpreter.get_output_details()
               if tuple(o["shape"]) == (1, MODEL_LANDMARKS * VALUES_PER_LANDMARK))
    interpreter.set_tensor(inp, (crop.astype(np.float32) / 255.0)[None])
    interpreter.invoke()
    return interpreter.get_tensor(out).reshape(MODEL_LANDMARKS, VALUES_PER_LANDMARK)


def second_pass(detector, interpreter, frame, box, margin, size):
    """Re-crop the frame around the first pass's hips centre at mediapipe's tracking ROI size."""
    crop = cut_crops(frame, box[None], margin, size).images
    aux = crop_to_frame(raw_model_outputs(interpreter, crop[0])[:, :2] - 0.5, box, margin, size)
    side = ROI_SIDE_PER_DISTANCE * np.linalg.norm(aux[ROI_SCALE_POINT] - aux[HIPS_CENTRE])
    roi = np.array([*aux[HIPS_CENTRE], side, side])
    return detector(cut_crops(frame, roi[None], 1.0, size).images).to_image(roi[None], 1.0)[0]


def margin_study(detector, graph, people, frames, cfg, threads):
    size = cfg.CROP.KEYPOINT_SIZE
    interpreter = load_interpreter(bundled_mediapipe_model(MODEL_NAME), threads)
    rows = []
    for margin in MARGINS:
        errors = {"direct": [], "two passes": [], "mediapipe": []}
        found = {"direct": 0, "mediapipe": 0}
        for frame_id, box, reference, visible in people:
            frame = frames[frame_id]
            crop = cut_crops(frame, box[None], margin, size).images
            ours = detector(crop)
            if ours.person_score[0] >= cfg.KEYPOINTS.MIN_PERSON_SCORE:
                found["direct"] += 1
            direct = ours.to_image(box[None], margin)[0]
            errors["direct"].append(np.median(np.linalg.norm(direct - reference, axis=1)[visible]))
            refined = second_pass(detector, interpreter, frame, box, margin, size)
            errors["two passes"].append(np.median(np.linalg.norm(refined - reference, axis=1)[visible]))
            theirs = mediapipe_landmarks(graph, crop[0])
            if theirs is not None:
                found["mediapipe"] += 1
                theirs_frame = crop_to_frame(theirs[0], box, margin, size)
                errors["mediapipe"].append(np.median(np.linalg.norm(theirs_frame - reference, axis=1)[visible]))
        rows.append((margin, {k: (np.median(v), np.percentile(v, 90), int(np.sum(np.array(v) > FAILURE_PX)))
                             for k, v in errors.items()}, found))
    return rows


def fastest_times(*fns, repeats=SPEED_REPEATS):
    """Fastest of `repeats` timed calls of each fn, the fns interleaved so that load from other jobs
    on the shared cores falls on all of them alike (after one warm-up call each)."""
    timings = [[] for _ in fns]
    for fn in fns:
        fn()  # warm-up: the first invoke packs XNNPACK's weights
    for _ in range(repeats):
        for fn, times in zip(fns, timings):
            start = time.perf_counter()
            fn()
            times.append(time.perf_counter() - start)
    return [min(times) for times in timings]


def speed(detector, graph, crops, threads):
    """[(batch, detector crops/s, resized-batch interpreter crops/s, mediapipe graph crops/s)]."""
    rows = []
    for batch in BATCH_SIZES:
        batch_crops = crops[np.arange(batch) % len(crops)]
        interpreter = load_interpreter(bundled_mediapipe_model(MODEL_NAME), threads)
        inp = interpreter.get_input_details()[0]["index"]
        interpreter.resize_tensor_input(inp, [batch, *crops.shape[1:]])
        interpreter.allocate_tensors()
        inputs = batch_crops.astype(np.float32) / 255.0

        def batched():
            interpreter.set_tensor(inp, inputs)
            interpreter.invoke()

        times = fastest_times(lambda: detector(batch_crops), batched)
        times += fastest_times(lambda: [graph.process(c) for c in batch_crops], repeats=GRAPH_REPEATS)
        rows.append((batch, *(batch / t for t in times)))
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--frames", type=int, default=16, help="frames of vtest.avi for the margin study")
    args = parser.parse_args()
    import mediapipe as mp

    cfg = get_cfg_defaults()
    size = cfg.CROP.KEYPOINT_SIZE
    detector = BlazePoseDetector(cfg, num_threads=args.threads)
    frame_ids = np.linspace(0, 780, args.frames).astype(int)
    frames = read_frames(frame_ids)
    with mp.solutions.pose.Pose(static_image_mode=True, model_complexity=1) as graph:
        people = reference_people(graph, frames)
        crops = np.concatenate([cut_crops(frames[f], box[None], cfg.KEYPOINTS.BBOX_SCALE, size).images
                                for f, box, _, _ in people])
        print(f"{platform.processor() or platform.machine()}, {args.threads} threads, "
              f"{len(people)} people on {len(frames)} frames")
        print("| batch | detector (loop) crops/s | resized-batch interpreter crops/s | mediapipe graph crops/s |")
        print("|---|---|---|---|")
        for batch, looped, resized, graph_rate in speed(detector, graph, crops, args.threads):
            print(f"| {batch} | {looped:.1f} | {resized:.1f} | {graph_rate:.1f} |")
        print(f"\n| margin | direct: median / p90 / n > {FAILURE_PX:.0f} px | two passes | "
              "mediapipe on same crop | found direct / mediapipe |")
        print("|---|---|---|---|---|")
        for margin, errs, found in margin_study(detector, graph, people, frames, cfg, args.threads):
            cells = " | ".join(f"{errs[k][0]:.2f} / {errs[k][1]:.2f} / {errs[k][2]}"
                               for k in ("direct", "two passes", "mediapipe"))
            print(f"| x{margin} | {cells} | {found['direct']} / {found['mediapipe']} of {len(people)} |")


if __name__ == "__main__":
    main()
