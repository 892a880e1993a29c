"""Detectors on a real vtest frame (hand-checked people), config choice and asset errors."""
from pathlib import Path

import numpy as np
import pytest

from tracker.detectors import build_detector, tile_origins
from tracker.video import open_video
from vibe.config import get_cfg_defaults
from vibe.errors import AssetError, InputError

VTEST = Path(__file__).resolve().parents[2] / "shared" / "media" / "vtest.avi"
# Frame 0 of vtest.avi, people marked by hand (xyxy px, head to feet): three pedestrians on the path.
VTEST_FRAME0_PEOPLE = np.array([[250, 218, 286, 308], [498, 156, 532, 234], [637, 239, 686, 322]], float)
CENTRE_TOLERANCE = 0.5  # detector boxes are square (BlazePose) or padded (HOG): match centres, within half a height


def _frame0():
    for _, frame in open_video(VTEST).frames():
        return frame


def test_tile_origins_cover_with_overlap():
    for length, tile in [(768, 224), (640, 224), (480, 224), (200, 224), (224, 224)]:
        starts = tile_origins(length, tile, 0.25)
        assert starts[0] == 0 and starts[-1] + min(tile, length) == max(length, min(tile, length))
        assert all(b - a <= 0.75 * tile for a, b in zip(starts, starts[1:]))


@pytest.mark.skipif(not VTEST.is_file(), reason="vtest.avi not available")
@pytest.mark.parametrize("name, min_found", [("blazepose", 3), ("hog", 2)])
def test_detector_finds_vtest_people(name, min_found):
    cfg = get_cfg_defaults()
    cfg.TRACKER.DETECTOR = name
    boxes, scores = build_detector(cfg).detect([_frame0()])[0]
    assert boxes.shape[1] == 4 and len(scores) == len(boxes)
    hand_centres = (VTEST_FRAME0_PEOPLE[:, :2] + VTEST_FRAME0_PEOPLE[:, 2:]) / 2
    heights = VTEST_FRAME0_PEOPLE[:, 3] - VTEST_FRAME0_PEOPLE[:, 1]
    distances = np.linalg.norm(hand_centres[:, None] - (boxes[None, :, :2] + boxes[None, :, 2:]) / 2, axis=2)
    found = (distances <= CENTRE_TOLERANCE * heights[:, None]).any(axis=1).sum()
    assert found >= min_found


def test_unknown_detector_and_missing_yolo(tmp_path):
    cfg = get_cfg_defaults()
    cfg.TRACKER.DETECTOR = "rcnn"
    with pytest.raises(InputError, match="unknown detector"):
        build_detector(cfg)
    cfg.TRACKER.DETECTOR = "yolo"
    with pytest.raises(AssetError, match="yolov3"):
        build_detector(cfg, tmp_path)


def test_contained_boxes_are_dropped_only_under_a_better_box():
    from tracker.detectors import contained_in_better

    boxes = np.array([[0, 0, 100, 200], [10, 10, 60, 90], [150, 0, 250, 200], [90, 0, 160, 100]], float)
    scores = np.array([0.9, 0.8, 0.7, 0.95])
    # box 1 lies wholly in box 0 (better): dropped; box 3 is 10/70 inside box 0 and best: kept;
    # box 2 overlaps box 3 by 10x100 of its 100x200: kept.
    assert contained_in_better(boxes, scores, 0.7).tolist() == [False, True, False, False]
    # a part that scores higher than the whole stays (the whole is then the one inside nothing)
    assert contained_in_better(boxes[:2], np.array([0.5, 0.9]), 0.7).tolist() == [False, False]
    # ... unless the whole was found at a coarser scale (more source pixels per detector input)
    assert contained_in_better(boxes[:2], np.array([0.5, 0.9]), 0.7, np.array([480, 224])).tolist() == [False, True]
