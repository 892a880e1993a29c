"""Several inputs in one call: `run_inputs(inputs, **options) -> BatchResult`.

Each input is run on its own by vibe.pipeline.run with the same options; a failed input is
logged and recorded, and the others still run. `expand_input(path, output_folder)` turns what a
user passed into inputs: the path itself, unless it is a folder of images of different sizes,
which cannot be one sequence: then each image is an input of its own (a one-frame run), with its
results in `<output_folder>/<folder name>/<image stem>/`.

    from vibe.pipeline import expand_input, run_inputs
    batch = run_inputs(expand_input("photos/", "output"), smooth=True)
    print(batch.summary())         # one summary per input, then the total of people
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from tracker.video import folder_images, image_size
from vibe.errors import VibeError
from vibe.pipeline.options import RunOptions, build_config
from vibe.pipeline.run import RunResult, run

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class BatchInput:
    """One run: `path` (a video file, photo or image folder), results in `<output_folder>/<its stem>/`."""

    path: Path
    output_folder: Path


@dataclass
class InputOutcome:
    """What became of one input: its RunResult, or the error that stopped it."""

    input: BatchInput
    result: RunResult | None = None
    error: Exception | None = None


@dataclass
class BatchResult:
    """The outcomes of run_inputs, in input order."""

    outcomes: list[InputOutcome]

    @property
    def failed(self) -> list[InputOutcome]:
        return [outcome for outcome in self.outcomes if outcome.result is None]

    @property
    def people(self) -> int:
        """People found over all inputs that ran."""
        return sum(len(outcome.result.results) for outcome in self.outcomes if outcome.result is not None)

    def summary(self) -> str:
        """Each input's summary (or its error) under its name, then a line with the totals."""
        blocks = [f"== {outcome.input.path.name} ==\n"
                  + (outcome.result.summary() if outcome.result is not None else f"failed: {outcome.error}")
                  for outcome in self.outcomes]
        done = len(self.outcomes) - len(self.failed)
        failed = f"; {len(self.failed)} failed" if self.failed else ""
        blocks.append(f"total: {self.people} people in {done} of {len(self.outcomes)} inputs{failed}")
        return "\n".join(blocks)


def expand_input(path, output_folder) -> list[BatchInput]:
    """The inputs `path` stands for: itself, or each image alone when it is a folder of images of
    different sizes (unreadable images included: their runs fail and say why)."""
    path, output_folder = Path(path).expanduser(), Path(output_folder)
    if not path.is_dir():
        return [BatchInput(path, output_folder)]
    images = folder_images(path)
    sizes = {size for size in map(image_size, images) if size is not None}
    if len(sizes) <= 1:
        return [BatchInput(path, output_folder)]
    log.info("%s: %d images of %d different sizes are not one sequence; each runs alone, results in %s/<image name>/",
             path, len(images), len(sizes), output_folder / path.name)
    return [BatchInput(image, output_folder / path.name) for image in images]


def run_inputs(inputs: list[BatchInput], *, cfg=None, **options) -> BatchResult:
    """vibe.pipeline.run on each input with the same `options` and `cfg` (see run); an input that
    fails is logged and recorded in its outcome, and the next one runs. Bad options raise at once."""
    build_config(RunOptions.from_kwargs(**options), cfg)  # checks the options once, not once per input
    outcomes = []
    for index, item in enumerate(inputs, 1):
        log.info("input %d of %d: %s", index, len(inputs), item.path)
        try:
            outcomes.append(InputOutcome(item, result=run(item.path, item.output_folder, cfg=cfg, **options)))
        except VibeError as err:
            log.error("%s: %s", item.path.name, err)
            outcomes.append(InputOutcome(item, error=err))
        except Exception as err:  # noqa: BLE001 - one input's unexpected failure must not stop the batch
            log.exception("%s failed", item.path.name)
            outcomes.append(InputOutcome(item, error=err))
    return BatchResult(outcomes)
