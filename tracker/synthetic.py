"""Synthetic multi-person scenes with exact truth, for tests and the benchmark.

People are square boxes moving on straight lines over known frame spans; detections are derived
from the truth with Gaussian box noise, random misses, scripted occlusions (no detection at all)
and random false positives.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tracker.evaluation import BoxTable
from tracker.tracking import cxcywh_to_xyxy
from tracker.types import Detections


@dataclass
class Walker:
    """A person: centre moves linearly from `start` to `end` (px) over frames [first, last]."""

    first: int
    last: int
    start: tuple[float, float]
    end: tuple[float, float]
    side: float
    occluded: tuple[int, int] | None = None  # frames [a, b) with no detection

    def centre(self, frame_id: int) -> np.ndarray:
        alpha = (frame_id - self.first) / max(self.last - self.first, 1)
        return (1 - alpha) * np.asarray(self.start, float) + alpha * np.asarray(self.end, float)


@dataclass
class Scene:
    n_frames: int
    walkers: list[Walker]
    size: tuple[int, int] = (640, 480)  # width, height
    noise_frac: float = 0.03  # box noise std as a fraction of the side
    miss_rate: float = 0.05
    false_positives_per_frame: float = 0.05
    seed: int = 0

    def truth(self) -> BoxTable:
        """Every visible person in every frame they are in (occluded frames included: still there)."""
        rows = [(f, pid, *self.walkers[pid].centre(f), self.walkers[pid].side)
                for f in range(self.n_frames) for pid, w in enumerate(self.walkers) if w.first <= f <= w.last]
        table = np.asarray(rows, float)
        return BoxTable(table[:, 0].astype(int), table[:, 1].astype(int), cxcywh_to_xyxy(table[:, 2:5][:, [0, 1, 2, 2]]))

    def detections(self) -> list[Detections]:
        rng = np.random.default_rng(self.seed)
        width, height = self.size
        per_frame = []
        for f in range(self.n_frames):
            boxes, scores = [], []
            for w in self.walkers:
                hidden = w.occluded is not None and w.occluded[0] <= f < w.occluded[1]
                if not (w.first <= f <= w.last) or hidden or rng.random() < self.miss_rate:
                    continue
                noisy = np.r_[w.centre(f), w.side, w.side] + rng.normal(0, self.noise_frac * w.side, 4)
                boxes.append(cxcywh_to_xyxy(noisy)[0])
                scores.append(rng.uniform(0.6, 1.0))
            for _ in range(rng.poisson(self.false_positives_per_frame)):
                side = rng.uniform(40, 120)
                centre = rng.uniform([side, side], [width - side, height - side])
                boxes.append(cxcywh_to_xyxy(np.r_[centre, side, side])[0])
                scores.append(rng.uniform(0.5, 0.8))
            per_frame.append(Detections(np.asarray(boxes, np.float32).reshape(-1, 4), np.asarray(scores, np.float32)))
        return per_frame


def scenarios() -> dict[str, Scene]:
    """Named scenes: crossing paths, a 5-frame occlusion, people entering and leaving, a crowd."""
    return {
        "crossing": Scene(60, [Walker(0, 59, (100, 240), (540, 240), 100), Walker(0, 59, (540, 250), (100, 250), 100)]),
        "occlusion_5_frames": Scene(60, [Walker(0, 59, (100, 200), (500, 260), 90, occluded=(25, 30)),
                                         Walker(0, 59, (560, 380), (300, 330), 90)]),
        "enter_leave": Scene(90, [Walker(0, 40, (50, 200), (400, 200), 80), Walker(20, 89, (600, 300), (200, 260), 80),
                                  Walker(50, 89, (320, 100), (330, 420), 80)]),
        "crowd_noisy": Scene(120, [Walker(0, 119, (60 + 110 * k, 120 + 60 * (k % 3)), (80 + 110 * k, 360 - 60 * (k % 3)), 70,
                                          occluded=(40 + 10 * k, 45 + 10 * k)) for k in range(5)],
                             noise_frac=0.05, miss_rate=0.1, false_positives_per_frame=0.2, seed=3),
    }
