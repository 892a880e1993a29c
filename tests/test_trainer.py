"""The trainer on toy VIBE files with configs/smoke_cpu.yaml: losses, files, exact resume, DDP."""
import csv
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from vibe_db_factory import vibe_db_dir  # noqa: F401 (fixture)
from vibe.config import load_config
from vibe.models.discriminator import MotionDiscriminator
from vibe.trainer import Trainer, discriminator_step

REPO = Path(__file__).resolve().parents[1]
NOISE_STD = 1.0  # rad: random poses, unlike any human motion
VIBE_KEYS = {"epoch", "gen_state_dict", "performance", "gen_optimizer", "disc_motion_state_dict", "disc_motion_optimizer"}


def _cfg(db_dir, epochs=2):
    return load_config(REPO / "configs/smoke_cpu.yaml", ["TRAIN.DB_DIR", str(db_dir), "TRAIN.EPOCHS", str(epochs)])


def _train(db_dir, out, body_model, epochs=2, resume=False):
    torch.set_num_threads(1)
    return Trainer(_cfg(db_dir, epochs), out, body_model, torch.device("cpu"), resume=resume).fit()


@pytest.fixture(scope="module")
def full_run(tmp_path_factory, vibe_db_dir, tiny_body_model):
    out = tmp_path_factory.mktemp("full_run")
    return out, _train(vibe_db_dir, out, tiny_body_model)


def test_two_epochs_learn_and_write_vibe_checkpoints(full_run):
    out, state = full_run
    assert state.epochs_done == 2 and len(state.history) == 2
    first, second = state.history
    for row in state.history:
        assert all(np.isfinite(value) for value in row.values())
    assert second["gen_loss"] < first["gen_loss"]
    assert second["kp_2d"] < first["kp_2d"] and second["kp_3d"] < first["kp_3d"]
    checkpoint = torch.load(out / "checkpoint.pth.tar", weights_only=True)
    assert set(checkpoint) == VIBE_KEYS and checkpoint["epoch"] == 1
    assert all(key.startswith(("encoder.", "regressor.")) for key in checkpoint["gen_state_dict"])
    best = min(row["val_PA-MPJPE"] for row in state.history)
    assert float((out / "best.txt").read_text()) == pytest.approx(best)
    assert torch.load(out / "model_best.pth.tar", weights_only=True)["performance"] == pytest.approx(best)
    with open(out / "log.csv") as handle:
        rows = list(csv.DictReader(handle))
    assert [int(row["epoch"]) for row in rows] == [1, 2]
    assert float(rows[1]["val_PA-MPJPE"]) == pytest.approx(second["val_PA-MPJPE"])
    assert not [p for p in out.iterdir() if p.name.startswith(".")]  # no temporary files left


def test_resumed_run_ends_with_the_uninterrupted_weights(tmp_path, full_run, vibe_db_dir, tiny_body_model):
    out, state = full_run
    _train(vibe_db_dir, tmp_path, tiny_body_model, epochs=1)
    resumed = _train(vibe_db_dir, tmp_path, tiny_body_model, epochs=2, resume=True)
    whole = torch.load(out / "checkpoint.pth.tar", weights_only=True)
    split = torch.load(tmp_path / "checkpoint.pth.tar", weights_only=True)
    for key in ("gen_state_dict", "disc_motion_state_dict"):
        assert whole[key].keys() == split[key].keys()
        for name in whole[key]:
            assert torch.equal(whole[key][name], split[key][name]), f"{key}.{name}"
    untimed = lambda rows: [{k: v for k, v in row.items() if k != "seconds"} for row in rows]  # noqa: E731
    assert untimed(resumed.history) == untimed(state.history)  # same losses and validation, epoch by epoch


def _smooth_motion(count, frames, rng):
    t = np.arange(frames)[None, :, None]
    phase, speed = rng.uniform(0, 6.3, (count, 1, 69)), rng.uniform(0.05, 0.2, (count, 1, 69))
    return torch.from_numpy(0.3 * np.sin(phase + speed * t)).float()


def test_discriminator_separates_real_motion_from_noise():
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    discriminator = MotionDiscriminator(hidden_size=32)
    optimizer = torch.optim.Adam(discriminator.parameters(), lr=1e-3)
    for _ in range(60):
        scores = discriminator_step(discriminator, optimizer, _smooth_motion(16, 8, rng),
                                    torch.randn(16, 8, 69) * NOISE_STD)
    discriminator.eval()
    with torch.no_grad():
        real = discriminator(_smooth_motion(64, 8, rng)).mean().item()
        fake = discriminator(torch.randn(64, 8, 69) * NOISE_STD).mean().item()  # fresh samples of both
    assert real > 0.8 and fake < 0.2, (real, fake, scores)


def test_train_cli_help_and_one_line_error(tmp_path, tiny_smpl_dir):
    from vibe.cli_support import run_cli

    train_py = __import__("importlib").import_module("train")
    with pytest.raises(SystemExit) as done:
        train_py.main(["--help"])
    assert done.value.code == 0
    code = run_cli(train_py.main, ["--cfg", str(REPO / "configs/smoke_cpu.yaml"), "--db_dir", str(tmp_path),
                                   "--data_dir", str(tiny_smpl_dir), "--output_dir", str(tmp_path / "run")])
    assert code == 2


@pytest.mark.slow
def test_torchrun_two_processes_on_cpu(tmp_path, vibe_db_dir, tiny_smpl_dir):
    torchrun = Path(sys.executable).with_name("torchrun")
    out = tmp_path / "ddp"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    started = time.time()
    done = subprocess.run([str(torchrun), "--standalone", "--nproc_per_node", "2", str(REPO / "train.py"),
                           "--cfg", str(REPO / "configs/smoke_cpu.yaml"), "--db_dir", str(vibe_db_dir),
                           "--data_dir", str(tiny_smpl_dir), "--output_dir", str(out)],
                          capture_output=True, text=True, timeout=300, env=env, cwd=REPO)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.count("trained 2 epochs") == 1  # printed by rank 0 only
    checkpoint = torch.load(out / "checkpoint.pth.tar", weights_only=True)
    assert checkpoint["epoch"] == 1 and np.isfinite(checkpoint["performance"])
    print(f"torchrun smoke run: {time.time() - started:.1f} s")
