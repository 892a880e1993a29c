"""demo.py: VIBE's flag names, --help, and bad input ending in one 'error:' line, a non-zero exit
and no result files. Most cases call demo.main through run_cli in-process (the same code the
script runs); --help, one bad input and Ctrl-C run the real script in a subprocess."""
import importlib.util
import os
import queue
import signal
import subprocess
import sys
import threading
from pathlib import Path

import joblib
import numpy as np
import pytest

from test_pipeline import FAST_FIT, RESULT_SUFFIXES, VTEST, WALKERS_REGION, write_clip
from vibe.cli_support import run_cli
from vibe.io.results import load_results
from vibe.io.video_writer import VideoWriter

REPO = Path(__file__).resolve().parents[1]
DEMO = REPO / "demo.py"
VIBE_FLAGS = ("--vid_file", "--output_folder", "--tracking_method", "--detector", "--yolo_img_size",
              "--tracker_batch_size", "--vibe_batch_size", "--display", "--run_smplify", "--no_render",
              "--wireframe", "--sideview", "--save_obj", "--smooth", "--smooth_min_cutoff", "--smooth_beta")
OUR_FLAGS = ("--video", "--method", "--data_dir", "--body_model", "--gender", "--device", "--cfg", "--opts",
             "--no_cache", "--sample")
INTERRUPT_WAIT_S = 120
# A fit far longer than the moment between its log line and the test's signal, on any machine.
LONG_FIT = ["FITTING.WORKERS", "1", "FITTING.STAGE_ITERS", "[300, 300, 30000]", "FITTING.TOLERANCE_CHANGE", "0"]
FITTING_STARTS = "track(s) in 1 process(es)"  # vibe.pipeline.run's line as the fits begin


def load_demo():
    spec = importlib.util.spec_from_file_location("demo_under_test", DEMO)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def demo():
    return load_demo()


@pytest.fixture(scope="module")
def cli_clip(tmp_path_factory):
    if not VTEST.is_file():
        pytest.skip("vtest.avi not available")
    return write_clip(tmp_path_factory.mktemp("cli") / "people.mp4", 7, 10, WALKERS_REGION)


def result_files(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.suffix in RESULT_SUFFIXES and "cache" not in p.parts]


def run_demo(demo, capsys, argv):
    code = run_cli(demo.main, [*argv, "--no_progress"])
    return code, capsys.readouterr().err


def assert_one_error_line(code, err):
    lines = err.strip().splitlines()
    assert code != 0
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert "Traceback" not in err


def test_help_lists_every_flag():
    out = subprocess.run([sys.executable, str(DEMO), "--help"], capture_output=True, text=True, cwd=REPO, timeout=60)
    assert out.returncode == 0
    for flag in VIBE_FLAGS + OUR_FLAGS:
        assert flag in out.stdout, flag


def test_missing_video_in_a_real_process(tmp_path):
    out = subprocess.run([sys.executable, str(DEMO), "--video", str(tmp_path / "nope.mp4"), "--output_folder",
                          str(tmp_path / "out")], capture_output=True, text=True, cwd=REPO, timeout=120)
    assert_one_error_line(out.returncode, out.stderr)
    assert "nope.mp4" in out.stderr and not (tmp_path / "out").exists()


@pytest.mark.parametrize("name, content", [
    ("empty.mp4", b""),
    ("corrupt.mp4", bytes(np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8))),
    ("notes.txt", b"this is not a video\n"),
])
def test_unusable_input_files(demo, capsys, tmp_path, name, content):
    path = tmp_path / name
    path.write_bytes(content)
    code, err = run_demo(demo, capsys, ["--video", str(path), "--output_folder", str(tmp_path / "out")])
    assert_one_error_line(code, err)
    assert name in err and not (tmp_path / "out").exists()


def write_grey_clip(path: Path) -> Path:
    """Four grey frames: a valid video with nobody in it."""
    with VideoWriter(path, 10, (160, 120)) as writer:
        for _ in range(4):
            writer.write(np.full((120, 160, 3), 128, np.uint8))
    return path


def test_video_without_people_is_an_empty_result(demo, capsys, tmp_path, caplog):
    empty = write_grey_clip(tmp_path / "grey.mp4")
    code = run_cli(demo.main, ["--video", str(empty), "--output_folder", str(tmp_path / "out"), "--no_render",
                               "--no_progress"])
    printed = capsys.readouterr()
    assert code == 0, printed.err
    assert "people: 0 (of 0 tracks)" in printed.out and "no people found" in caplog.text
    folder = tmp_path / "out" / "grey"
    assert load_results(folder / "vibe_output.pkl") == {}
    assert not list(folder.glob("person_*"))


def test_unwritable_output_folder(demo, capsys, cli_clip, tmp_path):
    blocker = tmp_path / "a_file"
    blocker.write_text("x")
    code, err = run_demo(demo, capsys, ["--video", str(cli_clip), "--output_folder", str(blocker / "out")])
    assert_one_error_line(code, err)
    assert "output folder" in err


