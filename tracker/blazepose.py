"""Anchors and box decoding for BlazePose's person detector (`pose_detection.tflite`).

The model outputs, per input, 2254 rows of 12 regression values and 2254 logits. The facts
below are those of mediapipe's pose detection graph (SsdAnchorsCalculator and
TensorsToDetectionsCalculator options for pose_detection.tflite):
  anchors: 5 layers, strides 8, 16, 32, 32, 32 on a 224x224 input, one aspect ratio (1.0) plus
  the interpolated scale, so 2 anchors per cell per layer; consecutive layers with the same
  stride share one grid; centres at (i + 0.5) / grid; fixed anchor size (w = h = 1).
  decoding: values ordered x, y, w, h then 4 keypoints (x, y), all in input pixels relative to the
  anchor centre: x = raw / 224 * anchor_w + anchor_x; scores are sigmoid(clip(logit, +-100)).
  keypoint 0 is the mid-hip centre and keypoint 1 a point on the circle enclosing the whole body
  (mediapipe's PoseDetectionToRoi takes centre = kp0, box side = 2 |kp1 - kp0|).
"""
from __future__ import annotations

import numpy as np

INPUT_SIZE = 224
STRIDES = (8, 16, 32, 32, 32)
ANCHORS_PER_LAYER_CELL = 2  # aspect ratio 1.0 + the interpolated-scale anchor
ANCHOR_OFFSET = 0.5
NUM_ANCHORS = 2254
NUM_COORDS = 12
KEYPOINT_OFFSET = 4
NUM_KEYPOINTS = 4
SCORE_CLIP = 100.0
HIP_CENTRE_KP = 0
BODY_CIRCLE_KP = 1


def ssd_anchors() -> np.ndarray:
    """Anchor centres (2254, 2) as (x, y) in [0, 1] of the input, in the model's output order."""
    centres = []
    layer = 0
    while layer < len(STRIDES):
        stride = STRIDES[layer]
        same_stride_layers = 0
        while layer < len(STRIDES) and STRIDES[layer] == stride:
            same_stride_layers += 1
            layer += 1
        grid = int(np.ceil(INPUT_SIZE / stride))
        ys, xs = np.meshgrid(np.arange(grid), np.arange(grid), indexing="ij")  # row-major: y outer, x inner
        cell_centres = (np.stack([xs.ravel(), ys.ravel()], axis=1) + ANCHOR_OFFSET) / grid
        centres.append(np.repeat(cell_centres, ANCHORS_PER_LAYER_CELL * same_stride_layers, axis=0))
    anchors = np.concatenate(centres).astype(np.float32)
    assert len(anchors) == NUM_ANCHORS, "anchor layout does not match pose_detection.tflite"
    return anchors


def decode_person_boxes(raw: np.ndarray, logits: np.ndarray, anchors: np.ndarray,
                        score_threshold: float) -> tuple[np.ndarray, np.ndarray]:
    """Raw outputs (2254, 12) and logits (2254,) -> square person boxes xyxy (K, 4) in [0, 1] input
    units and scores (K,), keeping scores >= score_threshold (no NMS here)."""
    scores = 1.0 / (1.0 + np.exp(-np.clip(logits.astype(np.float64), -SCORE_CLIP, SCORE_CLIP)))
    keep = np.flatnonzero(scores >= score_threshold)
    keypoints = raw[keep, KEYPOINT_OFFSET:KEYPOINT_OFFSET + 2 * NUM_KEYPOINTS].reshape(-1, NUM_KEYPOINTS, 2)
    keypoints = keypoints / INPUT_SIZE + anchors[keep, None, :]
    centre = keypoints[:, HIP_CENTRE_KP]
    radius = np.linalg.norm(keypoints[:, BODY_CIRCLE_KP] - centre, axis=1, keepdims=True)
    boxes = np.concatenate([centre - radius, centre + radius], axis=1)
    return boxes.astype(np.float32), scores[keep].astype(np.float32)
