"""AMASS raw release -> amass_db.pt: SMPL-H joint selection by index, nearest-time resampling at
known times, resumable parts, one-line errors, the command line."""
import subprocess
import sys
from pathlib import Path

import joblib
import numpy as np
import pytest

from vibe.config import get_cfg_defaults
from vibe.data.preprocess.amass import preprocess_amass, resample_indices
from vibe.data.vibe_db import open_dataset
from vibe.errors import InputError

REPO = Path(__file__).resolve().parents[1]
SMPL_FROM_SMPLH = list(range(23)) + [37]  # written out from the rule, not imported
# Source frames nearest to t = k / 25 s, worked out by hand:
# 120 fps, 25 frames (0.2 s): t*120 = 0, 4.8, 9.6, 14.4, 19.2, 24 -> 0, 5, 10, 14, 19, 24
# 59.94 fps, 10 frames (0.1502 s): t*59.94 = 0, 2.398, 4.795, 7.193 -> 0, 2, 5, 7
EXPECTED_FRAMES = {"CMU/01/01_01_poses": [0, 5, 10, 14, 19, 24], "KIT/3/walk_poses": [0, 2, 5, 7]}


def coded_poses(frames: int) -> np.ndarray:
    """(frames, 156) with value 1000 * frame + 10 * joint + component: every entry says where it came from."""
    f, j, c = np.meshgrid(np.arange(frames), np.arange(52), np.arange(3), indexing="ij")
    return (1000.0 * f + 10.0 * j + c).reshape(frames, 156)


def write_sequence(path: Path, frames: int, fps: float, betas: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, poses=coded_poses(frames), betas=betas, trans=np.zeros((frames, 3)),
             mocap_framerate=np.array(fps), gender=np.array("female"))


@pytest.fixture
def amass_src(tmp_path):
    src = tmp_path / "amass"
    rng = np.random.default_rng(0)
    betas = {name: rng.normal(size=16) for name in EXPECTED_FRAMES}
    write_sequence(src / "CMU/01/01_01_poses.npz", 25, 120.0, betas["CMU/01/01_01_poses"])
    write_sequence(src / "KIT/3/walk_poses.npz", 10, 59.94, betas["KIT/3/walk_poses"])
    write_sequence(src / "KIT/3/slow_poses.npz", 30, 20.0, rng.normal(size=16))  # below 25 fps: skipped
    np.savez(src / "CMU/01/shape.npz", betas=rng.normal(size=16), gender=np.array("male"))  # no motion
    return src, betas


def cfg_with(*opts):
    cfg = get_cfg_defaults()
    cfg.merge_from_list(list(opts))
    return cfg


def expected_theta(frames: list[int], betas: np.ndarray) -> np.ndarray:
    pose = np.array([[1000.0 * f + 10.0 * SMPL_FROM_SMPLH[i] + c for i in range(24) for c in range(3)] for f in frames])
    return np.concatenate([pose, np.repeat(betas[None, :10], len(frames), 0)], axis=1)


def test_resample_indices_hand_cases():
    assert resample_indices(25, 120.0, 25.0).tolist() == EXPECTED_FRAMES["CMU/01/01_01_poses"]
    assert resample_indices(10, 59.94, 25.0).tolist() == EXPECTED_FRAMES["KIT/3/walk_poses"]
    assert resample_indices(1, 60.0, 25.0).tolist() == [0]
    assert resample_indices(7, 25.0, 25.0).tolist() == list(range(7))  # same rate: every frame


def test_amass_db_values_and_reader(amass_src, tmp_path):
    src, betas = amass_src
    out = tmp_path / "db"
    path = preprocess_amass(src, out, cfg_with())
    db = joblib.load(path)
    assert sorted(db) == ["theta", "vid_name"]
    names = sorted(EXPECTED_FRAMES)  # files are visited in sorted path order
    want = np.concatenate([expected_theta(EXPECTED_FRAMES[n], betas[n]) for n in names])
    np.testing.assert_allclose(db["theta"], want, rtol=1e-6)
    assert db["vid_name"].tolist() == [n for n in names for _ in EXPECTED_FRAMES[n]]
    dataset = open_dataset("amass", out, "train", seqlen=2, overlap=0.0)
    assert len(dataset) == 3 + 2  # non-overlapping 2-frame windows: 6 frames -> 3, 4 frames -> 2
    np.testing.assert_allclose(dataset[0]["motion"].numpy(), want[:2, 3:72], rtol=1e-6)
    assert not (out / ".preprocess_work").exists()  # parts removed after assembly
    assert [p.name for p in out.iterdir()] == ["amass_db.pt"]  # no temporary left behind


def test_rerun_skips_finished_sequences_and_checks_settings(amass_src, tmp_path):
    src, _ = amass_src
    out = tmp_path / "db"
    cfg = cfg_with("PREPROCESS.KEEP_PARTS", True)
    first = joblib.load(preprocess_amass(src, out, cfg))
    # A finished sequence is not read again: breaking its source changes nothing.
    (src / "CMU/01/01_01_poses.npz").write_bytes(b"garbage")
    second = joblib.load(preprocess_amass(src, out, cfg))
    np.testing.assert_array_equal(first["theta"], second["theta"])
    # Parts made at 25 fps are not mixed with a 30 fps run.
    with pytest.raises(InputError, match="other settings"):
        preprocess_amass(src, out, cfg_with("PREPROCESS.KEEP_PARTS", True, "PREPROCESS.AMASS_FPS", 30.0))


def test_corrupt_and_missing_inputs_are_one_line_errors(amass_src, tmp_path):
    src, _ = amass_src
    (src / "KIT/3/broken_poses.npz").write_bytes(b"not a zip file")
    with pytest.raises(InputError, match="broken_poses.npz is unreadable") as err:
        preprocess_amass(src, tmp_path / "db")
    assert "\n" not in str(err.value)
    np.savez(src / "KIT/3/broken_poses.npz", poses=np.zeros((4, 72)), betas=np.zeros(16), mocap_framerate=np.array(30.0))
    with pytest.raises(InputError, match=r"expected \(N, 156\) SMPL-H"):
        preprocess_amass(src, tmp_path / "db2")
    with pytest.raises(InputError, match="not found"):
        preprocess_amass(tmp_path / "nowhere", tmp_path / "db3")
    assert not (tmp_path / "db" / "amass_db.pt").exists()


def test_command_line(amass_src, tmp_path):
    src, _ = amass_src
    out = tmp_path / "db"
    run = subprocess.run([sys.executable, str(REPO / "tools/preprocess.py"), "amass", "--src", str(src), "--out", str(out),
                          "--fps", "20"], capture_output=True, text=True, cwd=REPO)
    assert run.returncode == 0, run.stderr
    db = joblib.load(out / "amass_db.pt")
    # At 20 fps: 0.2 s -> 5 frames, 0.15 s -> 4, and the 30-frame 20 fps clip is now kept whole.
    assert len(db["theta"]) == 5 + 4 + 30
    bad = subprocess.run([sys.executable, str(REPO / "tools/preprocess.py"), "amass", "--src", str(tmp_path / "none")],
                         capture_output=True, text=True, cwd=REPO)
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and bad.stderr.startswith("error: AMASS folder")
