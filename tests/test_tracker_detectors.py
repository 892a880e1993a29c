"""Detectors on a real vtest frame (hand-checked people) and annotated real photos, the converted
CenterNet against its source graph's numbers, config choice and asset errors."""
import json
from pathlib import Path

import numpy as np
import pytest

from tracker.detectors import build_detector, tile_origins
from tracker.video import open_video
from vibe.config import get_cfg_defaults
from vibe.errors import AssetError, InputError
from media import MEDIA_DIR, VTEST

REFERENCE = Path(__file__).parent / "data" / "centernet_tfjs_reference.npz"
COCO_DIR = MEDIA_DIR / "real" / "coco"

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
@pytest.mark.parametrize("name, min_found", [("centernet", 3), ("blazepose", 3), ("hog", 2)])
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


def test_converted_centernet_matches_the_tfjs_source_graph():
    """tools/convert_detector.py stored TF.js's own detections for two letterboxed photos."""
    import onnxruntime

    from tracker import centernet
    from tracker.detectors import CENTERNET_MODEL

    reference = np.load(REFERENCE)
    session = onnxruntime.InferenceSession(str(CENTERNET_MODEL), providers=["CPUExecutionProvider"])
    for canvas, expected in zip(reference["canvases"], reference["tfjs_detections"]):
        rows = session.run([centernet.DETECTIONS_OUTPUT], {centernet.INPUT_NAME: centernet.model_input(canvas)})[0][0]
        assert (expected[:, centernet.SCORE_COLUMN] > 0.3).sum() >= 3  # real people in the reference
        np.testing.assert_allclose(rows, expected, atol=0.01)


def test_letterbox_and_decode_map_boxes_back_to_the_frame():
    from tracker import centernet

    frame = np.zeros((300, 1000, 3), np.uint8)
    frame[100:250, 600:700] = 255
    canvas, scale = centernet.letterbox(frame)
    assert scale == pytest.approx(0.512) and canvas.shape == (512, 512, 3)
    ys, xs = np.nonzero(canvas[..., 0] > 127)
    assert (xs.min(), ys.min()) == (round(600 * scale), round(100 * scale))  # top-left placement
    assert canvas[160:].max() == 0  # below the scaled frame: padding
    rows = np.array([[600 * scale, 100 * scale, 700 * scale, 250 * scale, 0.9, 0],
                     [0, 0, 10, 10, 0.95, 2],  # a car
                     [0, 0, 600, 600, 0.2, 0]], np.float32)  # below the threshold
    boxes, scores = centernet.decode_people(rows, scale, frame.shape, 0.3)
    np.testing.assert_allclose(boxes, [[600, 100, 700, 250]], atol=1e-3)
    assert scores.tolist() == pytest.approx([0.9])
    boxes, _ = centernet.decode_people(np.array([[-5, -5, 600, 600, 0.9, 0]], np.float32), scale, frame.shape, 0.3)
    assert boxes.tolist() == [[0, 0, 1000, 300]]  # clipped to the frame


@pytest.mark.skipif(not (COCO_DIR / "test_coco.json").is_file(), reason="annotated real photos not available")
def test_centernet_finds_the_annotated_people_of_a_real_photo():
    """000000196141.jpg: a batter, a catcher, an umpire-side man and a far fielder (keypoints
    annotated), plus a tiny unlabelled figure; every labelled person is found once, nothing else
    bigger than the tiny figure is boxed."""
    import cv2

    from tracker.nms import pairwise_iou

    annotations = json.loads((COCO_DIR / "test_coco.json").read_text())
    image_id = next(i["id"] for i in annotations["images"] if i["file_name"] == "000000196141.jpg")
    people = [a for a in annotations["annotations"] if a["image_id"] == image_id]
    labelled = np.array([[x, y, x + w, y + h] for a in people if a["num_keypoints"] > 0 for x, y, w, h in [a["bbox"]]])
    frame = cv2.cvtColor(cv2.imread(str(COCO_DIR / "000000196141.jpg")), cv2.COLOR_BGR2RGB)
    boxes, _ = build_detector(get_cfg_defaults()).detect([frame])[0]
    iou = pairwise_iou(labelled, boxes)
    assert ((iou >= 0.5).sum(axis=1) == 1).all()  # each labelled person exactly once
    unmatched = boxes[(iou < 0.5).all(axis=0)]
    assert (unmatched[:, 3] - unmatched[:, 1] <= 40).all()  # at most the tiny unlabelled figure
