"""One person's keypoints belong to one track.

Two people side by side (or one passing behind another) give overlapping square crops; the
landmark model finds one person per crop, the more visible one, so both crops can return the same
person. Fitted as they are, that person gets two bodies and the other none. Per frame, when two
tracks' keypoints lie on top of each other, the person is given to the track whose box is centred
on them, and the other track counts as having no person on that frame (its person score is set
to 0, so it is fitted from its other frames, or skipped when too few remain).
"""
from __future__ import annotations

import logging
from itertools import combinations

import numpy as np

from tracker.crops import boxes_by_frame
from tracker.types import Track

log = logging.getLogger(__name__)

MIN_SHARED_JOINTS = 4  # confident in both crops; fewer say nothing about who is who


def same_person(keypoints_a: np.ndarray, keypoints_b: np.ndarray, side: float, separation: float,
                min_confidence: float) -> bool:
    """Whether two keypoint sets (J, 3) (x, y px, confidence) are one person: their median
    distance over joints confident in both is under `separation` x `side` px."""
    both = (keypoints_a[:, 2] >= min_confidence) & (keypoints_b[:, 2] >= min_confidence)
    if both.sum() < MIN_SHARED_JOINTS:
        return False
    distance = np.median(np.linalg.norm(keypoints_a[both, :2] - keypoints_b[both, :2], axis=1))
    return bool(distance < separation * side)


def off_centre(keypoints: np.ndarray, bbox: np.ndarray, min_confidence: float) -> float:
    """Distance from the box centre (bbox (4,) cx, cy, w, h) to the confident keypoints' mean, in box sides."""
    confident = keypoints[:, 2] >= min_confidence
    centre = keypoints[confident, :2].mean(axis=0)
    return float(np.linalg.norm(centre - bbox[:2]) / max(float(bbox[2]), 1.0))


def release_shared_people(tracks: list[Track], keypoints: dict[int, np.ndarray], person_scores: dict[int, np.ndarray],
                          separation: float, min_confidence: float) -> dict[int, np.ndarray]:
    """Person scores (per track id, (n,)) with 0 where a track's crop showed a person that another
    track's crop, centred closer on them, also showed. `keypoints` per track id: (n, J, 3) image
    px + confidence, rows as the track's frames. Returns new arrays; the inputs are not changed."""
    scores = {track_id: np.array(values, np.float32) for track_id, values in person_scores.items()}
    released = 0
    for entries in boxes_by_frame(tracks).values():
        for (id_a, row_a, box_a), (id_b, row_b, box_b) in combinations(entries, 2):
            points_a, points_b = keypoints[id_a][row_a], keypoints[id_b][row_b]
            if scores[id_a][row_a] == 0 or scores[id_b][row_b] == 0:
                continue
            if not same_person(points_a, points_b, min(box_a[2], box_b[2]), separation, min_confidence):
                continue
            a_farther = off_centre(points_a, box_a, min_confidence) > off_centre(points_b, box_b, min_confidence)
            loser, row = (id_a, row_a) if a_farther else (id_b, row_b)
            scores[loser][row] = 0.0
            released += 1
    if released:
        log.info("%d crop(s) showed a person another track holds; they count as empty for their track", released)
    return scores
