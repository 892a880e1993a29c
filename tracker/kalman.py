"""Constant-velocity Kalman filter on a box (cx, cy, w, h), noise scaled by the box height.

State x = (cx, cy, w, h, vcx, vcy, vw, vh) in pixels and pixels per frame; measurement z =
(cx, cy, w, h). Scaling the noise by the box height makes one configuration work for people
20 px and 500 px tall (the same idea as SORT/DeepSORT's height-relative noise).
"""
from __future__ import annotations

import numpy as np

BOX_DIMS = 4
STATE_DIMS = 2 * BOX_DIMS


class BoxKalman:
    """One track's filter. `predict()` advances one frame; `update(z)` fuses a detection."""

    def __init__(self, box_cxcywh: np.ndarray, pos_std: float, vel_std: float, meas_std: float):
        self.pos_std, self.vel_std, self.meas_std = pos_std, vel_std, meas_std
        self.x = np.concatenate([np.asarray(box_cxcywh, np.float64), np.zeros(BOX_DIMS)])
        height = self._height()
        self.P = np.diag(np.r_[np.full(BOX_DIMS, 2 * meas_std * height), np.full(BOX_DIMS, 10 * vel_std * height)] ** 2)
        self.F = np.eye(STATE_DIMS)
        self.F[:BOX_DIMS, BOX_DIMS:] = np.eye(BOX_DIMS)  # position += velocity (one frame)
        self.H = np.eye(BOX_DIMS, STATE_DIMS)

    def _height(self) -> float:
        return max(float(self.x[3]), 1.0)

    def predict(self) -> np.ndarray:
        """Advance one frame; returns the predicted box (cx, cy, w, h)."""
        height = self._height()
        Q = np.diag(np.r_[np.full(BOX_DIMS, self.pos_std * height), np.full(BOX_DIMS, self.vel_std * height)] ** 2)
        self.x = self.F @ self.x
        self.P = self.F @ self.P @ self.F.T + Q
        self.x[2:4] = np.maximum(self.x[2:4], 1.0)  # a box never shrinks to nothing while coasting
        return self.x[:BOX_DIMS].copy()

    def innovation_cov(self) -> np.ndarray:
        """S = H P H^T + R (4, 4) for the current state."""
        R = np.eye(BOX_DIMS) * (self.meas_std * self._height()) ** 2
        return self.H @ self.P @ self.H.T + R

    def centre_mahalanobis(self, centres: np.ndarray) -> np.ndarray:
        """Squared Mahalanobis distances (K,) of detected box centres (K, 2) from the predicted centre."""
        S = self.innovation_cov()[:2, :2]
        diff = np.asarray(centres, np.float64).reshape(-1, 2) - self.x[:2]
        return np.einsum("ki,ij,kj->k", diff, np.linalg.inv(S), diff)

    def update(self, box_cxcywh: np.ndarray) -> None:
        S = self.innovation_cov()
        gain = self.P @ self.H.T @ np.linalg.inv(S)
        self.x = self.x + gain @ (np.asarray(box_cxcywh, np.float64) - self.H @ self.x)
        self.P = (np.eye(STATE_DIMS) - gain @ self.H) @ self.P
