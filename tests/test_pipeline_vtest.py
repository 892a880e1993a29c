"""The whole vtest.avi (795 frames, 10 fps, a stream of pedestrians) through the demo pipeline:
the default detector, tracker, keypoints and the open body model, fitting with shortened stages
(the fit's quality is tests/test_fitting_*'s concern; here: the run at full length)."""
import joblib
import numpy as np
import pytest

from test_pipeline import FAST_FIT, VTEST
from tracker.video import open_video
from vibe.pipeline import run

VTEST_FRAMES = 795
CLOTH_CENTRE = np.array([105.0, 512.0])  # a crumpled cloth on the lawn the person detector likes
STATIC_PX = 20.0


@pytest.mark.slow
@pytest.mark.skipif(not VTEST.is_file(), reason="vtest.avi not available")
def test_whole_vtest(tmp_path):
    outcome = run(VTEST, tmp_path, data_dir=str(tmp_path / "no_data"), body_model="open", opts=FAST_FIT,
                  progress=False)
    assert outcome.method == "fitting" and outcome.body_model.startswith("open")
    assert outcome.video.n_frames == VTEST_FRAMES
    assert len(outcome.results) >= 10  # dozens of pedestrians cross the scene
    assert sum(outcome.skipped.values()) + len(outcome.results) == outcome.tracks_found
    payload = joblib.load(outcome.files["results"])
    assert set(payload) == set(outcome.results)
    for track_id, result in outcome.results.items():
        assert len(np.unique(result.frame_ids)) == len(result.frame_ids)
        assert np.isfinite(result.verts).all() and np.isfinite(result.transl).all()
        assert (result.transl[:, 2] > 0).all()  # everyone in front of the camera
        centres = result.bboxes[:, :2]
        assert not np.all(np.linalg.norm(centres - CLOTH_CENTRE, axis=1) < STATIC_PX), track_id
    video = open_video(outcome.files["overlay"])
    assert video.info.fps == pytest.approx(10.0)
    assert sum(1 for _ in video.frames()) == VTEST_FRAMES
