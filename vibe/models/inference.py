"""Network inference over one track: crops -> ResNet-50 features -> temporal model -> SMPL.

Features are computed in fixed batches of `cfg.MODEL.FEATURE_BATCH_SIZE` under
`torch.inference_mode`, so memory stays bounded whatever the track length (only the
`(n, 2048)` features are kept). Two ways to cut a track into GRU sequences
(`cfg.MODEL.SEQUENCE_MODE`):

- 'chunk' (VIBE parity): consecutive chunks of up to `cfg.MODEL.CHUNK_SIZE` frames, each run as
  one GRU sequence from a zero state, as VIBE's demo does with `--vibe_batch_size`. Results
  depend on the chunk size (a frame sees all earlier frames of its chunk, none of the previous
  chunk).
- 'window' (default): overlapping windows of `cfg.MODEL.SEQLEN` frames (the length VIBE is
  trained on) every `SEQLEN - WINDOW_OVERLAP` frames, the last one ending on the last frame.
  Each frame is taken from the window in which it is most central (ties: the earlier window), so
  every frame's result depends only on its own window. Windows always run in groups of
  `WINDOW_GROUP` (the last group zero-padded), so the results are bit-identical whatever the
  track length beyond the window or any batch setting (CHUNK_SIZE, FEATURE_BATCH_SIZE of given
  features): the batch shape of every matrix product is fixed.

Shape is averaged per track: the mesh of every frame uses the mean betas over the track
(`track_betas`), while the per-frame betas stay in `betas`/`theta`.
"""
from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass
from typing import Iterable, Iterator

import numpy as np
import torch
from torch import nn
from yacs.config import CfgNode

from vibe.config import get_cfg_defaults
from vibe.errors import InputError
from vibe.models.backbone import ResNet50Backbone, compile_for_inference, fuse_for_inference
from vibe.models.generator import POSE_AA_DIM, VibeGenerator, VibeOutput, pose_body
from vibe.models.regressor import CAM_DIM

log = logging.getLogger(__name__)

SEQUENCE_MODES = ("window", "chunk")
AUTOCAST_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}
UINT8_MAX = 255.0
# Windows per temporal forward in 'window' mode. A constant, not a setting: CPU matrix kernels
# round differently for different batch shapes, and a fixed shape keeps results bit-identical.
WINDOW_GROUP = 16  # long tracks: ~2x faster than 8; a lone window pays 16x its small cost


@dataclass
class TrackPrediction:
    """Network results for one track of n frames (CPU, float32).

    `theta (n, 85)` = [cam, pose, betas]; `rotmat (n, 24, 3, 3)`; `betas (n, 10)` per frame;
    `track_betas (10,)` their mean, used for the meshes; with a body model `verts (n, V, 3)`,
    `kp_3d (n, 49, 3)`, `kp_2d (n, 49, 2)` (crop coordinates in [-1, 1]), else None.
    """

    theta: torch.Tensor
    rotmat: torch.Tensor
    track_betas: torch.Tensor
    verts: torch.Tensor | None = None
    kp_3d: torch.Tensor | None = None
    kp_2d: torch.Tensor | None = None

    @property
    def cam(self) -> torch.Tensor:
        return self.theta[:, :CAM_DIM]

    @property
    def pose(self) -> torch.Tensor:
        return self.theta[:, CAM_DIM:CAM_DIM + POSE_AA_DIM]

    @property
    def betas(self) -> torch.Tensor:
        return self.theta[:, CAM_DIM + POSE_AA_DIM:]


def _module_device(module: nn.Module) -> torch.device:
    """Where a module's first parameter or buffer lives (the CPU for a module holding neither)."""
    for tensor in (*module.parameters(), *module.buffers()):
        return tensor.device
    return torch.device("cpu")


def _autocast(device: torch.device, mode: str):
    """bf16/fp16 autocast on a GPU; bf16 also on the CPU (oneDNN runs it ~1.6x faster on CPUs
    with AVX-512 bf16, at ~0.4 % relative feature error; slower on CPUs without); fp16 on the CPU
    is ignored with a note (no fast CPU kernels)."""
    if mode == "none":
        return contextlib.nullcontext()
    if mode not in AUTOCAST_DTYPES:
        raise InputError(f"MODEL.AUTOCAST must be none, bf16 or fp16, got '{mode}'")
    if device.type == "cpu" and mode == "fp16":
        log.info("MODEL.AUTOCAST=fp16 ignored on the CPU: use bf16 there")
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=AUTOCAST_DTYPES[mode])


