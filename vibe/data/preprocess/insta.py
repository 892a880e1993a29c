"""InstaVariety (human_dynamics' train tfrecords, `<src>/train/*.tfrecord`) -> `insta_train_db.h5`:
vid_name (bytes), frame_id, joints2D (N, 25, 3) in the 224-px crop's pixels, features (N, 2048).

Each record is one video as a tf.train.Example (read without TensorFlow, tfrecord.py) with
`meta/N` frames, `image/encoded` (N JPEGs: the release's frames are already person crops),
`image/xys` (N, 2, 14) and `image/visibilities` (N, 1, 14) for the 14 joints R heel, R knee, R hip,
L hip, L knee, L heel, R wrist, R elbow, R shoulder, L shoulder, L elbow, L wrist, neck, head,
`image/face_pts` (N, 3, 5) nose, L eye, R eye, L ear, R ear and `image/toe_pts` (N, 3, 6)
L big toe, R big toe, L small toe, R small toe, L ankle, R ankle (x, y, visibility) -- together
VIBE's insta25 order. When the record carries precomputed HMR features (`image/phis`, as VIBE
checks; the human_dynamics docs call it `image/phi`) its keypoints are in [-1, 1] of the frame;
otherwise in pixels. Features come from each whole frame (a square box over the frame, so the
224-px crop is the frame itself for the release's 224-px frames), and the keypoints are mapped
into that crop. One part per tfrecord file; vid_name is `<file stem>-<record index>`.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from yacs.config import CfgNode

from vibe.config import get_cfg_defaults
from vibe.data.preprocess.features import FeatureExtractor, decode_rgb_image
from vibe.data.preprocess.parts import PartStore, assemble_h5, work_dir_for
from vibe.data.preprocess.tfrecord import parse_example, read_records
from vibe.data.vibe_db import db_path
from vibe.errors import InputError

log = logging.getLogger(__name__)

NUM_BODY, NUM_FACE, NUM_TOES = 14, 5, 6
NORMALISED_MARKERS = ("image/phis", "image/phi")
REQUIRED_KEYS = ("meta/N", "image/encoded", "image/xys", "image/visibilities", "image/face_pts")


@dataclass
class InstaVideo:
    """One record: encoded frames (N JPEG byte strings), keypoints (N, 25, 3) insta25 (x, y, visibility)
    in frame pixels, or in [-1, 1] of the frame when `normalised`."""

    frames: list[bytes]
    keypoints: np.ndarray
    normalised: bool


def _points(values: list, frames: int, rows: int, joints: int, what: str) -> np.ndarray:
    """A flat feature list laid out (N, rows, joints) -> (N, joints, rows)."""
    array = np.asarray(values, np.float64)
    if array.size != frames * rows * joints:
        raise InputError(f"{what}: {array.size} values where {frames} x {rows} x {joints} were expected; "
                         f"is it an InstaVariety train tfrecord?")
    return array.reshape(frames, rows, joints).transpose(0, 2, 1)


def read_video(features: dict[str, list], what: str) -> InstaVideo:
    """A parsed record (tfrecord.parse_example) -> InstaVideo."""
    missing = [key for key in REQUIRED_KEYS if key not in features]
    if missing:
        raise InputError(f"{what} lacks {', '.join(missing)}; is it an InstaVariety train tfrecord?")
    frames = int(features["meta/N"][0])
    if len(features["image/encoded"]) != frames:
        raise InputError(f"{what}: {len(features['image/encoded'])} images for meta/N = {frames}; the file is damaged")
    body = np.concatenate([_points(features["image/xys"], frames, 2, NUM_BODY, what),
                           _points(features["image/visibilities"], frames, 1, NUM_BODY, what)], axis=-1)
    face = _points(features["image/face_pts"], frames, 3, NUM_FACE, what)
    toes_values = features.get("image/toe_pts") or [0.0] * (frames * 3 * NUM_TOES)  # some records lack toes
    toes = _points(toes_values, frames, 3, NUM_TOES, what)
    return InstaVideo(frames=list(features["image/encoded"]), keypoints=np.concatenate([body, face, toes], axis=1),
                      normalised=any(marker in features for marker in NORMALISED_MARKERS))


def frame_box(height: int, width: int, bbox_scale: float) -> np.ndarray:
    """(4,) square box whose crop at `bbox_scale` is exactly the whole frame (the longer side, centred)."""
    return np.array([width / 2.0, height / 2.0, max(height, width) / bbox_scale, max(height, width) / bbox_scale])


def video_columns(video: InstaVideo, name: str, extractor: FeatureExtractor, what: str) -> dict[str, np.ndarray]:
    """One video's db rows: features of its whole frames, keypoints in the crop's pixels."""
    from tracker.crops import apply_affine, crop_transforms

    height, width = decode_rgb_image(video.frames[0], what).shape[:2]
    box = frame_box(height, width, extractor.bbox_scale)
    count = len(video.frames)
    frames = (decode_rgb_image(data, what) for data in video.frames)
    features = extractor.features(frames, np.repeat(box[None], count, axis=0))
    points = video.keypoints[..., :2]
    if video.normalised:  # n = 2 (x - c) / side around the frame's centre
        points = (points + 1.0) / 2.0 * np.array([width, height])
    transform = crop_transforms(box[None], extractor.bbox_scale, int(extractor.cfg.CROP.SIZE))[0]
    joints2d = np.concatenate([apply_affine(points, transform), video.keypoints[..., 2:]], axis=-1)
    return {"vid_name": np.array([name.encode()] * count), "frame_id": np.arange(count),
            "joints2D": joints2d.astype(np.float32), "features": features}


def record_files(src: Path) -> list[Path]:
    folder = src / "train"
    files = sorted(folder.glob("*.tfrecord"))
    if not files:
        raise InputError(f"no .tfrecord files in {folder}; pass the InstaVariety tfrecord folder (holding train/) to --src")
    return files


def file_columns(path: Path, extractor: FeatureExtractor, verify_crc: bool) -> dict[str, np.ndarray]:
    """All videos of one tfrecord file, video by video; {} when it holds none."""
    columns = []
    for index, record in enumerate(read_records(path, verify_crc)):
        what = f"{path} record {index}"
        video = read_video(parse_example(record, what), what)
        if video.frames:
            columns.append(video_columns(video, f"{path.stem}-{index}", extractor, what))
    return {key: np.concatenate([c[key] for c in columns]) for key in columns[0]} if columns else {}


def preprocess_insta(src: str | Path, out_dir: str | Path, extractor: FeatureExtractor,
                     cfg: CfgNode | None = None) -> Path:
    """InstaVariety's train tfrecords -> `<out_dir>/insta_train_db.h5`, resumable file by file."""
    cfg = cfg or get_cfg_defaults()
    src = Path(src).expanduser()
    out_path = db_path(out_dir, "insta")
    store = PartStore(work_dir_for(out_dir, cfg.PREPROCESS.WORK_DIR, "insta", "train"),
                      {"bbox_scale": extractor.bbox_scale, "crop": int(cfg.CROP.SIZE)})
    keys = []
    for path in record_files(src):
        keys.append(path.stem)
        if not store.has(path.stem):
            store.write(path.stem, file_columns(path, extractor, bool(cfg.PREPROCESS.VERIFY_CRC)))
            log.info("%s done", path.name)
    rows = assemble_h5(store, keys, out_path)
    log.info("wrote %s: %d frames from %d files", out_path, rows, len(keys))
    if not cfg.PREPROCESS.KEEP_PARTS:
        store.remove()
    return out_path
