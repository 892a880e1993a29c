"""The motion library: the subject split, the discriminator's fallback to it, and a small
preprocess run on real CMU files (resumable, amass_db.pt's layout)."""
import re
import shutil
from pathlib import Path

import joblib
import numpy as np
import pytest

from test_mocap_readers import MOCAP_DIR
from vibe.config import get_cfg_defaults
from vibe.data.mocap import MocapSequence
from vibe.data.preprocess.mocap import TEST_EVERY, preprocess_mocap, split_of
from vibe.data.vibe_db import AMASS_THETA_DIM, db_path, motion_source, open_dataset

AMC_FRAMES = 24  # frames kept of each real take in the small run (30 fps)


def _sequence(name: str, subject: str, source_format: str) -> MocapSequence:
    return MocapSequence(name, subject, source_format, 30.0, "cmu_asf31", np.zeros((1, 31, 3), np.float32))


def test_split_holds_out_whole_subjects():
    assert split_of(_sequence("asfamc/03/03_01", "cmu03", "asfamc")) == "test"
    assert split_of(_sequence("asfamc/02/02_05", "cmu02", "asfamc")) == "train"
    assert split_of(_sequence("bvh/salsa/17", "bvh_salsa_b", "bvh")) == "test"
    assert split_of(_sequence("bvh/salsa/02", "bvh_salsa_a", "bvh")) == "train"
    assert split_of(_sequence("expmap/test/walking/walking_3", "expmap/test/walking/walking_3", "expmap")) == "test"
    # expmap's train take of CMU subject 02 stays with the subject's other takes
    assert split_of(_sequence("expmap/train/walking/walking_1", "cmu02", "expmap")) == "train"
    # one-sequence subjects: a stable hash, about one in TEST_EVERY held out
    names = [f"bvh/martial/{index:02d}" for index in range(200)]
    held_out = sum(split_of(_sequence(name, name, "bvh")) == "test" for name in names)
    assert 0.5 * 200 / TEST_EVERY < held_out < 1.5 * 200 / TEST_EVERY
    assert [split_of(_sequence(name, name, "bvh")) for name in names[:20]] == \
        [split_of(_sequence(name, name, "bvh")) for name in names[:20]]


def _motion_db(path: Path, frames: int = 40) -> None:
    joblib.dump({"theta": np.zeros((frames, AMASS_THETA_DIM), np.float32),
                 "vid_name": np.array(["clip"] * frames)}, path)


def test_discriminator_motion_falls_back_to_the_library(tmp_path):
    assert motion_source(tmp_path) == "amass"  # nothing there: the AMASS error says what to get
    _motion_db(db_path(tmp_path, "mocap", "train"))
    assert motion_source(tmp_path) == "mocap"
    assert open_dataset("mocap", tmp_path, "train", 16, 0.0).sample(slice(0, 16))["motion"].shape == (16, 69)
    _motion_db(db_path(tmp_path, "amass"))
    assert motion_source(tmp_path) == "amass"  # the user's AMASS wins


def _short_take(source: Path, target: Path, frames: int) -> None:
    """The AMC `source` cut to its first `frames` frames."""
    text = source.read_text()
    cut = re.search(rf"^{frames + 1}\s*$", text, flags=re.MULTILINE)
    target.write_text(text[:cut.start()] if cut else text)


@pytest.mark.skipif(MOCAP_DIR is None, reason="shared/mocap not available")
def test_small_library_from_real_takes_resumes(tmp_path, caplog):
    """Subject 02 (train) and 03 (test), one short take each: two db files in amass_db.pt's layout
    with the retargeted translation; a second run reads the saved parts and retargets nothing."""
    from vibe.body import load_body_model

    src = tmp_path / "src"
    for subject, take in (("02", "02_01"), ("03", "03_01")):
        folder = src / subject
        folder.mkdir(parents=True)
        shutil.copy(MOCAP_DIR / "cmu_asfamc" / subject / f"{subject}.asf", folder)
        _short_take(MOCAP_DIR / "cmu_asfamc" / subject / f"{take}.amc", folder / f"{take}.amc", AMC_FRAMES)
    cfg = get_cfg_defaults()
    cfg.PREPROCESS.KEEP_PARTS = True
    body = load_body_model(None, kind="open")
    out = preprocess_mocap(src, tmp_path / "db", body, cfg)
    train, test = joblib.load(out["train"]), joblib.load(out["test"])
    assert set(train["vid_name"]) == {"asfamc/02/02_01"} and set(test["vid_name"]) == {"asfamc/03/03_01"}
    expected_frames = int(np.floor((AMC_FRAMES - 1) / 30.0 * cfg.PREPROCESS.AMASS_FPS + 1e-9)) + 1
    for db in (train, test):
        assert db["theta"].shape == (expected_frames, AMASS_THETA_DIM) and db["transl"].shape == (expected_frames, 3)
        assert np.isfinite(db["theta"]).all() and (db["retarget_error_mm"] < 20).all()
    caplog.clear()
    with caplog.at_level("INFO"):
        preprocess_mocap(src, tmp_path / "db", body, cfg)
    assert not any("retargeted" in record.message for record in caplog.records)
