"""MPI-INF-3DHP -> `mpii3d_{train,val}_db.pt` in the layout vibe.data.vibe_db documents
("val" is the MPI-INF-3DHP test set, as in VIBE).

Training set: `<src>/S*/Seq*/annot.mat` (MATLAB v5) holds `annot2` / `annot3` as (cameras, 1) cell
arrays of (F, 28*2) pixels / (F, 28*3) mm per camera (row k = frame k of that camera's video) and
`cameras` (the camera numbers of the cells); the frames come streamed from
`imageSequence/video_<camera>.avi`. Only PREPROCESS.MPII3D_CAMERAS are used (VIBE's chest-height
cameras 0, 1, 2, 4, 5, 6, 7, 8). Every PREPROCESS.MPII3D_FRAME_STRIDE-th annotated frame is a
candidate: VIBE kept every frame (its reader indexes the annotations by the position of each
extracted frame; SPIN kept every 10th), so the default is 1; a larger stride makes the db and the
feature pass that many times smaller, at the cost of a lower frame rate inside the windows.
Test set: `<src>/mpi_inf_3dhp_test_set/TS*/annot_data.mat` (MATLAB v7.3 = HDF5) holds `annot2`
(F, 1, 17, 2), `univ_annot3` (F, 1, 17, 3) and `valid_frame` (F,); frame k is
`imageSequence/img_<k+1:06d>.jpg` (the file numbers are 1-based). Every frame is a candidate and
`valid_i` keeps the release's flag (the evaluation uses it).

As VIBE's preprocessing:
- joints2D (N, 49, 3): the 28 (train) / 17 (test) joints reordered into spin49 by name (17 joints
  map either way: limbs, neck, head top, pelvis, spine, head), confidence 1 for those, 0 elsewhere;
- joints3D (N, 49, 3): `annot3` (train, camera coordinates) / `univ_annot3` (test, scaled to the
  universal skeleton), mm -> metres, minus the dataset's own pelvis joint (28-joint index 4,
  17-joint index 14; spin49 index 39), not the mean of the two hips. Joints the dataset lacks
  stay 0 (VIBE's left them at minus the pelvis; its losses never read them);
- a candidate frame is kept only when all its mapped 2D joints lie inside the image; a dropped
  frame ends a segment, so vid_name is `subj<S>_seq<Q>_vid<camera>_seg<k>` (train) /
  `subj<T>_seg<k>` (test) and windows never span a gap;
- bbox: square around the mapped 2D joints (threedpw.keypoint_boxes, PREPROCESS.BOX_MARGIN 1.1);
  features of crops at TRAIN.DB_BBOX_SCALE x that side.
frame_id is the 0-based frame index (VIBE stored the image file stem). A training frame the video
stream lacks (undecodable, or past the video's end) is dropped with a warning.
"""
from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np
from yacs.config import CfgNode

from vibe.config import get_cfg_defaults
from vibe.data.preprocess.features import FeatureExtractor, read_rgb_image
from vibe.data.preprocess.parts import PartStore, assemble_joblib, work_dir_for
from vibe.data.preprocess.threedpw import keypoint_boxes
from vibe.data.vibe_db import db_path
from vibe.errors import InputError
from vibe.keypoints.conventions import convert, index_map, joint_index, joint_names

log = logging.getLogger(__name__)

TRAIN_CONVENTION, TEST_CONVENTION = "mpii3d28", "mpii3d17"
TRAIN_3D_KEY, TEST_3D_KEY = "annot3", "univ_annot3"  # VIBE's choices
TRAIN_KEYS = ("annot2", TRAIN_3D_KEY)
TEST_KEYS = ("annot2", TEST_3D_KEY, "valid_frame")
TEST_SET_DIR = "mpi_inf_3dhp_test_set"
VIDEO_NAME = "imageSequence/video_{}.avi"
TEST_IMAGE_NAME = "imageSequence/img_{:06d}.jpg"
TEST_IMAGE_FIRST_NUMBER = 1
MM_PER_M = 1000.0
SPIN49 = "spin49"
PELVIS = joint_index(SPIN49, "pelvis")
_NUMBER = re.compile(r"\d+")
_SUBJECT, _SEQUENCE, _TEST_SEQUENCE = re.compile(r"S\d+"), re.compile(r"Seq\d+"), re.compile(r"TS\d+")


@dataclass
class Annotations:
    """One video's annotated frames in spin49 (row k = frame k)."""

    joints2d: np.ndarray  # (F, 49, 3) pixels + 1 for the dataset's joints, 0 elsewhere
    joints3d: np.ndarray  # (F, 49, 3) metres, pelvis-centred; joints the dataset lacks are 0
    bbox: np.ndarray  # (F, 4) square (cx, cy, w, h) around the mapped 2D joints


