"""Per-sequence partial results in a work dir, so preprocessing is resumable and streams.

Each finished sequence is one joblib file of columns (equal-length numpy arrays, possibly zero
rows), written atomically: a file that exists is complete. `settings.json` records the options
the parts were made with; a re-run with other options refuses to mix them.
"""
from __future__ import annotations

import contextlib
import json
import logging
import re
import shutil
from pathlib import Path
from typing import Iterable, Iterator, Mapping

import numpy as np

from vibe.errors import InputError
from vibe.io.atomic import atomic_path, write_bytes_atomic

log = logging.getLogger(__name__)

SETTINGS_FILE = "settings.json"
PART_SUFFIX = ".part.pkl"
_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]+")


def part_name(key: str) -> str:
    """A file name for sequence `key` (path separators and other unsafe characters become '__')."""
    return _UNSAFE.sub("__", key) + PART_SUFFIX


class PartStore:
    """Partial files of one dataset split in `work_dir`, made with `settings` (JSON-able dict)."""

    def __init__(self, work_dir: str | Path, settings: Mapping):
        self.work_dir = Path(work_dir)
        self.settings = json.loads(json.dumps(dict(settings)))  # normalised (tuples -> lists)
        self._check_settings()

    def _check_settings(self) -> None:
        path = self.work_dir / SETTINGS_FILE
        if path.is_file():
            stored = json.loads(path.read_text())
            if stored != self.settings:
                raise InputError(f"work dir {self.work_dir} holds parts made with other settings ({stored}); "
                                 f"delete it or run with the same options")
        else:
            write_bytes_atomic(path, json.dumps(self.settings, indent=1).encode())

    def path(self, key: str) -> Path:
        return self.work_dir / part_name(key)

    def has(self, key: str) -> bool:
        return self.path(key).is_file()

    def write(self, key: str, columns: Mapping[str, np.ndarray]) -> None:
        import joblib

        lengths = {name: len(value) for name, value in columns.items()}
        if len(set(lengths.values())) > 1:
            raise ValueError(f"part {key}: columns of different lengths {lengths}")
        with atomic_path(self.path(key)) as tmp:
            joblib.dump({name: np.asarray(value) for name, value in columns.items()}, tmp)

    def read(self, key: str) -> dict[str, np.ndarray]:
        import joblib

        return joblib.load(self.path(key))

    def iter_parts(self, keys: Iterable[str]) -> Iterator[dict[str, np.ndarray]]:
        """The parts of `keys`, in order, one at a time (empty parts skipped)."""
        for key in keys:
            part = self.read(key)
            if part and len(next(iter(part.values()))):
                yield part

    def remove(self) -> None:
        """Delete the parts, and the folder above them when nothing else is left in it."""
        shutil.rmtree(self.work_dir, ignore_errors=True)
        with contextlib.suppress(OSError):
            self.work_dir.parent.rmdir()


def work_dir_for(out_dir: str | Path, configured: str, dataset: str, split: str) -> Path:
    """The configured work dir, else `<out_dir>/.preprocess_work/<dataset>_<split>`."""
    base = Path(configured).expanduser() if configured else Path(out_dir) / ".preprocess_work"
    return base / f"{dataset}_{split}"


def assemble_joblib(store: PartStore, keys: list[str], out_path: Path) -> int:
    """Concatenate the parts of `keys` into one joblib dict of arrays at `out_path` (atomic); rows written.

    The whole file is built in memory once: VIBE's .pt files are single pickled dicts, read whole.
    """
    import joblib

    parts = list(store.iter_parts(keys))
    if not parts:
        raise InputError(f"no usable frames found for {out_path.name}; check the source folder")
    columns = {name: np.concatenate([part[name] for part in parts]) for name in parts[0]}
    with atomic_path(out_path) as tmp:
        joblib.dump(columns, tmp)
    return len(next(iter(columns.values())))


def assemble_h5(store: PartStore, keys: list[str], out_path: Path) -> int:
    """Append the parts of `keys` one by one to resizable datasets of an h5 file at `out_path` (atomic)."""
    import h5py

    rows = 0
    with atomic_path(out_path) as tmp:
        with h5py.File(tmp, "w") as h5:
            for part in store.iter_parts(keys):
                count = len(next(iter(part.values())))
                for name, value in part.items():
                    if value.dtype.kind == "S":  # names of any length: variable-length bytes
                        value = value.astype(object)
                    if name not in h5:
                        dtype = h5py.string_dtype("ascii") if value.dtype == object else value.dtype
                        h5.create_dataset(name, shape=(0, *value.shape[1:]), maxshape=(None, *value.shape[1:]),
                                          dtype=dtype, chunks=True)
                    h5[name].resize(rows + count, axis=0)
                    h5[name][rows:] = value
                rows += count
        if not rows:
            raise InputError(f"no usable frames found for {out_path.name}; check the source folder")
    return rows
