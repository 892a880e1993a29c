"""Models loaded once per batch, not once per video.

Loading the body model, the keypoint model and the fitter (or the network) takes seconds; a batch
of hundreds of short clips would spend much of its time there. Inside `with models_shared():`
(vibe.pipeline.run_inputs opens one), a run whose models are determined by the same settings as an
earlier run's takes that run's models instead of loading them again. Outside it every run loads its
own, so a lone run() never holds models after it returns and always sees the files as they are now.

The models are read-only during a run (the fitter's counters are reset per fit), which is what
makes sharing them safe.
"""
from __future__ import annotations

import contextlib
import functools
import logging
from typing import Callable, Iterator

from vibe.config import resolve_data_dir

log = logging.getLogger(__name__)

_MISSING = object()
# (loading method, models key, its arguments) -> (its return value, the attributes it set); None: not sharing
_loaded: dict[tuple, tuple] | None = None


@contextlib.contextmanager
def models_shared() -> Iterator[None]:
    """Within this block, runs with the same model settings load their models once (nests: the
    outermost block owns the models and drops them when it ends)."""
    global _loaded
    outer = _loaded
    _loaded = {} if outer is None else outer
    try:
        yield
    finally:
        _loaded = outer


def _models_key(run) -> tuple:
    """What decides a run's models: its whole config (over-inclusive on purpose), the data dir it
    resolves to (VIBE_DATA_DIR may name it), the method asked for and --run_smplify."""
    return run.cfg.dump(), str(resolve_data_dir(None, run.cfg)), run.options.method, run.options.run_smplify


def loaded_once(load: Callable) -> Callable:
    """Decorator of a run's model loading method (returning a model, or setting models as
    attributes of the run): inside models_shared(), a later run with the same settings and
    arguments gets the first call's return value and attributes instead of loading again. Such a
    method must return and set models only, nothing that belongs to one input."""

    @functools.wraps(load)
    def load_or_reuse(run, *args):
        if _loaded is None:
            return load(run, *args)
        key = load.__qualname__, _models_key(run), args
        if key in _loaded:
            loaded, attributes = _loaded[key]
            vars(run).update(attributes)
            log.debug("%s: reused from an earlier run of this batch", load.__qualname__)
            return loaded
        before = dict(vars(run))
        loaded = load(run, *args)
        set_now = {name: value for name, value in vars(run).items() if before.get(name, _MISSING) is not value}
        _loaded[key] = loaded, set_now
        return loaded

    return load_or_reuse
