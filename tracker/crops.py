"""Square person crops for the network (ImageNet-normalised CHW float) and the keypoint detector
(uint8 RGB), with the 2x3 affine transform of each so coordinates convert exactly both ways.

One mapping everywhere: a crop of `out` px over a square of side `side = h * bbox_scale` centred
at (cx, cy) sends image x to crop u = (x - cx) * out / side + out / 2 (pixel centres at integers,
as cv2.warpAffine samples them).
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

import cv2
import numpy as np

from tracker.types import Track

PIXEL_MAX = 255.0


@dataclass
class CropBatch:
    """images: (K, 3, S, S) float32 normalised or (K, S, S, 3) uint8; transforms: (K, 2, 3) image -> crop."""

    images: np.ndarray
    transforms: np.ndarray


def crop_transforms(bboxes: np.ndarray, bbox_scale: float, out_size: int) -> np.ndarray:
    """(K, 4) square boxes (cx, cy, w, h) -> (K, 2, 3) affine maps from image px to crop px."""
    bboxes = np.asarray(bboxes, np.float64).reshape(-1, 4)
    scale = out_size / (bboxes[:, 3] * bbox_scale)
    transforms = np.zeros((len(bboxes), 2, 3))
    transforms[:, 0, 0] = transforms[:, 1, 1] = scale
    transforms[:, :, 2] = out_size / 2.0 - scale[:, None] * bboxes[:, :2]
    return transforms


def apply_affine(points: np.ndarray, transform: np.ndarray) -> np.ndarray:
    """(..., J, 2) points through a (..., 2, 3) affine -> (..., J, 2)."""
    return points @ np.swapaxes(transform[..., :2], -1, -2) + transform[..., None, :, 2]


def invert_affine(transform: np.ndarray) -> np.ndarray:
    """Inverse of (..., 2, 3) affines (crop -> image)."""
    linear_inv = np.linalg.inv(transform[..., :2])
    offset = -(linear_inv @ transform[..., 2:3])
    return np.concatenate([linear_inv, offset], axis=-1)


def image_to_crop(points: np.ndarray, transforms: np.ndarray) -> np.ndarray:
    return apply_affine(points, transforms)


def crop_to_image(points: np.ndarray, transforms: np.ndarray) -> np.ndarray:
    return apply_affine(points, invert_affine(transforms))


def cut_crops(frame: np.ndarray, bboxes: np.ndarray, bbox_scale: float, out_size: int) -> CropBatch:
    """RGB frame (H, W, 3) + boxes (K, 4) -> (K, S, S, 3) uint8 crops (outside the frame is black)."""
    transforms = crop_transforms(bboxes, bbox_scale, out_size)
    crops = [cv2.warpAffine(frame, m, (out_size, out_size), flags=cv2.INTER_LINEAR,
                            borderMode=cv2.BORDER_CONSTANT, borderValue=0) for m in transforms]
    images = np.stack(crops) if crops else np.zeros((0, out_size, out_size, 3), np.uint8)
    return CropBatch(images, transforms)


def network_crops(frame: np.ndarray, bboxes: np.ndarray, cfg) -> CropBatch:
    """RGB frame (H, W, 3) + boxes (K, 4) -> (K, 3, CROP.SIZE, CROP.SIZE) float32 ImageNet-normalised."""
    batch = cut_crops(frame, bboxes, float(cfg.CROP.BBOX_SCALE), int(cfg.CROP.SIZE))
    pixels = batch.images.astype(np.float32) / PIXEL_MAX
    normalised = (pixels - np.asarray(cfg.CROP.MEAN, np.float32)) / np.asarray(cfg.CROP.STD, np.float32)
    return CropBatch(np.ascontiguousarray(normalised.transpose(0, 3, 1, 2)), batch.transforms)


def keypoint_crops(frame: np.ndarray, bboxes: np.ndarray, cfg) -> CropBatch:
    """RGB frame + boxes (K, 4) -> (K, CROP.KEYPOINT_SIZE, CROP.KEYPOINT_SIZE, 3) uint8 RGB crops.

    Cut at KEYPOINTS.BBOX_SCALE (wider than the network's crop: BlazePose wants margin).
    """
    return cut_crops(frame, bboxes, float(cfg.KEYPOINTS.BBOX_SCALE), int(cfg.CROP.KEYPOINT_SIZE))


def boxes_by_frame(tracks: list[Track]) -> dict[int, list[tuple[int, int, np.ndarray]]]:
    """frame_id -> [(track_id, index in the track, bbox (4,))]: what to crop on a second pass."""
    table: dict[int, list] = defaultdict(list)
    for track in tracks:
        for index, (frame_id, bbox) in enumerate(zip(track.frame_ids, track.bboxes)):
            table[int(frame_id)].append((track.track_id, index, bbox))
    return dict(table)
