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
    image folders always know it); `kind` is what the input is: VIDEO, IMAGE or IMAGES. Once a
    read finds a video ending early (a truncated file), `n_frames` counts the frames up to where
    decoding stopped and `stated_frames` keeps the container's count (None otherwise).
    """

    path: Path
    fps: float
    width: int
    height: int
    n_frames: int | None
    rotation: int = 0
    kind: str = VIDEO
    stated_frames: int | None = None

    @property
    def is_still(self) -> bool:
        """One frame only (a photo, or a video or folder holding a single frame): its outputs are images."""
        return self.n_frames == 1

    def describe(self) -> str:
        """One line for people: 'video, 640x480, 50 frames at 25.000 fps (2.0 s)', with '15 of 50 frames'
        for a file that ends early; a photo or image folder has no frame rate to tell."""
        size = f"{self.width}x{self.height}"
        if self.kind == IMAGE:
            return f"photo, {size}"
        if self.kind == IMAGES:
            return f"image folder, {size}, {self.n_frames} images"
        if self.n_frames is None:
            return f"video, {size}, {self.fps:.3f} fps"
        frames = f"{self.n_frames} frames"
        if self.stated_frames is not None:
            frames = f"{self.n_frames} of {self.stated_frames} frames (the file ends early)"
        return f"video, {size}, {frames} at {self.fps:.3f} fps ({self.n_frames / self.fps:.1f} s)"


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
