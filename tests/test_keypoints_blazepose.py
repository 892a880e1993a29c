"""BlazePose landmarks through LiteRT on person crops of the sample clip.

The people in ../shared/media/vtest.avi are about 100 px tall. The boxes below were read once off
3x-magnified frames (head top to feet, square side = that height, centred on the body) and are
fixed here so the tests need no person detector.
"""
from pathlib import Path

import cv2
import numpy as np
import pytest

from vibe.config import get_cfg_defaults
from vibe.errors import AssetError, InputError
from vibe.keypoints.blazepose import BlazePoseDetector, BlazePoseKeypoints, refine_from_heatmap
from vibe.keypoints.litert import bundled_mediapipe_model, load_interpreter
from tracker.crops import cut_crops
from media import VTEST as VIDEO

CFG = get_cfg_defaults()
SIZE = CFG.CROP.KEYPOINT_SIZE
SCALE = CFG.KEYPOINTS.BBOX_SCALE

# frame id -> square person boxes (cx, cy, w, h) in frame pixels.
FACING_CAMERA = {200: [(633, 316, 105, 105), (723, 303, 100, 100)]}  # both walk towards the camera
OTHER_PEOPLE = {0: [(268, 263, 88, 88), (661, 280, 82, 82)], 300: [(329, 253, 86, 86)]}  # back / side views
BACKGROUND = {0: [(150, 470, 90, 90)]}  # empty lawn, nobody near
L_SHOULDER, R_SHOULDER, L_HIP, R_HIP = 11, 12, 23, 24  # BlazePose landmark indices (mediapipe docs)

needs_video = pytest.mark.skipif(not VIDEO.is_file(), reason=f"{VIDEO} missing")


def read_frame(frame_id: int) -> np.ndarray:
    cap = cv2.VideoCapture(str(VIDEO))
    cap.set(cv2.CAP_PROP_POS_FRAMES, frame_id)
    ok, bgr = cap.read()
    cap.release()
    assert ok, f"cannot read frame {frame_id} of {VIDEO}"
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def crops_of(boxes_by_frame: dict, scale: float = SCALE) -> tuple[np.ndarray, np.ndarray]:
    """All crops (N, S, S, 3) and their boxes (N, 4) over the listed frames."""
    crops, boxes = [], []
    for frame_id, boxes_here in boxes_by_frame.items():
        boxes_here = np.array(boxes_here, dtype=np.float64)
        crops.append(cut_crops(read_frame(frame_id), boxes_here, scale, SIZE).images)
        boxes.append(boxes_here)
    return np.concatenate(crops), np.concatenate(boxes)


@pytest.fixture(scope="module")
def detector():
    return BlazePoseDetector(CFG)


# ---------------------------------------------------------------- assets and input checks

def test_bundled_model_is_found_and_missing_one_is_asset_error():
    assert bundled_mediapipe_model("pose_landmark_full.tflite").stat().st_size > 1_000_000
    with pytest.raises(AssetError, match="no_such_model.tflite"):
        bundled_mediapipe_model("no_such_model.tflite")
    with pytest.raises(AssetError, match="not found"):
        load_interpreter(Path("/nonexistent/model.tflite"), 1)


@pytest.mark.parametrize("bad", [
    np.zeros((SIZE, SIZE, 3), np.uint8),  # no batch axis
    np.zeros((1, 224, 224, 3), np.uint8),  # the network's crop size, not the detector's
    np.zeros((1, SIZE, SIZE, 4), np.uint8),  # RGBA
    np.zeros((1, SIZE, SIZE, 3), np.float32),  # already normalised
    np.zeros((0, SIZE, SIZE, 3), np.uint8),  # empty batch
])
def test_wrong_crops_are_input_errors(detector, bad):
    with pytest.raises(InputError, match="uint8 RGB"):
        detector(bad)


# ---------------------------------------------------------------- decoding

