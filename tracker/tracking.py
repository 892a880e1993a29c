"""Multi-person tracking: Kalman prediction + Hungarian assignment on IoU and motion, with
re-association across short gaps, gap filling by interpolation and box smoothing.

Online part (`MultiTracker.step`, one call per frame, detections or None on frames the detector
skipped; `cut()` where a new shot starts) keeps only boxes; `finish()` turns each track's
observations into a `Track` over every frame between its first and last observation.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Iterable

import numpy as np
from scipy.ndimage import gaussian_filter1d
from scipy.optimize import linear_sum_assignment

from tracker.cuts import shot_cuts_from_cfg
from tracker.kalman import BoxKalman
from tracker.nms import pairwise_iou
from tracker.types import Detections, Track, VideoInfo
from tracker.video import DecodeStats, VideoSource
from vibe.errors import NoPeopleFound

logger = logging.getLogger(__name__)

INFEASIBLE = 1e6  # cost of a pair outside the gates; never chosen


def xyxy_to_cxcywh(boxes: np.ndarray) -> np.ndarray:
    boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
    return np.concatenate([(boxes[:, :2] + boxes[:, 2:]) / 2, boxes[:, 2:] - boxes[:, :2]], axis=1)


def cxcywh_to_xyxy(boxes: np.ndarray) -> np.ndarray:
    boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
    return np.concatenate([boxes[:, :2] - boxes[:, 2:] / 2, boxes[:, :2] + boxes[:, 2:] / 2], axis=1)


def square_boxes(boxes_cxcywh: np.ndarray) -> np.ndarray:
    """(K, 4) boxes (cx, cy, w, h) -> squares of side max(w, h) on the same centres. The tracker
    works on squares: a walking person's narrow box (~1:3) shifts out of its own overlap within a
    few frames, their square does not, and the crops are square anyway."""
    squares = np.array(boxes_cxcywh, np.float64).reshape(-1, 4)
    squares[:, 2:] = squares[:, 2:].max(axis=1, keepdims=True)
    return squares


@dataclass
class _LiveTrack:
    track_id: int
    kalman: BoxKalman
    shot: int  # index of the shot it started in (it never outlives it)
    frame_ids: list[int] = field(default_factory=list)
    boxes: list[np.ndarray] = field(default_factory=list)  # observed (cx, cy, w, h)
    scores: list[float] = field(default_factory=list)

    @property
    def last_seen(self) -> int:
        return self.frame_ids[-1]

    def observe(self, frame_id: int, box: np.ndarray, score: float) -> None:
        self.kalman.update(box)
        self.frame_ids.append(frame_id)
        self.boxes.append(box)
        self.scores.append(score)


class MultiTracker:
    """Online association over a stream of frames at `fps` (the true frame rate)."""

    def __init__(self, cfg, fps: float):
        t = cfg.TRACKER
        self.fps = float(fps)
        self.max_gap_frames = max(1, int(round(t.MAX_GAP_SECONDS * self.fps)))
        self.min_iou, self.gate, self.motion_weight = float(t.MIN_IOU), float(t.GATE_CHI2), float(t.MOTION_WEIGHT)
        self.noise = (float(t.KALMAN_POS_STD), float(t.KALMAN_VEL_STD), float(t.KALMAN_MEAS_STD))
        self.cfg = t
        self._live: list[_LiveTrack] = []
        self._done: list[_LiveTrack] = []
        self._next_id = 0
        self._last_detection_frame: int | None = None
        self._shot_searches = [0]  # detector frames per shot, in order
        self._frames_stepped = 0

    def cut(self) -> None:
        """A new shot starts with the next frame: no live track continues into it."""
        self._done.extend(self._live)
        self._live = []
        self._shot_searches.append(0)
        self._last_detection_frame = None

    def step(self, frame_id: int, detections: Detections | None) -> None:
        """Advance every track one frame; associate `detections` (None: detector skipped this frame)."""
        predicted = [track.kalman.predict() for track in self._live]
        self._frames_stepped += 1
        if detections is None:
            return
        self._shot_searches[-1] += 1
        boxes = square_boxes(xyxy_to_cxcywh(detections.boxes))
        unmatched = np.arange(len(boxes))
        # Matching cascade: tracks seen at the previous detector frame first, then those in a gap,
        # so a coasting track cannot take a detection from a track that is plainly there.
        fresh = [i for i, t in enumerate(self._live) if t.last_seen == self._last_detection_frame]
        lost = [i for i, t in enumerate(self._live) if t.last_seen != self._last_detection_frame]
        for group in (fresh, lost):
            unmatched = self._match(group, predicted, boxes, detections.scores, unmatched, frame_id)
        for det in unmatched:
            self._start(frame_id, boxes[det], float(detections.scores[det]))
        self._retire(frame_id)
        self._last_detection_frame = frame_id

    def _match(self, group, predicted, boxes, scores, unmatched, frame_id) -> np.ndarray:
        if not group or not len(unmatched):
            return unmatched
        pred = np.array([predicted[i] for i in group])
        last = np.array([self._live[i].boxes[-1] for i in group])
        detected = cxcywh_to_xyxy(boxes[unmatched])
        # Overlap with the prediction or with where the person was last seen: someone who turns
        # back while hidden (or out of the frame) reappears near the latter, not the former.
        iou = np.maximum(pairwise_iou(cxcywh_to_xyxy(pred), detected), pairwise_iou(cxcywh_to_xyxy(last), detected))
        d2 = np.stack([self._live[i].kalman.centre_mahalanobis(boxes[unmatched, :2]) for i in group])
        # A one-detection track has no velocity yet: its motion gate would be wide open, so it
        # may only continue by overlap (keeps random false positives from chaining up).
        has_motion = np.array([len(self._live[i].frame_ids) > 1 for i in group])[:, None]
        feasible = (iou >= self.min_iou) | ((d2 <= self.gate) & has_motion)
        cost = np.where(feasible, (1.0 - iou) + self.motion_weight * np.minimum(d2 / self.gate, 1.0), INFEASIBLE)
        rows, cols = linear_sum_assignment(cost)
        taken = []
        for row, col in zip(rows, cols):
            if feasible[row, col]:
                det = unmatched[col]
                self._live[group[row]].observe(frame_id, boxes[det], float(scores[det]))
                taken.append(col)
        return np.delete(unmatched, taken)

    def _start(self, frame_id: int, box: np.ndarray, score: float) -> None:
        track = _LiveTrack(self._next_id, BoxKalman(box, *self.noise), len(self._shot_searches) - 1)
        track.frame_ids.append(frame_id)
        track.boxes.append(box)
        track.scores.append(score)
        self._live.append(track)
        self._next_id += 1

    def _retire(self, frame_id: int) -> None:
        still = []
        for track in self._live:
            (still if frame_id - track.last_seen <= self.max_gap_frames else self._done).append(track)
        self._live = still

    def finish(self) -> list[Track]:
        """All tracks as `Track`s (ids renumbered 0.. by first frame), filtered and smoothed."""
        candidates = sorted(self._done + self._live, key=lambda t: (t.frame_ids[0], t.track_id))
        self._done, self._live = [], []
        observed = [t for t in candidates if len(t.frame_ids) >= self._detections_needed(t)]
        if len(observed) < len(candidates):
            logger.info("%d track(s) with fewer than TRACKER.MIN_DETECTIONS=%d detections dropped as noise",
                        len(candidates) - len(observed), int(self.cfg.MIN_DETECTIONS))
        confirmed = [t for t in observed if self._confirmed(t)]
        if len(confirmed) < len(observed):
            logger.info("%d track(s) never detected with a score of TRACKER.MIN_PEAK_SCORE=%.2f dropped "
                        "(objects)", len(observed) - len(confirmed), float(self.cfg.MIN_PEAK_SCORE))
        tracks = [self._densify(t) for t in confirmed]
        return self._filter_length(tracks)

    def _detections_needed(self, track: _LiveTrack) -> int:
        """MIN_DETECTIONS, or fewer when the track's shot was searched fewer times (a photo: once)."""
        return min(int(self.cfg.MIN_DETECTIONS), self._shot_searches[track.shot])

    def _confirmed(self, track: _LiveTrack) -> bool:
        """Whether the track reached MIN_PEAK_SCORE once: over many searches a person is seen clearly
        at least once, an object never is. A shot searched fewer than MIN_DETECTIONS times (a
        photo) has no such evidence: the detector's own threshold decides there."""
        searched_enough = self._shot_searches[track.shot] >= int(self.cfg.MIN_DETECTIONS)
        return not searched_enough or max(track.scores) >= float(self.cfg.MIN_PEAK_SCORE)

    def _densify(self, live: _LiveTrack) -> Track:
        """Every frame from first to last observation: observed boxes, linear interpolation in the
        gaps (flagged), then Gaussian smoothing of centre and side."""
        seen = np.asarray(live.frame_ids)
        frames = np.arange(seen[0], seen[-1] + 1)
        observed = np.asarray(live.boxes)
        side = np.maximum(observed[:, 2], observed[:, 3])  # square box: the longer side
        cx, cy = np.interp(frames, seen, observed[:, 0]), np.interp(frames, seen, observed[:, 1])
        side = np.interp(frames, seen, side)
        scores = np.interp(frames, seen, np.asarray(live.scores))
        sigma = float(self.cfg.SMOOTH_SIGMA_SECONDS) * self.fps
        if self.cfg.SMOOTH_BOXES and sigma > 0:
            cx, cy, side = (gaussian_filter1d(v, sigma, mode="nearest") for v in (cx, cy, side))
        bboxes = np.stack([cx, cy, side, side], axis=1).astype(np.float32)
        return Track(live.track_id, frames.astype(np.int64), bboxes, scores.astype(np.float32), ~np.isin(frames, seen))

    def _filter_length(self, tracks: list[Track]) -> list[Track]:
        min_len = int(self.cfg.MIN_TRACK_LEN)
        kept = [t for t in tracks if len(t) >= min_len]
        if len(kept) < len(tracks):
            logger.warning("%d track(s) shorter than TRACKER.MIN_TRACK_LEN=%d frames dropped", len(tracks) - len(kept), min_len)
        short = int(round(float(self.cfg.SHORT_TRACK_SECONDS) * self.fps))
        n_short = sum(len(t) < short for t in kept)
        if n_short and self._frames_stepped >= short:  # in a shorter input every track is short
            logger.warning("%d short track(s) (< %d frames) kept; set TRACKER.MIN_TRACK_LEN to drop them", n_short, short)
        for new_id, track in enumerate(kept):
            track.track_id = new_id
        return kept


