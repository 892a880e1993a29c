"""Temporal preconditioning of the track-wide optimisation.

The objective's joint and pose smoothness (weight x squared second differences along the track)
makes the problem stiff along time: a frame-to-frame zig-zag costs thousands of times more than
a slow drift that only the keypoints pin down, and L-BFGS, which starts from a scaled identity,
needs hundreds of iterations to sort the two apart (the last stage ended its 300 iterations far
from converged: 100 more lowered the objective by a fifth).

So the per-frame variables are optimised in a smoothed coordinate: x = x0 + M z, with
M = (I + c D^T D)^(-1/2), D the (W-2, W) second-difference operator. In z the smoothness
Hessian c D^T D (plus identity) becomes the identity: high frequencies move as freely as low
ones. Any invertible M gives the same minima; only the path there changes. M acts on windows of
W frames (block-diagonal, so the cost stays linear in the track's length); across a window's seam
the variables are preconditioned apart, as if the smoothness stopped there.

Shapes: x, z (T, D) per-frame variables; M (W, W).
"""
from __future__ import annotations

import functools

import numpy as np
import torch


@functools.lru_cache(maxsize=8)
def _window_matrix(length: int, stiffness: float) -> np.ndarray:
    """(length, length) (I + stiffness D^T D)^(-1/2), D the second-difference operator."""
    second = np.zeros((max(length - 2, 0), length))
    for row in range(length - 2):
        second[row, row:row + 3] = (1.0, -2.0, 1.0)
    values, vectors = np.linalg.eigh(np.eye(length) + stiffness * second.T @ second)
    return (vectors / np.sqrt(values)) @ vectors.T


class TemporalPreconditioner:
    """x = M z for per-frame variables of a track of `num_frames` frames; stiffness c (0: M = I)
    and window W frames (the track is cut into windows of W, the last one shorter)."""

    def __init__(self, num_frames: int, stiffness: float, window: int, device: torch.device | str = "cpu"):
        self.blocks = []  # (start, stop, matrix)
        if stiffness <= 0.0:
            return
        for start in range(0, num_frames, window):
            stop = min(start + window, num_frames)
            matrix = torch.as_tensor(_window_matrix(stop - start, float(stiffness)), dtype=torch.float32,
                                     device=device)
            self.blocks.append((start, stop, matrix))

    def apply(self, z: torch.Tensor) -> torch.Tensor:
        """(T, D) -> (T, D) M z."""
        if not self.blocks:
            return z
        return torch.cat([matrix @ z[start:stop] for start, stop, matrix in self.blocks])
