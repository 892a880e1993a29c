"""The one-frame counterpart of vibe.io.video_writer: a still image behind the same interface.

`frame_writer` picks the writer from the output path: an image suffix OpenCV encodes (.jpg, .png,
...) gives an ImageWriter, anything else (.mp4) a VideoWriter. A renderer streams its frames into
either without knowing whether it makes a video or a photo:

    with frame_writer(out_path, fps, (W, H), cfg=cfg) as writer:
        for frame in frames:
            writer.write(frame)

The image is encoded when its frame is written and moved into place atomically on a clean close
(vibe.io.atomic), so a failed run never leaves a half-written file under the final name.
"""
from __future__ import annotations

import logging
from pathlib import Path

import cv2
import numpy as np

from vibe.errors import OutputError
from vibe.io.atomic import write_bytes_atomic
from vibe.io.video_writer import VideoWriter, check_frame, check_size

logger = logging.getLogger(__name__)

class ImageWriter:
    """Context manager writing one (H, W, 3) uint8 RGB frame to an image file.

    path: output file (its suffix picks the format); size: (width, height) of the frame. `cfg`
    supplies RENDER.IMAGE_QUALITY (JPEG quality, 0-100; the config default when None).
    """

    def __init__(self, path, size: tuple[int, int], cfg=None):
        self.path = Path(path)
        self.width, self.height = check_size(size)
        if not cv2.haveImageWriter(str(self.path)):
            raise OutputError(f"OpenCV writes no {self.path.suffix or 'suffix-less'} images ({self.path}); "
                              "name the output .jpg or .png")
        from vibe.config import get_cfg_defaults

        self._quality = int((cfg if cfg is not None else get_cfg_defaults()).RENDER.IMAGE_QUALITY)
        self._encoded: bytes | None = None
        self.frames_written = 0

    def __enter__(self) -> "ImageWriter":
        return self

    def __exit__(self, exc_type, exc, tb) -> bool:
        if exc is None:
            self.close()
        return False

    def write(self, frame: np.ndarray) -> None:
        """Set the image to one (H, W, 3) uint8 RGB frame; an image holds one, a second is an error."""
        check_frame(frame, self.width, self.height)
        if self._encoded is not None:
            raise OutputError(f"{self.path} is an image and holds one frame; write more frames to a video (.mp4)")
        ok, encoded = cv2.imencode(self.path.suffix, cv2.cvtColor(frame, cv2.COLOR_RGB2BGR),
                                   [cv2.IMWRITE_JPEG_QUALITY, self._quality])
        if not ok:
            raise OutputError(f"OpenCV could not encode {self.path}")
        self._encoded = encoded.tobytes()
        self.frames_written += 1

    def close(self) -> None:
        """Move the encoded image to its final name."""
        if self._encoded is None:
            raise OutputError(f"no frame was written to {self.path}")
        write_bytes_atomic(self.path, self._encoded)
        logger.info("wrote %dx%d image %s", self.width, self.height, self.path)


def frame_writer(path, fps, size: tuple[int, int], audio_from=None, cfg=None) -> ImageWriter | VideoWriter:
    """An ImageWriter when OpenCV encodes images with `path`'s suffix, else a VideoWriter; `fps` and
    `audio_from` (see VideoWriter) only matter to a video."""
    if cv2.haveImageWriter(str(path)):
        return ImageWriter(path, size, cfg)
    return VideoWriter(path, fps, size, audio_from=audio_from, cfg=cfg)