def track_detections(per_frame: Iterable[tuple[int, Detections | None]], cfg, fps: float) -> list[Track]:
    """Track from precomputed detections: (frame_id, Detections or None) in frame order."""
    tracker = MultiTracker(cfg, fps)
    for frame_id, detections in per_frame:
        tracker.step(frame_id, detections)
    return tracker.finish()


@dataclass
class TrackingResult:
    info: VideoInfo
    tracks: list[Track]
    decode: DecodeStats
    frames_detected: int


def track_video(source: VideoSource, detector, cfg) -> TrackingResult:
    """Stream `source` once: detect people every cfg.TRACKER.DETECT_STRIDE frames and on the last
    (in batches of cfg.TRACKER.BATCH_SIZE frames), cut tracks at shot boundaries (judged on the detector frames),
    track, and return the tracks. Holds at most one batch of frames.

    Raises NoPeopleFound (an InputError, holding the empty result) when nobody is found in the whole video.
    """
    stride, batch_size = max(1, int(cfg.TRACKER.DETECT_STRIDE)), max(1, int(cfg.TRACKER.BATCH_SIZE))
    tracker = MultiTracker(cfg, source.info.fps)
    cuts = shot_cuts_from_cfg(cfg)
    pending: list[tuple[int, np.ndarray | None]] = []  # frame ids in order; frames only where detected
    n_detected = n_cuts = 0

    def flush() -> None:
        nonlocal n_cuts
        to_detect = [frame for _, frame in pending if frame is not None]
        results = iter(detector.detect(to_detect) if to_detect else [])
        for frame_id, frame in pending:
            if frame is not None and cuts is not None and cuts.is_cut(frame):
                tracker.cut()
                n_cuts += 1
            tracker.step(frame_id, next(results) if frame is not None else None)
        pending.clear()

    frame = None
    for frame_id, frame in source.frames():
        detect_here = frame_id % stride == 0
        pending.append((frame_id, frame if detect_here else None))
        n_detected += detect_here
        if sum(f is not None for _, f in pending) >= batch_size:
            flush()
    if pending and pending[-1][1] is None:  # the last frame is always searched: tracks reach the end
        pending[-1] = (pending[-1][0], frame)
        n_detected += 1
    flush()
    if n_cuts:
        logger.info("%s: %d shot cut(s); no track continues across one", source.path.name, n_cuts)
    tracks = tracker.finish()
    if not tracks:
        threshold = f"TRACKER.{detector.name.upper()}_THRESHOLD"
        raise NoPeopleFound(f"no people found in {source.path} ({n_detected} frames searched with the {detector.name} "
                            f"detector); check the video or lower {threshold}",
                            TrackingResult(source.info, tracks, source.stats, n_detected))
    logger.info("%s: %d track(s) over %d frames", source.path.name, len(tracks), source.stats.frames_read)
    return TrackingResult(source.info, tracks, source.stats, n_detected)
