"""Batches of videos (demo.py and vibe.pipeline.run_inputs): a folder of videos or a .txt list of
paths, split by --shard I/N, each video complete or absent, a failed video logged and skipped, a
re-run skipping finished videos, models loaded once, one summary CSV.

The end-to-end batch runs two 5-frame vtest clips (three walkers each) and a corrupt file with the
tiny SMPL-format model and shortened fits; the other checks need no run."""
import collections
import csv
import importlib
import logging
from pathlib import Path

import joblib
import pytest

from test_demo_cli import assert_one_error_line, load_demo, run_demo
from test_pipeline import FAST_FIT, WALKERS_REGION, write_clip
from vibe.cli_support import run_cli
from vibe.errors import InputError
from vibe.pipeline import (
    BatchInput, Shard, expand_input, parse_shard, run_inputs, select_shard, summary_table_path,
)
from media import VTEST

needs_vtest = pytest.mark.skipif(not VTEST.is_file(), reason="vtest.avi not available")
batch_module = importlib.import_module("vibe.pipeline.batch")
CLIP_FRAMES = 5
CLIP_FPS = {"walk_a": 10.0, "walk_b": 12.5}
# Tiny clips: one process fits faster than spawning workers; no extra start poses, no flip search.
BATCH_RUN = [*FAST_FIT, "FITTING.WORKERS", "1", "FITTING.EXTRA_STARTS", "[]", "FITTING.FLIP_AFTER_STAGES", "[]"]
EXIT_SOME_FAILED = 1


def touch(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"")
    return path


def read_table(path: Path) -> dict[str, dict]:
    with path.open(newline="") as handle:
        return {Path(row["video"]).name: row for row in csv.DictReader(handle)}


def demo_argv(video, out, data_dir, *extra):
    return ["--video", str(video), "--output_folder", str(out), "--data_dir", str(data_dir), "--no_render",
            "--no_progress", *extra, "--opts", *BATCH_RUN]


class CallRecorder:
    """Wraps a function, recording the first argument of each call."""

    def __init__(self, function):
        self.function, self.calls = function, []

    def __call__(self, *args, **kwargs):
        self.calls.append(args[0] if args else None)
        return self.function(*args, **kwargs)


def refuse(*args, **kwargs):
    raise InputError("stopped here")


# ---------------------------------------------------------------------------------------- lists and shards

@pytest.mark.parametrize("num_inputs", [0, 1, 2, 7, 20])
def test_shards_cover_every_input_exactly_once(num_inputs):
    inputs = [BatchInput(Path(f"clip{k}.mp4"), Path("out")) for k in range(num_inputs)]
    for count in range(1, 9):
        shards = [select_shard(inputs, Shard(index, count)) for index in range(1, count + 1)]
        assert collections.Counter(item for shard in shards for item in shard) == collections.Counter(inputs)
        assert max(map(len, shards)) - min(map(len, shards)) <= 1
        assert shards == [select_shard(list(inputs), parse_shard(f"{index}/{count}")) for index in range(1, count + 1)]
    assert select_shard(inputs, None) == inputs


def test_inputs_that_may_share_a_results_folder_share_a_shard():
    names = ["a.mp4", "b.mp4", "A.mov", "c.avi", "b.mkv", "d.mp4", "a.b.mp4", "e.mp4"]
    inputs = [BatchInput(Path("clips") / name, Path("out")) for name in names]
    for count in range(1, 6):
        shards = [select_shard(inputs, Shard(index, count)) for index in range(1, count + 1)]
        assert collections.Counter(item for shard in shards for item in shard) == collections.Counter(inputs)
        shard_of = {item.path.name: index for index, shard in enumerate(shards) for item in shard}
        assert shard_of["a.mp4"] == shard_of["A.mov"] == shard_of["a.b.mp4"] and shard_of["b.mp4"] == shard_of["b.mkv"]


def test_a_folder_of_videos_is_one_input_per_video_in_name_order(tmp_path, caplog):
    folder = tmp_path / "clips"
    for name in ("clip10.mp4", "clip2.MOV", "clip1.avi", ".clip0.mp4", "notes.md", "frame.png"):
        touch(folder / name)
    caplog.set_level(logging.WARNING, logger="vibe.pipeline.batch")
    inputs = expand_input(folder, tmp_path / "out")
    assert [(item.path.name, item.output_folder) for item in inputs] == [
        ("clip1.avi", tmp_path / "out"), ("clip2.MOV", tmp_path / "out"), ("clip10.mp4", tmp_path / "out")]
    assert "2 other file(s) ignored" in caplog.text


