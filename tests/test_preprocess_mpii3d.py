"""MPI-INF-3DHP raw release -> mpii3d_{train,val}_db.pt: a tiny release in the real formats (a
MATLAB v5 annot.mat of cell arrays written by scipy, camera videos, a MATLAB v7.3 annot_data.mat
written as HDF5 with the MAT header, 1-based test JPEGs), checked against independent computations:
joint reorder by written-out index lists, mm -> m and pelvis centring, square boxes by hand, frame
stride and in-image frame dropping with segment names, valid_i, features of hand-cut crops."""
import subprocess
import sys
from pathlib import Path

import cv2
import h5py
import joblib
import numpy as np
import pytest
import scipy.io

from test_preprocess_3dpw import extractor, hand_cut_features, spin_checkpoint  # noqa: F401 (fixtures)
from vibe.config import get_cfg_defaults
from vibe.data.preprocess.mpii3d import preprocess_mpii3d
from vibe.data.vibe_db import open_dataset
from vibe.errors import InputError

REPO = Path(__file__).resolve().parents[1]
# spin49 index <- MPI-INF-3DHP joint index, written out from the published joint orders:
# 28 joints: 3 spine, 4 pelvis, 5 neck, 6 head, 7 head top, 9-11 l shoulder/elbow/wrist,
# 14-16 r shoulder/elbow/wrist, 18-20 l hip/knee/ankle, 23-25 r hip/knee/ankle.
SPIN_FROM_28 = {25: 25, 26: 24, 27: 23, 28: 18, 29: 19, 30: 20, 31: 16, 32: 15, 33: 14, 34: 9, 35: 10, 36: 11,
                37: 5, 38: 7, 39: 4, 41: 3, 43: 6}
# 17 test joints: 0 head top, 1 neck, 2-4 r shoulder/elbow/wrist, 5-7 l ..., 8-10 r hip/knee/ankle,
# 11-13 l ..., 14 pelvis, 15 spine, 16 head.
SPIN_FROM_17 = {25: 10, 26: 9, 27: 8, 28: 11, 29: 12, 30: 13, 31: 4, 32: 3, 33: 2, 34: 5, 35: 6, 36: 7,
                37: 1, 38: 0, 39: 14, 41: 15, 43: 16}
SPIN_PELVIS = 39
TRAIN_SIZE, FRAMES, STRIDE = (120, 96), 12, 2  # (width, height)
CAMERAS_IN_FILE, CAMERAS_USED = (0, 1, 2), [0, 2]
SHORT_VIDEO_FRAMES = 9  # camera 2's video ends before its annotations do
OUTSIDE_FRAME, UNMAPPED_OUTSIDE_FRAME = 4, 6  # camera 0: a mapped joint / only an unmapped joint outside
# Kept frames worked out by hand: sampled 0, 2, ..., 10; camera 0 loses 4 (joint outside) -> two
# segments; camera 2 loses 10 (past its video's end) -> one segment.
TRAIN_ROWS = [("subj1_seq1_vid0_seg0", 0), ("subj1_seq1_vid0_seg0", 2), ("subj1_seq1_vid0_seg1", 6),
              ("subj1_seq1_vid0_seg1", 8), ("subj1_seq1_vid0_seg1", 10)] + \
             [("subj1_seq1_vid2_seg0", f) for f in (0, 2, 4, 6, 8)]
TEST_SIZES = {"TS1": (100, 80), "TS2": (80, 100)}
TEST_VALID = {"TS1": [1, 1, 0, 1, 1, 1], "TS2": [1, 1, 1]}
TEST_ROWS = [("subj1_seg0", 0), ("subj1_seg0", 1), ("subj1_seg0", 2), ("subj1_seg1", 4), ("subj1_seg1", 5),
             ("subj2_seg0", 0), ("subj2_seg0", 1), ("subj2_seg0", 2)]  # TS1 frame 3 has a joint at x = width
MAT73_HEADER = b"MATLAB 7.3 MAT-file, Platform: GLNXA64, Created on: Mon Jan  1 00:00:00 2018 HDF5 schema 1.00 ."


def joints_inside(rng, frames: int, joints: int, size: tuple[int, int]) -> np.ndarray:
    """(frames, joints, 2) pixels well inside an image of `size` (width, height)."""
    width, height = size
    return np.stack([rng.uniform(5, width - 5, (frames, joints)), rng.uniform(5, height - 5, (frames, joints))], -1)


