"""vibe.fitting: temporal SMPLify, fitting the body model to 2D keypoints over whole tracks.

    from vibe.fitting import fit_track
    result, diagnostics = fit_track(body, keypoints, (width, height))

`keypoints` (T, 49, 3) spin49 (x px, y px, confidence; 0 = missing). The result is a
vibe.io.results.TrackResult (VIBE's keys, plus the camera-space translation `transl`).
"""
from __future__ import annotations

from vibe.fitting.priors import GMMPosePrior, OwnPosePrior, load_pose_prior, read_gmm_file
from vibe.fitting.smplify import FitDiagnostics, FitInit, TemporalSMPLify

__all__ = ["FitDiagnostics", "FitInit", "GMMPosePrior", "OwnPosePrior", "TemporalSMPLify", "fit_track",
           "load_pose_prior", "read_gmm_file"]


def fit_track(body, keypoints, image_size, cfg=None, data_dir=None, focal_length=None, init=None,
              frame_ids=None, track_id=0, device="cpu", smooth=True):
    """Fit one track with a fresh TemporalSMPLify (pose prior from `data_dir`, see load_pose_prior).

    cfg: the full config (None: defaults). Returns (TrackResult, FitDiagnostics). To fit many
    tracks, build one TemporalSMPLify and call its `fit` per track.
    """
    from vibe.config import get_cfg_defaults

    cfg = cfg or get_cfg_defaults()
    fitter = TemporalSMPLify(body, cfg, load_pose_prior(cfg.FITTING, data_dir), device=device, smooth=smooth)
    return fitter.fit(keypoints, image_size, focal_length=focal_length, init=init, frame_ids=frame_ids,
                      track_id=track_id)
