"""VIBE's training recipe as a library: generator (GRU encoder + IEF regressor on precomputed
features) against the motion discriminator, on VIBE's preprocessed files.

One `Trainer.fit()` runs TRAIN.EPOCHS epochs of TRAIN.ITERS_PER_EPOCH iterations: a batch of
TRAIN.BATCH_SIZE windows (TRAIN.DATA_2D_RATIO of them 2D data), a generator step (weighted 2D, 3D,
pose, shape and adversarial terms; Adam), a discriminator step on AMASS (real) against the
generator's motion (fake) every TRAIN.DISC_UPDATE_STEPS iterations, then validation PA-MPJPE on
TRAIN.DATASET_EVAL's val split driving both ReduceLROnPlateau schedulers and the best model.

Files in the output folder (all written atomically): `checkpoint.pth.tar` (VIBE's layout, its
`epoch` the 0-based index of the last finished epoch, as VIBE), `model_best.pth.tar` + `best.txt`,
`train_state.pth` (schedulers, best value, history: what an exact `--resume` needs beyond the
checkpoint), `log.csv` (one row per epoch).

Exact resume: the batches of an epoch and the dropout random state are functions of (SEED, epoch,
rank) only, so a run resumed after epoch k ends with the same weights as an uninterrupted run.
Under torchrun every process runs this same code; DDP averages gradients (gloo on CPU).
"""
from __future__ import annotations

import contextlib
import csv
import io
import logging
import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn

from vibe.data.loaders import MixedBatches, TrainBatch, concat
from vibe.data.vibe_db import Dataset3D, db_path, motion_source, open_dataset
from vibe.errors import AssetError, InputError, VibeError
from vibe.evaluation import evaluate_generator
from vibe.io.atomic import atomic_path, write_bytes_atomic
from vibe.losses import BODY_POSE_SLICE, LossWeights, discriminator_loss, generator_losses

log = logging.getLogger(__name__)

CHECKPOINT_FILE = "checkpoint.pth.tar"
BEST_FILE = "model_best.pth.tar"
BEST_TXT = "best.txt"
STATE_FILE = "train_state.pth"
LOG_FILE = "log.csv"
PERFORMANCE_KEY = "PA-MPJPE"
SEED_STRIDE = 1_000_003  # keeps (seed, epoch, rank) seeds apart