def refine_one_landmark(xy, heatmap, kernel=7, min_confidence=0.5, input_size=SIZE):
    """mediapipe's refinement written out for one landmark: (2,) model px, (H, H) logits -> (2,)."""
    side = heatmap.shape[0]
    col, row = int(xy[0] * side / input_size), int(xy[1] * side / input_size)
    if not (0 <= col < side and 0 <= row < side):
        return xy
    half = (kernel - 1) // 2
    rows, cols = np.mgrid[max(0, row - half):min(side, row + half + 1), max(0, col - half):min(side, col + half + 1)]
    weights = 1.0 / (1.0 + np.exp(-heatmap[rows, cols]))
    if weights.max() < min_confidence:
        return xy
    return np.array([(weights * cols).sum(), (weights * rows).sum()]) / weights.sum() * input_size / side


def test_heatmap_refinement_matches_per_landmark_loop():
    rng = np.random.default_rng(0)
    xy = rng.uniform(-30, SIZE + 30, (2, 39, 2))  # some off the map: must stay put
    heatmap = rng.normal(0.0, 2.0, (2, 64, 64, 39))
    expected = np.stack([[refine_one_landmark(xy[b, j], heatmap[b, ..., j]) for j in range(39)] for b in range(2)])
    np.testing.assert_allclose(refine_from_heatmap(xy, heatmap, SIZE), expected, atol=1e-9)
    assert np.mean(np.any(expected != xy, axis=-1)) > 0.5  # the comparison exercised refinement


def test_heatmap_refinement_finds_symmetric_peak():
    """A landmark in cell (20, 30) whose window holds a blob symmetric about that cell moves to
    the cell's position (80, 120) px."""
    rows, cols = np.mgrid[0:64, 0:64]
    blob = 6.0 - ((cols - 20) ** 2 + (rows - 30) ** 2)  # logits; sigmoid is symmetric about the peak too
    heatmap = np.repeat(blob[None, :, :, None], 2, axis=-1)
    heatmap[..., 1] = -10.0  # second landmark: no confident cell, must not move
    xy = np.array([[[82.5, 123.0], [82.5, 123.0]]])
    out = refine_from_heatmap(xy, heatmap, SIZE)
    np.testing.assert_allclose(out[0, 0], [80.0, 120.0], atol=1e-9)
    np.testing.assert_allclose(out[0, 1], xy[0, 1])


# ---------------------------------------------------------------- real crops

@needs_video
def test_people_facing_camera_inside_box_not_mirrored(detector):
    crops, boxes = crops_of(FACING_CAMERA)
    result = detector(crops)
    assert np.all(result.person_score > 0.9)
    image_kp = result.to_image(boxes, SCALE)
    for kp, conf, (cx, cy, _, side) in zip(image_kp, result.confidence, boxes):
        margin = 0.6 * side  # half the tight box plus 10% for heels and fingers at its edge
        confident = conf > CFG.KEYPOINTS.MIN_PERSON_SCORE
        assert confident.sum() >= 25
        assert np.all(np.abs(kp[confident] - [cx, cy]) < margin)
        # Facing the camera: the person's left side is on the image's right (larger x).
        assert kp[L_SHOULDER, 0] > kp[R_SHOULDER, 0] + 5
        assert kp[L_HIP, 0] > kp[R_HIP, 0]
        assert kp[L_SHOULDER, 1] < kp[L_HIP, 1]  # upright: shoulders above hips


@needs_video
def test_background_crop_has_low_person_score(detector):
    people, _ = crops_of(FACING_CAMERA)
    lawn, _ = crops_of(BACKGROUND)
    scores = detector(np.concatenate([lawn, people[:1]])).person_score
    assert scores[0] < 0.1 < 0.9 < scores[1]


@needs_video
def test_batch_of_one_equals_batch_of_many(detector):
    crops, _ = crops_of({**FACING_CAMERA, **OTHER_PEOPLE})
    together = detector(crops)
    for i, crop in enumerate(crops):
        alone = detector(crop[None])
        np.testing.assert_array_equal(alone.keypoints[0], together.keypoints[i])
        np.testing.assert_array_equal(alone.confidence[0], together.confidence[i])
        assert alone.person_score[0] == together.person_score[i]


