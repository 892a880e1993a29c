"""tracker/evaluation.py on a hand-computed case; NMS and IoU against brute force; anchors."""
import itertools

import numpy as np
import pytest

from tracker import blazepose
from tracker.evaluation import BoxTable, evaluate
from tracker.nms import nms, pairwise_iou


def _table(rows):
    rows = np.asarray(rows, float)
    return BoxTable(rows[:, 0].astype(int), rows[:, 1].astype(int), rows[:, 2:6])


def test_metrics_hand_computed_case():
    # Truth: A (id 0) and B (id 1) over frames 0..3.  Predictions: A is followed by track 10 in
    # frames 0-1 then track 11 in frames 2-3 (one ID switch); B by track 20 except frame 2 (one
    # miss); a far false positive (track 30) in frame 3.
    box_a = [0, 0, 10, 10]
    box_b = [100, 0, 110, 10]
    truth = _table([[f, 0, *box_a] for f in range(4)] + [[f, 1, *box_b] for f in range(4)])
    pred = _table([[0, 10, *box_a], [1, 10, *box_a], [2, 11, *box_a], [3, 11, *box_a],
                   [0, 20, *box_b], [1, 20, *box_b], [3, 20, *box_b], [3, 30, 300, 300, 310, 310]])
    m = evaluate(truth, pred)
    assert (m.id_switches, m.misses, m.false_positives, m.matches) == (1, 1, 1, 7)
    assert m.mota == pytest.approx(1 - (1 + 1 + 1) / 8)
    # IDF1: best identity map A->10 (2 frames), B->20 (3 frames): IDTP 5; 8 truth + 8 predicted rows.
    assert m.idf1 == pytest.approx(2 * 5 / 16)


def test_metrics_perfect_and_iou_threshold():
    truth = _table([[f, 0, f, 0, f + 10, 10] for f in range(5)])
    assert evaluate(truth, truth).mota == pytest.approx(1.0)
    shifted = _table([[f, 7, f + 5, 0, f + 15, 10] for f in range(5)])  # IoU = 5/15 < 0.5
    m = evaluate(truth, shifted)
    assert (m.matches, m.misses, m.false_positives) == (0, 5, 5)


def test_iou_and_nms_against_brute_force():
    rng = np.random.default_rng(0)
    xy = rng.uniform(0, 100, (30, 2))
    boxes = np.concatenate([xy, xy + rng.uniform(5, 40, (30, 2))], axis=1)
    scores = rng.uniform(size=30)

    def iou(a, b):
        w = max(0, min(a[2], b[2]) - max(a[0], b[0]))
        h = max(0, min(a[3], b[3]) - max(a[1], b[1]))
        area = lambda r: (r[2] - r[0]) * (r[3] - r[1])
        return w * h / (area(a) + area(b) - w * h)

    brute = np.array([[iou(a, b) for b in boxes] for a in boxes])
    np.testing.assert_allclose(pairwise_iou(boxes, boxes), brute, atol=1e-12)
    kept = nms(boxes, scores, 0.3)
    # Kept boxes overlap each other <= 0.3; every dropped box overlaps a higher-scoring kept one.
    for i, j in itertools.combinations(kept, 2):
        assert brute[i, j] <= 0.3
    for d in set(range(30)) - set(kept):
        assert any(brute[d, k] > 0.3 and scores[k] >= scores[d] for k in kept)


def test_blazepose_anchor_layout():
    anchors = blazepose.ssd_anchors()
    assert anchors.shape == (2254, 2)
    # First layer: 28x28 grid, 2 anchors per cell, row-major from the top-left cell centre.
    np.testing.assert_allclose(anchors[:4], [[0.5 / 28, 0.5 / 28]] * 2 + [[1.5 / 28, 0.5 / 28]] * 2)
    # Last block: the three stride-32 layers share a 7x7 grid with 6 anchors per cell.
    np.testing.assert_allclose(anchors[-6:], [[6.5 / 7, 6.5 / 7]] * 6)
    np.testing.assert_allclose(anchors[1568], [0.5 / 14, 0.5 / 14])


def test_blazepose_decoding_closed_form():
    anchors = blazepose.ssd_anchors()
    raw = np.zeros((2254, 12), np.float32)
    logits = np.full(2254, -50.0, np.float32)
    k = 1000
    raw[k, 4:6] = [22.4, -11.2]  # hip centre offset: +0.1, -0.05 of the input
    raw[k, 6:8] = [22.4 + 30.0 * 0.6, -11.2 + 40.0 * 0.6]  # circle point at distance 0.6 * 50 px / 224
    logits[k] = np.log(0.9 / 0.1)
    boxes, scores = blazepose.decode_person_boxes(raw, logits, anchors, 0.5)
    centre = anchors[k] + [0.1, -0.05]
    radius = 30.0 / 224
    np.testing.assert_allclose(boxes, [[*(centre - radius), *(centre + radius)]], atol=1e-6)
    np.testing.assert_allclose(scores, [0.9], atol=1e-6)


def test_kalman_learns_constant_velocity():
    from tracker.kalman import BoxKalman

    velocity = np.array([4.0, -2.0, 0.5, 0.5])
    box = np.array([100.0, 200.0, 80.0, 80.0])
    kalman = BoxKalman(box, pos_std=0.05, vel_std=0.01, meas_std=0.05)
    for step in range(1, 40):
        kalman.predict()
        kalman.update(box + step * velocity)
    np.testing.assert_allclose(kalman.x[4:], velocity, atol=0.05)
    # Coasting 5 frames without detections follows the learned motion.
    for _ in range(5):
        predicted = kalman.predict()
    np.testing.assert_allclose(predicted, box + 44 * velocity, atol=0.5)