@dataclass
class DistInfo:
    """This process's place in a torchrun job (rank 0 of 1 without torchrun)."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1


def init_distributed(backend: str = "auto") -> DistInfo:
    """Join the torchrun job described by RANK / WORLD_SIZE / LOCAL_RANK (a no-op without them)."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size <= 1:
        return DistInfo()
    import torch.distributed as dist

    if backend == "auto":
        backend = "nccl" if torch.cuda.is_available() else "gloo"
    if not dist.is_initialized():
        dist.init_process_group(backend=backend)
    return DistInfo(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", "0")))


def build_models(cfg, body_model: nn.Module | None, mean_params=None):
    """A fresh generator (sizes from cfg.MODEL, `body_model` attached) and motion discriminator (cfg.TRAIN.DISC_*)."""
    from vibe.models.discriminator import MotionDiscriminator
    from vibe.models.generator import VibeGenerator
    from vibe.models.regressor import Regressor
    from vibe.models.temporal import TemporalEncoder

    encoder = TemporalEncoder(cfg.MODEL.FEATURE_DIM, cfg.MODEL.GRU_HIDDEN, cfg.MODEL.GRU_LAYERS)
    regressor = Regressor(cfg.MODEL.FEATURE_DIM, cfg.MODEL.IEF_ITERS, mean_params)
    discriminator = MotionDiscriminator(hidden_size=cfg.TRAIN.DISC_HIDDEN, num_layers=cfg.TRAIN.DISC_LAYERS)
    return VibeGenerator(encoder, regressor, body_model), discriminator


def read_training_checkpoint(path: Path) -> dict:
    """A checkpoint written by this trainer (VIBE's layout), on the CPU."""
    if not path.is_file():
        raise InputError(f"no checkpoint to resume at {path}; start without --resume or point OUTPUT_DIR at the run")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises many types for damaged files
        raise AssetError(f"checkpoint {path} is unreadable ({type(err).__name__}); delete it or restore a copy") from None


def load_generator_weights(generator: nn.Module, checkpoint: dict, source: str) -> None:
    """`checkpoint['gen_state_dict']` into `generator` (encoder + regressor), keys and shapes checked."""
    from vibe.models.checkpoints import GEN_KEY, check_state_dict, generator_state_dict

    expected = {key: value.shape for key, value in generator_state_dict(generator).items()}
    state = check_state_dict(checkpoint.get(GEN_KEY, {}), expected, f"{source} [{GEN_KEY}]")
    generator.load_state_dict(state, strict=False)


def load_pretrained_regressor(generator: nn.Module, path: Path) -> None:
    """SPIN's HMR head (and its mean parameters) into `generator.regressor`, as VIBE starts training."""
    from vibe.models.checkpoints import load_spin_regressor

    generator.regressor.load_state_dict(load_spin_regressor(path, device="cpu").regressor.state_dict())
    log.info("regressor initialised from %s", path)


def seed_everything(seed: int, epoch: int, rank: int) -> None:
    """Seed torch and numpy for (seed, epoch, rank): dropout and any sampling repeat on resume."""
    value = (seed * SEED_STRIDE + epoch) * SEED_STRIDE + rank
    torch.manual_seed(value)
    np.random.seed(value % 2**32)


@contextlib.contextmanager
def frozen(module: nn.Module):
    """Parameters of `module` without gradients inside the block (the generator's adversarial pass)."""
    flags = [p.requires_grad for p in module.parameters()]
    module.requires_grad_(False)
    try:
        yield module
    finally:
        for param, flag in zip(module.parameters(), flags):
            param.requires_grad_(flag)


def discriminator_step(discriminator: nn.Module, optimizer: torch.optim.Optimizer, real: torch.Tensor,
                       fake: torch.Tensor, weight: float = 1.0) -> dict[str, float]:
    """One least-squares update on `real (M, T, 69)` against `fake (N, T, 69)` (one forward pass, DDP-safe).

    Returns the loss and the mean raw scores of both sets."""
    scores = discriminator(torch.cat([real, fake.detach()]))
    real_scores, fake_scores = scores[:len(real)], scores[len(real):]
    loss = weight * discriminator_loss(real_scores, fake_scores)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    return {"d_loss": loss.item(), "d_real": real_scores.mean().item(), "d_fake": fake_scores.mean().item()}


def _unwrap(module: nn.Module) -> nn.Module:
    return module.module if hasattr(module, "module") else module


@dataclass
class TrainState:
    """What an exact resume needs beyond the checkpoint's weights and optimizers."""

    epochs_done: int = 0
    best_performance: float = float("inf")
    history: list = field(default_factory=list)


class Trainer:
    """Trains on cfg's datasets into `output_dir`; `fit()` returns the final `TrainState`."""

    def __init__(self, cfg, output_dir: str | Path, body_model: nn.Module, device: torch.device,
                 dist_info: DistInfo | None = None, data_dir: str | Path | None = None, resume: bool = False):
        from vibe.models.regressor import load_mean_params

        self.cfg, self.device = cfg, device
        self.dist = dist_info or DistInfo()
        self.output_dir = Path(output_dir)
        self.weights = LossWeights.from_cfg(cfg)
        self.batches = self._build_batches()
        self.val_data = self._open_val() if self.dist.is_main else None
        torch.manual_seed(cfg.SEED)  # the initial weights depend on the seed only (and match across ranks)
        generator, discriminator = build_models(cfg, body_model, load_mean_params(data_dir))
        self._init_regressor(generator, data_dir)
        self.generator, self.discriminator = generator.to(device), discriminator.to(device)
        t = cfg.TRAIN
        self.gen_opt = torch.optim.Adam(self.generator.parameters(), lr=t.GEN_LR, weight_decay=t.GEN_WD)
        self.disc_opt = torch.optim.Adam(self.discriminator.parameters(), lr=t.DISC_LR, weight_decay=t.DISC_WD)
        self.gen_sched, self.disc_sched = (torch.optim.lr_scheduler.ReduceLROnPlateau(
            opt, mode="min", factor=t.LR_FACTOR, patience=t.LR_PATIENCE) for opt in (self.gen_opt, self.disc_opt))
        self.state = TrainState()
        if resume:
            self._resume()
        self.gen_train, self.disc_train = self._wrap(self.generator), self._wrap(self.discriminator)

    # ----------------------------------------------------------------------------- set-up
    def _build_batches(self) -> MixedBatches:
        t = self.cfg.TRAIN

        def datasets(names):
            return concat([open_dataset(name, t.DB_DIR, "train", t.SEQLEN, float(t.OVERLAP.get(name, 0.0)),
                                        t.DB_BBOX_SCALE) for name in names])

        motion = motion_source(t.DB_DIR)
        log.info("real motion for the discriminator: %s", db_path(t.DB_DIR, motion, "train"))
        return MixedBatches(datasets(t.DATASETS_2D), datasets(t.DATASETS_3D),
                            open_dataset(motion, t.DB_DIR, "train", t.SEQLEN, 0.0), t.BATCH_SIZE,
                            t.DATA_2D_RATIO, t.ITERS_PER_EPOCH, self.cfg.SEED, self.dist.rank, self.dist.world_size)

    def _open_val(self) -> Dataset3D:
        t = self.cfg.TRAIN
        return open_dataset(t.DATASET_EVAL, t.DB_DIR, "val", self.cfg.EVAL.SEQLEN, 0.0, t.DB_BBOX_SCALE)

    def _init_regressor(self, generator: nn.Module, data_dir) -> None:
        name = self.cfg.TRAIN.PRETRAINED_REGRESSOR
        path = Path(data_dir or ".") / name if name else None
        if path is not None and path.is_file():
            load_pretrained_regressor(generator, path)
        else:
            log.warning("no pretrained regressor (%s): the regressor starts from scratch", path or "none configured")

    def _wrap(self, module: nn.Module) -> nn.Module:
        if not self.dist.enabled:
            return module
        from torch.nn.parallel import DistributedDataParallel

        device_ids = [self.device.index] if self.device.type == "cuda" else None
        # No buffers to keep in sync (no batch norm); the body model's are large and constant.
        return DistributedDataParallel(module, device_ids=device_ids, broadcast_buffers=False)

    def _resume(self) -> None:
        from vibe.models.checkpoints import DISC_KEY, DISC_OPT_KEY, GEN_OPT_KEY

        path = self.output_dir / CHECKPOINT_FILE
        checkpoint = read_training_checkpoint(path)
        load_generator_weights(self.generator, checkpoint, str(path))
        self.discriminator.load_state_dict(checkpoint[DISC_KEY])
        self.gen_opt.load_state_dict(checkpoint[GEN_OPT_KEY])
        self.disc_opt.load_state_dict(checkpoint[DISC_OPT_KEY])
        saved = read_training_checkpoint(self.output_dir / STATE_FILE)
        if saved["epochs_done"] != checkpoint["epoch"] + 1:
            raise InputError(f"{STATE_FILE} (epoch {saved['epochs_done']}) and {CHECKPOINT_FILE} (epoch "
                             f"{checkpoint['epoch'] + 1}) in {self.output_dir} disagree; the run stopped while "
                             "saving: restart it without --resume")
        self.gen_sched.load_state_dict(saved["gen_scheduler"])
        self.disc_sched.load_state_dict(saved["disc_scheduler"])
        self.state = TrainState(saved["epochs_done"], saved["best_performance"], list(saved["history"]))
        log.info("resumed %s after epoch %d (best %s %.2f)", path, self.state.epochs_done, PERFORMANCE_KEY,
                 self.state.best_performance)

    # ----------------------------------------------------------------------------- training
    def train_step(self, batch: TrainBatch, step: int) -> dict[str, float]:
        """One generator step and (every DISC_UPDATE_STEPS) one discriminator step; the losses by name."""
        output = self.gen_train(batch.data["features"])
        fake_motion = output.theta[..., BODY_POSE_SLICE]
        with frozen(self.discriminator):
            fake_scores = self.discriminator(fake_motion)
        terms = generator_losses(output.kp_2d, output.kp_3d, output.rotmat, output.betas, fake_scores,
                                 batch.data, self.weights)
        gen_loss = torch.stack(list(terms.values())).sum()
        if not torch.isfinite(gen_loss):
            raise VibeError(f"training diverged (non-finite generator loss at step {step}); lower TRAIN.GEN_LR")
        self.gen_opt.zero_grad()
        gen_loss.backward()
        self.gen_opt.step()
        losses = {name: value.item() for name, value in terms.items()} | {"gen_loss": gen_loss.item()}
        if step % self.cfg.TRAIN.DISC_UPDATE_STEPS == 0:
            losses |= discriminator_step(self.disc_train, self.disc_opt, batch.motion, fake_motion,
                                         self.weights.adversarial)
        return losses

    def train_epoch(self, epoch: int) -> dict[str, float]:
        """Mean losses of one epoch."""
        from tqdm import tqdm

        seed_everything(self.cfg.SEED, epoch, self.dist.rank)
        self.generator.train()
        self.discriminator.train()
        iters = self.cfg.TRAIN.ITERS_PER_EPOCH
        sums: dict[str, float] = {}
        counts: dict[str, int] = {}
        bar = tqdm(total=iters, desc=f"epoch {epoch + 1}/{self.cfg.TRAIN.EPOCHS}", leave=False,
                   disable=not (self.cfg.TRAIN.PROGRESS_BAR and self.dist.is_main))
        for index, batch in enumerate(self.batches.epoch(epoch)):
            losses = self.train_step(batch.to(self.device), epoch * iters + index)
            for name, value in losses.items():
                sums[name] = sums.get(name, 0.0) + value
                counts[name] = counts.get(name, 0) + 1
            bar.set_postfix(loss=f"{sums['gen_loss'] / counts['gen_loss']:.4f}")
            bar.update()
        bar.close()
        return {name: sums[name] / counts[name] for name in sums}

    def validate(self) -> dict[str, float]:
        """Validation metrics (main process), with PA-MPJPE shared with every process."""
        metrics: dict[str, float] = {}
        if self.dist.is_main:
            generator = _unwrap(self.generator)
            metrics = evaluate_generator(generator, self.val_data, generator.body_model, self.cfg.EVAL.SEQLEN,
                                         self.cfg.EVAL.BATCH_SIZE, self.device)
        if self.dist.enabled:
            import torch.distributed as dist

            shared = torch.tensor([metrics.get(PERFORMANCE_KEY, 0.0)], dtype=torch.float64)
            dist.broadcast(shared, src=0)
            metrics.setdefault(PERFORMANCE_KEY, float(shared.item()))
        return metrics

    def fit(self) -> TrainState:
        for epoch in range(self.state.epochs_done, self.cfg.TRAIN.EPOCHS):
            started = time.time()
            losses = self.train_epoch(epoch)
            metrics = self.validate()
            performance = metrics[PERFORMANCE_KEY]
            self.gen_sched.step(performance)
            self.disc_sched.step(performance)
            row = {"epoch": epoch + 1, **losses, **{f"val_{k}": v for k, v in metrics.items()},
                   "gen_lr": self.gen_opt.param_groups[0]["lr"], "disc_lr": self.disc_opt.param_groups[0]["lr"],
                   "seconds": round(time.time() - started, 3)}
            self.state.history.append(row)
            self.state.epochs_done = epoch + 1
            if self.dist.is_main:
                self._save(epoch, performance)
                log.info("epoch %d/%d: loss %.4f, val %s %.2f mm", epoch + 1, self.cfg.TRAIN.EPOCHS,
                         losses["gen_loss"], PERFORMANCE_KEY, performance)
        return self.state

    # ----------------------------------------------------------------------------- files
    def _save(self, epoch: int, performance: float) -> None:
        from vibe.models.checkpoints import save_vibe_checkpoint

        is_best = performance < self.state.best_performance
        if is_best:
            self.state.best_performance = performance
        checkpoint = self.output_dir / CHECKPOINT_FILE
        save_vibe_checkpoint(checkpoint, _unwrap(self.generator), _unwrap(self.discriminator), epoch, performance,
                             self.gen_opt, self.disc_opt)
        with atomic_path(self.output_dir / STATE_FILE) as tmp:
            torch.save({"epochs_done": self.state.epochs_done, "best_performance": self.state.best_performance,
                        "history": self.state.history, "gen_scheduler": self.gen_sched.state_dict(),
                        "disc_scheduler": self.disc_sched.state_dict()}, tmp)
        if is_best:
            with atomic_path(self.output_dir / BEST_FILE) as tmp:
                shutil.copyfile(checkpoint, tmp)
            write_bytes_atomic(self.output_dir / BEST_TXT, f"{performance}\n".encode())
        self._write_log()

    def _write_log(self) -> None:
        columns: list[str] = []
        for row in self.state.history:
            columns += [key for key in row if key not in columns]
        text = io.StringIO()
        writer = csv.DictWriter(text, fieldnames=columns, restval="")
        writer.writeheader()
        writer.writerows(self.state.history)
        write_bytes_atomic(self.output_dir / LOG_FILE, text.getvalue().encode())


def load_trained_generator(cfg, path: str | Path, body_model: nn.Module, device: torch.device) -> nn.Module:
    """The generator of a VIBE-layout checkpoint (VIBE's released file or one of ours), in eval mode.

    VIBE's network sizes go through `vibe.models.load_vibe` (which reads VIBE's numpy-typed
    fields); other cfg.MODEL sizes (e.g. the smoke config) are built from the config first.
    """
    from vibe.config import get_cfg_defaults
    from vibe.models.checkpoints import load_vibe

    defaults = get_cfg_defaults().MODEL
    sizes = ("FEATURE_DIM", "GRU_HIDDEN", "GRU_LAYERS", "IEF_ITERS")
    if all(cfg.MODEL[key] == defaults[key] for key in sizes):
        return load_vibe(path, body_model=body_model, device=device)
    generator, _ = build_models(cfg, body_model)
    load_generator_weights(generator, read_training_checkpoint(Path(path)), str(path))
    return generator.to(device).eval()
