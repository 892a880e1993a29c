"""Streamed frame reading from any video OpenCV's FFmpeg backend decodes, a photo, or an image folder.

Frames come out one at a time as RGB uint8 (H, W, 3); nothing is written to disk and nothing holds
the whole video. The true frame rate is read from the container (never assumed 25), and rotation
metadata (phone videos) is applied: OpenCV 4.x's FFmpeg backend rotates frames itself when
CAP_PROP_ORIENTATION_AUTO is on (the default in 4.14, set explicitly here) and reports the angle in
CAP_PROP_ORIENTATION_META; the reported width/height are already those of the rotated frames.
A photo (IMAGE_SUFFIXES) is read by OpenCV's image codecs, not FFmpeg, as a one-frame source; its
EXIF orientation is applied as cv2.imread does. An image folder is one sequence of same-size frames.

Each pass over a source decodes the same frames, so what the first complete pass finds is reported
once, in one warning each: undecodable frames skipped, a file that ends before its stated frame
count (`info` then counts the frames that decode), a variable frame rate. FFmpeg's and OpenCV's own
messages (one per damaged packet in a truncated file) are kept off the terminal; set
OPENCV_FFMPEG_LOGLEVEL (FFmpeg's numeric levels, e.g. 32 for info) to see FFmpeg's.
"""
from __future__ import annotations

import contextlib
import dataclasses
import logging
import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import cv2
import numpy as np

from tracker.types import IMAGE, IMAGES, VideoInfo
from vibe.config import get_cfg_defaults
from vibe.errors import InputError

logger = logging.getLogger(__name__)

# OpenCV's FFmpeg backend reads its log level from this variable once, when it opens its first
# video; AV_LOG_QUIET keeps FFmpeg's per-packet complaints about a damaged file off the terminal
# (the decoding problems are reported here, once). A level the user set is kept.
FFMPEG_LOGLEVEL_ENV = "OPENCV_FFMPEG_LOGLEVEL"
FFMPEG_LOG_QUIET = "-8"
os.environ.setdefault(FFMPEG_LOGLEVEL_ENV, FFMPEG_LOG_QUIET)

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp"}
IMAGE_FOLDER_FPS = 30.0  # photos and image folders carry no timing; callers may override via `fps`
_DIGITS = re.compile(r"(\d+)")
# JPEG markers (ITU T.81 B.1): a segment is 0xFF, a marker byte, then a 2-byte big-endian length
# that counts itself; the entropy-coded data after the start of scan never holds 0xFF 0xD9.
JPEG_SOI = b"\xff\xd8"
JPEG_EOI = b"\xff\xd9"
JPEG_MARKER_PREFIX = 0xFF
JPEG_SOS = 0xDA
JPEG_MARKER_BYTES = 2
JPEG_LENGTH_BYTES = 2


@contextlib.contextmanager
def _opencv_quiet():
    """OpenCV's own warnings off (e.g. 'backend ... can't be used to capture by name' before the
    InputError that says the same in one line); errors still show."""
    previous = cv2.utils.logging.getLogLevel()
    cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_ERROR)
    try:
        yield
    finally:
        cv2.utils.logging.setLogLevel(previous)


@dataclass
class FrameTiming:
    """The spread of the intervals between consecutive decoded frames' timestamps (ms), to tell a
    variable frame rate. Timestamps that do not increase (a container without them) are ignored."""

    last_ms: float | None = None
    shortest_ms: float = math.inf
    longest_ms: float = 0.0
    total_ms: float = 0.0
    intervals: int = 0

    def add(self, timestamp_ms: float) -> None:
        if self.last_ms is not None and timestamp_ms > self.last_ms:
            interval = timestamp_ms - self.last_ms
            self.shortest_ms, self.longest_ms = min(self.shortest_ms, interval), max(self.longest_ms, interval)
            self.total_ms += interval
            self.intervals += 1
        self.last_ms = timestamp_ms

    def gap(self) -> None:
        """An undecodable frame: the frames either side of it are not consecutive."""
        self.last_ms = None

    def is_variable(self, tolerance: float) -> bool:
        """The intervals spread by more than `tolerance` x their mean."""
        return self.intervals > 0 and self.longest_ms - self.shortest_ms > tolerance * self.total_ms / self.intervals


@dataclass
class DecodeStats:
    """Counters filled while a video is read: frames delivered and frames skipped as undecodable."""

    frames_read: int = 0
    frames_skipped: int = 0
    skipped_ids: list[int] = field(default_factory=list)


def natural_key(name: str) -> list:
    """Sort key that orders 'img2' before 'img10'."""
    return [int(part) if part.isdigit() else part.lower() for part in _DIGITS.split(name)]


