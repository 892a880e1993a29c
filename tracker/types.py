"""Dataclasses passed between the tracker's stages and on to vibe/."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

VIDEO, IMAGE, IMAGES = "video", "image", "images"  # VideoInfo.kind: a video file, one photo, a folder of frames


@dataclass(frozen=True)
class VideoInfo:
    """What the decoder knows about a video, a photo or an image folder before reading it.

    `width`/`height` are of the frames as delivered, i.e. after the rotation metadata (or a photo's
    EXIF orientation) is applied; `rotation` is the clockwise rotation in degrees that was applied
    to a video (0, 90, 180, 270); `n_frames` is None when the container does not say (photos and
    image folders always know it); `kind` is what the input is: VIDEO, IMAGE or IMAGES.
    """

    path: Path
    fps: float
    width: int
    height: int
    n_frames: int | None
    rotation: int = 0
    kind: str = VIDEO

    @property
    def is_still(self) -> bool:
        """One frame only (a photo, or a video or folder holding a single frame): its outputs are images."""
        return self.n_frames == 1


@dataclass
class Detections:
    """People found in one frame: `boxes` (K, 4) xyxy pixels, `scores` (K,) in [0, 1]."""

    boxes: np.ndarray
    scores: np.ndarray

    @classmethod
    def empty(cls) -> "Detections":
        return cls(np.zeros((0, 4), np.float32), np.zeros((0,), np.float32))

    def __len__(self) -> int:
        return len(self.scores)

    def __iter__(self):
        """Unpacks as `boxes, scores = detections`."""
        return iter((self.boxes, self.scores))


@dataclass
class Track:
    """One person over the frames where they are tracked (n frames, consecutive ids).

    `frame_ids` (n,) int 0-based; `bboxes` (n, 4) square boxes (cx, cy, w, h) with w == h = the
    person's box side before the crop scale; `scores` (n,) detector scores (interpolated where no
    detection was used); `interpolated` (n,) bool, True where the box was not observed by the
    detector on that frame (a missed detection inside a gap, or a frame between detector strides).
    """

    track_id: int
    frame_ids: np.ndarray
    bboxes: np.ndarray
    scores: np.ndarray
    interpolated: np.ndarray

    def __len__(self) -> int:
        return len(self.frame_ids)
