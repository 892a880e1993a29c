"""Streamed decoding: true fps, rotation metadata, image folders, bad input as one-line InputErrors."""
import subprocess
from pathlib import Path

import cv2
import imageio_ffmpeg
import numpy as np
import pytest

from tracker.detectors import build_detector
from tracker.tracking import track_video
from tracker.video import natural_key, open_video
from vibe.config import get_cfg_defaults
from vibe.errors import InputError
from media import VTEST

FFMPEG = imageio_ffmpeg.get_ffmpeg_exe()


def _ffmpeg(*args):
    subprocess.run([FFMPEG, "-y", "-loglevel", "error", *map(str, args)], check=True)


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    folder = tmp_path_factory.mktemp("clips")
    plain = folder / "plain.mp4"
    _ffmpeg("-f", "lavfi", "-i", "testsrc=size=160x96:rate=24000/1001", "-frames:v", "12", "-c:v", "libx264",
            "-pix_fmt", "yuv444p", "-qp", "0", plain)
    rotated = folder / "rotated.mp4"
    # A phone-style tag: display the stored frames rotated 90 degrees counter-clockwise.
    _ffmpeg("-display_rotation", "90", "-i", plain, "-c", "copy", rotated)
    return plain, rotated


def test_true_fps_and_count(clips):
    source = open_video(clips[0])
    assert source.info.fps == pytest.approx(24000 / 1001)
    assert (source.info.width, source.info.height, source.info.n_frames, source.info.rotation) == (160, 96, 12, 0)
    frames = list(source.frames())
    assert [i for i, _ in frames] == list(range(12))
    assert frames[0][1].dtype == np.uint8 and frames[0][1].shape == (96, 160, 3)


def test_rotation_metadata_is_applied(clips):
    plain = [f for _, f in open_video(clips[0]).frames()]
    source = open_video(clips[1])
    rotated = [f for _, f in source.frames()]
    assert (source.info.width, source.info.height, source.info.rotation) == (96, 160, 270)
    # 90 degrees counter-clockwise display rotation == np.rot90 (k=1) of the stored frame (lossless clip).
    diff = np.abs(rotated[3].astype(int) - np.rot90(plain[3], 1).astype(int))
    assert diff.mean() < 2.0


def test_rgb_channel_order(tmp_path):
    red = np.zeros((40, 40, 3), np.uint8)
    red[..., 0] = 255
    cv2.imwrite(str(tmp_path / "a.png"), red[..., ::-1])
    (_, frame), = open_video(tmp_path).frames()
    assert frame[0, 0].tolist() == [255, 0, 0]


def test_image_folder_natural_order_and_bad_frame(tmp_path):
    for index in (1, 2, 10):
        cv2.imwrite(str(tmp_path / f"img{index}.png"), np.full((8, 8, 3), index, np.uint8))
    (tmp_path / "img3.png").write_bytes(b"not a png")
    (tmp_path / "notes.txt").write_text("ignored")
    source = open_video(tmp_path, fps=5)
    assert source.info.n_frames == 4 and source.info.fps == 5
    frames = list(source.frames())
    assert [(i, int(f[0, 0, 0])) for i, f in frames] == [(0, 1), (1, 2), (3, 10)]
    assert source.stats.frames_skipped == 1 and source.stats.skipped_ids == [2]
    assert sorted(["b10", "b2", "a1"], key=natural_key) == ["a1", "b2", "b10"]


def _one_line(err):
    message = str(err.value)
    assert "\n" not in message and len(message) < 300
    return message


def test_bad_inputs(tmp_path):
    cases = {"missing": tmp_path / "nope.mp4", "empty": tmp_path / "empty.mp4", "text": tmp_path / "text.mp4",
             "no_images": tmp_path / "docs"}
    cases["empty"].write_bytes(b"")
    cases["text"].write_text("this is not a video\n" * 50)
    cases["no_images"].mkdir()
    (cases["no_images"] / "readme.txt").write_text("x")
    expected = {"missing": "not found", "empty": "empty", "text": "not a video", "no_images": "no readable images"}
    for name, path in cases.items():
        with pytest.raises(InputError) as err:
            open_video(path)
        assert expected[name] in _one_line(err), name


@pytest.mark.skipif(not VTEST.is_file(), reason="vtest.avi not available")
def test_truncated_video_reads_what_is_there(tmp_path):
    truncated = tmp_path / "cut.avi"
    truncated.write_bytes(VTEST.read_bytes()[:400_000])
    source = open_video(truncated)
    n = sum(1 for _ in source.frames())
    assert 0 < n < source.info.stated_frames
    assert source.stats.frames_skipped == 0  # the missing end is not counted as skipped frames


def test_video_without_people_is_input_error(tmp_path):
    _ffmpeg("-f", "lavfi", "-i", "color=c=gray:size=320x240:rate=10", "-frames:v", "6", "-c:v", "libx264",
            "-pix_fmt", "yuv420p", tmp_path / "empty_scene.mp4")
    cfg = get_cfg_defaults()
    cfg.TRACKER.DETECTOR = "hog"
    with pytest.raises(InputError) as err:
        track_video(open_video(tmp_path / "empty_scene.mp4"), build_detector(cfg), cfg)
    assert "no people found" in _one_line(err)
