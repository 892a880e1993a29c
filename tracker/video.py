"""Streamed frame reading from any video OpenCV's FFmpeg backend decodes, or from an image folder.

Frames come out one at a time as RGB uint8 (H, W, 3); nothing is written to disk and nothing holds
the whole video. The true frame rate is read from the container (never assumed 25), and rotation
metadata (phone videos) is applied: OpenCV 4.x's FFmpeg backend rotates frames itself when
CAP_PROP_ORIENTATION_AUTO is on (the default in 4.14, set explicitly here) and reports the angle in
CAP_PROP_ORIENTATION_META; the reported width/height are already those of the rotated frames.
"""
from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import cv2
import numpy as np

from tracker.types import VideoInfo
from vibe.errors import InputError

logger = logging.getLogger(__name__)

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp"}
IMAGE_FOLDER_FPS = 30.0  # an image folder carries no timing; callers may override via `fps`
DEFAULT_MAX_DECODE_FAILURES = 25
_DIGITS = re.compile(r"(\d+)")


@dataclass
class DecodeStats:
    """Counters filled while a video is read: frames delivered and frames skipped as undecodable."""

    frames_read: int = 0
    frames_skipped: int = 0
    skipped_ids: list[int] = field(default_factory=list)


def natural_key(name: str) -> list:
    """Sort key that orders 'img2' before 'img10'."""
    return [int(part) if part.isdigit() else part.lower() for part in _DIGITS.split(name)]


def _image_files(folder: Path) -> list[Path]:
    files = [p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES]
    return sorted(files, key=lambda p: natural_key(p.name))


class VideoSource:
    """A video file or image folder to stream frames from.

    `info` is known after construction (the file is probed once and checked to hold at least
    one decodable frame); iterate `frames()` for (frame_id, RGB frame) pairs. `stats` counts what
    was read and skipped. Frame ids are 0-based positions in the stream, so an undecodable frame
    keeps its id and is simply absent.
    """

    def __init__(self, path, fps: float | None = None, max_decode_failures: int = DEFAULT_MAX_DECODE_FAILURES):
        self.path = Path(path).expanduser()
        self.max_decode_failures = int(max_decode_failures)
        self.stats = DecodeStats()
        if not self.path.exists():
            raise InputError(f"input {self.path} not found; pass an existing video file or image folder")
        if self.path.is_dir():
            self._images = _image_files(self.path)
            self.info = self._probe_folder(fps)
        else:
            self._images = None
            self.info = self._probe_video(fps)

    # ---- probing -------------------------------------------------------------------------------
    def _probe_folder(self, fps: float | None) -> VideoInfo:
        for image_path in self._images:
            image = cv2.imread(str(image_path), cv2.IMREAD_COLOR)
            if image is not None:
                height, width = image.shape[:2]
                return VideoInfo(self.path, float(fps or IMAGE_FOLDER_FPS), width, height, len(self._images), 0)
        raise InputError(f"folder {self.path} holds no readable images ({', '.join(sorted(IMAGE_SUFFIXES))}); "
                         "pass a video file or a folder of frames")

    def _open_capture(self) -> cv2.VideoCapture:
        capture = cv2.VideoCapture(str(self.path), cv2.CAP_FFMPEG)
        if capture.isOpened():
            capture.set(cv2.CAP_PROP_ORIENTATION_AUTO, 1)
        return capture

    def _probe_video(self, fps: float | None) -> VideoInfo:
        if self.path.stat().st_size == 0:
            raise InputError(f"video {self.path} is empty (0 bytes); pass a complete video file")
        capture = self._open_capture()
        try:
            ok, frame = capture.read() if capture.isOpened() else (False, None)
            if not ok or frame is None:
                raise InputError(f"{self.path} is not a video OpenCV/FFmpeg can decode (or has no frames); "
                                 "convert it, e.g. to H.264 mp4, and retry")
            container_fps = capture.get(cv2.CAP_PROP_FPS)
            count = int(capture.get(cv2.CAP_PROP_FRAME_COUNT))
            rotation = int(capture.get(cv2.CAP_PROP_ORIENTATION_META)) % 360
        finally:
            capture.release()
        if fps is None and not (container_fps and np.isfinite(container_fps) and container_fps > 0):
            raise InputError(f"{self.path} does not state its frame rate; pass the fps explicitly")
        height, width = frame.shape[:2]
        info = VideoInfo(self.path, float(fps or container_fps), width, height, count if count > 0 else None, rotation)
        logger.info("video %s: %dx%d, %.3f fps, %s frames, rotation %d", self.path.name, width, height, info.fps,
                    info.n_frames if info.n_frames is not None else "unknown", rotation)
        return info

    # ---- reading -------------------------------------------------------------------------------
    def frames(self) -> Iterator[tuple[int, np.ndarray]]:
        """Yield (frame_id, frame RGB uint8 (H, W, 3)) for every decodable frame, in order."""
        self.stats = DecodeStats()
        reader = self._folder_frames() if self._images is not None else self._video_frames()
        for frame_id, frame in reader:
            self.stats.frames_read += 1
            yield frame_id, frame
        if self.stats.frames_skipped:
            logger.warning("%s: %d undecodable frame(s) skipped (first ids %s)", self.path.name,
                           self.stats.frames_skipped, self.stats.skipped_ids[:10])

    def _skip(self, frame_id: int, reason: str) -> None:
        self.stats.frames_skipped += 1
        self.stats.skipped_ids.append(frame_id)
        logger.debug("%s: frame %d skipped (%s)", self.path.name, frame_id, reason)

    def _folder_frames(self) -> Iterator[tuple[int, np.ndarray]]:
        for frame_id, image_path in enumerate(self._images):
            image = cv2.imread(str(image_path), cv2.IMREAD_COLOR)
            if image is None:
                self._skip(frame_id, f"{image_path.name} unreadable")
                continue
            yield frame_id, cv2.cvtColor(image, cv2.COLOR_BGR2RGB)

    def _video_frames(self) -> Iterator[tuple[int, np.ndarray]]:
        """Decode sequentially. A failed read before the stated frame count is a bad frame, skipped;
        after max_decode_failures consecutive failures (or past the count) the stream has ended."""
        capture = self._open_capture()
        frame_id, failures = 0, 0
        expected = self.info.n_frames
        try:
            while True:
                ok, frame = capture.read()
                if ok and frame is not None:
                    failures = 0
                    yield frame_id, cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)
                elif expected is None or frame_id >= expected or failures >= self.max_decode_failures:
                    break
                else:
                    failures += 1
                    self._skip(frame_id, "decode failed")
                frame_id += 1
        finally:
            capture.release()
        self._drop_trailing_failures(failures)

    def _drop_trailing_failures(self, failures: int) -> None:
        """Failures that ran into the end are a truncated file, not skipped frames: report once."""
        if failures:
            del self.stats.skipped_ids[-failures:]
            self.stats.frames_skipped -= failures
            logger.warning("%s ends early: %d of %s stated frames decoded (truncated file?)", self.path.name,
                           self.stats.frames_read, self.info.n_frames)


def open_video(path, fps: float | None = None, cfg=None) -> VideoSource:
    """A VideoSource for `path`; `cfg` supplies TRACKER.MAX_DECODE_FAILURES."""
    max_failures = cfg.TRACKER.MAX_DECODE_FAILURES if cfg is not None else DEFAULT_MAX_DECODE_FAILURES
    return VideoSource(path, fps=fps, max_decode_failures=max_failures)
