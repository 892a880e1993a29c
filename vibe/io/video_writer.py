"""Streaming H.264 video writer at the input's exact frame rate.

Frames (RGB uint8) are piped raw into the ffmpeg binary that ships inside imageio-ffmpeg and
encoded with libx264/yuv420p (odd sizes padded to even by repeating the last row/column, as
yuv420p requires; a black pad would bleed into the edge pixels' colour). The output is
written to a temporary file next to the target and renamed on a clean close, so an interrupted
or failed run never leaves a half-written video under the final name. Optionally the audio of a
source file is carried over (re-encoded to AAC so any source codec fits MP4; silent sources are
fine, and audio shorter than the video is padded with silence instead of cutting the video).

    with VideoWriter("out.mp4", Fraction(30000, 1001), (W, H), audio_from="in.mp4") as writer:
        for frame in frames:
            writer.write(frame)
"""
from __future__ import annotations

import contextlib
import logging
import re
import shutil
import subprocess
import tempfile
from fractions import Fraction
from pathlib import Path

import numpy as np

from vibe.errors import InputError, OutputError
from vibe.io.atomic import atomic_path

logger = logging.getLogger(__name__)

# 30000/1001 survives the float round trip (cv2's CAP_PROP_FPS) exactly with this bound.
FPS_MAX_DENOMINATOR = 1_000_000
AUDIO_CODEC = "aac"
DEFAULT_CRF = 18
DEFAULT_PRESET = "veryfast"
_LOG_TAGS = re.compile(r"^(\[[^\]]*\]\s*)+")


def as_fraction(fps) -> Fraction:
    """A frame rate given as int, float, Fraction or 'num/den' string -> a positive Fraction."""
    try:
        rate = Fraction(fps).limit_denominator(FPS_MAX_DENOMINATOR)
    except (TypeError, ValueError, ZeroDivisionError):
        raise InputError(f"frame rate {fps!r} is not a number; pass e.g. 25, 29.97 or '30000/1001'") from None
    if rate <= 0:
        raise InputError(f"frame rate must be positive, got {fps!r}")
    return rate


def ffmpeg_executable(configured: str = "") -> str:
    """The ffmpeg to run: `configured` (RENDER.FFMPEG_EXE) if set, else imageio-ffmpeg's bundled one."""
    if configured:
        found = shutil.which(configured)
        if not found:
            raise OutputError(f"ffmpeg not found at {configured!r}; fix RENDER.FFMPEG_EXE or leave it empty")
        return found
    try:
        import imageio_ffmpeg

        return imageio_ffmpeg.get_ffmpeg_exe()
    except (ImportError, RuntimeError):
        raise OutputError("no ffmpeg found; install imageio-ffmpeg (pip install imageio-ffmpeg)") from None


