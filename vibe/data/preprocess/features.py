"""Frozen SPIN ResNet-50 features of person crops, streamed in batches.

Crops are cut by the one crop cutter (tracker.crops.cut_crops) over square boxes (cx, cy, w, h)
at `TRAIN.DB_BBOX_SCALE` (1.2, the scale VIBE's db files were made and are read with) and
normalised inside `vibe.models.extract_features`; only one batch of crops and images is held at
a time.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator, Sequence

import numpy as np
from torch import nn
from yacs.config import CfgNode

from vibe.errors import InputError

log = logging.getLogger(__name__)

def read_rgb_image(path: str | Path) -> np.ndarray:
    """An image file as RGB uint8 (H, W, 3); InputError when missing or undecodable."""
    import cv2

    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        raise InputError(f"image {path} is missing or unreadable; restore the dataset's image files")
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def decode_rgb_image(data: bytes, what: str) -> np.ndarray:
    """Encoded image bytes (JPEG/PNG) as RGB uint8 (H, W, 3); InputError naming `what` when undecodable."""
    import cv2

    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if image is None:
        raise InputError(f"{what}: image data cannot be decoded; the file is damaged, download it again")
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


@dataclass
class FeatureExtractor:
    """Prepared backbone + config: `features(frames, bboxes)` -> (N, 2048) float32."""

    backbone: nn.Module
    cfg: CfgNode

    @property
    def bbox_scale(self) -> float:
        return float(self.cfg.TRAIN.DB_BBOX_SCALE)

    def crop_batches(self, frames: Iterable[np.ndarray], bboxes: np.ndarray) -> Iterator[np.ndarray]:
        """uint8 crops (B, S, S, 3) of frame i around bboxes[i], B = MODEL.FEATURE_BATCH_SIZE."""
        from tracker.crops import cut_crops

        size, batch = int(self.cfg.CROP.SIZE), int(self.cfg.MODEL.FEATURE_BATCH_SIZE)
        pending: list[np.ndarray] = []
        for frame, bbox in zip(frames, np.asarray(bboxes, np.float64)):
            pending.append(cut_crops(frame, bbox[None], self.bbox_scale, size).images[0])
            if len(pending) == batch:
                yield np.stack(pending)
                pending = []
        if pending:
            yield np.stack(pending)

    def features(self, frames: Iterable[np.ndarray], bboxes: np.ndarray) -> np.ndarray:
        """RGB frames (one per box, streamed) + square boxes (N, 4) -> (N, 2048) float32 features."""
        from vibe.models import extract_features

        bboxes = np.asarray(bboxes).reshape(-1, 4)
        out = extract_features(self.backbone, self.crop_batches(frames, bboxes), self.cfg).numpy()
        if len(out) != len(bboxes):
            raise InputError(f"got {len(out)} frames for {len(bboxes)} boxes; the sequence's images are incomplete")
        return out.astype(np.float32)

    def features_of_images(self, image_paths: Sequence[str | Path], bboxes: np.ndarray) -> np.ndarray:
        """Features of crops from image files (read one at a time) -> (N, 2048)."""
        return self.features((read_rgb_image(path) for path in image_paths), bboxes)


def load_feature_extractor(spin_checkpoint: str | Path, cfg: CfgNode, device=None) -> FeatureExtractor:
    """SPIN's checkpoint -> a FeatureExtractor on `device` (default: cfg.DEVICE)."""
    from vibe.device import pick_device
    from vibe.models import load_spin_backbone, prepare_backbone

    device = device or pick_device(cfg.DEVICE)
    backbone = prepare_backbone(load_spin_backbone(spin_checkpoint, device=device), cfg)
    log.info("feature backbone: %s on %s", spin_checkpoint, device)
    return FeatureExtractor(backbone, cfg)