def write_video(path: Path, frames_rgb: list[np.ndarray]) -> None:
    """A lossless FFV1 .avi (so decoded frames equal the written ones)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    height, width = frames_rgb[0].shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"FFV1"), 25.0, (width, height))
    for frame in frames_rgb:
        writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    writer.release()


def write_training_sequence(src: Path, rng) -> dict:
    """S1/Seq1: annot.mat with cells for cameras 0, 1, 2 (row-major x0 y0 x1 y1 ...), videos of cameras 0 and 2."""
    points2d = {cam: joints_inside(rng, FRAMES, 28, TRAIN_SIZE) for cam in CAMERAS_IN_FILE}
    points2d[0][OUTSIDE_FRAME, 16, 0] = TRAIN_SIZE[0] + 3  # right wrist (mapped) off the right edge
    points2d[0][UNMAPPED_OUTSIDE_FRAME, 12, 1] = -7.0  # left hand (not in spin49) above the top: frame kept
    points3d = {cam: rng.normal(scale=400.0, size=(FRAMES, 28, 3)) + [0, 0, 4000] for cam in CAMERAS_IN_FILE}
    cells2d, cells3d, cells_univ = (np.empty((len(CAMERAS_IN_FILE), 1), object) for _ in range(3))
    for cell, cam in enumerate(CAMERAS_IN_FILE):
        cells2d[cell, 0] = points2d[cam].reshape(FRAMES, 56)
        cells3d[cell, 0] = points3d[cam].reshape(FRAMES, 84)
        cells_univ[cell, 0] = points3d[cam].reshape(FRAMES, 84) * 0.5 + 100.0  # must not be read for training
    seq = src / "S1" / "Seq1"
    seq.mkdir(parents=True)
    scipy.io.savemat(seq / "annot.mat", {"annot2": cells2d, "annot3": cells3d, "univ_annot3": cells_univ,
                                         "cameras": np.array([CAMERAS_IN_FILE]), "frames": np.arange(FRAMES)[:, None]})
    width, height = TRAIN_SIZE
    frames = {cam: [rng.integers(0, 256, (height, width, 3), dtype=np.uint8) for _ in range(FRAMES)] for cam in (0, 2)}
    write_video(seq / "imageSequence/video_0.avi", frames[0])
    write_video(seq / "imageSequence/video_2.avi", frames[2][:SHORT_VIDEO_FRAMES])
    return {"points2d": points2d, "points3d": points3d, "frames": frames}


def write_mat73(path: Path, arrays: dict) -> None:
    """An HDF5 file with a 512-byte user block holding the MAT 7.3 header, as MATLAB writes."""
    with h5py.File(path, "w", userblock_size=512) as h5:
        for key, value in arrays.items():
            h5.create_dataset(key, data=value)
    with open(path, "r+b") as handle:
        handle.write(MAT73_HEADER.ljust(116, b" "))


def write_test_sequence(src: Path, name: str, rng) -> dict:
    size, valid = TEST_SIZES[name], np.array(TEST_VALID[name], float)
    frames = len(valid)
    points2d = joints_inside(rng, frames, 17, size)
    if name == "TS1":
        points2d[3, 4, 0] = size[0]  # right wrist exactly at x = width: outside [0, width)
    points3d = rng.normal(scale=400.0, size=(frames, 17, 3)) + [0, 0, 4000]
    folder = src / "mpi_inf_3dhp_test_set" / name
    (folder / "imageSequence").mkdir(parents=True)
    shaped_valid = valid if name == "TS1" else valid[:, None]  # MATLAB's 1 x F comes back (F, 1)
    write_mat73(folder / "annot_data.mat", {"annot2": points2d[:, None], "univ_annot3": points3d[:, None],
                                             "annot3": points3d[:, None] * 2.0, "valid_frame": shaped_valid})
    width, height = size
    for k in range(frames):
        image = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
        cv2.imwrite(str(folder / f"imageSequence/img_{k + 1:06d}.jpg"), image)
    return {"points2d": points2d, "points3d": points3d, "valid": valid}


@pytest.fixture
def release(tmp_path):
    rng = np.random.default_rng(5)
    src = tmp_path / "mpi_inf_3dhp"
    train = write_training_sequence(src, rng)
    test = {name: write_test_sequence(src, name, rng) for name in TEST_SIZES}
    return src, train, test


def train_cfg(**changes):
    cfg = get_cfg_defaults()
    cfg.PREPROCESS.MPII3D_CAMERAS = CAMERAS_USED
    cfg.PREPROCESS.MPII3D_FRAME_STRIDE = STRIDE
    for key, value in changes.items():
        setattr(cfg.PREPROCESS, key, value)
    return cfg


def expected_joints(points2d: np.ndarray, points3d_mm: np.ndarray, spin_from: dict) -> tuple[np.ndarray, np.ndarray]:
    """One frame's (49, 3) joints2D (conf 1 where mapped) and (49, 3) joints3D in m minus the pelvis."""
    joints2d, joints3d = np.zeros((49, 3)), np.zeros((49, 3))
    pelvis = points3d_mm[spin_from[SPIN_PELVIS]] / 1000.0
    for spin, src in spin_from.items():
        joints2d[spin] = [*points2d[src], 1.0]
        joints3d[spin] = points3d_mm[src] / 1000.0 - pelvis
    return joints2d, joints3d


