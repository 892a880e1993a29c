import os
import subprocess
import sys
from pathlib import Path

import pytest

from vibe.config import load_config, resolve_data_dir
from vibe.errors import InputError, OutputError
from vibe.io.atomic import atomic_path

REPO = Path(__file__).resolve().parents[1]


def test_import_is_light():
    """Importing the packages must not pull mediapipe, anny, moderngl or the tflite runtime."""
    code = (
        "import sys, vibe, tracker\n"
        "heavy = [m for m in ('mediapipe', 'anny', 'moderngl', 'ai_edge_litert', 'torchvision') if m in sys.modules]\n"
        "print(','.join(heavy))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO)
    assert out.stdout.strip() == ""


def test_config_yaml_then_cli_override(tmp_path):
    yaml = tmp_path / "c.yaml"
    yaml.write_text("TRACKER:\n  MIN_TRACK_LEN: 7\n  MIN_IOU: 0.3\n")
    cfg = load_config(yaml, ["TRACKER.MIN_TRACK_LEN", "11"])
    assert cfg.TRACKER.MIN_TRACK_LEN == 11  # command line wins over YAML
    assert cfg.TRACKER.MIN_IOU == pytest.approx(0.3)  # YAML wins over defaults
    assert cfg.CROP.BBOX_SCALE == pytest.approx(1.1)  # untouched default


def test_config_accepts_an_integer_for_a_float_key(tmp_path):
    yaml = tmp_path / "c.yaml"
    yaml.write_text("FITTING:\n  SHAPE_PRIOR_W: 5\n")
    from_yaml = load_config(yaml)
    from_cli = load_config(None, ["FITTING.SHAPE_PRIOR_W", "7", "TRACKER.MIN_TRACK_LEN", "9"])
    assert from_yaml.FITTING.SHAPE_PRIOR_W == 5.0 and isinstance(from_yaml.FITTING.SHAPE_PRIOR_W, float)
    assert from_cli.FITTING.SHAPE_PRIOR_W == 7.0 and isinstance(from_cli.FITTING.SHAPE_PRIOR_W, float)
    assert from_cli.TRACKER.MIN_TRACK_LEN == 9 and isinstance(from_cli.TRACKER.MIN_TRACK_LEN, int)


@pytest.mark.parametrize("opts", [["NOPE.KEY", "1"], ["TRACKER.MIN_TRACK_LEN"], ["TRACKER.MIN_TRACK_LEN", "2.5"],
                                  ["FITTING.SHAPE_PRIOR_W", "heavy"]])
def test_config_bad_override_is_input_error(opts):
    with pytest.raises(InputError):
        load_config(None, opts)


def test_config_missing_file(tmp_path):
    with pytest.raises(InputError, match="not found"):
        load_config(tmp_path / "missing.yaml")


def test_data_dir_precedence(monkeypatch, tmp_path):
    monkeypatch.delenv("VIBE_DATA_DIR", raising=False)
    assert resolve_data_dir() == Path("data/vibe_data")
    monkeypatch.setenv("VIBE_DATA_DIR", str(tmp_path / "env"))
    assert resolve_data_dir() == tmp_path / "env"
    assert resolve_data_dir(tmp_path / "flag") == tmp_path / "flag"


def test_atomic_path_keeps_old_file_on_failure(tmp_path):
    target = tmp_path / "result.bin"
    target.write_bytes(b"old")
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_bytes(b"half")
            raise RuntimeError("interrupted")
    assert target.read_bytes() == b"old"
    assert os.listdir(tmp_path) == ["result.bin"]
    with atomic_path(target) as tmp:
        tmp.write_bytes(b"new")
    assert target.read_bytes() == b"new"


def test_atomic_file_gets_the_mode_a_plain_open_gives(tmp_path):
    previous = os.umask(0o027)
    try:
        (tmp_path / "plain").write_bytes(b"x")
        with atomic_path(tmp_path / "atomic") as tmp:
            tmp.write_bytes(b"x")
    finally:
        os.umask(previous)
    plain_mode = os.stat(tmp_path / "plain").st_mode & 0o777
    assert plain_mode == 0o640
    assert os.stat(tmp_path / "atomic").st_mode & 0o777 == plain_mode  # not mkstemp's 0600


def test_atomic_path_unwritable_folder(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(OutputError, match="cannot write"):
        with atomic_path(blocker / "sub" / "out.pkl"):
            pass
