"""vibe.pipeline: the demo as a library call (demo.py is a thin command line over it).

    from vibe.pipeline import run
    outcome = run("clip.mp4", "output", method="auto", smooth=True)
    print(outcome.summary())       # people, frames per person, method, body model, time per stage
    outcome.results[0].verts       # per-frame meshes of track 0 (see vibe.io.results.TrackResult)

See vibe/pipeline/run.py for the stages and vibe/pipeline/options.py for the options.
"""
from vibe.pipeline.options import METHODS, RunOptions
from vibe.pipeline.run import RunResult, run, sample_video

__all__ = ["METHODS", "RunOptions", "RunResult", "run", "sample_video"]
