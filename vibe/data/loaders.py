"""Training batches: 2D and 3D windows mixed by ratio, plus AMASS motion for the discriminator.

Which windows an iteration uses is a pure function of (seed, epoch, iteration): every epoch draws
fresh permutations of each dataset (reshuffled when one runs out), so a run resumed at an epoch
boundary sees exactly the batches an uninterrupted run would. Under DDP each rank takes its own
slice of every global batch, so the global batch size stays TRAIN.BATCH_SIZE.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator

import numpy as np
import torch
from torch.utils.data import ConcatDataset, Dataset

from vibe.errors import InputError


@dataclass
class TrainBatch:
    """One iteration's data on one rank. `data` keys (B = n_2d + n_3d windows of T frames):
    `features (B, T, F)`, `kp_2d (B, T, 49, 3)`, `kp_3d (B, T, 49, 3)`, `theta (B, T, 85)`,
    `w_3d (B, T)`, `w_smpl (B, T)`; `motion (M, T, 69)` real AMASS body poses."""

    data: dict[str, torch.Tensor]
    motion: torch.Tensor

    def to(self, device: torch.device) -> "TrainBatch":
        return TrainBatch({k: v.to(device) for k, v in self.data.items()}, self.motion.to(device))


def split_batch(batch_size: int, ratio_2d: float, have_2d: bool, have_3d: bool) -> tuple[int, int]:
    """(2D windows, 3D windows) per batch: int(batch * ratio) 2D and the rest 3D, as VIBE; all of
    the batch goes to the one kind present when the other is missing."""
    if not (have_2d or have_3d):
        raise InputError("no training data: list at least one dataset in TRAIN.DATASETS_2D or TRAIN.DATASETS_3D")
    if not have_3d:
        return batch_size, 0
    if not have_2d:
        return 0, batch_size
    n_2d = int(batch_size * ratio_2d)
    return n_2d, batch_size - n_2d


def concat(datasets: list[Dataset]) -> Dataset | None:
    """One dataset over several (None for none)."""
    if not datasets:
        return None
    return datasets[0] if len(datasets) == 1 else ConcatDataset(datasets)


class IndexStream:
    """Endless indices into a dataset of `size` windows: consecutive permutations from `rng`."""

    def __init__(self, size: int, rng: np.random.Generator):
        self.size, self.rng = size, rng
        self.pending = np.zeros(0, np.int64)

    def take(self, count: int) -> np.ndarray:
        while len(self.pending) < count:
            self.pending = np.concatenate([self.pending, self.rng.permutation(self.size)])
        taken, self.pending = self.pending[:count], self.pending[count:]
        return taken


def _collate(dataset: Dataset, indices: np.ndarray) -> dict[str, torch.Tensor]:
    items = [dataset[int(i)] for i in indices]
    return {key: torch.stack([item[key] for item in items]) for key in items[0]}


class MixedBatches:
    """Per-epoch iterator of `TrainBatch` over 2D data, 3D data and AMASS motion windows."""

    def __init__(self, data_2d: Dataset | None, data_3d: Dataset | None, motion: Dataset, batch_size: int,
                 ratio_2d: float, iters_per_epoch: int, seed: int, rank: int = 0, world_size: int = 1):
        self.sources = [(d, n) for d, n in zip((data_2d, data_3d), split_batch(
            batch_size, ratio_2d, data_2d is not None and len(data_2d) > 0, data_3d is not None and len(data_3d) > 0))
            if n > 0]
        for dataset, _ in self.sources:
            if len(dataset) == 0:
                raise InputError("a training dataset has no window of TRAIN.SEQLEN frames; lower TRAIN.SEQLEN")
        if len(motion) == 0:
            raise InputError("AMASS has no motion window of TRAIN.SEQLEN frames; lower TRAIN.SEQLEN")
        if batch_size % world_size:
            raise InputError(f"TRAIN.BATCH_SIZE {batch_size} must be divisible by the {world_size} processes")
        self.motion, self.batch_size = motion, batch_size
        self.iters_per_epoch, self.seed = iters_per_epoch, seed
        self.rank, self.world_size = rank, world_size

    def _rank_slice(self, indices: np.ndarray) -> np.ndarray:
        return indices[self.rank::self.world_size]

    def epoch(self, epoch: int) -> Iterator[TrainBatch]:
        """The `iters_per_epoch` batches of `epoch` (the same on every call with the same arguments)."""
        rng = np.random.default_rng([self.seed, epoch])
        streams = [IndexStream(len(dataset), rng) for dataset, _ in self.sources]
        motion_stream = IndexStream(len(self.motion), rng)
        for _ in range(self.iters_per_epoch):
            # The global batch lists its 2D windows, then its 3D ones; ranks take every world_size-th entry,
            # so every rank gets the same number of windows.
            source_ids = np.concatenate([np.full(count, i) for i, (_, count) in enumerate(self.sources)])
            indices = np.concatenate([stream.take(count) for (_, count), stream in zip(self.sources, streams)])
            source_ids, indices = self._rank_slice(source_ids), self._rank_slice(indices)
            parts = [_collate(dataset, indices[source_ids == i]) for i, (dataset, _) in enumerate(self.sources)
                     if (source_ids == i).any()]
            data = {key: torch.cat([part[key] for part in parts]) for key in parts[0]}
            motion = _collate(self.motion, self._rank_slice(motion_stream.take(self.batch_size)))["motion"]
            yield TrainBatch(data, motion)
