#!/usr/bin/env python
"""Train the bundled motion discriminator on the motion library (VIBE trains it on AMASS).

    .venv/bin/python tools/train_discriminator.py --db data/vibe_db

Real: 16-frame windows of the library's training split (mocap_train_db.pt, CMU motion capture
retargeted onto the body; mocap.cs.cmu.edu, free for all uses). Fake, made from real windows
each step: temporal jitter (per-frame Gaussian noise on every joint), a frozen pose held for the
window, frames shuffled in time, a window played at 4x speed (frames wrapping), random poses
within the joint limits' spread, and windows of the procedural motions (vibe/body/motions.py, the
kind of motion an untrained generator makes) at random speeds; the evaluation's procedural windows
come from other seeds. VIBE's least-squares objective (real -> 1, fake -> 0), Adam with VIBE's
weight decay and a 5x higher learning rate (VIBE's 1e-4 had not separated jitter after 3000 steps:
AUC 0.63); real windows overlap by half. Writes vibe/models/assets/motion_discriminator_cmu.pt (`disc_motion_state_dict`, as
VIBE's checkpoints) and prints the ROC AUC of held-out real windows (mocap_test_db.pt) against
jittered, procedural and the other fakes, and tests/data/motion_test_windows.npz (a sample of the
held-out windows for the test suite).
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from vibe.body.motions import MOTIONS  # noqa: E402
from vibe.data.vibe_db import Amass, open_dataset  # noqa: E402
from vibe.io.atomic import atomic_path  # noqa: E402
from vibe.losses import discriminator_loss  # noqa: E402
from vibe.metrics import roc_auc  # noqa: E402
from vibe.models.checkpoints import DISC_KEY  # noqa: E402
from vibe.models.discriminator import MotionDiscriminator  # noqa: E402

OUTPUT = REPO / "vibe" / "models" / "assets" / "motion_discriminator_cmu.pt"
TEST_SAMPLE = REPO / "tests" / "data" / "motion_test_windows.npz"
SEQLEN = 16  # VIBE's
HIDDEN, LAYERS = 256, 2  # a quarter of VIBE's width: 1.2 M parameters, 5 MB, enough for 40 k windows
BATCH = 64
ITERATIONS = 4000
LR, WEIGHT_DECAY = 5e-4, 1e-4
WINDOW_OVERLAP = 0.5
PROCEDURAL_FPS = (15.0, 40.0)  # playing the procedural motions at random rates varies their speed
JITTER_RAD = (0.03, 0.15)  # per-frame noise std range of the jittered fakes
RANDOM_POSE_RAD = 0.6  # std of the random-pose fakes (about a joint's range)
FAST_FACTOR = 4
TEST_SAMPLE_WINDOWS = 128
SEED = 0


def jitter(real: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    sigma = torch.empty(len(real), 1, 1).uniform_(*JITTER_RAD, generator=generator)
    return real + sigma * torch.randn(real.shape, generator=generator)


def frozen(real: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    return real[:, :1].expand_as(real).clone()


def shuffled(real: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    return real[:, torch.randperm(real.shape[1], generator=generator)]


def fast(real: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    frames = (torch.arange(real.shape[1]) * FAST_FACTOR) % real.shape[1]
    return real[:, frames]


def random_poses(real: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    return RANDOM_POSE_RAD * torch.randn(real.shape, generator=generator)


def procedural_windows(count: int, rng: np.random.Generator) -> torch.Tensor:
    """(count, SEQLEN, 69) windows of the procedural motions at random rates and start frames."""
    windows = []
    for index in range(count):
        motion = list(MOTIONS.values())[index % len(MOTIONS)](SEQLEN * 8, fps=rng.uniform(*PROCEDURAL_FPS))
        start = rng.integers(0, len(motion.pose) - SEQLEN)
        windows.append(motion.pose[start:start + SEQLEN, 3:])
    return torch.as_tensor(np.stack(windows), dtype=torch.float32)


def procedural(real: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    seed = int(torch.randint(2**31, (1,), generator=generator))
    return procedural_windows(len(real), np.random.default_rng(seed))


TRAINED_FAKES = {"jittered": jitter, "frozen": frozen, "shuffled": shuffled, "4x speed": fast,
                 "random poses": random_poses, "procedural": procedural}
EVALUATION_SEED = 12345  # procedural windows for the evaluation: a seed training never draws from here


def all_windows(dataset) -> torch.Tensor:
    return torch.stack([torch.as_tensor(dataset.sample(dataset.rows(i))["motion"]) for i in range(len(dataset))])


def make_fakes(real: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """One fake per real window, the kinds drawn evenly."""
    kinds = list(TRAINED_FAKES.values())
    choice = torch.randint(len(kinds), (len(real),), generator=generator)
    fakes = torch.empty_like(real)
    for index, make in enumerate(kinds):
        rows = choice == index
        if rows.any():
            fakes[rows] = make(real[rows], generator)
    return fakes


def train(discriminator: MotionDiscriminator, real: torch.Tensor, generator: torch.Generator) -> None:
    optimizer = torch.optim.Adam(discriminator.parameters(), lr=LR, weight_decay=WEIGHT_DECAY)
    discriminator.train()
    start = time.perf_counter()
    for step in range(1, ITERATIONS + 1):
        batch = real[torch.randint(len(real), (BATCH,), generator=generator)]
        scores = discriminator(torch.cat([batch, make_fakes(batch, generator)]))
        loss = discriminator_loss(scores[:BATCH], scores[BATCH:])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if step % 500 == 0:
            print(f"step {step}: loss {loss.item():.4f} ({time.perf_counter() - start:.0f} s)", flush=True)


@torch.no_grad()
def evaluate(discriminator: MotionDiscriminator, held_out: torch.Tensor, generator: torch.Generator) -> dict:
    discriminator.eval()
    real_scores = discriminator(held_out).squeeze(1).numpy()
    fakes = {name: make(held_out, generator) for name, make in TRAINED_FAKES.items() if name != "procedural"}
    fakes["procedural"] = procedural_windows(len(held_out), np.random.default_rng(EVALUATION_SEED))
    return {name: roc_auc(real_scores, discriminator(windows).squeeze(1).numpy()) for name, windows in fakes.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", type=Path, required=True, help="folder of mocap_{train,test}_db.pt")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(SEED)
    generator = torch.Generator().manual_seed(SEED)
    real = all_windows(Amass(args.db, SEQLEN, "mocap", "train", WINDOW_OVERLAP))
    held_out = all_windows(open_dataset("mocap", args.db, "test", SEQLEN, 0.0))
    discriminator = MotionDiscriminator(hidden_size=HIDDEN, num_layers=LAYERS)
    train(discriminator, real, generator)
    for name, value in evaluate(discriminator, held_out, generator).items():
        print(f"ROC AUC, held-out real vs {name}: {value:.3f}")
    OUTPUT.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(OUTPUT) as tmp:
        torch.save({DISC_KEY: discriminator.state_dict(), "trained_on": "CMU mocap library, train split",
                    "windows": len(real), "iterations": ITERATIONS}, tmp)
    sample = held_out[np.random.default_rng(SEED).choice(len(held_out), TEST_SAMPLE_WINDOWS, replace=False)]
    TEST_SAMPLE.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(TEST_SAMPLE) as tmp:
        with open(tmp, "wb") as handle:
            np.savez_compressed(handle, windows=sample.numpy().astype(np.float32))
    print(f"wrote {OUTPUT} ({OUTPUT.stat().st_size / 1e6:.1f} MB) from {len(real)} windows; {TEST_SAMPLE}")


if __name__ == "__main__":
    main()
