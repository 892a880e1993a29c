"""The result of a run: per track, per-frame SMPL parameters, cameras, meshes and joints.

`vibe_output.pkl` (joblib) keeps VIBE's keys and meanings (SPEC section 3) so existing scripts
read it unchanged; extra keys (perspective translation, averaged betas, which method made it)
are added. Both reconstruction paths (network, fitting) produce `TrackResult`s, so the demo,
renderer and exporters do not care which path made them.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field, fields
from pathlib import Path

import numpy as np

from vibe.errors import InputError
from vibe.io.atomic import atomic_path

log = logging.getLogger(__name__)

RESULT_FILE_NAME = "vibe_output.pkl"
# Arrays every track carries, in VIBE's meaning; `None` allowed only where VIBE allows it.
_OPTIONAL_KEYS = ("joints2d", "transl")


@dataclass
class TrackResult:
    """One person over the n frames of its track. All arrays float32 unless noted.

    frame_ids (n,) int 0-based; bboxes (n, 4) square (cx, cy, w, h) before the 1.1 crop scale;
    pred_cam (n, 3) weak perspective (s, tx, ty) in the crop; orig_cam (n, 4) (sx, sy, tx, ty)
    in the full image; pose (n, 72) axis-angle; betas (n, 10) per frame; verts (n, V, 3) posed
    with the track's averaged shape; joints3d (n, 49, 3) spin49; joints2d (n, 49, 3) the 2D
    keypoints used (x, y, conf in pixels) or None; joints2d_img_coord (n, 49, 2) projected
    joints in pixels; transl (n, 3) camera-space translation (metres, OpenCV camera axes) or None.
    """

    frame_ids: np.ndarray
    bboxes: np.ndarray
    pred_cam: np.ndarray
    orig_cam: np.ndarray
    pose: np.ndarray
    betas: np.ndarray
    verts: np.ndarray
    joints3d: np.ndarray
    joints2d_img_coord: np.ndarray
    joints2d: np.ndarray | None = None
    transl: np.ndarray | None = None
    meta: dict = field(default_factory=dict)  # method, body model, fps, ...

    def __post_init__(self):
        n = len(self.frame_ids)
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name == "meta" or value is None:
                continue
            if len(value) != n:
                raise InputError(f"track result field {f.name} has {len(value)} rows for {n} frames")

    @property
    def mean_betas(self) -> np.ndarray:
        """(10,) the track's averaged shape."""
        return self.betas.mean(axis=0)

    def to_vibe_dict(self) -> dict:
        """VIBE's per-track dict (float32 arrays), plus our extra keys."""
        out = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name == "meta":
                out[f.name] = dict(value)
            elif value is None:
                out[f.name] = None
            elif f.name == "frame_ids":
                out[f.name] = np.asarray(value, dtype=np.int64)
            else:
                out[f.name] = np.asarray(value, dtype=np.float32)
        return out

    @classmethod
    def from_vibe_dict(cls, data: dict) -> "TrackResult":
        names = {f.name for f in fields(cls)}
        missing = [k for k in names if k not in data and k not in _OPTIONAL_KEYS and k != "meta"]
        if missing:
            raise InputError(f"result entry lacks keys {sorted(missing)}; was it written by VIBE or this tool?")
        return cls(**{k: v for k, v in data.items() if k in names})


def save_results(results: dict[int, TrackResult], output_folder: str | Path) -> Path:
    """Write `vibe_output.pkl` and one `person_<id>.npz` per track, each atomically.

    Returns the pkl path.
    """
    import joblib

    folder = Path(output_folder)
    pkl_path = folder / RESULT_FILE_NAME
    payload = {int(track_id): result.to_vibe_dict() for track_id, result in results.items()}
    with atomic_path(pkl_path) as tmp:
        joblib.dump(payload, tmp)
    for track_id, entry in payload.items():
        arrays = {k: v for k, v in entry.items() if isinstance(v, np.ndarray)}
        with atomic_path(folder / f"person_{track_id}.npz") as tmp:
            np.savez(tmp, **arrays)  # compression saved ~9 % (float vertices) at 90 % of the save time
    log.info("wrote %s (%d people)", pkl_path, len(payload))
    return pkl_path


def load_results(path: str | Path) -> dict[int, TrackResult]:
    """Read a `vibe_output.pkl` (ours or VIBE's) back into TrackResults."""
    import joblib

    path = Path(path)
    if not path.is_file():
        raise InputError(f"result file {path} not found")
    try:
        payload = joblib.load(path)
    except Exception as err:  # joblib/pickle raise many types for a corrupt file
        raise InputError(f"result file {path} is unreadable ({type(err).__name__}); re-run the demo to rewrite it") from None
    return {int(k): TrackResult.from_vibe_dict(v) for k, v in payload.items()}
