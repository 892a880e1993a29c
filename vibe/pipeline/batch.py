"""Several inputs in one call: `run_inputs(inputs, **options) -> BatchResult`.

`expand_input(path, output_folder)` turns what a user passed into inputs:
  - a list file (LIST_SUFFIX, .txt): one path per line, relative ones relative to the list's folder;
    blank lines and lines starting with `#` are ignored; every path must exist (checked before any
    run); each is expanded as below;
  - a folder holding videos (VIDEO_SUFFIXES, by extension; names starting with `.` ignored): its
    videos, in natural name order (other files in it are ignored, with a warning);
  - a folder of images of different sizes, which cannot be one sequence: each image alone (a
    one-frame run), results in `<output_folder>/<folder name>/<image stem>/`;
  - anything else (a video, a photo, a folder of same-size frames): itself.
The order is the same on every machine, so `select_shard(inputs, parse_shard("2/4"))` lets N
machines split a batch without talking to each other (input k goes to shard k mod N + 1; inputs
whose names differ only after the first dot, clip.mp4 and clip.mov, go to one shard).

run_inputs runs each input with vibe.pipeline.run and the same options, loading the models once
(vibe.pipeline.shared_models). A failed input is logged and recorded, and the others still run; an
input whose result file exists is skipped (one log line) unless `redo`. With `table`, a CSV of
video, people, frames, fps, status, seconds is rewritten atomically after every input.

    from vibe.pipeline import expand_input, parse_shard, run_inputs, select_shard, summary_table_path
    shard = parse_shard("1/4")
    batch = run_inputs(select_shard(expand_input("clips/", "out"), shard), table=summary_table_path("out", shard))
    print(batch.summary())         # one summary per input, then the totals
"""
from __future__ import annotations

import csv
import io
import logging
import re
import time
from dataclasses import dataclass
from pathlib import Path

from tracker.video import folder_images, image_size, natural_key
from vibe.errors import InputError, VibeError
from vibe.io.atomic import write_bytes_atomic
from vibe.io.results import RESULT_FILE_NAME
from vibe.pipeline.options import RunOptions, build_config
from vibe.pipeline.run import RunResult, results_dir, run
from vibe.pipeline.shared_models import models_shared

log = logging.getLogger(__name__)

LIST_SUFFIX = ".txt"  # --video names a list of paths when it ends so (a video never does)
LIST_COMMENT = "#"
MISSING_SHOWN = 3  # missing paths a list error names (then "...")
# Containers FFmpeg reads that people keep videos in; a folder holding any of these is a batch of videos.
VIDEO_SUFFIXES = {".mp4", ".m4v", ".mov", ".avi", ".mkv", ".webm", ".mpg", ".mpeg", ".wmv", ".flv", ".ts",
                  ".mts", ".m2ts", ".3gp", ".ogv"}
TABLE_NAME = "batch_summary"  # <output_folder>/batch_summary[_shard-I-of-N].csv
TABLE_COLUMNS = ("video", "people", "frames", "fps", "status", "seconds")
CARRIED_COLUMNS = ("people", "frames", "fps")  # a skipped video keeps these from the earlier table
_SHARD = re.compile(r"\s*(\d+)\s*/\s*(\d+)\s*")


@dataclass(frozen=True)
class BatchInput:
    """One run: `path` (a video file, photo or image folder), results in results_dir(path, output_folder)."""

    path: Path
    output_folder: Path

    @property
    def result_file(self) -> Path:
        """The file whose presence says this input's results are complete."""
        return results_dir(self.path, self.output_folder) / RESULT_FILE_NAME


