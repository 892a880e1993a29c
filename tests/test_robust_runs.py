"""Runs that lose nothing (issue 18): a results folder holds one whole run's results, whatever
stops a run (an error, Ctrl-C, SIGTERM, a full disk, SIGKILL at any file operation); inputs of
the same stem get folders of their own; signals end in one line, with no child process left.

Re-runs start from a copy of one finished run (module fixture `earlier`), so they read every
stage from its cache and cost about a second. Signals are sent by the demo process itself, at a
chosen point, from a few lines of patch code run before demo.py (run_patched_demo)."""
import errno
import hashlib
import json
import logging
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from test_demo_cli import DEMO, REPO, assert_one_error_line, load_demo, write_grey_clip
from test_pipeline import FAST_FIT, VTEST, WALKERS_REGION, write_clip
from vibe.cli_support import run_cli
from vibe.errors import OutputError
from vibe.io.atomic import recover_folder
from vibe.io.results import RESULT_FILE_NAME, load_results
from vibe.pipeline.cache import CACHE_DIR_NAME
from vibe.pipeline.run import INPUT_RECORD_NAME, results_dir

PROCESS_TIMEOUT_S = 300
FAULT_KILLS = 20  # runs killed at a random file operation (fixed seed)
FAULT_SEED = 18
QUICK_FIT = ["FITTING.EXTRA_STARTS", "[]", "FITTING.FLIP_AFTER_STAGES", "[]"]  # the fit's quality is not tested here
linux_processes = pytest.mark.skipif(not Path("/proc/self/stat").is_file(),
                                     reason="needs Linux's /proc, process groups and fork")


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    if not VTEST.is_file():
        pytest.skip("vtest.avi not available")
    return write_clip(tmp_path_factory.mktemp("clip") / "people.mp4", 7, 10, WALKERS_REGION)


@pytest.fixture(scope="module")
def demo():
    return load_demo()


@pytest.fixture(scope="module")
def run_args(clip, tiny_smpl_dir):
    """demo.py's flags (but --output_folder) of the earlier run: re-runs with them read its cache."""
    return ["--video", str(clip), "--data_dir", str(tiny_smpl_dir), "--no_progress", "--no_render", "--opts", *FAST_FIT,
            *QUICK_FIT]


@pytest.fixture(scope="module")
def earlier(run_args, demo, tmp_path_factory):
    """The results folder of a finished run (three people, every stage cached)."""
    out = tmp_path_factory.mktemp("earlier")
    assert run_cli(demo.main, [*run_args, "--output_folder", str(out)]) == 0
    return out / "people"


def copy_of(earlier: Path, tmp_path: Path) -> Path:
    """A copy of the earlier run's output folder; its results folder."""
    shutil.copytree(earlier.parent, tmp_path / "out")
    return tmp_path / "out" / earlier.name


def snapshot(folder: Path) -> dict[str, str]:
    """{path in `folder`: sha256} of every file but the cache's."""
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file() and CACHE_DIR_NAME not in p.relative_to(folder).parts}


def stage_files(folder: Path) -> list[str]:
    return sorted(p.name for p in (folder / CACHE_DIR_NAME).glob("*.pkl"))


def run_patched_demo(argv: list[str], patch: str) -> tuple[int, str, int]:
    """demo.py run as a script after `patch` (Python code), in a session of its own: (exit code,
    stderr, its process group id)."""
    code = (f"{patch}\nimport runpy, sys\nsys.argv = ['demo.py', *{argv!r}]\n"
            f"runpy.run_path({str(DEMO)!r}, run_name='__main__')")
    proc = subprocess.Popen([sys.executable, "-c", code], cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, start_new_session=True)
    try:
        _, err = proc.communicate(timeout=PROCESS_TIMEOUT_S)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    return proc.returncode, err, proc.pid


