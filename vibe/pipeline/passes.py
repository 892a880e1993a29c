"""The streamed passes over the video: (1) detect and track, (2) per-track crops -> ResNet-50
features and/or BlazePose keypoints. Each pass decodes the video again frame by frame; no pass
holds more than a batch of frames or crops, and nothing is written to disk but the results.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Iterator

import numpy as np
from tqdm import tqdm

from tracker.crops import boxes_by_frame, keypoint_crops, network_crops
from tracker.tracking import TrackingResult, track_video
from tracker.types import Track
from tracker.video import VideoSource

log = logging.getLogger(__name__)

SPIN49_JOINTS = 49
KEYPOINT_VALUES = 3  # x px, y px, confidence


class ProgressSource:
    """A VideoSource whose frames() advances a tqdm bar (frames/s); everything else is the source's."""

    def __init__(self, source: VideoSource, desc: str, enabled: bool):
        self._source = source
        self._desc = desc
        self._enabled = enabled

    def __getattr__(self, name):
        return getattr(self._source, name)

    def frames(self) -> Iterator[tuple[int, np.ndarray]]:
        with tqdm(total=self._source.info.n_frames, desc=self._desc, unit="frame", disable=not self._enabled,
                  leave=False) as bar:
            for item in self._source.frames():
                bar.update(1)
                yield item


def tracking_pass(source: VideoSource, detector, cfg, progress: bool = True) -> TrackingResult:
    """Pass 1: people detected every TRACKER.DETECT_STRIDE frames and tracked (InputError if nobody)."""
    return track_video(ProgressSource(source, "track", progress), detector, cfg)


@dataclass
class CropOutputs:
    """Per track id: `features` (n, 2048) float32, `keypoints` (n, 49, 3) spin49 image px +
    confidence, `person_scores` (n,) BlazePose's person probability (after the run: 0 where the
    crop's person belongs to another track, vibe/keypoints/ownership.py), `seen` (n,) bool frames the
    second pass decoded (False where a frame failed to decode on this pass)."""

    features: dict[int, np.ndarray] = field(default_factory=dict)
    keypoints: dict[int, np.ndarray] = field(default_factory=dict)
    person_scores: dict[int, np.ndarray] = field(default_factory=dict)
    seen: dict[int, np.ndarray] = field(default_factory=dict)


class _Batcher:
    """Collects crops with their (track id, index in track) and flushes every `size` crops."""

    def __init__(self, size: int, flush):
        self.size = max(1, int(size))
        self._flush = flush
        self.crops: list[np.ndarray] = []
        self.owners: list[tuple[int, int]] = []
        self.boxes: list[np.ndarray] = []

    def add(self, crops: np.ndarray, owners: list[tuple[int, int]], boxes: np.ndarray) -> None:
        self.crops.extend(crops)
        self.owners.extend(owners)
        self.boxes.extend(boxes)
        if len(self.crops) >= self.size:
            self.flush()

    def flush(self) -> None:
        if self.crops:
            self._flush(np.stack(self.crops), self.owners, np.stack(self.boxes))
        self.crops, self.owners, self.boxes = [], [], []


def crop_pass(source: VideoSource, tracks: list[Track], cfg, backbone=None, keypoint_detector=None,
              progress: bool = True) -> CropOutputs:
    """Pass 2: for every tracked box, a network crop through `backbone` (features) and/or a keypoint
    crop through `keypoint_detector` (BlazePose landmarks -> spin49 image keypoints)."""
    from vibe.models.inference import extract_features

    out = CropOutputs(seen={t.track_id: np.zeros(len(t), bool) for t in tracks})
    if backbone is not None:
        out.features = {t.track_id: np.zeros((len(t), cfg.MODEL.FEATURE_DIM), np.float32) for t in tracks}
    if keypoint_detector is not None:
        out.keypoints = {t.track_id: np.zeros((len(t), SPIN49_JOINTS, KEYPOINT_VALUES), np.float32) for t in tracks}
        out.person_scores = {t.track_id: np.zeros(len(t), np.float32) for t in tracks}

    def store_features(crops, owners, _boxes):
        for (track_id, index), feature in zip(owners, extract_features(backbone, [crops], cfg).numpy()):
            out.features[track_id][index] = feature

    def store_keypoints(crops, owners, boxes):
        found = keypoint_detector(crops)
        spin49 = found.to_spin49(boxes, float(cfg.KEYPOINTS.BBOX_SCALE))
        for (track_id, index), joints, score in zip(owners, spin49, found.person_score):
            out.keypoints[track_id][index] = joints
            out.person_scores[track_id][index] = score

    feature_batch = _Batcher(cfg.MODEL.FEATURE_BATCH_SIZE, store_features)
    keypoint_batch = _Batcher(cfg.DEMO.KEYPOINT_BATCH_SIZE, store_keypoints)
    table = boxes_by_frame(tracks)
    for frame_id, frame in ProgressSource(source, "crops", progress).frames():
        entries = table.get(frame_id)
        if not entries:
            continue
        owners = [(track_id, index) for track_id, index, _ in entries]
        boxes = np.stack([bbox for _, _, bbox in entries]).astype(np.float64)
        for track_id, index in owners:
            out.seen[track_id][index] = True
        if backbone is not None:
            feature_batch.add(network_crops(frame, boxes, cfg).images, owners, boxes)
        if keypoint_detector is not None:
            keypoint_batch.add(keypoint_crops(frame, boxes, cfg).images, owners, boxes)
    feature_batch.flush()
    keypoint_batch.flush()
    return out
