"""Tracking on synthetic scenes with exact truth: MOTA / IDF1 / ID switches, gaps, strides, and
one rendered clip that goes through ffmpeg encoding and the real decoder."""
import subprocess

import cv2
import imageio_ffmpeg
import numpy as np
import pytest

from tracker.evaluation import evaluate, tracks_to_table
from tracker.synthetic import Scene, Walker, scenarios
from tracker.tracking import track_detections, track_video
from tracker.types import Detections
from tracker.video import open_video
from vibe.config import get_cfg_defaults

FPS = 10.0
# Floors with margin under what the tracker reaches (see BENCHMARKS.md); a broken association
# (switches, fragments) or broken gap filling drops far below them.
MIN_MOTA = {"crossing": 0.95, "occlusion_5_frames": 0.95, "enter_leave": 0.85, "crowd_noisy": 0.9,
            "passer_by_10_frames": 0.95, "crouch_stand": 0.95, "camera_pan": 0.95, "leave_reenter": 0.85}


def _run(scene: Scene, stride: int = 1, cfg=None):
    cfg = cfg or get_cfg_defaults()
    detections = scene.detections()
    tracks = track_detections(((f, d if f % stride == 0 else None) for f, d in enumerate(detections)), cfg, FPS)
    return tracks, evaluate(scene.truth(), tracks_to_table(tracks))


@pytest.mark.parametrize("stride", [1, 3])
@pytest.mark.parametrize("name", sorted(MIN_MOTA))
def test_scenario_metrics(name, stride):
    scene = scenarios()[name]
    tracks, metrics = _run(scene, stride)
    assert metrics.id_switches == 0
    assert metrics.mota >= MIN_MOTA[name]
    assert metrics.idf1 >= 0.9
    # One long track per person (no fragments); chained false positives may add a short one.
    assert sum(len(t) >= FPS for t in tracks) == len(scene.walkers)


def test_occlusion_keeps_id_and_flags_gap():
    scene = Scene(60, [Walker(0, 59, (100, 200), (500, 260), 90, occluded=(25, 30))], miss_rate=0.0,
                  false_positives_per_frame=0.0, noise_frac=0.0)
    tracks, metrics = _run(scene)
    assert len(tracks) == 1 and metrics.id_switches == 0
    track = tracks[0]
    np.testing.assert_array_equal(track.frame_ids, np.arange(60))
    np.testing.assert_array_equal(np.flatnonzero(track.interpolated), np.arange(25, 30))
    # Linear motion, linear interpolation: the filled boxes sit on the true path.
    truth_centres = np.array([scene.walkers[0].centre(f) for f in range(25, 30)])
    np.testing.assert_allclose(track.bboxes[25:30, :2], truth_centres, atol=1e-3)
    assert np.all(track.bboxes[:, 2] == track.bboxes[:, 3])  # square


def test_gap_longer_than_max_gap_splits_track():
    """A 3 s disappearance is beyond MAX_GAP_SECONDS (1 s at the true fps): a new track starts."""
    scene = Scene(90, [Walker(0, 89, (100, 240), (400, 240), 90, occluded=(30, 60))], miss_rate=0.0,
                  false_positives_per_frame=0.0, noise_frac=0.0)
    tracks, _ = _run(scene)
    assert [(t.frame_ids[0], t.frame_ids[-1]) for t in tracks] == [(0, 29), (60, 89)]
    cfg = get_cfg_defaults()
    cfg.TRACKER.MAX_GAP_SECONDS = 4.0
    tracks, metrics = _run(scene, cfg=cfg)
    assert len(tracks) == 1 and metrics.id_switches == 0


def test_min_track_length_option():
    scene = Scene(40, [Walker(0, 39, (100, 200), (300, 200), 80), Walker(0, 5, (500, 300), (510, 300), 80)],
                  miss_rate=0.0, false_positives_per_frame=0.0)
    assert sorted(len(t) for t in _run(scene)[0]) == [6, 40]  # short track kept by default
    cfg = get_cfg_defaults()
    cfg.TRACKER.MIN_TRACK_LEN = 10
    assert [len(t) for t in _run(scene, cfg=cfg)[0]] == [40]


# ---- a rendered clip through the real encoder and decoder ------------------------------------
SATURATION_MIN = 120
MIN_BLOB_AREA = 400
RENDER_FPS = 12.5  # deliberately not 25: the decoder must report the true rate


class SaturatedBlobDetector:
    """Test-only detector: saturated-colour blobs (people are drawn as coloured squares on grey)."""

    name = "blobs"

    def detect(self, frames):
        results = []
        for frame in frames:
            mask = (cv2.cvtColor(frame, cv2.COLOR_RGB2HSV)[:, :, 1] > SATURATION_MIN).astype(np.uint8)
            _, _, stats, _ = cv2.connectedComponentsWithStats(mask)
            rows = stats[1:][stats[1:, cv2.CC_STAT_AREA] >= MIN_BLOB_AREA]
            boxes = np.c_[rows[:, 0], rows[:, 1], rows[:, 0] + rows[:, 2], rows[:, 1] + rows[:, 3]].astype(np.float32)
            results.append(Detections(boxes, np.ones(len(boxes), np.float32)))
        return results


def _render(scene: Scene, path):
    width, height = scene.size
    rng = np.random.default_rng(1)
    background = rng.integers(90, 140, (height, width, 1), dtype=np.uint8).repeat(3, axis=2)  # textured grey
    colours = [(220, 40, 40), (40, 60, 220), (40, 200, 60)]
    command = [imageio_ffmpeg.get_ffmpeg_exe(), "-y", "-loglevel", "error", "-f", "rawvideo", "-pix_fmt", "rgb24",
               "-s", f"{width}x{height}", "-r", str(RENDER_FPS), "-i", "-", "-c:v", "libx264", "-pix_fmt", "yuv420p",
               str(path)]
    with subprocess.Popen(command, stdin=subprocess.PIPE) as proc:
        for f in range(scene.n_frames):
            frame = background.copy()
            for pid, walker in enumerate(scene.walkers):
                if walker.first <= f <= walker.last:
                    cx, cy = walker.centre(f)
                    half = walker.side / 2
                    cv2.rectangle(frame, (int(cx - half), int(cy - half)), (int(cx + half), int(cy + half)), colours[pid], -1)
            proc.stdin.write(frame.tobytes())
        proc.stdin.close()
    assert proc.returncode == 0


def test_rendered_clip_end_to_end(tmp_path):
    # Two people cross (their blobs merge into one detection for several frames) and a third enters.
    scene = Scene(50, [Walker(0, 49, (80, 200), (560, 230), 70), Walker(0, 49, (560, 250), (80, 220), 70),
                       Walker(20, 49, (320, 420), (320, 330), 60)])
    clip = tmp_path / "synthetic.mp4"
    _render(scene, clip)
    source = open_video(clip)
    assert source.info.fps == pytest.approx(RENDER_FPS)
    assert (source.info.width, source.info.height, source.info.n_frames) == (640, 480, 50)
    cfg = get_cfg_defaults()
    cfg.TRACKER.DETECT_STRIDE = 1
    result = track_video(source, SaturatedBlobDetector(), cfg)
    assert result.decode.frames_read == 50 and result.decode.frames_skipped == 0
    metrics = evaluate(scene.truth(), tracks_to_table(result.tracks))
    assert metrics.id_switches == 0
    assert len(result.tracks) == 3
    assert metrics.mota >= 0.85 and metrics.idf1 >= 0.9