@dataclass
class InputOutcome:
    """What became of one input: its RunResult, the error that stopped it, or skipped (finished earlier)."""

    input: BatchInput
    result: RunResult | None = None
    error: Exception | None = None
    seconds: float = 0.0

    @property
    def skipped(self) -> bool:
        return self.result is None and self.error is None

    @property
    def status(self) -> str:
        """done, skipped, or failed: <the error's message>."""
        if self.error is not None:
            lines = str(self.error).strip().splitlines()
            return f"failed: {lines[0] if lines else type(self.error).__name__}"  # one line, even for a bug's error
        return "skipped" if self.skipped else "done"


@dataclass
class BatchResult:
    """The outcomes of run_inputs, in input order."""

    outcomes: list[InputOutcome]

    @property
    def failed(self) -> list[InputOutcome]:
        return [outcome for outcome in self.outcomes if outcome.error is not None]

    @property
    def skipped(self) -> list[InputOutcome]:
        return [outcome for outcome in self.outcomes if outcome.skipped]

    @property
    def people(self) -> int:
        """People found over all inputs that ran."""
        return sum(len(outcome.result.results) for outcome in self.outcomes if outcome.result is not None)

    def summary(self) -> str:
        """Each input's summary (or its status) under its name, then a line with the totals."""
        blocks = [f"== {outcome.input.path.name} ==\n" + _outcome_text(outcome) for outcome in self.outcomes]
        done = len(self.outcomes) - len(self.failed) - len(self.skipped)
        skipped = f"; {len(self.skipped)} skipped (finished earlier)" if self.skipped else ""
        failed = f"; {len(self.failed)} failed" if self.failed else ""
        blocks.append(f"total: {self.people} people in {done} of {len(self.outcomes)} inputs{skipped}{failed}")
        return "\n".join(blocks)


def _outcome_text(outcome: InputOutcome) -> str:
    if outcome.result is not None:
        return outcome.result.summary()
    if outcome.skipped:
        return "skipped: finished earlier (--redo runs it again)"
    return outcome.status


# ---------------------------------------------------------------------------------------- inputs

def expand_input(path, output_folder) -> list[BatchInput]:
    """The inputs `path` stands for (see the module docstring); InputError when two files of the same
    name would share a results folder, or a list file cannot be read, lists nothing or a missing path."""
    path, output_folder = Path(path).expanduser(), Path(output_folder)
    if path.suffix.lower() == LIST_SUFFIX and path.is_file():
        inputs = [item for entry in read_video_list(path) for item in _expand_path(entry, output_folder)]
    else:
        inputs = _expand_path(path, output_folder)
    return _distinct(inputs)


def read_video_list(path) -> list[Path]:
    """The paths a list file names, in its order: one a line, relative to the list's folder;
    blank lines and lines starting with '#' ignored. InputError when it names none, or names
    paths that do not exist (all checked before any work, so a typo costs no hours)."""
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as err:
        raise InputError(f"cannot read the video list {path}: {err.strerror}") from None
    except UnicodeDecodeError:
        raise InputError(f"{path} is not a text file; a {LIST_SUFFIX} input lists one video path per line") from None
    texts = [(number, line.strip()) for number, line in enumerate(lines, 1)]
    numbered = [(number, path.parent / Path(text).expanduser()) for number, text in texts
                if text and not text.startswith(LIST_COMMENT)]
    if not numbered:
        raise InputError(f"the video list {path} names no videos; write one path per line ('#' starts a comment)")
    missing = [f"{entry} (line {number})" for number, entry in numbered if not entry.exists()]
    if missing:
        shown = ", ".join(missing[:MISSING_SHOWN]) + (", ..." if len(missing) > MISSING_SHOWN else "")
        raise InputError(f"the video list {path} ({LIST_SUFFIX}: one path per line) names {len(missing)} path(s) that "
                         f"do not exist: {shown}; fix or remove those lines")
    return [entry for _, entry in numbered]


