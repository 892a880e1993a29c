"""Shot boundaries: where the picture changes so much that nobody in it can be the same person
as in the frame before (an edit in a video, the next photo of an unrelated set).

Frames are compared by their hue-saturation histograms on a small thumbnail, which a moving
person or camera hardly changes: consecutive detector frames of vtest.avi and of a real street
clip correlate at >= 0.99, unrelated real photos at <= 0.6 (BENCHMARKS.md, tracking).
"""
from __future__ import annotations

import cv2
import numpy as np

THUMBNAIL_WIDTH = 64  # px; the histogram needs colours, not detail
HUE_RANGE, SATURATION_RANGE = (0, 180), (0, 256)  # OpenCV's 8-bit HSV


class ShotCuts:
    """Feed frames in order to `is_cut(frame)`: True when `frame` starts a new shot, i.e. its size
    differs from the previous frame's or their histograms correlate below `min_correlation`."""

    def __init__(self, min_correlation: float, hue_bins: int, saturation_bins: int):
        self.min_correlation = float(min_correlation)
        self.bins = [int(hue_bins), int(saturation_bins)]
        self._previous: tuple[tuple[int, ...], np.ndarray] | None = None

    def _histogram(self, frame: np.ndarray) -> np.ndarray:
        height, width = frame.shape[:2]
        thumb_height = max(1, round(THUMBNAIL_WIDTH * height / width))
        thumb = cv2.resize(frame, (THUMBNAIL_WIDTH, thumb_height), interpolation=cv2.INTER_AREA)
        hsv = cv2.cvtColor(thumb, cv2.COLOR_RGB2HSV)
        histogram = cv2.calcHist([hsv], [0, 1], None, self.bins, [*HUE_RANGE, *SATURATION_RANGE])
        return cv2.normalize(histogram, histogram).astype(np.float32)

    def is_cut(self, frame: np.ndarray) -> bool:
        """Whether RGB `frame` (H, W, 3) starts a new shot (never the first frame fed)."""
        current = (frame.shape, self._histogram(frame))
        previous, self._previous = self._previous, current
        if previous is None:
            return False
        if previous[0] != current[0]:
            return True
        return cv2.compareHist(previous[1], current[1], cv2.HISTCMP_CORREL) < self.min_correlation


def shot_cuts_from_cfg(cfg) -> ShotCuts | None:
    """The cut detector cfg.TRACKER asks for (None with TRACKER.SHOT_CUTS off)."""
    tracker_cfg = cfg.TRACKER
    if not tracker_cfg.SHOT_CUTS:
        return None
    return ShotCuts(tracker_cfg.CUT_MIN_CORRELATION, tracker_cfg.CUT_HUE_BINS, tracker_cfg.CUT_SATURATION_BINS)
