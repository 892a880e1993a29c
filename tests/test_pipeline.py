"""The demo pipeline end to end on real footage (the first frames of vtest.avi), fitting path.

The tiny SMPL-format model (tests/conftest.py) and shortened fitting stages keep this fast; the
checks are about the plumbing: result keys and shapes (SPEC section 3), the camera the overlay
uses, the video's frame count and rate, the exports, the cache and smoothing.
"""
import itertools
import logging
import math
from pathlib import Path

import joblib
import numpy as np
import pytest

from tracker.video import open_video
from vibe.errors import InputError
from vibe.io.video_writer import VideoWriter
from vibe.pipeline import run
from media import VTEST

needs_vtest = pytest.mark.skipif(not VTEST.is_file(), reason="vtest.avi not available")
CLIP_FRAMES = 10
WALKERS_REGION = (200, 130, 720, 340)  # x0, y0, x1, y1: where three people walk at vtest's start
CLIP_FPS = 12.5  # not vtest's 10: the output must follow its input's rate
# Fewer L-BFGS iterations: these tests check the pipeline, not the fit (tests/test_fitting_*.py do).
FAST_FIT = ["FITTING.STAGE_ITERS", "[2, 2, 5]", "FITTING.CAMERA_ITERS", "3"]
RESULT_SUFFIXES = {".pkl", ".npz", ".mp4", ".glb", ".bvh", ".obj"}
SPEC_KEYS = {"pred_cam": (3,), "orig_cam": (4,), "pose": (72,), "betas": (10,), "joints3d": (49, 3),
             "joints2d": (49, 3), "joints2d_img_coord": (49, 2), "bboxes": (4,)}


def write_clip(path: Path, num_frames: int, fps: float, region: tuple[int, int, int, int] | None = None) -> Path:
    """The first `num_frames` of vtest.avi as an H.264 clip at `fps`, cut to `region` (x0, y0, x1, y1)."""
    source = open_video(VTEST)
    x0, y0, x1, y1 = region or (0, 0, source.info.width, source.info.height)
    with VideoWriter(path, fps, (x1 - x0, y1 - y0)) as writer:
        for _, frame in itertools.islice(source.frames(), num_frames):
            writer.write(np.ascontiguousarray(frame[y0:y1, x0:x1]))
    return path


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    if not VTEST.is_file():
        pytest.skip("vtest.avi not available")
    return write_clip(tmp_path_factory.mktemp("clip") / "walkers.mp4", CLIP_FRAMES, CLIP_FPS)