def spin49_annotations(points2d: np.ndarray, points3d_mm: np.ndarray, convention: str, margin: float) -> Annotations:
    """(F, J, 2) pixels + (F, J, 3) mm in `convention` -> Annotations."""
    ones = np.ones(points2d.shape[:-1] + (1,))
    joints2d = convert(np.concatenate([points2d, ones], axis=-1), convention, SPIN49)
    present = index_map(convention, SPIN49) >= 0
    joints3d = convert(points3d_mm / MM_PER_M, convention, SPIN49)
    joints3d[:, present] -= joints3d[:, PELVIS:PELVIS + 1]
    bbox = keypoint_boxes(joints2d[..., :2], joints2d[..., 2] > 0, margin)
    return Annotations(joints2d.astype(np.float32), joints3d.astype(np.float32), bbox.astype(np.float32))


def inside_image(joints2d: np.ndarray, width: int, height: int) -> np.ndarray:
    """(F,) True where every mapped joint of (F, 49, 3) lies in [0, width) x [0, height)."""
    x, y, mapped = joints2d[..., 0], joints2d[..., 1], joints2d[..., 2] > 0
    inside = (x >= 0) & (x < width) & (y >= 0) & (y < height)
    return (inside | ~mapped).all(axis=1)


def segment_names(base: str, frame_ids: np.ndarray, step: int) -> np.ndarray:
    """`<base>_seg<k>` per kept frame: k counts the gaps (a step other than `step`) before it."""
    segments = np.concatenate([[0], np.cumsum(np.diff(frame_ids) != step)]).astype(int)
    return np.array([f"{base}_seg{k}" for k in segments], dtype=str)


def db_columns(base: str, frame_ids: np.ndarray, step: int, annotations: Annotations,
               features: np.ndarray) -> dict[str, np.ndarray]:
    """The db rows of the kept `frame_ids` (0-based, ascending) of one video."""
    return {"vid_name": segment_names(base, frame_ids, step), "frame_id": frame_ids.astype(np.int64),
            "features": features, "joints2D": annotations.joints2d[frame_ids],
            "joints3D": annotations.joints3d[frame_ids], "bbox": annotations.bbox[frame_ids]}


def _natural(path: Path) -> list:
    return [int(n) for n in _NUMBER.findall(path.name)]


# ---- training set ---------------------------------------------------------------------------------
def training_sequences(src: Path) -> list[Path]:
    """The `S*/Seq*` folders of the training set, in subject and sequence order."""
    folders = sorted((p for p in src.glob("S*/Seq*")
                      if p.is_dir() and _SUBJECT.fullmatch(p.parent.name) and _SEQUENCE.fullmatch(p.name)),
                     key=lambda p: (_natural(p.parent), _natural(p)))
    if not folders:
        raise InputError(f"no MPI-INF-3DHP training sequences (S*/Seq*/annot.mat) in {src}; pass the unpacked "
                         f"dataset folder (holding S1 ... S8) to --src")
    return folders


def read_annot_mat(path: Path) -> dict[str, np.ndarray]:
    """A training `annot.mat` (MATLAB v5) -> its annotation cells and camera numbers."""
    import scipy.io

    if not path.is_file():
        raise InputError(f"MPI-INF-3DHP annotations {path} not found; restore the sequence's annot.mat")
    try:
        mat = scipy.io.loadmat(str(path), variable_names=[*TRAIN_KEYS, "cameras"])
    except Exception as err:  # scipy raises many types for damaged files (MatReadError, IndexError, ValueError, ...)
        raise InputError(f"MPI-INF-3DHP file {path} is unreadable ({type(err).__name__}); download it again") from None
    missing = [key for key in TRAIN_KEYS if key not in mat]
    if missing:
        raise InputError(f"MPI-INF-3DHP file {path} lacks {', '.join(missing)}; is it a training annot.mat?")
    return mat


