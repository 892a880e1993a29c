"""Stage outputs cached under `<output>/<video>/cache/`, so a re-run (new render flags, another
method) skips the expensive front of the pipeline.

One file per stage (`<stage>.pkl`, written atomically): a fixed-size header (format tag, the
sha256 of the stage's key and the sha256 of the payload) followed by the payload, the stage's
data as a joblib stream. The key hashes the input (resolved path, size, modification time; for an
image folder every image's name, size and time), the config sections the stage reads, the files
it reads (e.g. a checkpoint's size and time) and the key of the stage it consumes, so any change
upstream invalidates everything downstream. A file for other input or settings, or from another
version, is recomputed and replaced; so is a damaged one (its payload no longer matches its
checksum: overwritten bytes would otherwise be read back as numbers), with a warning.
"""
from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path
from typing import Any, BinaryIO

from vibe.io.atomic import atomic_path

log = logging.getLogger(__name__)

CACHE_VERSION = 2  # bump when a cached stage's data layout or meaning changes
CACHE_DIR_NAME = "cache"
# Header: tag, then the key's and the payload's sha256 in hex, space separated, ending in a newline.
FILE_TAG = b"vibe-stage-cache-2"
DIGEST_HEX_CHARS = 64
HEADER_SIZE = len(FILE_TAG) + 2 * (1 + DIGEST_HEX_CHARS) + 1
HASH_CHUNK_BYTES = 1 << 20


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


def _digest(text: str) -> bytes:
    return hashlib.sha256(text.encode()).hexdigest().encode()


def _header(key: str, payload_digest: bytes) -> bytes:
    return b" ".join([FILE_TAG, _digest(key), payload_digest]) + b"\n"


def _read_header(stream: BinaryIO) -> tuple[bytes, bytes] | None:
    """(key digest, payload digest) from the file's header; None when it is not this version's."""
    fields = stream.read(HEADER_SIZE).rstrip(b"\n").split(b" ")
    return (fields[1], fields[2]) if len(fields) == 3 and fields[0] == FILE_TAG else None


def _payload_digest(stream: BinaryIO) -> bytes:
    """sha256 (hex) of everything after the header, read in chunks (a payload may be large)."""
    stream.seek(HEADER_SIZE)
    digest = hashlib.sha256()
    for chunk in iter(lambda: stream.read(HASH_CHUNK_BYTES), b""):
        digest.update(chunk)
    return digest.hexdigest().encode()


class StageCache:
    """load/save of stage outputs in `folder`; `enabled=False` (--no_cache) neither reads nor writes."""

    def __init__(self, folder: Path, enabled: bool = True):
        self.folder = Path(folder)
        self.enabled = enabled

    def _path(self, stage: str) -> Path:
        return self.folder / f"{stage}.pkl"

    def load(self, stage: str, key: str) -> Any | None:
        """The cached data of `stage` if it was saved under `key` and is intact, else None."""
        path = self._path(stage)
        if not self.enabled or not path.is_file():
            return None
        import joblib

        try:
            with open(path, "rb") as stream:
                if not self._intact(stream, path, key):
                    return None
                stream.seek(HEADER_SIZE)
                data = joblib.load(stream)
        except Exception as err:  # noqa: BLE001 - any unreadable cache file is simply recomputed
            log.warning("cache %s unreadable (%s); recomputing", path, type(err).__name__)
            return None
        log.info("%s: reusing %s", stage, path)
        return data

    @staticmethod
    def _intact(stream: BinaryIO, path: Path, key: str) -> bool:
        """True when the file at `stream` is this version's, for `key`, and matches its checksum."""
        header = _read_header(stream)
        if header is None:
            log.info("cache %s is from another version; recomputing", path.name)
            return False
        key_digest, payload_digest = header
        if key_digest != _digest(key):
            log.info("cache %s is for other input or settings; recomputing", path.name)
            return False
        if payload_digest != _payload_digest(stream):
            log.warning("cache %s is damaged (its checksum does not match its contents); recomputing", path)
            return False
        return True

    def save(self, stage: str, key: str, data: Any) -> None:
        """Write `data` under `key`: the payload after a placeholder header, then the real header."""
        if not self.enabled:
            return
        import joblib

        with atomic_path(self._path(stage)) as tmp, open(tmp, "w+b") as stream:
            stream.write(bytes(HEADER_SIZE))
            joblib.dump(data, stream)
            stream.flush()
            digest = _payload_digest(stream)
            stream.seek(0)
            stream.write(_header(key, digest))
