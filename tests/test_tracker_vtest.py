"""Real footage (vtest.avi) through the default detector + tracker, and the debug outputs."""
from pathlib import Path

import numpy as np
import pytest

from tracker.debug import contact_sheet, draw_tracks, write_debug_video
from tracker.detectors import build_detector
from tracker.tracking import track_video
from tracker.types import Track
from tracker.video import open_video
from vibe.config import get_cfg_defaults
from media import VTEST

needs_vtest = pytest.mark.skipif(not VTEST.is_file(), reason="vtest.avi not available")


def test_draw_tracks_marks_box_edges():
    frame = np.zeros((100, 100, 3), np.uint8)
    canvas = draw_tracks(frame, [(0, np.array([50.0, 50.0, 40.0, 40.0]), False)])
    assert canvas[30, 50].any() and canvas[70, 50].any()  # top and bottom edges drawn
    assert not canvas[50, 50].any()  # inside untouched
    assert not frame.any()  # input not modified


def test_debug_video_round_trip(tmp_path):
    pytest.importorskip("vibe.io.video_writer")
    folder = tmp_path / "frames"
    folder.mkdir()
    import cv2

    for i in range(5):
        cv2.imwrite(str(folder / f"{i}.png"), np.full((64, 80, 3), 40, np.uint8))
    source = open_video(folder, fps=8)
    track = Track(0, np.arange(5), np.tile([40.0, 32.0, 30.0, 30.0], (5, 1)).astype(np.float32),
                  np.ones(5, np.float32), np.zeros(5, bool))
    out = write_debug_video(source, [track], tmp_path / "debug.mp4")
    written = open_video(out)
    assert written.info.fps == pytest.approx(8) and written.info.n_frames == 5
    frames = [f for _, f in written.frames()]
    assert frames[2][32 - 15, 40].max() > 100  # the box edge is visible after encoding


@pytest.mark.slow
@needs_vtest
def test_vtest_tracks(tmp_path):
    cfg = get_cfg_defaults()
    source = open_video(VTEST)
    result = track_video(source, build_detector(cfg), cfg)
    assert result.info.fps == pytest.approx(10.0) and result.decode.frames_read == 795
    long_tracks = [t for t in result.tracks if len(t) >= result.info.fps]
    # vtest shows a steady stream of pedestrians: dozens of tracks, most of them longer than 1 s.
    assert 20 <= len(long_tracks) <= 80
    assert max(len(t) for t in result.tracks) > 300  # someone (and the static false positive) stays long
    for track in result.tracks:
        assert np.all(np.diff(track.frame_ids) == 1)
        assert np.all(track.bboxes[:, 2] == track.bboxes[:, 3])
    sheet = contact_sheet(open_video(VTEST), result.tracks, [0, 100])
    assert sheet.shape == (576, 2 * 768, 3)
