"""Two tracks whose crops show one person: the track centred on them keeps them."""
import numpy as np

from tracker.types import Track
from vibe.keypoints.ownership import release_shared_people

SEPARATION, MIN_CONFIDENCE = 0.1, 0.5


def _track(track_id: int, centres_x, side: float = 100.0) -> Track:
    n = len(centres_x)
    boxes = np.array([[x, 200.0, side, side] for x in centres_x], np.float32)
    return Track(track_id, np.arange(n), boxes, np.ones(n, np.float32), np.zeros(n, bool))


def _person(centre_x: float, n: int, jitter: float = 0.0) -> np.ndarray:
    """(n, 6, 3) keypoints of a standing person centred at centre_x, all confident."""
    offsets = np.array([[0, -40], [-10, -20], [10, -20], [-8, 20], [8, 20], [0, 45]], float)
    points = offsets + [centre_x + jitter, 200.0]
    return np.repeat(np.concatenate([points, np.ones((6, 1))], axis=1)[None], n, axis=0)


def test_the_track_centred_on_the_person_keeps_them():
    """Frames 0-2: track 1's box (centre 260) half covers the person of track 0 (centre 200) and
    its crop returns them; frames 3-4: track 1 sees its own person at 300."""
    tracks = [_track(0, [200] * 5), _track(1, [260, 260, 260, 300, 300])]
    keypoints = {0: _person(200, 5), 1: np.concatenate([_person(200, 3, jitter=3.0), _person(300, 2)])}
    scores = {0: np.full(5, 0.9), 1: np.full(5, 0.9)}
    released = release_shared_people(tracks, keypoints, scores, SEPARATION, MIN_CONFIDENCE)
    np.testing.assert_array_equal(released[0], np.full(5, 0.9, np.float32))
    np.testing.assert_array_equal(released[1], np.array([0, 0, 0, 0.9, 0.9], np.float32))
    assert scores[1].tolist() == [0.9] * 5  # inputs unchanged


def test_people_side_by_side_keep_their_own_keypoints():
    tracks = [_track(0, [200] * 3), _track(1, [250] * 3)]  # boxes overlap by half
    keypoints = {0: _person(200, 3), 1: _person(250, 3)}  # 50 px apart: half a box side
    scores = {0: np.full(3, 0.9), 1: np.full(3, 0.9)}
    released = release_shared_people(tracks, keypoints, scores, SEPARATION, MIN_CONFIDENCE)
    assert all((released[t] == np.float32(0.9)).all() for t in (0, 1))


def test_unconfident_joints_decide_nothing():
    tracks = [_track(0, [200]), _track(1, [230])]
    keypoints = {0: _person(200, 1), 1: _person(200, 1)}
    keypoints[1][..., 2] = 0.2  # below MIN_CONFIDENCE
    released = release_shared_people(tracks, keypoints, {0: np.ones(1), 1: np.ones(1)}, SEPARATION, MIN_CONFIDENCE)
    assert released[1][0] == 1.0
