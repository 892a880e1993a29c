"""The network path: frozen ResNet-50 -> GRU temporal encoder -> IEF regressor, and the motion discriminator.

Public API (loaded lazily, so `import vibe.models` does not import torch until a name is used):
- `load_spin_backbone(path, device=None)` -> `ResNet50Backbone`: crops `(B, 3, 224, 224)` -> `(B, 2048)`
- `load_spin_regressor(path, body_model=None, device=None)` -> single-frame `VibeGenerator`
- `load_vibe(path, body_model=None, device=None)` -> `VibeGenerator`: `(N, T, 2048)` -> `VibeOutput`
- `load_motion_discriminator(path, device=None)` -> `MotionDiscriminator`: `(N, T, 69)` -> `(N, 1)`
- `save_vibe_checkpoint(path, generator, discriminator, epoch, performance, gen_optimizer=None, disc_optimizer=None)`
- `extract_features`, `predict_track`, `predict_track_from_crops` -> `TrackPrediction` (inference.py)
- `prepare_backbone(backbone, cfg)`: the fast inference form (BN folded, channels_last, optionally compiled)
"""
from __future__ import annotations

import importlib

_EXPORTS = {
    "ResNet50Backbone": "backbone",
    "fuse_for_inference": "backbone",
    "compile_for_inference": "backbone",
    "Regressor": "regressor",
    "RegressorOutput": "regressor",
    "MeanParams": "regressor",
    "load_mean_params": "regressor",
    "TemporalEncoder": "temporal",
    "MotionDiscriminator": "discriminator",
    "DiscriminatorOutput": "discriminator",
    "VibeGenerator": "generator",
    "VibeOutput": "generator",
    "build_generator": "generator",
    "load_spin_backbone": "checkpoints",
    "load_spin_regressor": "checkpoints",
    "load_vibe": "checkpoints",
    "load_motion_discriminator": "checkpoints",
    "save_vibe_checkpoint": "checkpoints",
    "extract_features": "inference",
    "prepare_backbone": "inference",
    "predict_track": "inference",
    "predict_track_from_crops": "inference",
    "TrackPrediction": "inference",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module 'vibe.models' has no attribute '{name}'")
    return getattr(importlib.import_module(f"vibe.models.{_EXPORTS[name]}"), name)
