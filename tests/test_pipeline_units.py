"""The pipeline's small parts: options onto the config, the method choice, the stage cache."""
import os

import numpy as np
import pytest

from vibe.config import get_cfg_defaults
from vibe.errors import AssetError, InputError
from vibe.pipeline.cache import StageCache, file_fingerprint, stage_key
from vibe.pipeline.options import RunOptions, build_config, choose_method


def test_vibe_flags_set_their_config_keys():
    options = RunOptions.from_kwargs(detector="hog", yolo_img_size=608, tracker_batch_size=12, vibe_batch_size=300,
                                     smooth_min_cutoff=0.01, smooth_beta=0.5, body_model="open", gender="male",
                                     device="cpu", data_dir="/somewhere", opts=["TRACKER.DETECT_STRIDE", "2"])
    cfg = build_config(options)
    assert (cfg.TRACKER.DETECTOR, cfg.TRACKER.YOLO_IMG_SIZE, cfg.TRACKER.BATCH_SIZE) == ("hog", 608, 12)
    assert cfg.MODEL.CHUNK_SIZE == 300 and cfg.TRACKER.DETECT_STRIDE == 2
    assert (cfg.RENDER.SMOOTH_MIN_CUTOFF, cfg.RENDER.SMOOTH_BETA) == (0.01, 0.5)
    assert (cfg.BODY.MODEL, cfg.BODY.GENDER, cfg.DEVICE, cfg.DATA_DIR) == ("open", "male", "cpu", "/somewhere")
    defaults = build_config(RunOptions())
    assert defaults.TRACKER.DETECTOR == get_cfg_defaults().TRACKER.DETECTOR  # unset flags keep the config


def test_a_given_config_is_not_modified():
    base = get_cfg_defaults()
    base.freeze()
    merged = build_config(RunOptions(smooth_beta=0.1), base)
    assert merged.RENDER.SMOOTH_BETA == 0.1 and base.RENDER.SMOOTH_BETA == 0.7
    with pytest.raises(InputError, match="not both"):
        build_config(RunOptions(cfg_file="x.yaml"), base)


@pytest.mark.parametrize("kwargs, message", [
    ({"nonsense": 1}, "unknown option"),
    ({"method": "magic"}, "unknown method"),
    ({"tracking_method": "pose"}, "not available"),
    ({"opts": ["NO.SUCH_KEY", "1"]}, "NO.SUCH_KEY"),
])
def test_bad_options_are_input_errors(kwargs, message):
    with pytest.raises(InputError, match=message):
        build_config(RunOptions.from_kwargs(**kwargs))


def test_method_choice(tmp_path):
    cfg = get_cfg_defaults()
    assert choose_method("auto", tmp_path, cfg).method == "fitting"
    assert "not found" in choose_method("auto", tmp_path, cfg).reason
    with pytest.raises(AssetError, match="vibe_model_wo_3dpw.pth.tar"):
        choose_method("vibe", tmp_path, cfg)
    (tmp_path / cfg.MODEL.VIBE_CHECKPOINT).write_bytes(b"x")
    with pytest.raises(AssetError, match="spin_model_checkpoint.pth.tar"):
        choose_method("auto", tmp_path, cfg)
    (tmp_path / cfg.MODEL.SPIN_CHECKPOINT).write_bytes(b"x")
    choice = choose_method("auto", tmp_path, cfg)
    assert choice.method == "vibe" and choice.spin_checkpoint == tmp_path / cfg.MODEL.SPIN_CHECKPOINT
    assert choose_method("fitting", tmp_path, cfg).method == "fitting"


def test_cache_key_follows_the_input_file(tmp_path):
    video = tmp_path / "clip.mp4"
    video.write_bytes(b"1234")
    key = stage_key("track", file_fingerprint(video), "cfg")
    assert stage_key("track", file_fingerprint(video), "cfg") == key
    assert stage_key("track", file_fingerprint(video), "other cfg") != key
    os.utime(video, ns=(1, 1))  # touched: same size, another time
    assert stage_key("track", file_fingerprint(video), "cfg") != key
    assert file_fingerprint(tmp_path / "absent")[0] == "missing"


def test_stage_cache_round_trip_and_rejects(tmp_path):
    cache = StageCache(tmp_path)
    data = {"tracks": np.arange(5)}
    cache.save("track", "k1", data)
    np.testing.assert_array_equal(cache.load("track", "k1")["tracks"], data["tracks"])
    assert cache.load("track", "k2") is None  # other input or settings
    (tmp_path / "track.pkl").write_bytes(b"garbage")
    assert cache.load("track", "k1") is None  # unreadable: recomputed, no error
    off = StageCache(tmp_path / "off", enabled=False)
    off.save("track", "k1", data)
    assert off.load("track", "k1") is None and not (tmp_path / "off").exists()
