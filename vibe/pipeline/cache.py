"""Stage outputs cached under `<output>/<video>/cache/`, so a re-run (new render flags, another
method) skips the expensive front of the pipeline.

One file per stage (`<stage>.pkl`, joblib, written atomically) holding the stage's key and data.
The key hashes the input (resolved path, size, modification time; for an image folder every
image's name, size and time), the config sections the stage reads, the files it reads (e.g. a
checkpoint's size and time) and the key of the stage it consumes, so any change upstream
invalidates everything downstream. A stale, corrupt or foreign file is recomputed and replaced.
"""
from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path
from typing import Any

from vibe.io.atomic import atomic_path

log = logging.getLogger(__name__)

CACHE_VERSION = 1  # bump when a cached stage's data layout or meaning changes
CACHE_DIR_NAME = "cache"


def file_fingerprint(path: Path | None) -> list:
    """[resolved path, size, mtime_ns] of a file, of every file in a folder, or ['missing']."""
    if path is None or not Path(path).exists():
        return ["missing", str(path)]
    path = Path(path).resolve()
    if path.is_dir():
        entries = sorted(p for p in path.iterdir() if p.is_file())
        return [str(path), [[p.name, p.stat().st_size, p.stat().st_mtime_ns] for p in entries]]
    stat = path.stat()
    return [str(path), stat.st_size, stat.st_mtime_ns]


def stage_key(*parts) -> str:
    """A hex digest of JSON-serialisable `parts` (config dumps, fingerprints, upstream keys)."""
    text = json.dumps([CACHE_VERSION, *parts], sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


class StageCache:
    """load/save of stage outputs in `folder`; `enabled=False` (--no_cache) neither reads nor writes."""

    def __init__(self, folder: Path, enabled: bool = True):
        self.folder = Path(folder)
        self.enabled = enabled

    def _path(self, stage: str) -> Path:
        return self.folder / f"{stage}.pkl"

    def load(self, stage: str, key: str) -> Any | None:
        """The cached data of `stage` if it was saved under `key`, else None."""
        path = self._path(stage)
        if not self.enabled or not path.is_file():
            return None
        import joblib

        try:
            entry = joblib.load(path)
        except Exception as err:  # noqa: BLE001 - any unreadable cache file is simply recomputed
            log.warning("cache %s unreadable (%s); recomputing", path, type(err).__name__)
            return None
        if not isinstance(entry, dict) or entry.get("key") != key:
            log.info("cache %s is for other input or settings; recomputing", path.name)
            return None
        log.info("%s: reusing %s", stage, path)
        return entry["data"]

    def save(self, stage: str, key: str, data: Any) -> None:
        if not self.enabled:
            return
        import joblib

        with atomic_path(self._path(stage)) as tmp:
            joblib.dump({"key": key, "data": data}, tmp)