def test_a_list_file_with_comments_and_relative_paths(tmp_path):
    clips = [touch(tmp_path / "data" / "b.mp4"), touch(tmp_path / "data" / "a.mp4"), touch(tmp_path / "a.mov")]
    listing = tmp_path / "lists" / "todo.txt"
    listing.parent.mkdir()
    listing.write_text(f"# my clips\n\n../data/b.mp4\n   # not this one: ../data/c.mp4\n  ../data/a.mp4  \n{clips[2]}\n"
                       "../data/b.mp4\n")
    inputs = expand_input(listing, tmp_path / "out")
    assert [item.path.resolve() for item in inputs] == [clip.resolve() for clip in clips]  # list order, b once
    assert {item.output_folder for item in inputs} == {tmp_path / "out"}


@pytest.mark.parametrize("content, message", [
    ("# nothing here\n\n", "names no videos"),
    ("a.mp4\nmissing.mp4\n", "missing.mp4 (line 2)"),
    ("a.mp4\nsub/a.mp4\n", "have the same name"),
])
def test_a_bad_list_is_one_error_line_before_any_run(demo_module, capsys, tmp_path, content, message):
    touch(tmp_path / "a.mp4")
    touch(tmp_path / "sub" / "a.mp4")
    listing = tmp_path / "clips.txt"
    listing.write_text(content)
    code, err = run_demo(demo_module, capsys, ["--video", str(listing), "--output_folder", str(tmp_path / "out")])
    assert_one_error_line(code, err)
    assert message in err and not (tmp_path / "out").exists()


@pytest.mark.parametrize("shard", ["0/4", "5/4", "4", "a/b", "1/0", "-1/3", "2/4/6", ""])
def test_bad_shard_values_give_one_line(demo_module, capsys, tmp_path, shard):
    code, err = run_demo(demo_module, capsys, ["--video", str(touch(tmp_path / "clip.mp4")), f"--shard={shard}",
                                               "--output_folder", str(tmp_path / "out")])
    assert_one_error_line(code, err)
    assert "--shard must be I/N with 1 <= I <= N" in err and not (tmp_path / "out").exists()
    with pytest.raises(InputError):
        parse_shard(shard)


def test_shard_tables_have_their_own_names(tmp_path):
    assert summary_table_path(tmp_path) == tmp_path / "batch_summary.csv"
    assert summary_table_path(tmp_path, parse_shard(" 2 / 3 ")) == tmp_path / "batch_summary_shard-2-of-3.csv"


def test_redo_runs_finished_inputs_again(tmp_path, monkeypatch):
    inputs = [BatchInput(touch(tmp_path / f"{name}.mp4"), tmp_path / "out") for name in ("a", "b")]
    touch(tmp_path / "out" / "a" / "vibe_output.pkl")  # a is finished
    calls = CallRecorder(refuse)
    monkeypatch.setattr(batch_module, "run", calls)
    assert [o.status for o in run_inputs(inputs).outcomes] == ["skipped", "failed: stopped here"]
    assert [o.status for o in run_inputs(inputs, redo=True).outcomes] == ["failed: stopped here"] * 2
    assert calls.calls == [inputs[1].path, inputs[0].path, inputs[1].path]


# ---------------------------------------------------------------------------------------- end to end

@pytest.fixture(scope="module")
def demo_module():
    return load_demo()


