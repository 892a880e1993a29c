"""vibe.pipeline: the demo as a library call (demo.py is a thin command line over it).

    from vibe.pipeline import run
    outcome = run("clip.mp4", "output", method="auto", smooth=True)   # or a photo, or a frames folder
    print(outcome.summary())       # people, frames per person, method, body model, time per stage
    outcome.results[0].verts       # per-frame meshes of track 0 (see vibe.io.results.TrackResult)

    batch = run_inputs(expand_input("photos/", "output"))   # several inputs, e.g. photos of any size
    print(batch.summary())

See vibe/pipeline/run.py for the stages, vibe/pipeline/options.py for the options and
vibe/pipeline/batch.py for several inputs.
"""
from vibe.pipeline.batch import BatchInput, BatchResult, InputOutcome, expand_input, run_inputs
from vibe.pipeline.options import METHODS, RunOptions
from vibe.pipeline.run import RunResult, run, sample_video

__all__ = ["METHODS", "BatchInput", "BatchResult", "InputOutcome", "RunOptions", "RunResult", "expand_input", "run",
           "run_inputs", "sample_video"]
