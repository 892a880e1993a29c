"""Sequence windows: runs of `seqlen` consecutive rows that stay inside one video (one vid_name).

VIBE's rule: a video is a contiguous run of equal `vid_name` rows; windows start every
`stride = int(seqlen * (1 - overlap))` rows from the run's first row and the tail that does not
fill a whole window is dropped; videos shorter than `seqlen` are skipped (and counted here).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from vibe.errors import InputError

log = logging.getLogger(__name__)


@dataclass
class WindowIndex:
    """`starts (W,)`: first row of each window (rows start .. start + seqlen - 1);
    `num_videos` runs seen, `skipped_videos` of them shorter than `seqlen`."""

    starts: np.ndarray
    seqlen: int
    num_videos: int
    skipped_videos: int

    def __len__(self) -> int:
        return len(self.starts)


def window_stride(seqlen: int, overlap: float) -> int:
    """Rows between window starts: int(seqlen * (1 - overlap)), at least 1."""
    if seqlen < 1:
        raise InputError(f"sequence length must be at least 1, got {seqlen}")
    if not 0.0 <= overlap < 1.0:
        raise InputError(f"window overlap must be in [0, 1), got {overlap}")
    return max(1, int(seqlen * (1.0 - overlap)))


def video_runs(vid_names) -> list[tuple[int, int]]:
    """(start, stop) row ranges of the contiguous runs of equal names in `vid_names (N,)`."""
    names = np.asarray(vid_names)
    if names.ndim != 1:
        raise InputError(f"vid_name must be one name per row, got shape {names.shape}")
    if len(names) == 0:
        return []
    changes = np.flatnonzero(names[1:] != names[:-1]) + 1
    bounds = np.concatenate([[0], changes, [len(names)]])
    return list(zip(bounds[:-1].tolist(), bounds[1:].tolist()))


def make_windows(vid_names, seqlen: int, overlap: float = 0.0, label: str = "dataset") -> WindowIndex:
    """Windows of `seqlen` rows within each video of `vid_names (N,)`, VIBE's way (see module doc)."""
    stride = window_stride(seqlen, overlap)
    starts: list[np.ndarray] = []
    runs = video_runs(vid_names)
    skipped = 0
    for start, stop in runs:
        if stop - start < seqlen:
            skipped += 1
            continue
        starts.append(np.arange(start, stop - seqlen + 1, stride))
    index = WindowIndex(np.concatenate(starts) if starts else np.zeros(0, np.int64), seqlen, len(runs), skipped)
    if skipped:
        log.info("%s: %d of %d videos shorter than %d frames skipped", label, skipped, len(runs), seqlen)
    return index
