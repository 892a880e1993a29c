"""Motion capture (BVH, ASF/AMC, expmap CSV; vibe.data.mocap) -> a motion library on our body:
`mocap_train_db.pt` and `mocap_test_db.pt`, each in `amass_db.pt`'s layout (theta (N, 82) = SMPL
pose 72 + betas 10, vid_name (N,)), at PREPROCESS.AMASS_FPS, plus per row `transl` (3,) (the
body's translation in the capture's world, y up: the pelvis is at J0(betas) + transl), `subject`
and `retarget_error_mm` (the sequence's mean point error).

Each sequence is resampled (nearest source frame in time, as AMASS) and retargeted onto the body
model (vibe.data.mocap.retarget), then goes to the split of its subject (`split_of`), so that no
subject's motion is both trained on and tested: see docs/motion_library.md. Work is saved
sequence by sequence (vibe.data.preprocess.parts): an interrupted run resumes.
"""
from __future__ import annotations

import hashlib
import logging
from dataclasses import replace
from pathlib import Path

import numpy as np
from yacs.config import CfgNode

from vibe.data.mocap import MocapSequence, find_mocap_files, read_mocap
from vibe.data.preprocess.amass import resample_indices
from vibe.data.preprocess.parts import PartStore, assemble_joblib, work_dir_for
from vibe.data.vibe_db import AMASS_THETA_DIM, BETAS_DIM, db_path
from vibe.errors import InputError

log = logging.getLogger(__name__)

# Subjects held out whole: CMU subject 03 (walking on uneven ground, ASF/AMC) and the second
# salsa dancer of every BVH couple (files 16-30, CMU subject 61 by our reading).
TEST_SUBJECTS = ("cmu03", "bvh_salsa_b")
# Subjects of one sequence each (the other BVH files and the expmap set, whose files do not say
# who moved) are held out by a stable hash of their name: one in TEST_EVERY. The expmap set's own
# train/test folders are kept as they are (its test folder is test).
TEST_EVERY = 5
EXPMAP_TEST_FOLDER = "test"


def split_of(sequence: MocapSequence) -> str:
    """'train' or 'test' for a sequence, by its subject (see the module constants)."""
    if sequence.subject in TEST_SUBJECTS:
        return "test"
    if sequence.source_format == "expmap":
        return "test" if EXPMAP_TEST_FOLDER in Path(sequence.name).parts else "train"
    if sequence.subject != sequence.name:  # a known subject with several sequences, not held out
        return "train"
    digest = int(hashlib.sha1(sequence.subject.encode()).hexdigest(), 16)
    return "test" if digest % TEST_EVERY == 0 else "train"


def resampled(sequence: MocapSequence, fps: float) -> MocapSequence:
    """The sequence at `fps` (nearest source frame in time; never upsampled: slower stays as is)."""
    if sequence.fps <= fps:
        return sequence
    frames = resample_indices(len(sequence.positions), sequence.fps, fps)
    return replace(sequence, positions=sequence.positions[frames], fps=fps)


def library_rows(result) -> dict[str, np.ndarray]:
    """A RetargetResult -> the db columns of its frames."""
    frames = len(result.pose)
    theta = np.concatenate([result.pose, np.broadcast_to(result.betas[:BETAS_DIM], (frames, BETAS_DIM))], axis=1)
    assert theta.shape[1] == AMASS_THETA_DIM
    return {"theta": theta.astype(np.float32), "vid_name": np.array([result.name] * frames, dtype=str),
            "transl": result.transl.astype(np.float32),
            "subject": np.array([result.subject] * frames, dtype=str),
            "retarget_error_mm": np.full(frames, result.mean_error_mm, np.float32)}


def preprocess_mocap(src: str | Path, out_dir: str | Path, body, cfg: CfgNode) -> dict[str, Path]:
    """Every motion file under `src` -> `<out_dir>/mocap_{train,test}_db.pt`; returns split -> path."""
    from vibe.data.mocap.retarget import Retargeter, RetargetSettings

    src, fps = Path(src).expanduser(), float(cfg.PREPROCESS.AMASS_FPS)
    if not src.is_dir():
        raise InputError(f"motion capture folder {src} not found; pass the folder holding BVH, ASF/AMC or expmap files")
    files = find_mocap_files(src)
    if not files:
        raise InputError(f"no motion files (.bvh, .amc, expmap .txt) under {src}")
    settings = {"fps": fps, "body": body.kind, "body_file": str(body.source.name)}
    stores = {split: PartStore(work_dir_for(out_dir, cfg.PREPROCESS.WORK_DIR, "mocap", split), settings)
              for split in ("train", "test")}
    keys: dict[str, list[str]] = {"train": [], "test": []}
    retargeter = Retargeter(body, RetargetSettings.from_cfg(cfg))
    for index, path in enumerate(files, 1):
        sequence = read_mocap(path)
        split = split_of(sequence)
        keys[split].append(sequence.name)
        if stores[split].has(sequence.name):
            continue
        result = retargeter.fit(resampled(sequence, fps))
        stores[split].write(sequence.name, library_rows(result))
        log.info("%d/%d %s (%s, %s): %d frames, mean point error %.1f mm, %.0f s", index, len(files), sequence.name,
                 sequence.subject, split, len(result.pose), result.mean_error_mm, result.seconds)
    outputs = {}
    for split, store in stores.items():
        outputs[split] = db_path(out_dir, "mocap", split)
        rows = assemble_joblib(store, keys[split], outputs[split])
        log.info("wrote %s: %d frames from %d sequences", outputs[split], rows, len(keys[split]))
        if not cfg.PREPROCESS.KEEP_PARTS:
            store.remove()
    return outputs