@pytest.fixture(scope="module")
def clip_list(tmp_path_factory):
    """lists/batch.txt naming ../clips/walk_a.mp4, ../clips/broken.mp4 (not a video) and walk_b.mp4
    (absolute), with comments."""
    if not VTEST.is_file():
        pytest.skip("vtest.avi not available")
    root = tmp_path_factory.mktemp("batch")
    clips = root / "clips"
    clips.mkdir()
    for stem, fps in CLIP_FPS.items():
        write_clip(clips / f"{stem}.mp4", CLIP_FRAMES, fps, WALKERS_REGION)
    (clips / "broken.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 8)
    listing = root / "lists" / "batch.txt"
    listing.parent.mkdir()
    listing.write_text(f"# three clips, one broken\n../clips/walk_a.mp4\n\n../clips/broken.mp4\n"
                       f"{clips / 'walk_b.mp4'}\n")
    return listing


@pytest.fixture(scope="module")
def first_batch(clip_list, tiny_smpl_dir, demo_module, tmp_path_factory):
    """demo.py on the list: (output folder, exit code, body model loads, the summary table's rows)."""
    out = tmp_path_factory.mktemp("batch_out")
    with pytest.MonkeyPatch.context() as patch:
        import vibe.body

        loads = CallRecorder(vibe.body.load_body_model)
        patch.setattr(vibe.body, "load_body_model", loads)
        code = run_cli(demo_module.main, demo_argv(clip_list, out, tiny_smpl_dir))
    return out, code, len(loads.calls), read_table(out / "batch_summary.csv")


@needs_vtest
def test_a_failed_video_leaves_the_others_complete(first_batch):
    out, code, _, table = first_batch
    assert code == EXIT_SOME_FAILED
    for stem, fps in CLIP_FPS.items():
        payload = joblib.load(out / stem / "vibe_output.pkl")
        assert len(payload) >= 2  # vtest's walkers
        for track_id in payload:
            for suffix in (".npz", ".glb", ".bvh"):
                assert (out / stem / f"person_{track_id}{suffix}").is_file()
        row = table[f"{stem}.mp4"]
        assert (row["status"], int(row["people"]), int(row["frames"]), float(row["fps"])) == (
            "done", len(payload), CLIP_FRAMES, fps)
    assert not (out / "broken").exists()
    assert table["broken.mp4"]["status"].startswith("failed: ") and "broken.mp4" in table["broken.mp4"]["status"]
    assert list(table) == ["walk_a.mp4", "broken.mp4", "walk_b.mp4"]  # the list's order


@needs_vtest
def test_models_load_once_per_batch(first_batch):
    _, _, loads, _ = first_batch
    assert loads == 1  # two videos ran (the broken one fails before loading)


@needs_vtest
def test_a_rerun_does_no_work_for_finished_videos(first_batch, clip_list, tiny_smpl_dir, demo_module, monkeypatch,
                                                  capsys, caplog):
    out = first_batch[0]
    finished = {path: path.stat().st_mtime_ns for path in out.glob("walk_*/*") if path.is_file()}
    runs = CallRecorder(batch_module.run)
    monkeypatch.setattr(batch_module, "run", runs)
    caplog.set_level(logging.INFO, logger="vibe.pipeline.batch")
    code = run_cli(demo_module.main, demo_argv(clip_list, out, tiny_smpl_dir))
    assert code == EXIT_SOME_FAILED  # broken.mp4 is tried again and fails again
    assert [Path(path).name for path in runs.calls] == ["broken.mp4"]
    assert {path: path.stat().st_mtime_ns for path in finished} == finished
    skipped_lines = [line for line in caplog.text.splitlines() if "skipped, finished earlier" in line]
    assert len(skipped_lines) == 2
    assert "2 skipped (finished earlier); 1 failed" in capsys.readouterr().out
    table = read_table(out / "batch_summary.csv")
    for stem in CLIP_FPS:  # the counts of the earlier run stay in the table
        assert table[f"{stem}.mp4"]["status"] == "skipped"
        assert (table[f"{stem}.mp4"]["people"], table[f"{stem}.mp4"]["frames"]) == (
            first_batch[3][f"{stem}.mp4"]["people"], str(CLIP_FRAMES))


@needs_vtest
def test_shards_split_the_list_and_write_their_own_tables(first_batch, clip_list, tiny_smpl_dir, demo_module):
    out = first_batch[0]
    codes = [run_cli(demo_module.main, demo_argv(clip_list, out, tiny_smpl_dir, "--shard", f"{index}/2"))
             for index in (1, 2)]
    tables = [read_table(out / f"batch_summary_shard-{index}-of-2.csv") for index in (1, 2)]
    assert [list(table) for table in tables] == [["walk_a.mp4", "walk_b.mp4"], ["broken.mp4"]]
    assert codes == [0, EXIT_SOME_FAILED]