def is_image_file(path: Path) -> bool:
    """A file whose suffix says photo (IMAGE_SUFFIXES): read by OpenCV's image codecs, not FFmpeg."""
    return path.is_file() and path.suffix.lower() in IMAGE_SUFFIXES


def folder_images(folder: Path) -> list[Path]:
    """The image files of `folder`, in natural order (frame order for a folder of frames)."""
    return sorted((p for p in Path(folder).iterdir() if is_image_file(p)), key=lambda p: natural_key(p.name))


def _jpeg_truncated(data: bytes) -> bool:
    """True for a JPEG that ends before its end-of-image marker. libjpeg decodes such a file without
    an error (the missing rows come out grey), so the markers are walked here: the segments up to
    the first start of scan, then an end-of-image marker must follow."""
    position = len(JPEG_SOI)
    header = JPEG_MARKER_BYTES + JPEG_LENGTH_BYTES
    while position + header <= len(data):
        if data[position] != JPEG_MARKER_PREFIX:
            return True  # not a segment where one must start: corrupt or cut
        marker = data[position + 1]
        if marker == JPEG_MARKER_PREFIX:
            position += 1  # a fill byte before the marker
            continue
        length = int.from_bytes(data[position + JPEG_MARKER_BYTES:position + header], "big")
        position += JPEG_MARKER_BYTES + length
        if marker == JPEG_SOS:
            return data.find(JPEG_EOI, position) < 0
    return True


def _decode_image(path: Path, flags: int) -> np.ndarray:
    """cv2.imdecode of the file's bytes with `flags` (EXIF orientation applied, as cv2.imread does);
    InputError when it is unreadable, empty, truncated or not an image."""
    try:
        data = path.read_bytes()
    except OSError as err:
        raise InputError(f"cannot read image {path}: {err.strerror}") from None
    image = None
    if data and not (data.startswith(JPEG_SOI) and _jpeg_truncated(data)):
        with contextlib.suppress(cv2.error):  # e.g. dimensions past OpenCV's limit: as any bad file
            image = cv2.imdecode(np.frombuffer(data, np.uint8), flags)
    if image is None:
        raise InputError(f"{path} is not an image OpenCV can read (empty, truncated or corrupt); "
                         "re-save it, e.g. as JPEG or PNG, and retry")
    return image