def camera_cells(mat: dict, camera: int, path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Camera `camera`'s (F, 28, 2) pixels and (F, 28, 3) mm from the annot.mat cells."""
    cells2d, cells3d = np.asarray(mat["annot2"]).reshape(-1), np.asarray(mat[TRAIN_3D_KEY]).reshape(-1)
    cameras = np.asarray(mat.get("cameras", np.arange(len(cells2d)))).reshape(-1).astype(int).tolist()
    if camera not in cameras or len(cells2d) != len(cameras) or len(cells3d) != len(cameras):
        raise InputError(f"{path} has no annotations of camera {camera} (cameras {cameras}); "
                         f"set PREPROCESS.MPII3D_CAMERAS to cameras the release has")
    cell = cameras.index(camera)
    joints = len(joint_names(TRAIN_CONVENTION))
    points2d, points3d = np.asarray(cells2d[cell], np.float64), np.asarray(cells3d[cell], np.float64)
    if points2d.ndim != 2 or points2d.shape[1:] != (2 * joints,) or points3d.shape != (len(points2d), 3 * joints):
        raise InputError(f"{path} camera {camera}: annot2 {points2d.shape} / {TRAIN_3D_KEY} {points3d.shape}, "
                         f"expected (F, {2 * joints}) / (F, {3 * joints}); is it an MPI-INF-3DHP annot.mat?")
    return points2d.reshape(-1, joints, 2), points3d.reshape(-1, joints, 3)


def frames_at(video, frame_ids: np.ndarray, delivered: np.ndarray) -> Iterator[np.ndarray]:
    """RGB frames of the ascending `frame_ids`, streamed from `video` (a tracker VideoSource).

    A frame the stream lacks (undecodable, or past its end) comes as a black frame with
    delivered[i] left False, so frames and boxes stay paired and the caller drops that row."""
    black = np.zeros((video.info.height, video.info.width, 3), np.uint8)
    position = 0
    for frame_id, frame in video.frames():
        while position < len(frame_ids) and frame_ids[position] < frame_id:
            yield black
            position += 1
        if position == len(frame_ids):
            return
        if frame_ids[position] == frame_id:
            delivered[position] = True
            yield frame
            position += 1
    for _ in range(position, len(frame_ids)):
        yield black


def video_columns(video_path: Path, base: str, annotations: Annotations, extractor: FeatureExtractor,
                  stride: int, cfg: CfgNode) -> dict[str, np.ndarray]:
    """One camera video's db rows: every `stride`-th annotated frame with its joints inside the image."""
    from tracker.video import open_video

    if not video_path.is_file():
        raise InputError(f"MPI-INF-3DHP video {video_path} not found; download that camera's video or leave it "
                         f"out of PREPROCESS.MPII3D_CAMERAS")
    video = open_video(video_path, cfg=cfg)
    sampled = np.arange(0, len(annotations.bbox), stride)
    candidates = sampled[inside_image(annotations.joints2d[sampled], video.info.width, video.info.height)]
    if not len(candidates):
        return {}
    delivered = np.zeros(len(candidates), bool)
    features = extractor.features(frames_at(video, candidates, delivered), annotations.bbox[candidates])
    if not delivered.all():
        log.warning("%s: %d of %d frames missing from the video stream, dropped", video_path,
                    int((~delivered).sum()), len(candidates))
    return db_columns(base, candidates[delivered], stride, annotations, features[delivered])


def preprocess_train(src: Path, store: PartStore, extractor: FeatureExtractor, cfg: CfgNode) -> list[str]:
    """Every camera video of every training sequence into its part (finished ones skipped); the part keys."""
    pre = cfg.PREPROCESS
    cameras, stride = [int(c) for c in pre.MPII3D_CAMERAS], int(pre.MPII3D_FRAME_STRIDE)
    if stride < 1:
        raise InputError(f"PREPROCESS.MPII3D_FRAME_STRIDE must be at least 1, got {stride}")
    keys = []
    for sequence in training_sequences(src):
        subject, seq = _natural(sequence.parent)[0], _natural(sequence)[0]
        todo = {camera: f"S{subject}/Seq{seq}/video_{camera}" for camera in cameras}
        keys += todo.values()
        todo = {camera: key for camera, key in todo.items() if not store.has(key)}
        if not todo:
            continue
        mat = read_annot_mat(sequence / "annot.mat")
        for camera, key in todo.items():
            points2d, points3d = camera_cells(mat, camera, sequence / "annot.mat")
            annotations = spin49_annotations(points2d, points3d, TRAIN_CONVENTION, pre.BOX_MARGIN)
            columns = video_columns(sequence / VIDEO_NAME.format(camera), f"subj{subject}_seq{seq}_vid{camera}",
                                    annotations, extractor, stride, cfg)
            store.write(key, columns)
            log.info("%s: %d of %d frames kept", key, len(columns.get("frame_id", ())), len(points2d))
    return keys


# ---- test set ("val") -----------------------------------------------------------------------------
def testset_sequences(src: Path) -> list[Path]:
    """The `mpi_inf_3dhp_test_set/TS*` folders, in order."""
    folder = src / TEST_SET_DIR
    sequences = sorted((p for p in folder.glob("TS*") if p.is_dir() and _TEST_SEQUENCE.fullmatch(p.name)), key=_natural)
    if not sequences:
        raise InputError(f"no MPI-INF-3DHP test sequences ({TEST_SET_DIR}/TS*/annot_data.mat) in {src}; pass the "
                         f"folder holding {TEST_SET_DIR}/ to --src")
    return sequences


def read_test_annotations(path: Path) -> dict[str, np.ndarray]:
    """A test `annot_data.mat` (MATLAB v7.3, HDF5) -> annot2 (F, 17, 2), univ_annot3 (F, 17, 3), valid_frame (F,)."""
    import h5py

    if not path.is_file():
        raise InputError(f"MPI-INF-3DHP annotations {path} not found; restore the sequence's annot_data.mat")
    try:
        with h5py.File(path, "r") as mat:
            missing = [key for key in TEST_KEYS if key not in mat]
            if missing:
                raise InputError(f"MPI-INF-3DHP file {path} lacks {', '.join(missing)}; is it a test annot_data.mat?")
            data = {key: np.asarray(mat[key], np.float64) for key in TEST_KEYS}
    except OSError as err:
        raise InputError(f"MPI-INF-3DHP file {path} is unreadable ({type(err).__name__}); download it again") from None
    joints = len(joint_names(TEST_CONVENTION))
    frames = len(data["annot2"])
    points2d, points3d = data["annot2"].reshape(frames, -1), data[TEST_3D_KEY].reshape(len(data[TEST_3D_KEY]), -1)
    valid = data["valid_frame"].reshape(-1)
    if points2d.shape[1] != 2 * joints or points3d.shape != (frames, 3 * joints) or len(valid) != frames:
        raise InputError(f"{path}: annot2 {data['annot2'].shape}, {TEST_3D_KEY} {data[TEST_3D_KEY].shape}, valid_frame "
                         f"{data['valid_frame'].shape} do not match (F, 1, {joints}, 2/3) and (F,)")
    return {"annot2": points2d.reshape(frames, joints, 2), TEST_3D_KEY: points3d.reshape(frames, joints, 3),
            "valid_frame": valid}


def testset_columns(src: Path, sequence: Path, extractor: FeatureExtractor, cfg: CfgNode) -> dict[str, np.ndarray]:
    """One test sequence's db rows: every frame with its joints inside the image, valid_i kept."""
    data = read_test_annotations(sequence / "annot_data.mat")
    annotations = spin49_annotations(data["annot2"], data[TEST_3D_KEY], TEST_CONVENTION, cfg.PREPROCESS.BOX_MARGIN)
    image_names = [f"{TEST_SET_DIR}/{sequence.name}/{TEST_IMAGE_NAME.format(k + TEST_IMAGE_FIRST_NUMBER)}"
                   for k in range(len(annotations.bbox))]
    height, width = read_rgb_image(src / image_names[0]).shape[:2]
    kept = np.flatnonzero(inside_image(annotations.joints2d, width, height))
    if not len(kept):
        return {}
    features = extractor.features_of_images([src / image_names[k] for k in kept], annotations.bbox[kept])
    columns = db_columns(f"subj{_natural(sequence)[0]}", kept, 1, annotations, features)
    return {**columns, "valid_i": data["valid_frame"][kept].astype(np.float32),
            "img_name": np.array([image_names[k] for k in kept], dtype=str)}


def preprocess_testset(src: Path, store: PartStore, extractor: FeatureExtractor, cfg: CfgNode) -> list[str]:
    """Every test sequence into its part (finished ones skipped); the part keys."""
    keys = []
    for sequence in testset_sequences(src):
        keys.append(sequence.name)
        if not store.has(sequence.name):
            columns = testset_columns(src, sequence, extractor, cfg)
            store.write(sequence.name, columns)
            log.info("%s: %d frames kept", sequence.name, len(columns.get("frame_id", ())))
    return keys


def preprocess_mpii3d(src: str | Path, out_dir: str | Path, split: str, extractor: FeatureExtractor,
                      cfg: CfgNode | None = None) -> Path:
    """One MPI-INF-3DHP split ('train' or 'val' = the test set) -> `<out_dir>/mpii3d_<split>_db.pt`,
    resumable video by video (train) / sequence by sequence (val)."""
    cfg = cfg or get_cfg_defaults()
    src = Path(src).expanduser()
    out_path = db_path(out_dir, "mpii3d", split)
    pre = cfg.PREPROCESS
    settings = {"margin": pre.BOX_MARGIN, "bbox_scale": extractor.bbox_scale}
    if split == "train":
        settings |= {"cameras": [int(c) for c in pre.MPII3D_CAMERAS], "stride": int(pre.MPII3D_FRAME_STRIDE)}
    store = PartStore(work_dir_for(out_dir, pre.WORK_DIR, "mpii3d", split), settings)
    run = preprocess_train if split == "train" else preprocess_testset
    keys = run(src, store, extractor, cfg)
    rows = assemble_joblib(store, keys, out_path)
    log.info("wrote %s: %d frames from %d videos", out_path, rows, len(keys))
    if not pre.KEEP_PARTS:
        store.remove()
    return out_path
