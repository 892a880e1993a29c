"""CLEAR-MOT (MOTA, ID switches) and IDF1 of predicted tracks against ground truth boxes.

Both sides are `BoxTable`s: one row per (frame, identity) with an xyxy box. Per frame, truth and
predictions are matched one-to-one by Hungarian assignment on IoU (pairs below `iou_threshold`
never match), keeping last frame's pairs when they still overlap enough (CLEAR-MOT's rule, so a
switch is counted only when identity really changes). MOTA = 1 - (FN + FP + IDSW) / GT.
IDF1 = 2 IDTP / (GT + predictions), with IDTP from the best one-to-one global mapping between
truth and predicted identities (Ristani et al. 2016).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import linear_sum_assignment

from tracker.nms import pairwise_iou
from tracker.tracking import cxcywh_to_xyxy
from tracker.types import Track

DEFAULT_IOU_THRESHOLD = 0.5


@dataclass
class BoxTable:
    """frame_ids (N,) int, ids (N,) int, boxes (N, 4) xyxy."""

    frame_ids: np.ndarray
    ids: np.ndarray
    boxes: np.ndarray

    def frame(self, frame_id: int) -> tuple[np.ndarray, np.ndarray]:
        rows = self.frame_ids == frame_id
        return self.ids[rows], self.boxes[rows]


@dataclass
class TrackingMetrics:
    mota: float
    idf1: float
    id_switches: int
    false_positives: int
    misses: int
    matches: int
    num_truth: int
    num_predicted: int


def tracks_to_table(tracks: list[Track]) -> BoxTable:
    """Tracks (square cx, cy, w, h boxes) -> BoxTable of xyxy rows."""
    if not tracks:
        return BoxTable(np.zeros(0, int), np.zeros(0, int), np.zeros((0, 4)))
    return BoxTable(np.concatenate([t.frame_ids for t in tracks]),
                    np.concatenate([np.full(len(t), t.track_id) for t in tracks]),
                    cxcywh_to_xyxy(np.concatenate([t.bboxes for t in tracks])))


def _match_frame(gt_ids, gt_boxes, pr_ids, pr_boxes, previous: dict, threshold: float) -> dict:
    """One frame's truth id -> predicted id matching (CLEAR-MOT: keep still-valid previous pairs)."""
    iou = pairwise_iou(gt_boxes, pr_boxes)
    matched: dict[int, int] = {}
    gt_index, pr_index = {g: i for i, g in enumerate(gt_ids)}, {p: j for j, p in enumerate(pr_ids)}
    for g, p in previous.items():
        if g in gt_index and p in pr_index and iou[gt_index[g], pr_index[p]] >= threshold:
            matched[g] = p
    free_gt = [i for i, g in enumerate(gt_ids) if g not in matched]
    used = set(matched.values())
    free_pr = [j for j, p in enumerate(pr_ids) if p not in used]
    if free_gt and free_pr:
        sub = iou[np.ix_(free_gt, free_pr)]
        rows, cols = linear_sum_assignment(-sub)
        for r, c in zip(rows, cols):
            if sub[r, c] >= threshold:
                matched[gt_ids[free_gt[r]]] = pr_ids[free_pr[c]]
    return matched


def _idf1(truth: BoxTable, predicted: BoxTable, threshold: float) -> float:
    """Global identity matching: co-occurrence counts of (truth id, predicted id) over frames."""
    total = len(truth.ids) + len(predicted.ids)
    if total == 0:
        return 1.0
    gt_ids, pr_ids = np.unique(truth.ids), np.unique(predicted.ids)
    if not len(gt_ids) or not len(pr_ids):
        return 0.0
    gt_col = {g: i for i, g in enumerate(gt_ids)}
    pr_col = {p: j for j, p in enumerate(pr_ids)}
    overlap = np.zeros((len(gt_ids), len(pr_ids)))
    for frame_id in np.intersect1d(truth.frame_ids, predicted.frame_ids):
        g_ids, g_boxes = truth.frame(frame_id)
        p_ids, p_boxes = predicted.frame(frame_id)
        hits = pairwise_iou(g_boxes, p_boxes) >= threshold
        for i, j in zip(*np.nonzero(hits)):
            overlap[gt_col[g_ids[i]], pr_col[p_ids[j]]] += 1
    rows, cols = linear_sum_assignment(-overlap)
    return float(2 * overlap[rows, cols].sum() / total)


def evaluate(truth: BoxTable, predicted: BoxTable, iou_threshold: float = DEFAULT_IOU_THRESHOLD) -> TrackingMetrics:
    """MOTA, IDF1, ID switches, FP, FN of `predicted` against `truth`."""
    last_match: dict[int, int] = {}  # truth id -> last predicted id it was matched to (any earlier frame)
    current: dict[int, int] = {}
    switches = false_pos = misses = matches = 0
    for frame_id in np.union1d(truth.frame_ids, predicted.frame_ids):
        g_ids, g_boxes = truth.frame(frame_id)
        p_ids, p_boxes = predicted.frame(frame_id)
        current = _match_frame(list(g_ids), g_boxes, list(p_ids), p_boxes, current, iou_threshold)
        for g, p in current.items():
            switches += g in last_match and last_match[g] != p
            last_match[g] = p
        matches += len(current)
        misses += len(g_ids) - len(current)
        false_pos += len(p_ids) - len(current)
    num_truth = len(truth.ids)
    mota = 1.0 - (misses + false_pos + switches) / num_truth if num_truth else float("nan")
    return TrackingMetrics(mota, _idf1(truth, predicted, iou_threshold), switches, false_pos, misses, matches,
                           num_truth, len(predicted.ids))