def read_image(path) -> np.ndarray:
    """A photo as RGB uint8 (H, W, 3), EXIF orientation applied; InputError if it cannot be read."""
    return cv2.cvtColor(_decode_image(Path(path), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)


def image_size(path) -> tuple[int, int] | None:
    """(width, height) of the photo as read_image delivers it, None if it cannot be read. OpenCV's
    Python API reads no header alone, so this decodes it (as grey: the cheapest full-size decode)."""
    try:
        height, width = _decode_image(Path(path), cv2.IMREAD_GRAYSCALE).shape[:2]
    except InputError:
        return None
    return width, height


class VideoSource:
    """A video file, photo or image folder to stream frames from.

    `info` is known after construction (the file is probed once and checked to hold at least
    one decodable frame); iterate `frames()` for (frame_id, RGB frame) pairs. `stats` counts what
    was read and skipped. Frame ids are 0-based positions in the stream, so an undecodable frame
    keeps its id and is simply absent.
    """

    def __init__(self, path, fps: float | None = None, cfg=None):
        self.path = Path(path).expanduser()
        tracker_cfg = (cfg if cfg is not None else get_cfg_defaults()).TRACKER
        self.max_decode_failures = int(tracker_cfg.MAX_DECODE_FAILURES)
        self.vfr_tolerance = float(tracker_cfg.VFR_TOLERANCE)
        self.stats = DecodeStats()
        self.timing = FrameTiming()
        self._reported = False
        if not self.path.exists():
            raise InputError(f"input {self.path} not found; pass an existing video file, photo or image folder")
        if self.path.is_dir():
            self._images = folder_images(self.path)
            self.info = self._probe_folder(fps)
        elif is_image_file(self.path):
            self._images = [self.path]
            self.info = self._probe_image(fps)
        else:
            self._images = None
            self.info = self._probe_video(fps)

    # ---- probing -------------------------------------------------------------------------------
    def _probe_folder(self, fps: float | None) -> VideoInfo:
        for image_path in self._images:
            size = image_size(image_path)
            if size is not None:
                return VideoInfo(self.path, float(fps or IMAGE_FOLDER_FPS), *size, len(self._images), kind=IMAGES)
        raise InputError(f"folder {self.path} holds no readable images ({', '.join(sorted(IMAGE_SUFFIXES))}); "
                         "pass a video file or a folder of frames")

    def _probe_image(self, fps: float | None) -> VideoInfo:
        height, width = read_image(self.path).shape[:2]
        logger.info("photo %s: %dx%d", self.path.name, width, height)
        return VideoInfo(self.path, float(fps or IMAGE_FOLDER_FPS), width, height, 1, kind=IMAGE)

    def _open_capture(self) -> cv2.VideoCapture:
        with _opencv_quiet():
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
        reader = self._image_frames() if self._images is not None else self._video_frames()
        for frame_id, frame in reader:
            self.stats.frames_read += 1
            yield frame_id, frame
        if not self._reported:
            self._reported = True
            self._report_first_pass()

    def _report_first_pass(self) -> None:
        """One warning per problem the first complete pass found (later passes decode the same)."""
        name, info = self.path.name, self.info
        if self.stats.frames_skipped:
            logger.warning("%s: %d undecodable frame(s) skipped (first ids %s)", name,
                           self.stats.frames_skipped, self.stats.skipped_ids[:10])
        if info.stated_frames is not None:
            logger.warning("%s ends early, after %d of its %d stated frames (truncated file?); the results cover "
                           "those %d frames (%.1f s)", name, info.n_frames, info.stated_frames, info.n_frames,
                           info.n_frames / info.fps)
        if self.timing.is_variable(self.vfr_tolerance):
            logger.warning("%s has a variable frame rate (frames %.0f to %.0f ms apart): every frame is kept and "
                           "timed at a constant %.3f fps (the container's rate), so motion in the overlay and "
                           "exports runs faster or slower where the clip's rate changed; for true timing convert it "
                           "to a constant rate first (ffmpeg -i IN -fps_mode cfr OUT)", name,
                           self.timing.shortest_ms, self.timing.longest_ms, info.fps)

    def _skip(self, frame_id: int, reason: str) -> None:
        self.stats.frames_skipped += 1
        self.stats.skipped_ids.append(frame_id)
        logger.debug("%s: frame %d skipped (%s)", self.path.name, frame_id, reason)

    def _image_frames(self) -> Iterator[tuple[int, np.ndarray]]:
        """The photo, or the folder's images in order; an unreadable image is a skipped frame, an
        image of another size than the first an InputError (a folder is one sequence)."""
        for frame_id, image_path in enumerate(self._images):
            try:
                frame = read_image(image_path)
            except InputError:
                self._skip(frame_id, f"{image_path.name} unreadable")
                continue
            height, width = frame.shape[:2]
            if (width, height) != (self.info.width, self.info.height):
                raise InputError(f"{image_path.name} is {width}x{height} but {self.path}'s first image is "
                                 f"{self.info.width}x{self.info.height}: images of different sizes are not one "
                                 "sequence; run them one by one (demo.py --video FOLDER does)")
            yield frame_id, frame

    def _video_frames(self) -> Iterator[tuple[int, np.ndarray]]:
        """Decode sequentially. A failed read before the stated frame count is a bad frame, skipped;
        after max_decode_failures consecutive failures (or past the count) the stream has ended."""
        capture = self._open_capture()
        frame_id, failures = 0, 0
        expected = self.info.n_frames
        self.timing = FrameTiming()
        try:
            while True:
                with _opencv_quiet():
                    ok, frame = capture.read()
                if ok and frame is not None:
                    failures = 0
                    self.timing.add(capture.get(cv2.CAP_PROP_POS_MSEC))
                    yield frame_id, cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)
                elif expected is None or frame_id >= expected or failures >= self.max_decode_failures:
                    break
                else:
                    failures += 1
                    self.timing.gap()
                    self._skip(frame_id, "decode failed")
                frame_id += 1
        finally:
            capture.release()
        self._drop_trailing_failures(failures, frame_id - failures)

    def _drop_trailing_failures(self, failures: int, end: int) -> None:
        """Failures that ran into the end are a truncated file, not skipped frames: `info` now counts
        the `end` frames before them (later passes stop there) and keeps the stated count."""
        if failures:
            del self.stats.skipped_ids[-failures:]
            self.stats.frames_skipped -= failures
            self.info = dataclasses.replace(self.info, n_frames=end,
                                            stated_frames=self.info.stated_frames or self.info.n_frames)


def open_video(path, fps: float | None = None, cfg=None) -> VideoSource:
    """A VideoSource for `path`; `cfg` (default: the defaults) supplies TRACKER.MAX_DECODE_FAILURES and
    TRACKER.VFR_TOLERANCE."""
    return VideoSource(path, fps=fps, cfg=cfg)
