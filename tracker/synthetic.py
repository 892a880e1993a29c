"""Synthetic multi-person scenes with exact truth, for tests and the benchmark.

People are boxes moving on straight lines over known frame spans, optionally crouching (the box
lowers and shortens, feet fixed) and seen by a panning camera (every box shifts sideways);
detections are derived from the truth with Gaussian box noise, random misses, scripted occlusions
(no detection at all) and random false positives.
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
    crouch: tuple[int, int, float] | None = None  # frames [a, b): down and up again, by this fraction of the height
    via: tuple[int, tuple[float, float]] | None = None  # (frame, point): walks start -> point -> end

    def centre(self, frame_id: int) -> np.ndarray:
        (first, start), (last, end) = (self.first, self.start), (self.last, self.end)
        if self.via is not None:
            if frame_id < self.via[0]:
                last, end = self.via
            else:
                first, start = self.via
        alpha = (frame_id - first) / max(last - first, 1)
        return (1 - alpha) * np.asarray(start, float) + alpha * np.asarray(end, float)

    def box(self, frame_id: int) -> np.ndarray:
        """(cx, cy, w, h) at `frame_id`: square when standing; crouching lowers the top, feet fixed."""
        height = self.side
        if self.crouch is not None and self.crouch[0] <= frame_id < self.crouch[1]:
            phase = (frame_id - self.crouch[0]) / (self.crouch[1] - self.crouch[0])
            height = self.side * (1 - self.crouch[2] * np.sin(np.pi * phase))
        cx, cy = self.centre(frame_id)
        return np.array([cx, cy + (self.side - height) / 2, self.side, height])


@dataclass
class Scene:
    n_frames: int
    walkers: list[Walker]
    size: tuple[int, int] = (640, 480)  # width, height
    noise_frac: float = 0.03  # box noise std as a fraction of the side
    miss_rate: float = 0.05
    false_positives_per_frame: float = 0.05
    seed: int = 0
    pan: tuple[int, int, float] | None = None  # frames [a, b): the picture shifts this many px per frame

    def pan_offset(self, frame_id: int) -> float:
        if self.pan is None:
            return 0.0
        first, last, speed = self.pan
        return speed * float(np.clip(frame_id - first, 0, last - first))

    def box(self, walker: Walker, frame_id: int) -> np.ndarray:
        """The walker's box (cx, cy, w, h) in the picture at `frame_id`."""
        return walker.box(frame_id) - np.array([self.pan_offset(frame_id), 0, 0, 0])

    def truth(self) -> BoxTable:
        """Every visible person in every frame they are in (occluded frames included: still there)."""
        rows = [(f, pid, *self.box(w, f)) for f in range(self.n_frames) for pid, w in enumerate(self.walkers)
                if w.first <= f <= w.last]
        table = np.asarray(rows, float)
        return BoxTable(table[:, 0].astype(int), table[:, 1].astype(int), cxcywh_to_xyxy(table[:, 2:6]))

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
                noisy = self.box(w, f) + rng.normal(0, self.noise_frac * w.side, 4)
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
    """Named scenes: crossing paths, a 5-frame occlusion, people entering and leaving, a crowd, a
    10-frame occlusion by a passer-by, crouching and standing up, leaving and coming back, a fast
    camera pan."""
    return {
        "crossing": Scene(60, [Walker(0, 59, (100, 240), (540, 240), 100), Walker(0, 59, (540, 250), (100, 250), 100)]),
        "occlusion_5_frames": Scene(60, [Walker(0, 59, (100, 200), (500, 260), 90, occluded=(25, 30)),
                                         Walker(0, 59, (560, 380), (300, 330), 90)]),
        "enter_leave": Scene(90, [Walker(0, 40, (50, 200), (400, 200), 80), Walker(20, 89, (600, 300), (200, 260), 80),
                                  Walker(50, 89, (320, 100), (330, 420), 80)]),
        "crowd_noisy": Scene(120, [Walker(0, 119, (60 + 110 * k, 120 + 60 * (k % 3)), (80 + 110 * k, 360 - 60 * (k % 3)), 70,
                                          occluded=(40 + 10 * k, 45 + 10 * k)) for k in range(5)],
                             noise_frac=0.05, miss_rate=0.1, false_positives_per_frame=0.2, seed=3),
        # The passer-by walks in front of the person (whose detections vanish) for 10 frames.
        "passer_by_10_frames": Scene(60, [Walker(0, 59, (200, 260), (320, 260), 150, occluded=(25, 35)),
                                          Walker(0, 59, (560, 270), (40, 270), 160)]),
        "crouch_stand": Scene(60, [Walker(0, 59, (150, 280), (250, 280), 200, crouch=(10, 40, 0.45)),
                                   Walker(0, 59, (480, 260), (440, 260), 180, crouch=(20, 50, 0.35))]),
        # Walks out of the right edge, hidden for 4 frames, turns back in: reappears where it left, not
        # where its motion led.
        "leave_reenter": Scene(60, [Walker(0, 59, (400, 240), (300, 240), 100, occluded=(28, 32), via=(30, (700, 240))),
                                    Walker(0, 59, (100, 300), (200, 300), 90)]),
        # 20 px per frame for 20 frames (half a box width between detector frames at stride 3), then still.
        "camera_pan": Scene(60, [Walker(0, 59, (300, 250), (340, 250), 120), Walker(0, 59, (450, 260), (420, 260), 110)],
                            pan=(15, 35, 20.0), size=(1200, 480)),
    }
