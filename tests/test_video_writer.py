"""The H.264 writer, checked by decoding its files with OpenCV and reading ffmpeg's stream list."""
import subprocess
from fractions import Fraction

import cv2
import imageio_ffmpeg
import numpy as np
import pytest

from vibe.config import get_cfg_defaults
from vibe.errors import InputError, OutputError
from vibe.io.video_writer import VideoWriter, as_fraction

FFMPEG = imageio_ffmpeg.get_ffmpeg_exe()
NUM_FRAMES = 24


def smooth_frames(width, height, count=NUM_FRAMES):
    """Frames of smooth gradients that move a little each frame (easy to encode faithfully)."""
    ys, xs = np.mgrid[0:height, 0:width].astype(float)
    return [np.stack([40 + 150 * xs / width + 2 * i, 60 + 120 * ys / height, np.full_like(xs, 90 + 3 * i)],
                     axis=2).astype(np.uint8) for i in range(count)]


def write_video(path, fps, frames, **kwargs):
    height, width = frames[0].shape[:2]
    with VideoWriter(path, fps, (width, height), **kwargs) as writer:
        for frame in frames:
            writer.write(frame)


def decode(path):
    """-> (RGB frames, fps) read back with OpenCV."""
    capture = cv2.VideoCapture(str(path))
    fps = capture.get(cv2.CAP_PROP_FPS)
    frames = []
    while True:
        ok, frame = capture.read()
        if not ok:
            break
        frames.append(frame[..., ::-1])
    capture.release()
    return frames, fps


def stream_lines(path):
    """ffmpeg's description of the file's streams (there is no ffprobe)."""
    result = subprocess.run([FFMPEG, "-hide_banner", "-i", str(path)], capture_output=True, text=True)
    return [line.strip() for line in result.stderr.splitlines() if line.strip().startswith("Stream #")]


@pytest.mark.parametrize("fps, expected", [(Fraction(30000, 1001), 30000 / 1001), (12.5, 12.5),
                                           ("24000/1001", 24000 / 1001), (29.97002997002997, 30000 / 1001)])
def test_round_trip_keeps_fps_count_size_and_pixels(tmp_path, fps, expected):
    frames = smooth_frames(64, 48)
    path = tmp_path / "out.mp4"
    write_video(path, fps, frames)
    decoded, decoded_fps = decode(path)
    assert decoded_fps == pytest.approx(expected, abs=1e-6)
    assert len(decoded) == NUM_FRAMES
    assert decoded[0].shape == (48, 64, 3)
    for written, read in zip(frames, decoded):
        assert np.abs(written.astype(float) - read).mean() < 2.0
    assert "h264" in stream_lines(path)[0] and "yuv420p" in stream_lines(path)[0]


def test_odd_size_is_padded_to_even(tmp_path):
    frames = smooth_frames(65, 49, count=3)
    write_video(tmp_path / "odd.mp4", 10, frames)
    decoded, _ = decode(tmp_path / "odd.mp4")
    assert decoded[0].shape == (50, 66, 3)
    assert np.abs(decoded[1][:49, :65].astype(float) - frames[1]).mean() < 2.0


def test_exception_inside_with_leaves_no_file(tmp_path):
    target = tmp_path / "out.mp4"
    target.write_bytes(b"previous result")
    with pytest.raises(RuntimeError):
        with VideoWriter(target, 25, (32, 32)) as writer:
            writer.write(np.zeros((32, 32, 3), np.uint8))
            raise RuntimeError("interrupted")
    assert target.read_bytes() == b"previous result"
    assert [p.name for p in tmp_path.iterdir()] == ["out.mp4"]


def test_wrong_frame_shape_is_input_error_and_no_file(tmp_path):
    with pytest.raises(InputError, match="shape"):
        with VideoWriter(tmp_path / "out.mp4", 25, (32, 32)) as writer:
            writer.write(np.zeros((32, 31, 3), np.uint8))
    assert list(tmp_path.iterdir()) == []


def test_unwritable_folder_is_output_error(tmp_path):
    blocker = tmp_path / "a_file"
    blocker.write_text("x")
    with pytest.raises(OutputError, match="cannot write"):
        with VideoWriter(blocker / "out.mp4", 25, (32, 32)):
            pass


def test_missing_ffmpeg_is_output_error(tmp_path):
    cfg = get_cfg_defaults()
    cfg.RENDER.FFMPEG_EXE = str(tmp_path / "no_ffmpeg_here")
    with pytest.raises(OutputError, match="ffmpeg not found"):
        with VideoWriter(tmp_path / "out.mp4", 25, (32, 32), cfg=cfg):
            pass
    assert list(tmp_path.iterdir()) == []


def test_audio_is_carried_over_and_a_short_tone_does_not_cut_the_video(tmp_path):
    tone = tmp_path / "tone.wav"  # 0.5 s of 440 Hz, shorter than the 1 s video
    subprocess.run([FFMPEG, "-loglevel", "error", "-f", "lavfi", "-i", "sine=frequency=440:duration=0.5", str(tone)],
                   check=True)
    frames = smooth_frames(32, 32)
    write_video(tmp_path / "with_audio.mp4", NUM_FRAMES, frames, audio_from=tone)
    streams = stream_lines(tmp_path / "with_audio.mp4")
    assert any("Audio:" in line for line in streams)
    assert len(decode(tmp_path / "with_audio.mp4")[0]) == NUM_FRAMES


def test_silent_audio_source_still_writes_video(tmp_path):
    frames = smooth_frames(32, 32, count=5)
    write_video(tmp_path / "silent.mp4", 10, frames)
    write_video(tmp_path / "out.mp4", 10, frames, audio_from=tmp_path / "silent.mp4")
    streams = stream_lines(tmp_path / "out.mp4")
    assert len(streams) == 1 and "Video:" in streams[0]
    assert len(decode(tmp_path / "out.mp4")[0]) == 5


@pytest.mark.parametrize("bad", ["fast", 0, -25, None])
def test_bad_fps_is_input_error(bad):
    with pytest.raises(InputError, match="frame rate"):
        as_fraction(bad)


def test_ffmpeg_failure_is_one_line_output_error_and_no_file(tmp_path):
    cfg = get_cfg_defaults()
    cfg.RENDER.VIDEO_PRESET = "no_such_preset"  # libx264 refuses to open
    with pytest.raises(OutputError, match="invalid preset") as caught:
        write_video(tmp_path / "out.mp4", 25, smooth_frames(32, 32, count=200), cfg=cfg)
    assert "\n" not in str(caught.value)
    assert list(tmp_path.iterdir()) == []
