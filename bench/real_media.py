"""The shared real media with their annotations, for the benchmarks: COCO-format photos
(../shared/media/real/coco and crowdpose: boxes and keypoints) and hand-marked vtest.avi frames.

People whose annotation has no labelled keypoint (COCO `num_keypoints` 0: tiny or hidden figures)
are "ignore" regions: a detection on one is neither a hit nor a false box, and nobody asks for it.
vtest's far pedestrians under MIN_MARKED_HEIGHT were not marked; boxes that small matching nobody
are ignored the same way.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
MEDIA = REPO.parent / "shared" / "media"
VTEST = MEDIA / "vtest.avi"
COCO_SETS = {"coco": "coco17", "crowdpose": "crowdpose14"}  # folder -> keypoint convention

# Pedestrians of ~70-100 px marked by hand on vtest.avi (xyxy px); far people under 60 px left out.
HAND_MARKED = {
    0: [[250, 218, 286, 308], [498, 156, 532, 234], [637, 239, 686, 322]],
    100: [[348, 200, 382, 274], [376, 179, 408, 256], [426, 183, 450, 257], [494, 150, 518, 220],
          [516, 152, 542, 220], [590, 152, 618, 234]],
    200: [[84, 152, 110, 215], [219, 191, 250, 267], [487, 145, 518, 222], [616, 264, 650, 368], [704, 253, 743, 353]],
}
MIN_MARKED_HEIGHT = 60


@dataclass
class AnnotatedImage:
    """One annotated picture: people as xyxy `boxes` (P, 4), `required` (P,) bool (False: an ignore
    region), `keypoints` (P, J, 3) x, y, visibility in `convention` (None for vtest), and boxes
    smaller than `min_height` px that match nobody are ignored."""

    name: str
    frame: np.ndarray
    boxes: np.ndarray
    required: np.ndarray
    keypoints: np.ndarray | None
    convention: str | None
    min_height: float = 0.0


def coco_images() -> list[AnnotatedImage]:
    """The COCO and CrowdPose test photos with their annotations (empty if the media are absent)."""
    import cv2

    images = []
    for folder, convention in COCO_SETS.items():
        annotation_file = MEDIA / "real" / folder / f"test_{folder}.json"
        if not annotation_file.is_file():
            continue
        data = json.loads(annotation_file.read_text())
        for info in data["images"]:
            people = [a for a in data["annotations"] if a["image_id"] == info["id"]]
            boxes = np.array([[x, y, x + w, y + h] for x, y, w, h in (a["bbox"] for a in people)], float)
            keypoints = np.array([np.reshape(a["keypoints"], (-1, 3)) for a in people], float)
            frame = cv2.cvtColor(cv2.imread(str(annotation_file.parent / info["file_name"])), cv2.COLOR_BGR2RGB)
            images.append(AnnotatedImage(f"{folder}/{info['file_name']}", frame, boxes,
                                         np.array([a["num_keypoints"] > 0 for a in people]), keypoints, convention))
    return images


def vtest_images() -> list[AnnotatedImage]:
    """vtest.avi's hand-marked frames (empty if the clip is absent)."""
    import sys

    sys.path.insert(0, str(REPO))
    from tracker.video import open_video

    if not VTEST.is_file():
        return []
    frames = {i: f for i, f in open_video(VTEST).frames() if i in HAND_MARKED and i <= max(HAND_MARKED)}
    return [AnnotatedImage(f"vtest/{frame_id}", frames[frame_id], np.asarray(marked, float),
                           np.ones(len(marked), bool), None, None, MIN_MARKED_HEIGHT)
            for frame_id, marked in HAND_MARKED.items()]
