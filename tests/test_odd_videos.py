"""Odd videos read the way a user needs: a truncated file gives one warning (not one per pass), the
frames that decode are what the summary and its rates count, FFmpeg's own complaints stay off the
terminal, and a variable frame rate clip says what was done with its timing."""
import logging

import pytest

from media import VTEST
from test_image_inputs import ONE_FRAME_RUN
from test_pipeline import WALKERS_REGION, write_clip
from test_tracker_video import _ffmpeg
from tracker.video import open_video
from vibe.pipeline import run

STATED_FRAMES = 50
KEPT_BYTES_FRACTION = 0.3  # of an H.264 file with its index first: about the first third of the frames decode
PASSES = 3  # the pipeline decodes a video three times: tracking, crops, overlay
FFMPEG_NOISE = ("[h264", "[mov,", "partial file", "Invalid NAL")
VFR_SLOW_FROM = 20  # the VFR clip's frames 0-19 are 40 ms apart, the rest 120 ms


def truncate(path, fraction=KEPT_BYTES_FRACTION):
    data = path.read_bytes()
    path.write_bytes(data[:int(len(data) * fraction)])
    return path


def warnings_with(caplog, text):
    return [r.message for r in caplog.records if r.levelno == logging.WARNING and text in r.message]


def lavfi_clip(path, *filters):
    """A 320x240 25 fps test pattern of STATED_FRAMES frames, index first (+faststart), a key frame
    every 10; `filters` (-vf ...) may re-time it."""
    _ffmpeg("-f", "lavfi", "-i", "testsrc=size=320x240:rate=25", "-frames:v", STATED_FRAMES, *filters,
            "-c:v", "libx264", "-pix_fmt", "yuv420p", "-g", "10", "-movflags", "+faststart", path)
    return path


def test_a_truncated_file_warns_once_and_counts_what_decodes(tmp_path, caplog, capfd):
    source = open_video(truncate(lavfi_clip(tmp_path / "cut.mp4")))
    with caplog.at_level(logging.WARNING, logger="tracker.video"):
        passes = [[frame_id for frame_id, _ in source.frames()] for _ in range(PASSES)]
    assert passes[0] == passes[1] == passes[2] and passes[0]
    assert (source.info.n_frames, source.info.stated_frames) == (passes[0][-1] + 1, STATED_FRAMES)
    assert source.info.n_frames < STATED_FRAMES
    warning, = warnings_with(caplog, "ends early")
    assert f"after {source.info.n_frames} of its {STATED_FRAMES} stated frames" in warning
    assert f"{source.info.n_frames} of {STATED_FRAMES} frames (the file ends early)" in source.info.describe()
    noise = [line for line in capfd.readouterr().err.splitlines() if any(tag in line for tag in FFMPEG_NOISE)]
    assert noise == []


def test_a_variable_frame_rate_clip_says_how_it_was_timed(tmp_path, caplog):
    slower = f"setpts='if(lt(N,{VFR_SLOW_FROM}),N,{VFR_SLOW_FROM}+(N-{VFR_SLOW_FROM})*3)/(25*TB)'"
    variable = open_video(lavfi_clip(tmp_path / "vfr.mp4", "-vf", slower, "-fps_mode", "vfr"))
    constant = open_video(lavfi_clip(tmp_path / "cfr.mp4"))
    with caplog.at_level(logging.WARNING, logger="tracker.video"):
        for source in (variable, constant, variable):
            assert sum(1 for _ in source.frames()) == STATED_FRAMES  # every frame kept
    warning, = warnings_with(caplog, "variable frame rate")
    assert warning.startswith("vfr.mp4 has a variable frame rate (frames 40 to 120 ms apart)")
    assert f"timed at a constant {variable.info.fps:.3f} fps" in warning


@pytest.mark.skipif(not VTEST.is_file(), reason="vtest.avi not available")
def test_a_run_on_a_truncated_clip_reports_the_frames_that_decode(tmp_path, tiny_smpl_dir, caplog, capfd):
    clip = truncate(write_clip(tmp_path / "walkers.mp4", STATED_FRAMES, 10, WALKERS_REGION))
    with caplog.at_level(logging.WARNING):
        outcome = run(clip, tmp_path / "out", data_dir=str(tiny_smpl_dir), opts=ONE_FRAME_RUN, progress=False)
    decoded = outcome.video.n_frames
    assert 0 < decoded < STATED_FRAMES and outcome.video.stated_frames == STATED_FRAMES
    assert len(warnings_with(caplog, "ends early")) == 1  # not once per pass
    summary = outcome.summary()
    assert f"{decoded} of {STATED_FRAMES} frames" in summary
    assert f"{decoded / sum(outcome.timings.values()):.1f} frames/s" in summary
    noise = [line for line in capfd.readouterr().err.splitlines() if any(tag in line for tag in FFMPEG_NOISE)]
    assert noise == []
