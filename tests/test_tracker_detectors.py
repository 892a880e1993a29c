"""Detectors on a real vtest frame (hand-checked people), config choice and asset errors."""
from pathlib import Path

import numpy as np
import pytest

from tracker.detectors import build_detector, tile_origins
from tracker.video import open_video
from vibe.config import get_cfg_defaults
from vibe.errors import AssetError, InputError
from media import VTEST

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


def test_parts_and_groups_are_dropped_across_scales():
    from tracker.detectors import whole_people

    person = [0, 0, 100, 200]
    torso = [10, 10, 90, 110]  # a part of `person`, found on a small tile with a higher score
    # a coarse box around a part: the coarse one is the person, the part goes
    keep = whole_people(np.array([torso, person], float), np.array([0.9, 0.5]), np.array([224, 480]), 0.7)
    assert keep.tolist() == [False, True]
    # a coarse box around two fine people is a group: the people stay, the group goes
    left, right, group = [0, 0, 50, 150], [60, 0, 110, 150], [0, 0, 110, 160]
    keep = whole_people(np.array([left, right, group], float), np.array([0.8, 0.8, 0.9]), np.array([224, 224, 480]), 0.7)
    assert keep.tolist() == [True, True, False]
    # ... but a part inside a fine whole, both inside the coarse box, is one person: the coarse box stays
    whole_fine = [-5, -5, 105, 190]
    keep = whole_people(np.array([torso, whole_fine, person], float), np.array([0.9, 0.6, 0.8]),
                        np.array([224, 224, 480]), 0.7)
    assert keep.tolist() == [False, False, True]
    # at one scale the lower-scoring of two nested boxes goes, whichever is larger
    keep = whole_people(np.array([torso, person], float), np.array([0.9, 0.5]), np.array([224, 224]), 0.7)
    assert keep.tolist() == [True, True]  # the person is not inside the torso, the torso is inside a worse box
    keep = whole_people(np.array([torso, person], float), np.array([0.4, 0.5]), np.array([224, 224]), 0.7)
    assert keep.tolist() == [False, True]
