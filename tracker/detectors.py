"""Offline person detectors behind one interface: `detect(frames) -> list[Detections]`.

frames: a sequence of RGB uint8 (H, W, 3) arrays; each result holds boxes xyxy (K, 4) in pixels
and scores (K,) in [0, 1], after NMS. Implementations:
  centernet  a COCO-trained CenterNet (MobileNetV3) run by onnxruntime on the letterboxed frame
             (default: best recall and precision on real annotated photos, BENCHMARKS.md).
  blazepose  BlazePose's person detector (mediapipe wheel, run by LiteRT) over overlapping tiles
             at native resolution: a face-first single-person ROI finder, kept as an option.
  hog        OpenCV's HOG people detector (upright people, no extra dependency).
  yolo       VIBE's yolov3.weights + yolov3.cfg from the data dir, through cv2.dnn.
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Protocol, Sequence

import cv2
import numpy as np

from tracker import blazepose, centernet
from tracker.nms import box_area, nms, pairwise_intersection
from tracker.types import Detections
from vibe.errors import AssetError, InputError

logger = logging.getLogger(__name__)

POSE_DETECTION_MODEL = "pose_detection.tflite"
CENTERNET_MODEL = Path(__file__).resolve().parent / "assets" / "centernet_coco.onnx"
COCO_PERSON_CLASS = 0
YOLO_BOX_VALUES = 5  # cx, cy, w, h, objectness before the class scores


class PersonDetector(Protocol):
    name: str

    def detect(self, frames: Sequence[np.ndarray]) -> list[Detections]:
        """Per frame: people as boxes xyxy (K, 4) px and scores (K,)."""


def threshold_key(detector_name: str) -> str:
    """The config key (in TRACKER) of a detector's score threshold: scores mean different things
    to different detectors, so each has its own, measured."""
    return f"{detector_name.upper()}_THRESHOLD"


def _threshold_nms(boxes: np.ndarray, scores: np.ndarray, score_threshold: float, iou: float) -> Detections:
    keep = scores >= score_threshold
    boxes, scores = boxes[keep], scores[keep]
    kept = nms(boxes, scores, iou)
    return Detections(boxes[kept].astype(np.float32), scores[kept].astype(np.float32))


def whole_people(boxes: np.ndarray, scores: np.ndarray, scales: np.ndarray, fraction: float) -> np.ndarray:
    """(K,) bool: which of the boxes (K, 4) found at `scales` (K,) (source pixels per detector
    input) are whole people rather than parts or groups.

    A box lying at least `fraction` inside another is judged against it: inside a coarser box
    holding no other box it is a part (a limb or torso found on a small tile) and goes; a coarser
    box holding two or more such boxes is a group seen from afar and goes instead; at the same
    scale the lower score goes.
    """
    inside = pairwise_intersection(boxes, boxes) / np.maximum(box_area(boxes), 1e-9)[:, None] >= fraction
    np.fill_diagonal(inside, False)
    coarser = scales[None, :] > scales[:, None]  # [i, j]: j was found at a coarser scale than i
    held = inside & coarser
    # [i, j]: i is held by j and lies inside no other box j holds (a distinct person, not a part of one)
    nested = np.einsum("ik,kj->ij", inside.astype(int), held.astype(int)) > 0
    outermost = held & ~nested
    group = outermost.sum(axis=0) >= 2  # coarse boxes holding several distinct finer ones
    part = np.any(held & ~group[None, :], axis=1)
    same_scale_worse = np.any(inside & (scales[None, :] == scales[:, None]) & (scores[None, :] > scores[:, None]), axis=1)
    return ~(part | group | same_scale_worse)


class _PerFrameDetector:
    """Runs `_detect_frame` on each frame of the batch (none of the backends gains from batching here)."""

    name = "base"

    def _detect_frame(self, frame: np.ndarray) -> Detections:
        raise NotImplementedError

    def detect(self, frames: Sequence[np.ndarray]) -> list[Detections]:
        return [self._detect_frame(frame) for frame in frames]


def tile_origins(length: int, tile: int, overlap: float) -> list[int]:
    """Evenly spaced start offsets of the fewest tiles of side `tile` that cover [0, length) with
    neighbours sharing at least `overlap` of a tile."""
    if length <= tile:
        return [0]
    max_step = max(1.0, tile * (1.0 - overlap))
    count = int(np.ceil((length - tile) / max_step)) + 1
    return [int(round(x)) for x in np.linspace(0, length - tile, count)]


class CenterNetDetector(_PerFrameDetector):
    """The bundled COCO CenterNet (tracker/centernet.py) on each whole frame, letterboxed to its
    512x512 input; person boxes above the threshold go through NMS."""

    name = "centernet"

    def __init__(self, cfg):
        tracker_cfg = cfg.TRACKER
        self.score_threshold = float(tracker_cfg[threshold_key(self.name)])
        self.nms_iou = float(tracker_cfg.NMS_IOU)
        self._session = _onnx_session(CENTERNET_MODEL, int(tracker_cfg.DETECTOR_THREADS))

    def _detect_frame(self, frame: np.ndarray) -> Detections:
        canvas, scale = centernet.letterbox(frame)
        rows = self._session.run([centernet.DETECTIONS_OUTPUT], {centernet.INPUT_NAME: centernet.model_input(canvas)})[0][0]
        boxes, scores = centernet.decode_people(rows, scale, frame.shape, self.score_threshold)
        return _threshold_nms(boxes, scores, self.score_threshold, self.nms_iou)


def _onnx_session(path: Path, threads: int):
    """An onnxruntime CPU session for the model at `path` (threads 0: onnxruntime's default)."""
    try:
        import onnxruntime
    except ImportError:
        raise AssetError("onnxruntime is not installed; run `make install` (or pip install onnxruntime) "
                         "or use TRACKER.DETECTOR blazepose") from None
    if not path.is_file():
        raise AssetError(f"detector model {path} is missing; reinstall the package (it ships the file)")
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = max(0, threads)
    options.log_severity_level = 3  # errors only: its graph-optimiser notes are not the user's business
    try:
        return onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    except Exception as err:  # onnxruntime raises its own untyped errors for a corrupt file
        raise AssetError(f"cannot read detector model {path}: {err}; reinstall the package") from None


class BlazePoseDetector(_PerFrameDetector):
    """BlazePose person detector over a pyramid of tiles (cfg.TRACKER.BLAZEPOSE_TILES source pixels).

    Small tiles upscale distant people into the model's range; the whole frame catches people who
    fill it. Per scale, boxes go through NMS; across scales, parts and groups are dropped
    (`whole_people`) and a final NMS merges the rest.

    The tflite model takes one 224x224 input per call: resizing its batch dimension runs, but the
    outputs then differ from single calls (logits off by up to ~260 for a batch of 4, measured on
    LiteRT here; the graph's reshapes assume batch 1), so frames are processed tile by tile.
    """

    name = "blazepose"

    def __init__(self, cfg):
        from vibe.keypoints.litert import bundled_mediapipe_model, load_interpreter

        tracker_cfg = cfg.TRACKER
        self.tiles = [int(t) for t in tracker_cfg.BLAZEPOSE_TILES]
        self.contained_fraction = float(tracker_cfg.CONTAINED_FRACTION)
        self.overlap = float(tracker_cfg.BLAZEPOSE_TILE_OVERLAP)
        self.score_threshold = float(tracker_cfg[threshold_key(self.name)])
        self.nms_iou = float(tracker_cfg.NMS_IOU)
        self._interpreter = load_interpreter(bundled_mediapipe_model(POSE_DETECTION_MODEL),
                                             int(tracker_cfg.BLAZEPOSE_THREADS))
        self._input = self._interpreter.get_input_details()[0]["index"]
        outputs = sorted(self._interpreter.get_output_details(), key=lambda d: int(d["shape"][-1]), reverse=True)
        self._regressors, self._logits = outputs[0]["index"], outputs[1]["index"]
        self._anchors = blazepose.ssd_anchors()

    def _run(self, tile_rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """One 224x224 RGB uint8 tile -> boxes xyxy in [0, 1] tile units, scores."""
        model_input = tile_rgb.astype(np.float32) / 127.5 - 1.0  # [-1, 1] as the model expects
        self._interpreter.set_tensor(self._input, model_input[None])
        self._interpreter.invoke()
        raw = self._interpreter.get_tensor(self._regressors)[0]
        logits = self._interpreter.get_tensor(self._logits)[0, :, 0]
        return blazepose.decode_person_boxes(raw, logits, self._anchors, self.score_threshold)

    def _detect_frame(self, frame: np.ndarray) -> Detections:
        # NMS within each scale first: across scales a part found on a small tile could otherwise
        # suppress the whole person found at a coarse one before containment is judged.
        per_scale = []
        for tile in self.tiles:
            tile_px = min(tile or frame.shape[0], *frame.shape[:2])
            boxes, scores = self._detect_tiles(frame, tile_px)
            found = _threshold_nms(np.concatenate(boxes), np.concatenate(scores), self.score_threshold, self.nms_iou)
            per_scale.append((found, np.full(len(found), tile_px)))
        boxes = np.concatenate([found.boxes for found, _ in per_scale])
        scores = np.concatenate([found.scores for found, _ in per_scale])
        scales = np.concatenate([scale for _, scale in per_scale])
        whole = whole_people(boxes, scores, scales, self.contained_fraction)
        boxes, scores = boxes[whole], scores[whole]
        kept = nms(boxes, scores, self.nms_iou)
        return Detections(boxes[kept], scores[kept])

    def _detect_tiles(self, frame: np.ndarray, tile: int) -> tuple[list[np.ndarray], list[np.ndarray]]:
        """Boxes (xyxy frame pixels) and scores from square tiles of `tile` source pixels."""
        height, width = frame.shape[:2]
        interpolation = cv2.INTER_AREA if tile > blazepose.INPUT_SIZE else cv2.INTER_LINEAR
        all_boxes, all_scores = [], []
        for y0 in tile_origins(height, tile, self.overlap):
            for x0 in tile_origins(width, tile, self.overlap):
                patch = cv2.resize(frame[y0:y0 + tile, x0:x0 + tile], (blazepose.INPUT_SIZE,) * 2,
                                   interpolation=interpolation)
                boxes, scores = self._run(patch)
                all_boxes.append(boxes * tile + np.array([x0, y0, x0, y0], np.float32))
                all_scores.append(scores)
        return all_boxes, all_scores


class HogDetector(_PerFrameDetector):
    """OpenCV's default HOG + linear SVM people detector; scores are sigmoid(SVM margin)."""

    name = "hog"

    def __init__(self, cfg):
        tracker_cfg = cfg.TRACKER
        self._hog = cv2.HOGDescriptor()
        self._hog.setSVMDetector(cv2.HOGDescriptor_getDefaultPeopleDetector())
        self.win_stride = (int(tracker_cfg.HOG_WIN_STRIDE),) * 2
        self.scale = float(tracker_cfg.HOG_SCALE)
        self.score_threshold = float(tracker_cfg[threshold_key(self.name)])
        self.nms_iou = float(tracker_cfg.NMS_IOU)

    def _detect_frame(self, frame: np.ndarray) -> Detections:
        rects, margins = self._hog.detectMultiScale(frame, winStride=self.win_stride, scale=self.scale)
        if len(rects) == 0:
            return Detections.empty()
        rects = np.asarray(rects, np.float32).reshape(-1, 4)
        boxes = np.concatenate([rects[:, :2], rects[:, :2] + rects[:, 2:]], axis=1)
        scores = 1.0 / (1.0 + np.exp(-np.asarray(margins, np.float32).ravel()))
        return _threshold_nms(boxes, scores, self.score_threshold, self.nms_iou)


class YoloDetector(_PerFrameDetector):
    """VIBE's YOLOv3 (Darknet cfg + weights from the data dir) through cv2.dnn, people only."""

    name = "yolo"

    def __init__(self, cfg, data_dir: Path):
        tracker_cfg = cfg.TRACKER
        cfg_path, weights_path = yolo_files(cfg, data_dir)
        for path in (cfg_path, weights_path):
            if not path.is_file():
                raise AssetError(f"YOLO file {path.name} not found in {path.parent}; put VIBE's yolov3.cfg and "
                                 "yolov3.weights there or use TRACKER.DETECTOR blazepose")
        try:
            self._net = cv2.dnn.readNetFromDarknet(str(cfg_path), str(weights_path))
        except cv2.error as err:
            raise AssetError(f"cannot read YOLO model {weights_path}: {err.msg}; re-download VIBE's yolov3 files") from None
        self.img_size = int(tracker_cfg.YOLO_IMG_SIZE)
        self.score_threshold = float(tracker_cfg[threshold_key(self.name)])
        self.nms_iou = float(tracker_cfg.NMS_IOU)

    def _detect_frame(self, frame: np.ndarray) -> Detections:
        blob = cv2.dnn.blobFromImage(frame, 1.0 / 255.0, (self.img_size, self.img_size), swapRB=False)  # already RGB
        self._net.setInput(blob)
        rows = np.concatenate(self._net.forward(self._net.getUnconnectedOutLayersNames()))  # (N, 5 + classes)
        scores = rows[:, YOLO_BOX_VALUES - 1] * rows[:, YOLO_BOX_VALUES + COCO_PERSON_CLASS]
        height, width = frame.shape[:2]
        centre, size = rows[:, 0:2] * (width, height), rows[:, 2:4] * (width, height)
        boxes = np.concatenate([centre - size / 2, centre + size / 2], axis=1)
        return _threshold_nms(boxes, scores, self.score_threshold, self.nms_iou)


def yolo_files(cfg, data_dir: Path) -> tuple[Path, Path]:
    return Path(data_dir) / cfg.TRACKER.YOLO_CFG, Path(data_dir) / cfg.TRACKER.YOLO_WEIGHTS


DETECTOR_NAMES = ("auto", "centernet", "blazepose", "hog", "yolo")


def build_detector(cfg, data_dir: Path | None = None) -> PersonDetector:
    """The detector named by cfg.TRACKER.DETECTOR. 'auto' is CenterNet (measured best, see
    BENCHMARKS.md), falling back to HOG when onnxruntime or the model file is missing."""
    name = str(cfg.TRACKER.DETECTOR).lower()
    if name not in DETECTOR_NAMES:
        raise InputError(f"unknown detector '{name}'; use one of {', '.join(DETECTOR_NAMES)}")
    if name == "yolo":
        from vibe.config import resolve_data_dir

        return YoloDetector(cfg, resolve_data_dir(data_dir, cfg))
    if name == "hog":
        return HogDetector(cfg)
    if name == "blazepose":
        return BlazePoseDetector(cfg)
    try:
        return CenterNetDetector(cfg)
    except AssetError as err:
        if name == "centernet":
            raise
        logger.warning("CenterNet detector unavailable (%s); using OpenCV HOG", err)
        return HogDetector(cfg)
