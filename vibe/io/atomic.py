"""Atomic writing: of a file (a temp file in the target folder, then an os.replace), and of a
folder's whole set of files (a hidden staging folder beside it, swapped in when complete).

An interrupted run never leaves a half-written file under the final name, nor a folder mixing
two runs' files. A full disk is a DiskFullError (one line naming the folder), not an OSError.

The folder swap (staged_folder) is two renames: the earlier folder to `.<name>.old-<pid>`, then
the staging folder `.<name>.partial-<pid>` to `<name>`; the earlier one is then renamed to
`.<name>.trash-<pid>` and deleted. A process killed in between leaves these hidden folders;
recover_folder() (run before the next write) puts the earlier folder back or finishes the swap,
and deletes stale staging and trash folders, so `<name>` always ends up holding one whole set.
"""
import contextlib
import errno
import logging
import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import Iterable, Iterator

from vibe.errors import DiskFullError, OutputError

log = logging.getLogger(__name__)

_DEFAULT_FILE_MODE = 0o666  # a new file's mode before the umask, as open() creates it
_DISK_FULL_ERRNOS = (errno.ENOSPC, errno.EDQUOT)
_MEGABYTE = 1 << 20
# Hidden siblings of a folder being swapped (see the module docstring), named `.<name>.<tag>-<pid>`.
STAGING_TAG = "partial"  # the new set of files being written
REPLACED_TAG = "old"  # the earlier set, moved aside during the swap
TRASH_TAG = "trash"  # the earlier set, being deleted
_SIBLING_TAGS = (STAGING_TAG, REPLACED_TAG, TRASH_TAG)


def _current_umask() -> int:
    """The process umask (only readable by setting it; set straight back)."""
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _is_disk_full(err: OSError) -> bool:
    """Whether `err` says the device is full (or the user's quota is)."""
    return err.errno in _DISK_FULL_ERRNOS


def _megabytes(num_bytes: int) -> str:
    return f"{max(1, -(-num_bytes // _MEGABYTE))} MB"  # rounded up: 'needs 1 MB', never '0 MB'


def _free_space(folder: Path) -> int:
    """Free bytes on the disk holding `folder` (or its nearest existing parent)."""
    existing = next(p for p in (folder, *folder.parents) if p.exists())
    return shutil.disk_usage(existing).free


@contextlib.contextmanager
def atomic_path(path, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path next to `path`; on success rename it to `path`.

    Writers that take a file name (joblib, np.savez, ffmpeg) write to the yielded path. The
    temporary keeps `path`'s suffix (or `suffix`) so format-sniffing writers behave. On any
    exception the temporary is removed and the final file is left untouched; a full disk while
    writing is a DiskFullError whose `written` is the bytes the temporary had reached.
    """
    final = Path(path)
    try:
        final.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=f".{final.name}.", suffix=suffix or final.suffix, dir=final.parent)
    except OSError as err:
        if _is_disk_full(err):
            raise _disk_full_writing(final, 0) from None
        raise OutputError(f"cannot write to {final.parent}: {err.strerror}; choose a writable output folder") from None
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        os.chmod(tmp, _DEFAULT_FILE_MODE & ~_current_umask())  # mkstemp's 0600 -> what open() would give
        os.replace(tmp, final)
    except OSError as err:
        if not _is_disk_full(err):
            raise
        raise _disk_full_writing(final, tmp.stat().st_size if tmp.exists() else 0) from None
    finally:
        if tmp.exists():
            tmp.unlink()


def _disk_full_writing(final: Path, written: int) -> DiskFullError:
    return DiskFullError(f"disk full writing {final.name} in {final.parent} ({_megabytes(_free_space(final.parent))} "
                         "free); free some space or choose another output folder", written)


def write_bytes_atomic(path, data: bytes) -> None:
    """Write `data` to `path` atomically."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


# ---------------------------------------------------------------------------------------- folders

@contextlib.contextmanager
def staged_folder(final, carry_over: Iterable[str] = ()) -> Iterator[Path]:
    """Yield an empty hidden staging folder beside `final` to write a whole set of files into.

    When the block ends well the staging folder replaces `final` (the entries named in
    `carry_over`, e.g. a cache, move over from the folder it replaces); on any exception it is
    deleted and `final` is left as it was. A full disk is a DiskFullError naming `final` and
    roughly the space the set needs. Call recover_folder(final) first when an earlier process
    may have died while swapping.
    """
    final = Path(final)
    staging = _sibling(final, STAGING_TAG)
    shutil.rmtree(staging, ignore_errors=True)  # left by a dead process that had our pid
    try:
        _make_folder(staging)
        yield staging
        _swap(staging, final, tuple(carry_over))
    except DiskFullError as err:
        raise _disk_full_staging(final, staging, err.written, tuple(carry_over)) from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)  # already gone after a swap


