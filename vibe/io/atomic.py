"""Atomic file writing: a temp file in the target folder, then an os.replace.

An interrupted run never leaves a half-written file under the final name.
"""
import contextlib
import os
import tempfile
from pathlib import Path
from typing import Iterator

from vibe.errors import OutputError


_DEFAULT_FILE_MODE = 0o666  # a new file's mode before the umask, as open() creates it


def _current_umask() -> int:
    """The process umask (only readable by setting it; set straight back)."""
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_path(path, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path next to `path`; on success rename it to `path`.

    Writers that take a file name (joblib, np.savez, ffmpeg) write to the yielded path. The
    temporary keeps `path`'s suffix (or `suffix`) so format-sniffing writers behave. On any
    exception the temporary is removed and the final file is left untouched.
    """
    final = Path(path)
    try:
        final.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=f".{final.name}.", suffix=suffix or final.suffix, dir=final.parent)
    except OSError as err:
        raise OutputError(f"cannot write to {final.parent}: {err.strerror}; choose a writable output folder") from None
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        os.chmod(tmp, _DEFAULT_FILE_MODE & ~_current_umask())  # mkstemp's 0600 -> what open() would give
        os.replace(tmp, final)
    finally:
        if tmp.exists():
            tmp.unlink()


def write_bytes_atomic(path, data: bytes) -> None:
    """Write `data` to `path` atomically."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