def _expand_path(path: Path, output_folder: Path) -> list[BatchInput]:
    if not path.is_dir():
        return [BatchInput(path, output_folder)]
    videos = folder_videos(path)
    if videos:
        return [BatchInput(video, output_folder) for video in videos]
    images = folder_images(path)
    sizes = {size for size in map(image_size, images) if size is not None}
    if len(sizes) <= 1:
        return [BatchInput(path, output_folder)]
    log.info("%s: %d images of %d different sizes are not one sequence; each runs alone, results in %s/<image name>/",
             path, len(images), len(sizes), output_folder / path.name)
    return [BatchInput(image, output_folder / path.name) for image in images]


def folder_videos(folder: Path) -> list[Path]:
    """The video files of `folder` (by extension, hidden ones left out), in natural name order; the
    folder's other files are left out with a warning when there are videos."""
    files = sorted((p for p in folder.iterdir() if p.is_file() and not p.name.startswith(".")),
                   key=lambda p: natural_key(p.name))
    videos = [p for p in files if p.suffix.lower() in VIDEO_SUFFIXES]
    others = len(files) - len(videos)
    if videos and others:
        log.warning("%s: %d video(s) run, %d other file(s) ignored (videos are %s)", folder, len(videos), others,
                    " ".join(sorted(VIDEO_SUFFIXES)))
    return videos


def _distinct(inputs: list[BatchInput]) -> list[BatchInput]:
    """`inputs` without repeats of the same file; InputError for two files of the same name into one
    output folder (results_dir tells inputs apart by name: clip.mp4 and clip.mov get folders of
    their own, a/clip.mp4 and b/clip.mp4 would share one). Decided by name, not by results_dir,
    because which folder an input gets depends on what the runs before it wrote."""
    by_name: dict[tuple[Path, str], BatchInput] = {}
    for item in inputs:
        earlier = by_name.setdefault((item.output_folder, item.path.name), item)
        if earlier is item:
            continue
        if earlier.path.resolve() != item.path.resolve():
            raise InputError(f"{earlier.path} and {item.path} have the same name, so their results would share a "
                             f"folder in {item.output_folder}; rename one, or run them into different --output_folder")
        log.warning("%s is listed more than once; it runs once", item.path)
    return list(by_name.values())


# ---------------------------------------------------------------------------------------- shards

@dataclass(frozen=True)
class Shard:
    """Shard `index` of `count` (1-based: 1/N ... N/N)."""

    index: int
    count: int

    @property
    def table_suffix(self) -> str:
        return f"_shard-{self.index}-of-{self.count}"


def parse_shard(text: str | None) -> Shard | None:
    """`I/N` -> Shard(I, N) (None -> None); InputError unless 1 <= I <= N."""
    if text is None:
        return None
    match = _SHARD.fullmatch(str(text))
    index, count = (int(match[1]), int(match[2])) if match else (0, 0)
    if not 1 <= index <= count:
        raise InputError(f"--shard must be I/N with 1 <= I <= N (1-based: 1/4, 2/4, 3/4, 4/4), got '{text}'; "
                         "with 0-based array task ids pass $((TASK_ID + 1))/N")
    return Shard(index, count)


def select_shard(inputs: list[BatchInput], shard: Shard | None) -> list[BatchInput]:
    """The inputs of `shard` (all of them for None). Inputs are grouped by _shard_group, groups
    numbered in list order, and group k (0-based) belongs to shard k mod N + 1: the shards of one
    list are disjoint and cover it, whatever machine computes them."""
    if shard is None:
        return list(inputs)
    groups = list(dict.fromkeys(map(_shard_group, inputs)))
    mine = set(groups[shard.index - 1::shard.count])
    selected = [item for item in inputs if _shard_group(item) in mine]
    log.info("shard %d of %d: %d of %d inputs", shard.index, shard.count, len(selected), len(inputs))
    return selected


def _shard_group(item: BatchInput) -> tuple[Path, str]:
    """The group of inputs whose results folders could clash (clip.mp4 and clip.MOV: results_dir
    picks by what the runs before wrote), so that one process runs them one after the other: the
    output folder and the name up to its first dot, lowercased (read off the name, never the disk,
    so every machine groups alike)."""
    return item.output_folder, item.path.name.split(".")[0].lower()