@pytest.mark.parametrize("case", ["missing", "corrupt"])
def test_network_path_without_usable_checkpoints(demo, capsys, cli_clip, tmp_path, case):
    data = tmp_path / "data"
    data.mkdir()
    if case == "corrupt":
        for name in ("vibe_model_wo_3dpw.pth.tar", "spin_model_checkpoint.pth.tar"):
            (data / name).write_bytes(b"PK\x03\x04 truncated")
    code, err = run_demo(demo, capsys, ["--video", str(cli_clip), "--output_folder", str(tmp_path / "out"),
                                        "--method", "vibe", "--data_dir", str(data)])
    assert_one_error_line(code, err)
    assert "vibe_model_wo_3dpw.pth.tar" in err and not result_files(tmp_path)
    assert ("not found" if case == "missing" else "unreadable") in err


def test_missing_smpl_when_asked_for(demo, capsys, cli_clip, tmp_path):
    code, err = run_demo(demo, capsys, ["--video", str(cli_clip), "--output_folder", str(tmp_path / "out"),
                                        "--body_model", "smpl", "--data_dir", str(tmp_path)])
    assert_one_error_line(code, err)
    assert "SMPL" in err and not result_files(tmp_path)


def test_video_and_sample_are_exclusive_and_sample_needs_the_sample_module(demo, capsys, cli_clip, tmp_path):
    code, err = run_demo(demo, capsys, ["--output_folder", str(tmp_path)])
    assert_one_error_line(code, err)
    if importlib.util.find_spec("vibe.sample") is None:
        code, err = run_demo(demo, capsys, ["--sample", "--output_folder", str(tmp_path)])
        assert_one_error_line(code, err)
        assert "sample" in err


def test_vibe_flag_names_run(demo, capsys, cli_clip, tmp_path, tiny_smpl_dir):
    out = tmp_path / "out"
    code = run_cli(demo.main, [
        "--vid_file", str(cli_clip), "--output_folder", str(out), "--tracking_method", "bbox",
        "--detector", "blazepose", "--yolo_img_size", "416", "--tracker_batch_size", "4", "--vibe_batch_size", "450",
        "--display", "--run_smplify", "--no_render", "--wireframe", "--sideview", "--smooth",
        "--smooth_min_cutoff", "0.004", "--smooth_beta", "0.7", "--data_dir", str(tiny_smpl_dir), "--no_progress",
        "--opts", *FAST_FIT])
    printed = capsys.readouterr()
    assert code == 0, printed.err
    assert "method: fitting" in printed.out and "people:" in printed.out
    folder = out / "people"
    assert (folder / "vibe_output.pkl").is_file() and (folder / "people_tracks.mp4").is_file()
    assert not (folder / "people_vibe_result.mp4").exists()  # --no_render


def read_lines(stream, into: queue.Queue) -> None:
    """Each line of `stream` into `into`, then None at its end."""
    for line in stream:
        into.put(line)
    into.put(None)


def test_ctrl_c_leaves_no_result_files(cli_clip, tmp_path):
    """SIGINT while fitting (a fit made long by --opts, so the signal comes while it runs): exit
    130, one 'error: interrupted' line, no result files. stderr is read by a thread, line by line,
    so no line is missed while waiting for the one saying fitting has begun."""
    out = tmp_path / "out"
    proc = subprocess.Popen([sys.executable, str(DEMO), "--video", str(cli_clip), "--output_folder", str(out),
                             "--data_dir", str(tmp_path), "--body_model", "open", "--no_progress", "--opts", *LONG_FIT],
                            stderr=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=REPO,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})
    lines: queue.Queue = queue.Queue()
    reader = threading.Thread(target=read_lines, args=(proc.stderr, lines), daemon=True)
    reader.start()
    stderr_lines = []
    try:
        while not stderr_lines or FITTING_STARTS not in stderr_lines[-1]:
            line = lines.get(timeout=INTERRUPT_WAIT_S)
            assert line is not None, "demo ended before fitting:\n" + "".join(stderr_lines)
            stderr_lines.append(line)
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=INTERRUPT_WAIT_S)
    finally:
        if proc.poll() is None:
            proc.kill()
    reader.join(timeout=INTERRUPT_WAIT_S)
    err = "".join(stderr_lines) + "".join(iter(lines.get_nowait, None))
    assert proc.returncode == 130
    assert err.strip().splitlines()[-1].startswith("error: interrupted")
    assert "Traceback" not in err
    assert not result_files(out) and os.listdir(out) == ["people"]  # no staging folder left either


@pytest.mark.slow
def test_sample_clip_end_to_end(demo, capsys, tmp_path):
    """`demo.py --sample` (what `make demo` runs): one person found on (nearly) every frame, boxes on
    the sample's true boxes, the overlay video written."""
    from vibe.sample import sample_truth

    code = run_cli(demo.main, ["--sample", "--output_folder", str(tmp_path), "--no_progress"])
    printed = capsys.readouterr()
    assert code == 0, printed.err
    payload = joblib.load(tmp_path / "sample_clip" / "vibe_output.pkl")
    truth = sample_truth()
    assert len(payload) == 1
    (entry,) = payload.values()
    assert len(entry["frame_ids"]) >= 0.95 * len(truth.boxes)
    true_boxes = truth.boxes[entry["frame_ids"]]
    centre_error = np.linalg.norm(entry["bboxes"][:, :2] - true_boxes[:, :2], axis=1) / true_boxes[:, 3]
    assert np.median(centre_error) < 0.1  # box centres within a tenth of the person's size
    assert (tmp_path / "sample_clip" / "sample_clip_vibe_result.mp4").is_file()