def crops_to_tensor(crops, mean: Iterable[float], std: Iterable[float]) -> torch.Tensor:
    """Crops as the backbone takes them: float `(B, 3, S, S)`.

    uint8 RGB crops `(B, S, S, 3)` (numpy or torch) are scaled to [0, 1] and ImageNet-normalised
    with `mean`/`std`; float input is taken as already normalised `(B, 3, S, S)`.
    """
    batch = torch.as_tensor(crops)
    mean_t = torch.as_tensor(list(mean), dtype=torch.float32).reshape(1, -1, 1, 1)
    std_t = torch.as_tensor(list(std), dtype=torch.float32).reshape(1, -1, 1, 1)
    if batch.dtype == torch.uint8 and batch.ndim == 4:
        batch = (batch.permute(0, 3, 1, 2).float().div_(UINT8_MAX) - mean_t) / std_t
    if batch.ndim != 4 or batch.shape[1] != mean_t.shape[1]:
        raise InputError(f"crops must be uint8 (B, S, S, 3) or normalised float (B, 3, S, S), got shape {tuple(batch.shape)}")
    return batch.float()


def _rebatch(batches: Iterable, size: int) -> Iterator[torch.Tensor]:
    """Re-cut a stream of batches into batches of exactly `size` (the last may be shorter)."""
    pending: list[torch.Tensor] = []
    count = 0
    for batch in batches:
        pending.append(batch)
        count += batch.shape[0]
        while count >= size:
            joined = torch.cat(pending)
            yield joined[:size]
            pending, count = [joined[size:]], count - size
    if count:
        yield torch.cat(pending)


def prepare_backbone(backbone: ResNet50Backbone, cfg: CfgNode | None = None) -> nn.Module:
    """The fastest form of a loaded backbone for inference: BN folded + channels_last, compiled
    when `cfg.MODEL.COMPILE_BACKBONE` (see BENCHMARKS.md for what each step gains)."""
    cfg = cfg or get_cfg_defaults()
    return compile_for_inference(backbone) if cfg.MODEL.COMPILE_BACKBONE else fuse_for_inference(backbone)


def _padded(batch: torch.Tensor, size: int) -> torch.Tensor:
    """`batch` with zero crops appended up to `size` rows (one input shape for a compiled backbone)."""
    if batch.shape[0] == size:
        return batch
    return torch.cat([batch, batch.new_zeros(size - batch.shape[0], *batch.shape[1:])])


def extract_features(backbone: nn.Module, crop_batches: Iterable, cfg: CfgNode | None = None) -> torch.Tensor:
    """Stream crop batches through the backbone in batches of `cfg.MODEL.FEATURE_BATCH_SIZE`.

    `crop_batches`: iterable of uint8 `(B, S, S, 3)` or normalised float `(B, 3, S, S)` crops.
    `backbone`: any module mapping crops to `(B, 2048)`, best `prepare_backbone(...)`'s.
    Returns `(n, 2048)` float32 features on the CPU.
    """
    cfg = cfg or get_cfg_defaults()
    device = _module_device(backbone)
    size = cfg.MODEL.FEATURE_BATCH_SIZE
    tensors = (crops_to_tensor(c, cfg.CROP.MEAN, cfg.CROP.STD) for c in crop_batches)
    features = []
    with torch.inference_mode(), _autocast(device, cfg.MODEL.AUTOCAST):
        for batch in _rebatch(tensors, size):
            rows = batch.shape[0]
            if cfg.MODEL.COMPILE_BACKBONE:
                batch = _padded(batch, size)
            batch = batch.to(device).contiguous(memory_format=torch.channels_last)
            features.append(backbone(batch)[:rows].float().cpu())
    if not features:
        return torch.zeros(0, cfg.MODEL.FEATURE_DIM)
    return torch.cat(features)


def window_starts(n_frames: int, seqlen: int, overlap: int) -> list[int]:
    """Start frames of the windows covering `n_frames`: every `seqlen - overlap`, the last ending on the last frame."""
    stride = seqlen - overlap
    if stride <= 0:
        raise InputError(f"MODEL.WINDOW_OVERLAP ({overlap}) must be smaller than MODEL.SEQLEN ({seqlen})")
    last = max(n_frames - seqlen, 0)
    return sorted(set(range(0, last, stride)) | {last})


def central_window(n_frames: int, starts: list[int], seqlen: int) -> np.ndarray:
    """For each frame, the index of the window (by start) whose centre is nearest (ties: earlier)."""
    length = min(seqlen, n_frames)
    centres = np.asarray(starts, np.float64) + (length - 1) / 2.0
    frames = np.arange(n_frames)[:, None]
    inside = (frames >= np.asarray(starts)) & (frames < np.asarray(starts) + length)
    distance = np.where(inside, np.abs(frames - centres), np.inf)
    return np.argmin(distance, axis=1)  # argmin returns the first of equal minima