def expected_box(points2d: np.ndarray, spin_from: dict) -> np.ndarray:
    mapped = points2d[list(spin_from.values())]
    low, high = mapped.min(axis=0), mapped.max(axis=0)
    side = 1.1 * max(high - low)
    return np.array([*(low + high) / 2, side, side])


def check_rows(db: dict, rows: list, annotations: dict, spin_from: dict) -> None:
    """vid_name, frame_id, joints and boxes of every row against the raw annotations; `annotations`
    maps each row's video prefix to its (points2d, points3d)."""
    assert db["vid_name"].tolist() == [name for name, _ in rows]
    assert db["frame_id"].tolist() == [frame for _, frame in rows]
    for row, (name, frame) in enumerate(rows):
        points2d, points3d = annotations[name.rsplit("_seg", 1)[0]]
        want_2d, want_3d = expected_joints(points2d[frame], points3d[frame], spin_from)
        np.testing.assert_allclose(db["joints2D"][row], want_2d, rtol=1e-5, atol=1e-4)
        np.testing.assert_allclose(db["joints3D"][row], want_3d, atol=1e-5)
        np.testing.assert_allclose(db["bbox"][row], expected_box(points2d[frame], spin_from), rtol=1e-5)


def test_train_and_val_files(release, tmp_path, extractor, spin_checkpoint):
    src, train_raw, test_raw = release
    out = tmp_path / "db"
    cfg = train_cfg(KEEP_PARTS=True)
    train = joblib.load(preprocess_mpii3d(src, out, "train", extractor, cfg))
    annotations = {f"subj1_seq1_vid{cam}": (train_raw["points2d"][cam], train_raw["points3d"][cam]) for cam in (0, 2)}
    check_rows(train, TRAIN_ROWS, annotations, SPIN_FROM_28)
    assert "valid_i" not in train and train["features"].shape == (len(TRAIN_ROWS), 2048)

    # Windows of 2 rows inside each segment: 1 + 1 + 2; the reader maps pixels through the stored boxes.
    dataset = open_dataset("mpii3d", out, "train", seqlen=2, overlap=0.0)
    assert len(dataset) == 4
    window = dataset[1]  # camera 0, frames 6 and 8
    np.testing.assert_allclose(window["kp_3d"].numpy(), train["joints3D"][2:4], atol=1e-6)
    cx, cy, _, side = train["bbox"][2]
    np.testing.assert_allclose(window["kp_2d"][0, 25, :2].numpy(),
                               2 * (train["joints2D"][2, 25, :2] - [cx, cy]) / (1.2 * side), rtol=1e-4)

    # The test set: 1-based image names, in-image check per image size, valid_i.
    val = joblib.load(preprocess_mpii3d(src, out, "val", extractor, cfg))
    check_rows(val, TEST_ROWS, {f"subj{n}": (test_raw[f"TS{n}"]["points2d"], test_raw[f"TS{n}"]["points3d"])
                                for n in (1, 2)}, SPIN_FROM_17)
    np.testing.assert_array_equal(val["valid_i"], [1, 1, 0, 1, 1, 1, 1, 1])
    assert val["img_name"][3] == "mpi_inf_3dhp_test_set/TS1/imageSequence/img_000005.jpg"
    assert len(open_dataset("mpii3d", out, "val", seqlen=2, overlap=0.0)) == 3

    # Features = hand-cut crops of camera 0's frames written at the kept ids, and of the test JPEGs.
    cam0_rows = [row for row, (name, _) in enumerate(TRAIN_ROWS) if "vid0" in name]
    images = []
    for row in cam0_rows:
        images.append(tmp_path / f"cam0_{TRAIN_ROWS[row][1]}.png")
        cv2.imwrite(str(images[-1]), cv2.cvtColor(train_raw["frames"][0][TRAIN_ROWS[row][1]], cv2.COLOR_RGB2BGR))
    images += [src / name for name in val["img_name"]]
    want = hand_cut_features(spin_checkpoint, images, np.concatenate([train["bbox"][cam0_rows], val["bbox"]]))
    got = np.concatenate([train["features"][cam0_rows], val["features"]])
    scale = np.abs(want).max()
    np.testing.assert_allclose(got / scale, want / scale, atol=1e-4)

    # Re-run: finished videos are not read again, so breaking their sources changes nothing.
    (src / "S1/Seq1/annot.mat").write_bytes(b"garbage")
    (src / "S1/Seq1/imageSequence/video_0.avi").write_bytes(b"garbage")
    again = joblib.load(preprocess_mpii3d(src, out, "train", extractor, cfg))
    for key in train:
        np.testing.assert_array_equal(again[key], train[key])
    with pytest.raises(InputError, match="other settings"):
        preprocess_mpii3d(src, out, "train", extractor, train_cfg(KEEP_PARTS=True, MPII3D_FRAME_STRIDE=1))


