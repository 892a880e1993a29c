"""vibe.pipeline: the demo as a library call (demo.py is a thin command line over it).

    from vibe.pipeline import run
    outcome = run("clip.mp4", "output", method="auto", smooth=True)   # or a photo, or a frames folder
    print(outcome.summary())       # people, frames per person, method, body model, time per stage
    outcome.results[0].verts       # per-frame meshes of track 0 (see vibe.io.results.TrackResult)

    # a batch: a folder of videos, a .txt list of paths, or photos of any size; here shard 1 of 4
    shard = parse_shard("1/4")
    batch = run_inputs(select_shard(expand_input("clips/", "output"), shard),
                       table=summary_table_path("output", shard))   # models loaded once; finished videos skipped
    print(batch.summary())

See vibe/pipeline/run.py for the stages, vibe/pipeline/options.py for the options and
vibe/pipeline/batch.py (and docs/batch.md) for batches.
"""
from vibe.pipeline.batch import (
    BatchInput, BatchResult, InputOutcome, Shard, expand_input, parse_shard, read_video_list, run_inputs,
    select_shard, summary_table_path,
)
from vibe.pipeline.options import METHODS, RunOptions
from vibe.pipeline.run import RunResult, run, sample_video
from vibe.pipeline.shared_models import models_shared

__all__ = ["METHODS", "BatchInput", "BatchResult", "InputOutcome", "RunOptions", "RunResult", "Shard", "expand_input",
           "models_shared", "parse_shard", "read_video_list", "run", "run_inputs", "sample_video", "select_shard",
           "summary_table_path"]