class VideoWriter:
    """Context manager writing (H, W, 3) uint8 RGB frames to an H.264 file.

    path: output file (its suffix picks the container, .mp4 usually); fps: the input's frame rate
    (float, Fraction or 'num/den'); size: (width, height) of the frames; audio_from: a file whose
    first audio stream, if any, is copied in. `cfg` supplies RENDER.FFMPEG_EXE / VIDEO_CRF /
    VIDEO_PRESET (defaults when None).
    """

    def __init__(self, path, fps, size: tuple[int, int], audio_from=None, cfg=None):
        self.path = Path(path)
        self.fps = as_fraction(fps)
        self.width, self.height = check_size(size)
        self._pad = (self.width % 2, self.height % 2)  # columns, rows added to reach even sides
        self.audio_from = Path(audio_from) if audio_from else None
        if self.audio_from is not None and not self.audio_from.is_file():
            raise InputError(f"audio source {self.audio_from} not found; pass an existing file or no audio")
        render = cfg.RENDER if cfg is not None else None
        self._ffmpeg = render.FFMPEG_EXE if render is not None else ""
        self._crf = int(render.VIDEO_CRF) if render is not None else DEFAULT_CRF
        self._preset = str(render.VIDEO_PRESET) if render is not None else DEFAULT_PRESET
        self._stack = contextlib.ExitStack()
        self._proc: subprocess.Popen | None = None
        self._log = None
        self.frames_written = 0

    def __enter__(self) -> "VideoWriter":
        self.open()
        return self

    def __exit__(self, exc_type, exc, tb) -> bool:
        if exc is None:
            self.close()
        else:
            self._discard(exc)
        return False

    def open(self) -> None:
        """Start ffmpeg writing to a temporary file next to `path`."""
        exe = ffmpeg_executable(self._ffmpeg)
        temp_path = self._stack.enter_context(atomic_path(self.path))
        self._log = self._stack.enter_context(tempfile.TemporaryFile())  # ffmpeg's stderr, never a full pipe
        try:
            self._proc = subprocess.Popen(self._command(exe, temp_path), stdin=subprocess.PIPE,
                                          stdout=subprocess.DEVNULL, stderr=self._log)
        except OSError as err:
            error = OutputError(f"cannot start ffmpeg ({exe}): {err.strerror}; reinstall imageio-ffmpeg")
            self._discard(error)
            raise error from None

    def write(self, frame: np.ndarray) -> None:
        """Append one (H, W, 3) uint8 RGB frame."""
        if self._proc is None:
            raise OutputError(f"video writer for {self.path} is not open; use it as `with VideoWriter(...) as w`")
        check_frame(frame, self.width, self.height)
        if any(self._pad):
            frame = np.pad(frame, ((0, self._pad[1]), (0, self._pad[0]), (0, 0)), mode="edge")
        try:
            self._proc.stdin.write(np.ascontiguousarray(frame).data)
        except (BrokenPipeError, OSError):
            self._proc.wait()
            raise OutputError(f"ffmpeg stopped while writing {self.path}: {self._ffmpeg_message()}") from None
        self.frames_written += 1

    def close(self) -> None:
        """Finish encoding and move the file to its final name."""
        if self._proc is None:
            return
        with contextlib.suppress(BrokenPipeError, OSError):
            self._proc.stdin.close()
        if self._proc.wait() != 0:
            error = OutputError(f"ffmpeg failed writing {self.path}: {self._ffmpeg_message()}")
            self._discard(error)
            raise error
        self._proc = None
        self._stack.close()  # renames the temporary to the final name
        logger.info("wrote %d frames at %s fps to %s", self.frames_written, self.fps, self.path)

    def _discard(self, exc: BaseException) -> None:
        """Stop ffmpeg and delete the temporary file; the final name is left untouched."""
        if self._proc is not None:
            if self._proc.poll() is None:
                self._proc.kill()
            self._proc.wait()
            with contextlib.suppress(OSError):
                self._proc.stdin.close()
            self._proc = None
        self._stack.__exit__(type(exc), exc, exc.__traceback__)  # atomic_path removes its temporary

    def _ffmpeg_message(self) -> str:
        """ffmpeg's first error line (the cause; later lines are consequences), without its
        '[component @ 0x...]' tags."""
        self._log.seek(0)
        lines = self._log.read().decode(errors="replace").strip().splitlines()
        return _LOG_TAGS.sub("", lines[0]) if lines else "no message"

    def _command(self, exe: str, temp_path: Path) -> list[str]:
        rate = f"{self.fps.numerator}/{self.fps.denominator}"
        command = [exe, "-hide_banner", "-loglevel", "error", "-y",
                   "-f", "rawvideo", "-pix_fmt", "rgb24",
                   "-s", f"{self.width + self._pad[0]}x{self.height + self._pad[1]}",
                   "-framerate", rate, "-i", "pipe:0"]
        if self.audio_from is not None:
            command += ["-i", str(self.audio_from), "-map", "0:v:0", "-map", "1:a:0?",
                        "-c:a", AUDIO_CODEC, "-af", "apad", "-shortest"]
        return command + ["-c:v", "libx264", "-preset", self._preset, "-crf", str(self._crf),
                          "-pix_fmt", "yuv420p", "-r", rate, "-movflags", "+faststart", str(temp_path)]


def check_size(size) -> tuple[int, int]:
    """(width, height) as positive ints; InputError otherwise."""
    try:
        width, height = (int(v) for v in size)
    except (TypeError, ValueError):
        raise InputError(f"frame size must be (width, height), got {size!r}") from None
    if width <= 0 or height <= 0:
        raise InputError(f"frame size must be positive, got {width}x{height}")
    return width, height


def check_frame(frame, width: int, height: int) -> None:
    """InputError unless `frame` is RGB uint8 of shape (height, width, 3)."""
    expected = (height, width, 3)
    if not isinstance(frame, np.ndarray) or frame.shape != expected or frame.dtype != np.uint8:
        got = f"{frame.shape} {frame.dtype}" if isinstance(frame, np.ndarray) else type(frame).__name__
        raise InputError(f"frames must be RGB uint8 of shape {expected}, got {got}")