def _make_folder(folder: Path) -> None:
    try:
        folder.mkdir(parents=True)
    except OSError as err:
        if _is_disk_full(err):
            raise DiskFullError(str(err)) from None
        raise OutputError(f"cannot write to {folder.parent}: {err.strerror}; choose a writable output folder") from None


def _disk_full_staging(final: Path, staging: Path, written: int, carry_over: tuple[str, ...]) -> DiskFullError:
    """The error for a set of files that did not fit: it needs about what the earlier set in
    `final` takes, and more than what was written before the disk filled."""
    needed = max(_tree_size(final, carry_over), _tree_size(staging) + written)
    shutil.rmtree(staging, ignore_errors=True)
    return DiskFullError(f"disk full writing the results in {final}: they need about {_megabytes(needed)} and "
                         f"{_megabytes(_free_space(final))} are free; free some space or choose another output folder")


def _tree_size(folder: Path, skip: tuple[str, ...] = ()) -> int:
    """Bytes of the files under `folder`, leaving out its entries named in `skip`."""
    if not folder.is_dir():
        return 0
    files = (p for p in folder.rglob("*") if p.is_file() and p.relative_to(folder).parts[0] not in skip)
    return sum(p.stat().st_size for p in files)


def _swap(staging: Path, final: Path, carry_over: tuple[str, ...]) -> None:
    """`staging` becomes `final`; the folder it replaces is deleted (after giving up `carry_over`)."""
    replaced = _sibling(final, REPLACED_TAG)
    try:
        if final.exists():
            final.rename(replaced)
        staging.rename(final)
    except BaseException as err:
        recover_folder(final, carry_over)  # the earlier folder back in place
        if isinstance(err, OSError):
            raise OutputError(f"cannot replace {final}: {err.strerror}; check the permissions of "
                              f"{final.parent}") from None
        raise
    if replaced.exists():
        _retire(replaced, final, carry_over)


def _retire(replaced: Path, final: Path, carry_over: tuple[str, ...]) -> None:
    """Move `carry_over` entries from `replaced` into `final` (unless it has them), then delete
    `replaced` (renamed to a trash name first: a half-deleted folder is never taken for a whole one)."""
    for name in carry_over:
        if (replaced / name).exists() and not (final / name).exists():
            (replaced / name).rename(final / name)
    trash = _sibling(final, TRASH_TAG)
    shutil.rmtree(trash, ignore_errors=True)  # left by a dead process that had our pid
    replaced.rename(trash)
    shutil.rmtree(trash, ignore_errors=True)


def recover_folder(final, carry_over: Iterable[str] = ()) -> None:
    """Clean up after processes that died while writing `final` through staged_folder: put back
    the earlier folder they had moved aside (if the new one was not in place yet) or finish their
    swap, and delete their staging and trash folders. Leftovers of live processes are left alone."""
    final = Path(final)
    for sibling, tag in _leftovers(final):
        if tag != REPLACED_TAG:
            log.info("removing %s, left by a run that was stopped", sibling)
            shutil.rmtree(sibling, ignore_errors=True)
        elif final.exists():
            log.info("%s: finishing the swap of a run that was stopped after writing it", final)
            _retire(sibling, final, tuple(carry_over))
        else:
            log.info("%s: putting back the earlier results a stopped run had moved aside", final)
            sibling.rename(final)


def _sibling(final: Path, tag: str, pid: int | None = None) -> Path:
    return final.with_name(f".{final.name}.{tag}-{os.getpid() if pid is None else pid}")


def _leftovers(final: Path) -> list[tuple[Path, str]]:
    """(folder, tag) of the hidden siblings of `final` left by processes no longer running."""
    if not final.parent.is_dir():
        return []
    pattern = re.compile(rf"\.{re.escape(final.name)}\.({'|'.join(_SIBLING_TAGS)})-(\d+)")
    found = []
    for entry in final.parent.iterdir():
        match = pattern.fullmatch(entry.name)
        if match and not _is_other_live_process(int(match[2])):
            found.append((entry, match[1]))
    return found


def _is_other_live_process(pid: int) -> bool:
    if pid == os.getpid() or os.name == "nt":  # Windows' os.kill(pid, 0) would stop the process, not probe it
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # alive, another user's
    return True
