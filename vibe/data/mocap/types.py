"""The one result type of the motion-capture readers."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class MocapSequence:
    """One motion-capture take as 3D points over time.

    name: unique and stable: "<format>/<file's folder>/<file stem>" ("asfamc/02/02_01",
        "bvh/salsa/01"); expmap: "expmap/<path below skeleton.json's folder>"
        ("expmap/train/walking/walking_1").
    subject: who moved, the key to split data by. ASF/AMC: "cmu<ASF file stem>" (CMU's subject
        number, "cmu02"). BVH: "bvh_salsa_a" / "bvh_salsa_b" for the two salsa partners (files
        01-15 / 16-30, see vibe.data.mocap.bvh), else the sequence name: the files do not say.
        expmap: the sequence name (the files do not say), except takes identified as a CMU take
        (expmap.KNOWN_SUBJECTS: train/walking/walking_1 is 02_01, so "cmu02").
    source_format: "bvh" | "asfamc" | "expmap".
    fps: frames per second.
    convention: the `vibe.keypoints.conventions` name whose joint names order `positions`.
    positions: (T, J, 3) float32 points in metres, y up, right-handed, in the capture's world frame.
    """

    name: str
    subject: str
    source_format: str
    fps: float
    convention: str
    positions: np.ndarray

    @property
    def num_frames(self) -> int:
        """T, the number of frames."""
        return int(self.positions.shape[0])
