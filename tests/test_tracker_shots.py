"""One track per person on short and cut inputs: a one-frame input keeps its people, shots are not
linked, doubled detections of one person become one track, a 4K frame gives no duplicates."""
import json

import cv2
import numpy as np
import pytest

from media import MEDIA_DIR, VTEST
from tracker.cuts import ShotCuts
from tracker.detectors import _threshold_nms, build_detector
from tracker.nms import pairwise_iou
from tracker.tracking import MultiTracker, cxcywh_to_xyxy, track_detections, track_video
from tracker.types import Detections
from tracker.video import open_video
from vibe.config import get_cfg_defaults

FPS = 25.0
COCO_DIR = MEDIA_DIR / "real" / "coco"
needs_photos = pytest.mark.skipif(not (COCO_DIR / "test_coco.json").is_file(), reason="annotated real photos not available")


def _detections(*boxes_xyxy) -> Detections:
    boxes = np.asarray(boxes_xyxy, np.float32).reshape(-1, 4)
    return Detections(boxes, np.full(len(boxes), 0.9, np.float32))


def _photo(name: str) -> np.ndarray:
    return cv2.cvtColor(cv2.imread(str(COCO_DIR / name)), cv2.COLOR_BGR2RGB)


def _labelled_people(name: str) -> np.ndarray:
    """xyxy boxes (K, 4) of the people with annotated keypoints in a COCO test photo."""
    annotations = json.loads((COCO_DIR / "test_coco.json").read_text())
    image_id = next(i["id"] for i in annotations["images"] if i["file_name"] == name)
    return np.array([[x, y, x + w, y + h] for a in annotations["annotations"]
                     if a["image_id"] == image_id and a["num_keypoints"] > 0 for x, y, w, h in [a["bbox"]]])


def test_one_frame_input_keeps_its_people():
    """MIN_DETECTIONS 2 would drop every person of a photo: a shot searched once asks one detection."""
    cfg = get_cfg_defaults()
    assert cfg.TRACKER.MIN_DETECTIONS == 2
    tracks = track_detections([(0, _detections([10, 10, 60, 150], [200, 20, 260, 170]))], cfg, FPS)
    assert [(len(t), t.frame_ids[0]) for t in tracks] == [(1, 0), (1, 0)]
    # ... while in a longer shot a box seen once is still noise
    per_frame = [(0, _detections([10, 10, 60, 150]))] + [(f, _detections([200, 20, 260, 170])) for f in range(1, 5)]
    assert [len(t) for t in track_detections(per_frame, cfg, FPS)] == [4]


def test_tracks_do_not_cross_a_shot_cut():
    tracker = MultiTracker(get_cfg_defaults(), FPS)
    same_place = _detections([100, 100, 160, 260])
    tracker.step(0, same_place)
    tracker.cut()
    tracker.step(1, same_place)
    tracker.step(2, same_place)
    assert [t.frame_ids.tolist() for t in tracker.finish()] == [[0], [1, 2]]


def test_doubled_detections_of_one_person_make_one_track():
    """Two boxes on one person in every frame (IoU ~0.6, as a detector's neighbouring peaks give)
    go through the detectors' NMS and make one track, not two."""
    cfg = get_cfg_defaults()
    per_frame = []
    for f in range(20):
        person = np.array([100 + 5 * f, 100, 180 + 5 * f, 300], np.float32)
        doubled = _detections(person, person + [12, 15, 12, 15])
        assert pairwise_iou(doubled.boxes[:1], doubled.boxes[1:])[0, 0] > cfg.TRACKER.NMS_IOU
        per_frame.append((f, _threshold_nms(doubled.boxes, doubled.scores, cfg.TRACKER.CENTERNET_THRESHOLD,
                                            cfg.TRACKER.NMS_IOU)))
    assert [len(t) for t in track_detections(per_frame, cfg, FPS)] == [20]


@pytest.mark.skipif(not VTEST.is_file(), reason="vtest.avi not available")
@needs_photos
def test_shot_cuts_on_real_frames():
    cfg = get_cfg_defaults().TRACKER
    cuts = ShotCuts(cfg.CUT_MIN_CORRELATION, cfg.CUT_HUE_BINS, cfg.CUT_SATURATION_BINS)
    frames = [frame for frame_id, frame in open_video(VTEST).frames() if frame_id < 30][::3]
    assert not any(cuts.is_cut(frame) for frame in frames)  # a walking crowd, 0.3 s apart
    size = frames[0].shape[1::-1]
    assert cuts.is_cut(cv2.resize(_photo("000000196141.jpg"), size))  # another picture
    assert cuts.is_cut(_photo("000000196141.jpg"))  # another size