def running_in_group(group: int) -> list[str]:
    """Command lines of the processes of process group `group` still running (zombies apart: a
    container's init may be slow to reap them)."""
    running = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()  # after "pid (name)": state, ppid, pgrp
            command = (stat.parent / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue  # ended meanwhile
        if int(fields[2]) == group and fields[0] != "Z":
            running.append(command)
    return running


def assert_one_error_line_last(err: str, start: str) -> None:
    """Log lines may come first; the last line is the error, and no traceback anywhere."""
    assert err.strip().splitlines()[-1].startswith(start), err[-3000:]
    assert "Traceback" not in err, err[-3000:]


# ---------------------------------------------------------------------------------------- one run's results

def test_a_rerun_finding_fewer_people_leaves_none_of_the_earlier_files(demo, capsys, earlier, run_args, tmp_path):
    folder = copy_of(earlier, tmp_path)
    for suffix in (".npz", ".glb", ".bvh"):  # as if the earlier run had found a fourth person
        shutil.copy(folder / f"person_0{suffix}", folder / f"person_9{suffix}")
    assert run_cli(demo.main, [*run_args, "--output_folder", str(folder.parent)]) == 0, capsys.readouterr().err
    listed = {f"person_{track_id}" for track_id in load_results(folder / RESULT_FILE_NAME)}
    assert {p.stem for p in folder.glob("person_*")} == listed and "person_9" not in listed
    assert stage_files(folder) == stage_files(earlier)  # the cache came along


def test_a_failure_after_the_result_file_leaves_the_earlier_results_whole(demo, capsys, earlier, run_args, tmp_path,
                                                                            monkeypatch):
    folder = copy_of(earlier, tmp_path)
    before = snapshot(folder)

    def interrupted(*args, **kwargs):  # the exports come after vibe_output.pkl
        raise KeyboardInterrupt

    monkeypatch.setattr("vibe.io.exporters.export_track", interrupted)
    code = run_cli(demo.main, [*run_args, "--output_folder", str(folder.parent), "--smooth"])
    assert code == 130
    assert_one_error_line(code, capsys.readouterr().err)
    assert snapshot(folder) == before
    assert os.listdir(folder.parent) == [folder.name]  # the staging folder went with the failure
    assert stage_files(folder) == stage_files(earlier)


def write_set(folder: Path, label: str) -> None:
    folder.mkdir()
    for name in (RESULT_FILE_NAME, "person_0.npz"):
        (folder / name).write_text(label)


@pytest.mark.parametrize("stopped_after, expected", [("moving the earlier folder aside", "earlier"),
                                                     ("moving the new one in", "new"),
                                                     ("moving the cache over", "new")])
def test_a_swap_stopped_midway_is_undone_or_finished(tmp_path, stopped_after, expected):
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()  # its pid names the leftovers of a process that is gone
    final = tmp_path / "clip"
    replaced, staging = (tmp_path / f".clip.{tag}-{process.pid}" for tag in ("old", "partial"))
    write_set(replaced, "earlier")
    (replaced / CACHE_DIR_NAME).mkdir()
    (replaced / CACHE_DIR_NAME / "track.pkl").write_text("cache")
    write_set(staging, "new")
    if expected == "new":
        staging.rename(final)
    if stopped_after == "moving the cache over":
        (replaced / CACHE_DIR_NAME).rename(final / CACHE_DIR_NAME)
    (tmp_path / f".clip.trash-{process.pid}").mkdir()  # a deletion cut short
    recover_folder(final, carry_over=[CACHE_DIR_NAME])
    assert os.listdir(tmp_path) == ["clip"]
    assert (final / RESULT_FILE_NAME).read_text() == (final / "person_0.npz").read_text() == expected
    assert (final / CACHE_DIR_NAME / "track.pkl").read_text() == "cache"


def test_leftovers_of_a_running_process_are_left_alone(tmp_path):
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        staging = tmp_path / f".clip.partial-{other.pid}"
        staging.mkdir()
        recover_folder(tmp_path / "clip")
        assert staging.is_dir()
    finally:
        other.kill()
        other.wait()


# ---------------------------------------------------------------------------------------- inputs of one stem

def test_an_input_of_the_same_stem_gets_a_folder_of_its_own(tmp_path):
    out = tmp_path / "out"
    mp4, mov, mkv = (tmp_path / "in" / name for name in ("clip.mp4", "clip.mov", "clip_mov.mkv"))
    mp4.parent.mkdir()
    for video in (mp4, mov, mkv):
        video.write_bytes(b"")
    assert results_dir(mov, out) == out / "clip"  # nothing there yet
    (out / "clip").mkdir(parents=True)
    assert results_dir(mov, out) == out / "clip"  # a folder without a record counts as the input's own
    (out / "clip" / INPUT_RECORD_NAME).write_text("clip.mp4\n")
    assert results_dir(mp4, out) == out / "clip"
    assert results_dir(mov, out) == out / "clip_mov"
    (out / "clip_mov").mkdir()
    (out / "clip_mov" / INPUT_RECORD_NAME).write_text("clip_mov.mkv\n")
    assert results_dir(mkv, out) == out / "clip_mov"
    with pytest.raises(OutputError, match="clip.mov"):
        results_dir(mov, out)


def test_clip_mov_run_where_clip_mp4s_results_are_leaves_them(demo, capsys, earlier, tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="vibe.pipeline")
    folder = copy_of(earlier, tmp_path)
    before = snapshot(folder)
    other = write_grey_clip(tmp_path / "people.mov")  # same stem as the earlier people.mp4
    code = run_cli(demo.main, ["--video", str(other), "--output_folder", str(folder.parent), "--no_render",
                               "--no_progress"])
    assert code == 0, capsys.readouterr().err
    assert snapshot(folder) == before
    own = folder.parent / "people_mov"
    assert (own / INPUT_RECORD_NAME).read_text().strip() == "people.mov" and load_results(own / RESULT_FILE_NAME) == {}
    assert f"results of people.mov go to {own}" in caplog.text


# ---------------------------------------------------------------------------------------- a full disk

def test_a_full_disk_while_saving_is_one_line_and_keeps_the_earlier_results(demo, capsys, earlier, run_args,
                                                                            tmp_path, monkeypatch):
    folder = copy_of(earlier, tmp_path)
    before = snapshot(folder)

    def savez_on_a_full_disk(file, **arrays):
        Path(file).write_bytes(bytes(4096))  # part of the file made it to the disk
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(np, "savez", savez_on_a_full_disk)
    code, err = run_cli(demo.main, [*run_args, "--output_folder", str(folder.parent)]), capsys.readouterr().err
    assert_one_error_line(code, err)
    assert code == 2 and "disk full" in err and str(folder) in err and " MB" in err
    assert snapshot(folder) == before and os.listdir(folder.parent) == [folder.name]


# ---------------------------------------------------------------------------------------- signals

TERMINATE_WHILE_RENDERING = """
import os, signal
from vibe.io import video_writer
write = video_writer.VideoWriter.write
def write_then_terminate(self, frame):
    write(self, frame)
    if self.frames_written == 2:
        os.kill(os.getpid(), signal.SIGTERM)
video_writer.VideoWriter.write = write_then_terminate
"""


@linux_processes
def test_sigterm_while_rendering_stops_ffmpeg_and_removes_its_files(earlier, run_args, tmp_path):
    folder = copy_of(earlier, tmp_path)
    before = snapshot(folder)
    argv = [arg for arg in run_args if arg != "--no_render"] + ["--output_folder", str(folder.parent)]
    code, err, group = run_patched_demo(argv, TERMINATE_WHILE_RENDERING)
    assert code == 143
    assert_one_error_line_last(err, "error: terminated")
    assert not [command for command in running_in_group(group) if "ffmpeg" in command]
    assert snapshot(folder) == before and os.listdir(folder.parent) == [folder.name]  # no temporary video


CTRL_C_AS_WORKERS_START = """
import os, signal, threading
from vibe.fitting import parallel
as_completed = parallel.as_completed
def ctrl_c_soon(futures):  # as a terminal does: to the whole process group, workers included
    threading.Timer(0.5, os.killpg, (0, signal.SIGINT)).start()
    return as_completed(futures)
parallel.as_completed = ctrl_c_soon
"""


@linux_processes
def test_ctrl_c_as_fitting_workers_start_is_one_line(earlier, run_args, tmp_path):
    folder = copy_of(earlier, tmp_path)
    before = snapshot(folder)
    refit = ["FITTING.WORKERS", "2", "FITTING.CAMERA_ITERS", "4"]  # tracks and keypoints cached, fits not
    code, err, group = run_patched_demo([*run_args, *refit, "--output_folder", str(folder.parent)],
                                        CTRL_C_AS_WORKERS_START)
    assert code == 130
    assert_one_error_line_last(err, "error: interrupted")
    assert not [command for command in running_in_group(group) if "spawn_main" in command]  # workers stopped
    assert snapshot(folder) == before


CTRL_C_AS_PYTHON_EXITS = """
import atexit, os, signal
atexit.register(lambda: os.kill(os.getpid(), signal.SIGINT))  # a Python function: the signal is handled in it
"""


@linux_processes
def test_ctrl_c_after_done_as_python_exits_changes_nothing(earlier, run_args, tmp_path):
    folder = copy_of(earlier, tmp_path)
    code, err, _ = run_patched_demo([*run_args, "--output_folder", str(folder.parent), "--smooth"],
                                    CTRL_C_AS_PYTHON_EXITS)
    assert code == 0, err[-3000:]
    assert "done:" in err and "Traceback" not in err and "error" not in err
    assert snapshot(folder) != snapshot(earlier)  # the smoothed results are in


def test_ctrl_c_after_the_run_finished_says_nothing_untrue(demo, capsys, earlier, run_args, tmp_path, monkeypatch):
    import vibe.pipeline

    folder = copy_of(earlier, tmp_path)
    finished_run = vibe.pipeline.run

    def run_then_ctrl_c(*args, **kwargs):
        finished_run(*args, **kwargs)
        raise KeyboardInterrupt

    monkeypatch.setattr(vibe.pipeline, "run", run_then_ctrl_c)
    code = run_cli(demo.main, [*run_args, "--output_folder", str(folder.parent), "--smooth"])
    err = capsys.readouterr().err
    assert_one_error_line(code, err)
    assert code == 130 and "not written" not in err and "no file was left half-written" in err
    assert snapshot(folder) != snapshot(earlier)


# ---------------------------------------------------------------------------------------- fault injection

@linux_processes
def test_a_run_killed_at_any_file_operation_leaves_whole_results(earlier, run_args, tmp_path):
    """SIGKILL at FAULT_KILLS file operations drawn at random (tests/fault_injection.py), runs of
    two configurations taking turns: after each, the folder (as the next run finds it) holds the
    whole results of the run before or of the killed one, and the cache is never lost."""
    folder = copy_of(earlier, tmp_path)
    argv = [*run_args, "--output_folder", str(folder.parent)]
    spec = {"configs": {"plain": argv, "smoothed with meshes": [*argv, "--smooth", "--save_obj"]},
            "results": str(folder), "carry_over": [CACHE_DIR_NAME], "kills": FAULT_KILLS, "seed": FAULT_SEED}
    (tmp_path / "spec.json").write_text(json.dumps(spec))
    done = subprocess.run([sys.executable, str(REPO / "tests" / "fault_injection.py"), str(tmp_path / "spec.json")],
                          cwd=REPO, capture_output=True, text=True, timeout=PROCESS_TIMEOUT_S,
                          env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert done.returncode == 0, done.stderr[-3000:]
    reports = [json.loads(line) for line in done.stdout.splitlines()]
    whole = {report["config"]: report["files"] for report in reports if report["kill_at"] is None}
    assert [r["outcome"] for r in reports if r["kill_at"] is None] == [0, 0, 0]
    assert whole["plain"] != whole["smoothed with meshes"]
    assert reports[-1]["files"] == whole["plain"]
    killed = [report for report in reports if report["kill_at"] is not None]
    assert len(killed) == FAULT_KILLS and all(report["outcome"] == "killed" for report in killed)
    held = reports[len(whole) - 1]["files"]
    seen = set()
    for report in killed:
        assert report["files"] in (held, whole[report["config"]]), report["kill_at"]
        seen.add("new" if report["files"] == whole[report["config"]] != held else "earlier")
        assert report["cache"] == stage_files(earlier)
        held = report["files"]
    assert seen == {"earlier", "new"}  # the kills fell before and after swaps
    assert os.listdir(folder.parent) == [folder.name]  # the last run cleared what the kills left