@pytest.fixture(scope="module")
def first_run(clip, tiny_smpl_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("out")
    return out, run(clip, out, data_dir=str(tiny_smpl_dir), opts=FAST_FIT, progress=False)


def decoded_frames(path):
    return [frame for _, frame in open_video(path).frames()]


@needs_vtest
def test_results_keep_vibe_keys_and_shapes(first_run, tiny_smpl_arrays):
    out, outcome = first_run
    assert outcome.method == "fitting" and outcome.body_model.startswith("smpl")
    payload = joblib.load(out / "walkers" / "vibe_output.pkl")
    assert len(payload) >= 2  # vtest's first frames show three walkers
    assert set(payload) == set(outcome.results)
    num_verts = len(tiny_smpl_arrays["v_template"])
    for track_id, entry in payload.items():
        n = len(entry["frame_ids"])
        assert n >= 1 and entry["frame_ids"].dtype.kind == "i"
        assert np.all((entry["frame_ids"] >= 0) & (entry["frame_ids"] < CLIP_FRAMES))
        assert entry["verts"].shape == (n, num_verts, 3)
        for key, shape in SPEC_KEYS.items():
            assert entry[key].shape == (n, *shape), key
            assert entry[key].dtype == np.float32 and np.isfinite(entry[key]).all(), key
        assert (out / "walkers" / f"person_{track_id}.npz").is_file()


@needs_vtest
def test_joints_project_through_the_overlay_camera(first_run):
    """joints2d_img_coord is the pinhole projection (f = image diagonal, centred) of joints3d + transl,
    and orig_cam is the weak-perspective camera of the same translation (SPEC's formulas)."""
    _, outcome = first_run
    width, height = outcome.video.width, outcome.video.height
    focal = math.hypot(width, height)
    for result in outcome.results.values():
        points = result.joints3d + result.transl[:, None]
        pixels = focal * points[..., :2] / points[..., 2:] + [width / 2, height / 2]
        np.testing.assert_allclose(result.joints2d_img_coord, pixels, atol=1e-3)
        sx = 2 * focal / (width * result.transl[:, 2])
        np.testing.assert_allclose(result.orig_cam[:, 0], sx, rtol=1e-5)
        np.testing.assert_allclose(result.orig_cam[:, 2:], result.transl[:, :2], rtol=1e-5, atol=1e-6)
        # pred_cam is relative to the tracker's box, cut at 1.1 x its side
        side = result.bboxes[:, 3] * 1.1
        np.testing.assert_allclose(result.pred_cam[:, 0], sx * width / side, rtol=1e-5)


@needs_vtest
def test_overlay_video_follows_input_and_draws_people_where_they_are(first_run, clip):
    out, outcome = first_run
    video = outcome.files["overlay"]
    assert video == out / "walkers" / "walkers_vibe_result.mp4"
    info = open_video(video).info
    assert info.fps == pytest.approx(CLIP_FPS) and (info.width, info.height) == (768, 576)
    rendered, original = decoded_frames(video), decoded_frames(clip)
    assert len(rendered) == CLIP_FRAMES
    frame_id = CLIP_FRAMES // 2
    diff = np.abs(rendered[frame_id].astype(int) - original[frame_id].astype(int)).sum(-1)
    covered = np.zeros(diff.shape, bool)
    for result in outcome.results.values():
        rows = np.flatnonzero(result.frame_ids == frame_id)
        if len(rows):
            x0, y0 = np.floor(result.joints2d_img_coord[rows[0]].min(0)).astype(int) - 10
            x1, y1 = np.ceil(result.joints2d_img_coord[rows[0]].max(0)).astype(int) + 10
            inside = diff[max(y0, 0):y1, max(x0, 0):x1]
            assert (inside > 60).mean() > 0.05  # the mesh is drawn around the person's projected joints
            covered[max(y0, 0):y1, max(x0, 0):x1] = True
    assert covered.any()
    assert np.percentile(diff[~covered], 99) < 60  # elsewhere the frame is the input (up to coding noise)


@needs_vtest
def test_glb_and_bvh_parse(first_run):
    import pygltflib

    out, outcome = first_run
    for track_id, result in outcome.results.items():
        gltf = pygltflib.GLTF2().load(str(out / "walkers" / f"person_{track_id}.glb"))
        assert len(gltf.skins) == 1 and len(gltf.animations) == 1 and len(gltf.meshes) == 1
        text = (out / "walkers" / f"person_{track_id}.bvh").read_text()
        header, motion = text.split("MOTION")
        assert header.strip().startswith("HIERARCHY") and header.count("JOINT") == 23
        lines = motion.strip().splitlines()
        assert lines[0].split() == ["Frames:", str(int(result.frame_ids[-1] - result.frame_ids[0] + 1))]
        assert float(lines[1].split()[-1]) == pytest.approx(1 / CLIP_FPS)
        assert len(lines) - 2 == int(lines[0].split()[1])
        channels = sum(int(line.split()[1]) for line in header.splitlines() if line.strip().startswith("CHANNELS"))
        assert all(len(line.split()) == channels for line in lines[2:])


@needs_vtest
def test_rerun_reuses_the_cache_and_smooths(first_run, clip, tiny_smpl_dir):
    out, outcome = first_run
    assert outcome.cached == []
    again = run(clip, out, data_dir=str(tiny_smpl_dir), opts=FAST_FIT, progress=False, smooth=True,
                sideview=True, save_obj=True)
    assert set(again.cached) == {"track", "crops", "reconstruct"}
    for stage in again.cached:
        assert again.timings[stage] < outcome.timings[stage]
    assert set(again.results) == set(outcome.results)
    side = open_video(again.files["overlay"]).info
    assert (side.width, side.height) == (2 * 768, 576)

    def accel(results):
        return np.mean([np.abs(r.joints3d[2:] - 2 * r.joints3d[1:-1] + r.joints3d[:-2]).mean()
                        for r in results.values() if len(r.frame_ids) > 4])

    assert accel(again.results) < 0.7 * accel(outcome.results)
    track_id, result = next(iter(again.results.items()))
    objs = sorted((out / "walkers" / "meshes" / f"person_{track_id}").glob("*.obj"))
    assert len(objs) == len(result.frame_ids)


@needs_vtest
def test_summary_names_people_method_stages_and_files(first_run):
    _, outcome = first_run
    text = outcome.summary()
    for expected in ("people:", "frames per person:", "method: fitting", "body model: smpl", "track",
                     "reconstruct", "vibe_output.pkl", "walkers_vibe_result.mp4"):
        assert expected in text


@needs_vtest
def test_short_tracks_are_skipped_counted_and_named(clip, tiny_smpl_dir, tmp_path):
    too_long = CLIP_FRAMES + 1
    with pytest.raises(InputError, match=f"all skipped .*shorter than {too_long} frames"):
        run(clip, tmp_path, data_dir=str(tiny_smpl_dir), progress=False, opts=["DEMO.MIN_TRACK_FRAMES", str(too_long)])
    assert not [p for p in tmp_path.rglob("*") if p.suffix in RESULT_SUFFIXES and "cache" not in p.parts]


@needs_vtest
def test_no_cache_reads_nothing(first_run, clip, tiny_smpl_dir, caplog):
    out, _ = first_run
    caplog.set_level(logging.INFO, logger="vibe.pipeline")
    with pytest.raises(InputError):  # stops after tracking and cropping: no fit needed to see it
        run(clip, out, data_dir=str(tiny_smpl_dir), progress=False, use_cache=False,
            opts=["DEMO.MIN_TRACK_FRAMES", str(CLIP_FRAMES + 1)])
    assert "reusing" not in caplog.text and "track(s) found" in caplog.text