@needs_photos
def test_photo_folder_links_people_only_within_a_shot(tmp_path):
    """Three copies of a photo are one shot (each person one 3-frame track); an unrelated photo
    after them starts a new shot (nobody continues into it)."""
    size = (640, 428)
    baseball = cv2.resize(_photo("000000196141.jpg"), size)
    skiers = cv2.resize(_photo("000000197388.jpg"), size)
    for index, image in enumerate([baseball, baseball, baseball, skiers]):
        cv2.imwrite(str(tmp_path / f"{index}.png"), cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
    cfg = get_cfg_defaults()
    cfg.TRACKER.DETECT_STRIDE = 1
    tracks = track_video(open_video(tmp_path), build_detector(cfg), cfg).tracks
    spans = sorted((t.frame_ids[0], t.frame_ids[-1]) for t in tracks)
    assert all(span in {(0, 2), (3, 3)} for span in spans)
    assert sum(span == (0, 2) for span in spans) >= len(_labelled_people("000000196141.jpg"))


@needs_photos
def test_no_duplicate_people_on_a_4k_frame():
    """The photo scaled up and centred on a 3840x2160 canvas: each labelled person boxed once."""
    photo = _photo("000000196141.jpg")
    scale = 2160 / photo.shape[0]
    width = round(photo.shape[1] * scale)
    offset = (3840 - width) // 2
    frame = np.zeros((2160, 3840, 3), np.uint8)
    frame[:, offset:offset + width] = cv2.resize(photo, (width, 2160), interpolation=cv2.INTER_CUBIC)
    people = _labelled_people("000000196141.jpg") * scale + [offset, 0, offset, 0]
    boxes, _ = build_detector(get_cfg_defaults()).detect([frame])[0]
    iou = pairwise_iou(people, boxes)
    assert ((iou >= 0.5).sum(axis=1) == 1).all()
    assert (iou >= 0.5).any(axis=0).sum() == len(people)  # no second box on anyone


def test_track_boxes_stay_square_and_cover_a_crouch():
    """Crouching shortens the detector box; the track's square side follows the longer side."""
    per_frame = [(f, _detections(cxcywh_to_xyxy(np.array([300, 300 + (40 if 10 <= f < 20 else 0),
                                                           120, 200 - (80 if 10 <= f < 20 else 0)]))[0]))
                 for f in range(30)]
    (track,) = track_detections(per_frame, get_cfg_defaults(), FPS)
    assert len(track) == 30 and np.all(track.bboxes[:, 2] == track.bboxes[:, 3])


def test_last_frame_is_searched_so_tracks_reach_the_end(tmp_path):
    """Stride 3 over 5 frames searches frames 0 and 3, and the last one (4): the track ends at 4."""
    from test_tracker_synthetic import SaturatedBlobDetector

    for index in range(5):
        frame = np.full((240, 320, 3), 120, np.uint8)
        cv2.rectangle(frame, (40 + 10 * index, 60), (100 + 10 * index, 180), (0, 0, 230), -1)
        cv2.imwrite(str(tmp_path / f"{index:02d}.png"), frame)
    cfg = get_cfg_defaults()
    assert cfg.TRACKER.DETECT_STRIDE == 3
    result = track_video(open_video(tmp_path), SaturatedBlobDetector(), cfg)
    assert result.frames_detected == 3
    assert [(t.frame_ids[0], t.frame_ids[-1]) for t in result.tracks] == [(0, 4)]


def test_a_narrow_walking_person_keeps_their_first_detection():
    """vtest's pedestrians: 27x90 px boxes moving 8 px per frame, searched every third frame. Their
    boxes overlap by IoU ~0.1 from one search to the next (below TRACKER.MIN_IOU, and a
    one-detection track has no velocity to gate on); their squares overlap by ~0.6, so the first
    detection is not dropped as noise and the track starts at frame 0."""
    per_frame = [(f, _detections([250 + 8 * f, 220, 277 + 8 * f, 310]) if f % 3 == 0 else None) for f in range(30)]
    (track,) = track_detections(per_frame, get_cfg_defaults(), 10.0)
    assert (track.frame_ids[0], track.frame_ids[-1]) == (0, 27)


def test_a_track_never_seen_clearly_is_an_object():
    """A static box scoring 0.35 on every search (vtest's bin) is dropped; a person scoring 0.35 on
    most searches and 0.7 once is kept; in a photo (one search) 0.35 alone is enough."""
    cfg = get_cfg_defaults()
    assert cfg.TRACKER.CENTERNET_THRESHOLD < 0.35 < cfg.TRACKER.MIN_PEAK_SCORE < 0.7
    bin_box, person = [170, 250, 185, 275], [300, 100, 340, 220]
    per_frame = []
    for f in range(10):
        boxes = np.array([bin_box, person], np.float32)
        per_frame.append((f, Detections(boxes, np.array([0.35, 0.7 if f == 5 else 0.35], np.float32))))
    tracks = track_detections(per_frame, cfg, FPS)
    assert [t.bboxes[0, 0].round() for t in tracks] == [320]
    photo = track_detections([(0, Detections(np.array([bin_box], np.float32), np.array([0.35], np.float32)))], cfg, FPS)
    assert len(photo) == 1