def summary_table_path(output_folder, shard: Shard | None = None) -> Path:
    """`<output_folder>/batch_summary.csv`, or `batch_summary_shard-I-of-N.csv` for a shard."""
    return Path(output_folder) / f"{TABLE_NAME}{shard.table_suffix if shard else ''}.csv"


# ---------------------------------------------------------------------------------------- running

def run_inputs(inputs: list[BatchInput], *, redo: bool = False, table=None, cfg=None, **options) -> BatchResult:
    """vibe.pipeline.run on each input with the same `options` and `cfg` (see run), models loaded
    once. An input whose result file exists is skipped unless `redo`; one that fails is logged and
    recorded in its outcome, and the next one runs. With `table` (a path), the summary CSV is
    rewritten after every input. Bad options raise at once."""
    build_config(RunOptions.from_kwargs(**options), cfg)  # checks the options once, not once per input
    earlier_rows = _read_table(Path(table)) if table else {}
    outcomes = []
    with models_shared():
        for index, item in enumerate(inputs, 1):
            outcomes.append(_run_one(item, f"{index} of {len(inputs)}", redo, cfg, options))
            if table:
                write_summary_table(table, outcomes, earlier_rows)
    return BatchResult(outcomes)


def _run_one(item: BatchInput, position: str, redo: bool, cfg, options: dict) -> InputOutcome:
    start = time.perf_counter()
    try:
        finished = item.result_file
        if not redo and finished.is_file():
            log.info("input %s: %s skipped, finished earlier (%s exists; --redo runs it again)", position, item.path,
                     finished)
            return InputOutcome(item)
        log.info("input %s: %s", position, item.path)
        return InputOutcome(item, result=run(item.path, item.output_folder, cfg=cfg, **options),
                            seconds=time.perf_counter() - start)
    except Exception as err:  # noqa: BLE001 - one input's failure must not stop the batch
        if isinstance(err, VibeError):
            log.error("%s: %s", item.path.name, err)
        else:  # unexpected: the traceback goes to the log for a bug report
            log.exception("%s failed", item.path.name)
        return InputOutcome(item, error=err, seconds=time.perf_counter() - start)


# ---------------------------------------------------------------------------------------- table

def write_summary_table(path, outcomes: list[InputOutcome], earlier_rows: dict[str, dict] | None = None) -> Path:
    """The CSV of `outcomes` (TABLE_COLUMNS), written atomically; a skipped input keeps its people,
    frames and fps from `earlier_rows` (video -> row of the table an earlier run wrote)."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, TABLE_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for outcome in outcomes:
        writer.writerow(_table_row(outcome, (earlier_rows or {}).get(str(outcome.input.path), {})))
    write_bytes_atomic(path, buffer.getvalue().encode("utf-8"))
    return Path(path)


def _table_row(outcome: InputOutcome, earlier: dict) -> dict:
    row = {"video": str(outcome.input.path), "status": outcome.status, "seconds": f"{outcome.seconds:.1f}"}
    if outcome.result is not None:
        video = outcome.result.video
        row.update(people=len(outcome.result.results), frames=video.n_frames, fps=f"{video.fps:g}")
    elif outcome.skipped:
        row.update({column: earlier.get(column, "") for column in CARRIED_COLUMNS})
    return row


def _read_table(path: Path) -> dict[str, dict]:
    """An earlier summary table's rows by video ({} when there is none or it cannot be read)."""
    if not path.is_file():
        return {}
    try:
        with path.open(newline="", encoding="utf-8") as handle:
            return {row["video"]: row for row in csv.DictReader(handle) if row.get("video")}
    except (OSError, UnicodeDecodeError, csv.Error) as err:
        log.warning("earlier summary table %s unreadable (%s); skipped videos will show no counts", path, err)
        return {}