def test_image_coordinates_invert_the_crop_warp():
    """to_image must undo the warp cut_crops applies: check with cv2's own inverse of that affine."""
    box = np.array([[300.0, 200.0, 80.0, 80.0]])
    scale = SIZE / (80.0 * 1.4)
    warp = np.array([[scale, 0, SIZE / 2 - 300 * scale], [0, scale, SIZE / 2 - 200 * scale]])
    crop_px = np.array([[[0.0, 0.0], [128.0, 128.0], [255.0, 17.5]]])
    inverse = cv2.invertAffineTransform(warp)
    expected = crop_px[0] @ inverse[:, :2].T + inverse[:, 2]
    result = BlazePoseKeypoints(crop_px, np.ones((1, 3)), np.ones(1), SIZE)
    np.testing.assert_allclose(result.to_image(box, 1.4)[0], expected, atol=1e-9)

    # A marker drawn at a frame pixel lands at the predicted crop pixel.
    frame = np.zeros((400, 600, 3), np.uint8)
    frame[190, 330] = 255
    crop = cut_crops(frame, box, 1.4, SIZE).images[0, ..., 0].astype(float)
    rows, cols = np.nonzero(crop)
    peak = np.array([(cols * crop[rows, cols]).sum(), (rows * crop[rows, cols]).sum()]) / crop[rows, cols].sum()
    np.testing.assert_allclose(peak, warp[:, :2] @ [330, 190] + warp[:, 2], atol=0.05)


def test_spin49_takes_blazepose_joints_by_name():
    kp = np.arange(33 * 2, dtype=np.float64).reshape(1, 33, 2)
    conf = np.linspace(0.1, 0.9, 33)[None]
    box = np.array([[SIZE / 2, SIZE / 2, SIZE, SIZE]])  # crop == image: to_image is the identity
    spin = BlazePoseKeypoints(kp, conf, np.ones(1), SIZE).to_spin49(box, 1.0)
    # spin49 = OpenPose BODY_25 (0 nose, 2 RShoulder, 5 LShoulder) + LSP common14 from 25
    # (27 r hip, 28 l hip, 33 r shoulder, 34 l shoulder); BlazePose has no OpenPose-style hips.
    pairs = [(0, 0), (2, R_SHOULDER), (5, L_SHOULDER), (27, R_HIP), (28, L_HIP), (33, R_SHOULDER), (34, L_SHOULDER)]
    for spin_index, blaze_index in pairs:
        np.testing.assert_allclose(spin[0, spin_index], [*kp[0, blaze_index], conf[0, blaze_index]])
    np.testing.assert_array_equal(spin[0, [1, 8, 9, 12]], 0.0)  # neck, mid hip, OpenPose hips: absent
    assert spin.shape == (1, 49, 3)


# ---------------------------------------------------------------- against mediapipe's own graph

@needs_video
@pytest.mark.slow
def test_agrees_with_mediapipe_graph_on_same_crops(detector):
    """Same crops through mp.solutions.pose (its detector picks its own ROI, then the same model).

    mediapipe re-crops around its detection (hips-centred, rotated, ~1.25x the body), so the model
    sees a differently resampled input and the answers differ by model noise, not by decoding:
    over the landmarks mediapipe calls visible, medians of 0.6-2.9 crop px (0.3-1.5 frame px) and
    90th percentiles up to 4.2 px on these five people (box x 1.4). A decoding slip (x/y swapped,
    wrong input range, landmarks of the wrong output, a crop-size scale error) moves landmarks
    by tens of pixels; the bounds below leave ~20 % headroom over the measured spread.
    """
    mp_pose = pytest.importorskip("mediapipe").solutions.pose
    crops, _ = crops_of({**FACING_CAMERA, **OTHER_PEOPLE})
    ours = detector(crops)
    with mp_pose.Pose(static_image_mode=True, model_complexity=1) as graph:
        for crop, kp in zip(crops, ours.keypoints):
            found = graph.process(crop).pose_landmarks
            assert found is not None, "mediapipe finds every one of these people at this margin"
            # mediapipe's normalised coordinates put pixel centres at (i + 0.5) / S.
            theirs = np.array([[lm.x, lm.y] for lm in found.landmark]) * SIZE - 0.5
            visible = np.array([lm.visibility for lm in found.landmark]) > 0.5
            error = np.linalg.norm(kp - theirs, axis=1)[visible]
            assert visible.sum() >= 20
            assert np.median(error) < 3.5 and np.percentile(error, 90) < 5.0, error.round(1)
