"""Configs and assets a user got wrong give one accurate line: a malformed --cfg names its file and
line (exit 2, no traceback), a --cfg folder is called a folder, a gender the open body cannot honour
is warned about, and an unreadable checkpoint's whole reason is shown."""
import logging

import pytest
import torch

from test_demo_cli import assert_one_error_line, load_demo, run_demo
from test_odd_videos import lavfi_clip
from vibe.body import load_body_model
from vibe.config import load_config
from vibe.errors import AssetError, InputError
from vibe.models import load_vibe

UNCLOSED_LIST = "TRACKER:\n  MIN_IOU: 0.3\n  DETECT_STRIDE: [1\n  MIN_TRACK_LEN: 4\n"  # the list opens on line 3


def one_line(err) -> str:
    message = str(err.value)
    assert "\n" not in message
    return message


def test_malformed_yaml_names_the_file_and_line(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(UNCLOSED_LIST)
    with pytest.raises(InputError) as err:
        load_config(bad)
    message = one_line(err)
    assert message.startswith(f"config file {bad}, line 4, column ") and "malformed YAML" in message
    assert "begun on line 3" in message  # where the unclosed list starts


@pytest.mark.parametrize("text, expected", [
    ("- TRACKER\n- MODEL\n", "holds a YAML list, not a mapping of sections"),
    ("TRACKER: 3\n", "TRACKER must be a section"),
    ("TRACKER:\n  MIN_IOU: high\n", "TRACKER.MIN_IOU must be a number (default 0.2)"),
])
def test_yaml_of_the_wrong_shape_is_one_line(tmp_path, text, expected):
    path = tmp_path / "shape.yaml"
    path.write_text(text)
    with pytest.raises(InputError) as err:
        load_config(path)
    assert expected in one_line(err) and str(path) in str(err.value)


def test_a_config_folder_is_called_a_folder(tmp_path):
    with pytest.raises(InputError, match=f"^config file {tmp_path} is a folder; pass a YAML file to --cfg"):
        load_config(tmp_path)


def test_demo_with_a_malformed_config_exits_2_with_one_line(tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text(UNCLOSED_LIST)
    clip = lavfi_clip(tmp_path / "clip.mp4")
    code, err = run_demo(load_demo(), capsys, ["--video", str(clip), "--output_folder", str(tmp_path / "out"),
                                               "--cfg", str(bad)])
    assert_one_error_line(code, err)
    assert code == 2 and f"{bad}, line 4" in err


def test_a_gender_without_smpl_files_is_warned_about(tmp_path, caplog):
    with caplog.at_level(logging.WARNING, logger="vibe.body.smpl"):
        body = load_body_model(tmp_path, gender="female")
    assert body.kind == "open"
    warning, = [r.message for r in caplog.records if r.levelno == logging.WARNING]
    assert warning.startswith("body model gender 'female' ignored: the open body model has no genders")
    assert f"SMPL_FEMALE.pkl in {tmp_path}" in warning


def test_an_unreadable_checkpoint_gives_the_whole_reason_on_one_line(tmp_path):
    whole = tmp_path / "whole.pth.tar"
    torch.save({"gen_state_dict": {"weight": torch.zeros(256, 256)}}, whole)
    cut = tmp_path / "cut.pth.tar"
    cut.write_bytes(whole.read_bytes()[:len(whole.read_bytes()) // 2])
    with pytest.raises(RuntimeError) as torch_error:
        torch.load(cut, weights_only=True)
    reason = " ".join(str(torch_error.value).split())
    assert len(reason) > 200  # torch's reason is long: it must not be cut
    with pytest.raises(AssetError) as err:
        load_vibe(cut)
    assert f"({reason})" in one_line(err)
    text = tmp_path / "notes.pth.tar"
    text.write_text("these are notes, not weights\n")
    with pytest.raises(AssetError, match=r"^checkpoint .*notes\.pth\.tar is unreadable or truncated \(\w+Error: "):
        load_vibe(text)