@pytest.mark.slow
def test_command_line(release, tmp_path, spin_checkpoint):
    """tools/preprocess.py mpii3d writes both files (rows as worked out above); a bad --src is one line."""
    src, _, _ = release
    out = tmp_path / "db"
    command = [sys.executable, str(REPO / "tools/preprocess.py"), "mpii3d", "--src", str(src), "--out", str(out),
               "--spin_checkpoint", str(spin_checkpoint), "--device", "cpu", "--opts", "NUM_THREADS", "2",
               "PREPROCESS.MPII3D_CAMERAS", str(CAMERAS_USED), "PREPROCESS.MPII3D_FRAME_STRIDE", str(STRIDE)]
    run = subprocess.run(command, capture_output=True, text=True, cwd=REPO, timeout=600)
    assert run.returncode == 0, run.stderr
    assert len(joblib.load(out / "mpii3d_train_db.pt")["frame_id"]) == len(TRAIN_ROWS)
    assert len(joblib.load(out / "mpii3d_val_db.pt")["frame_id"]) == len(TEST_ROWS)
    command[command.index("--src") + 1] = str(tmp_path / "nowhere")
    bad = subprocess.run(command, capture_output=True, text=True, cwd=REPO, timeout=600)
    assert bad.returncode != 0 and bad.stderr.strip().splitlines()[-1].startswith("error: no MPI-INF-3DHP training")


def one_line_error(match: str, *args, **kwargs) -> None:
    with pytest.raises(InputError, match=match) as err:
        preprocess_mpii3d(*args, **kwargs)
    assert "\n" not in str(err.value)


def test_missing_and_corrupt_inputs_are_one_line_errors(release, tmp_path, extractor):
    src, _, _ = release
    seq, test1 = src / "S1/Seq1", src / "mpi_inf_3dhp_test_set/TS1"
    one_line_error("has no annotations of camera 3", src, tmp_path / "a", "train", extractor,
                   train_cfg(MPII3D_CAMERAS=[3]))
    one_line_error("video_1.avi not found", src, tmp_path / "b", "train", extractor, train_cfg(MPII3D_CAMERAS=[1]))
    (seq / "imageSequence/video_2.avi").write_bytes(b"not a video")
    one_line_error("is not a video OpenCV/FFmpeg can decode", src, tmp_path / "c", "train", extractor,
                   train_cfg(MPII3D_CAMERAS=[2]))
    one_line_error("MPII3D_FRAME_STRIDE must be at least 1", src, tmp_path / "d", "train", extractor,
                   train_cfg(MPII3D_FRAME_STRIDE=0))
    scipy.io.savemat(seq / "annot.mat", {"annot2": np.zeros((1, 56))})
    one_line_error("annot.mat lacks annot3", src, tmp_path / "e", "train", extractor, train_cfg())
    (seq / "annot.mat").write_bytes(b"MATLAB 5.0 MAT-file" + b"\x00" * 40)
    one_line_error("annot.mat is unreadable", src, tmp_path / "f", "train", extractor, train_cfg())
    one_line_error("no MPI-INF-3DHP training sequences", tmp_path / "empty", tmp_path / "g", "train", extractor)

    (test1 / "imageSequence/img_000001.jpg").unlink()
    one_line_error("img_000001.jpg is missing or unreadable", src, tmp_path / "h", "val", extractor)
    write_mat73(test1 / "annot_data.mat", {"annot2": np.zeros((2, 1, 17, 2))})
    one_line_error("lacks univ_annot3, valid_frame", src, tmp_path / "i", "val", extractor)
    (test1 / "annot_data.mat").write_bytes(b"garbage" * 20)
    one_line_error("annot_data.mat is unreadable", src, tmp_path / "j", "val", extractor)
    one_line_error("no MPI-INF-3DHP test sequences", tmp_path / "empty", tmp_path / "k", "val", extractor)
    assert not list(tmp_path.glob("*/mpii3d_*_db.pt"))