def _run_sequences(generator: VibeGenerator, sequences: torch.Tensor, batch_size: int, cfg: CfgNode) -> VibeOutput:
    """Generator over `(S, T, 2048)` sequences, `batch_size` at a time; outputs on the CPU."""
    device = _module_device(generator)
    thetas, rotmats = [], []
    with torch.inference_mode(), _autocast(device, cfg.MODEL.AUTOCAST):
        for start in range(0, sequences.shape[0], batch_size):
            out = generator(sequences[start:start + batch_size].to(device), with_body=False)
            thetas.append(out.theta.float().cpu())
            rotmats.append(out.rotmat.float().cpu())
    return VibeOutput(theta=torch.cat(thetas), rotmat=torch.cat(rotmats))


def _predict_windows(generator: VibeGenerator, features: torch.Tensor, cfg: CfgNode) -> VibeOutput:
    n_frames, seqlen = features.shape[0], cfg.MODEL.SEQLEN
    starts = window_starts(n_frames, seqlen, cfg.MODEL.WINDOW_OVERLAP)
    length = min(seqlen, n_frames)
    n_padded = -(-len(starts) // WINDOW_GROUP) * WINDOW_GROUP
    # Fixed-size groups, the last padded with zero windows: every window goes through matrix
    # products of the same shape, at the same place, whatever the track length.
    windows = torch.zeros(n_padded, length, features.shape[1], dtype=features.dtype)
    for index, start in enumerate(starts):
        windows[index] = features[start:start + length]
    out = _run_sequences(generator, windows, WINDOW_GROUP, cfg)
    chosen = torch.as_tensor(central_window(n_frames, starts, seqlen))
    offset = torch.arange(n_frames) - torch.as_tensor(starts)[chosen]
    return VibeOutput(theta=out.theta[chosen, offset], rotmat=out.rotmat[chosen, offset])


def _predict_chunks(generator: VibeGenerator, features: torch.Tensor, cfg: CfgNode) -> VibeOutput:
    chunk = cfg.MODEL.CHUNK_SIZE
    outs = [_run_sequences(generator, features[start:start + chunk][None], 1, cfg)
            for start in range(0, features.shape[0], chunk)]
    return VibeOutput(theta=torch.cat([o.theta[0] for o in outs]), rotmat=torch.cat([o.rotmat[0] for o in outs]))


def _posed_with_track_shape(body_model: nn.Module, prediction: TrackPrediction, batch_size: int) -> None:
    """Fill verts/kp_3d/kp_2d using the track's mean betas for every frame, `batch_size` frames at a time."""
    device = _module_device(body_model)
    parts = []
    with torch.inference_mode():
        for start in range(0, prediction.theta.shape[0], batch_size):
            rotmat = prediction.rotmat[start:start + batch_size].to(device)
            betas = prediction.track_betas.to(device).expand(rotmat.shape[0], -1)
            body = pose_body(body_model, rotmat, betas, prediction.cam[start:start + batch_size].to(device))
            parts.append([t.float().cpu() for t in (body.verts, body.kp_3d, body.kp_2d)])
    prediction.verts, prediction.kp_3d, prediction.kp_2d = (torch.cat(p) for p in zip(*parts))


def predict_track(generator: VibeGenerator, features: torch.Tensor, cfg: CfgNode | None = None,
                  body_model: nn.Module | None = None) -> TrackPrediction:
    """SMPL parameters for one track from its `(n, 2048)` features (see the module doc for the modes).

    With `body_model` (vibe.body BodyModel) the meshes use the track's mean betas.
    """
    cfg = cfg or get_cfg_defaults()
    mode = cfg.MODEL.SEQUENCE_MODE
    if mode not in SEQUENCE_MODES:
        raise InputError(f"MODEL.SEQUENCE_MODE must be one of {SEQUENCE_MODES}, got '{mode}'")
    if features.ndim != 2 or features.shape[0] == 0:
        raise InputError(f"a track needs (n, {cfg.MODEL.FEATURE_DIM}) features with n >= 1, got {tuple(features.shape)}")
    run = _predict_windows if mode == "window" else _predict_chunks
    out = run(generator, features.float().cpu(), cfg)
    betas = out.betas
    prediction = TrackPrediction(theta=out.theta, rotmat=out.rotmat, track_betas=betas.mean(dim=0))
    if body_model is not None:
        _posed_with_track_shape(body_model, prediction, cfg.MODEL.BODY_BATCH_SIZE)
    return prediction


def predict_track_from_crops(backbone: nn.Module, generator: VibeGenerator, crop_batches: Iterable,
                             cfg: CfgNode | None = None, body_model: nn.Module | None = None) -> TrackPrediction:
    """Crops of one track (uint8 or normalised batches) -> `TrackPrediction`."""
    return predict_track(generator, extract_features(backbone, crop_batches, cfg), cfg, body_model)
