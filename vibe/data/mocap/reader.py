"""One entry point for the three formats: read_mocap(path) and find_mocap_files(root)."""
from __future__ import annotations

import logging
from pathlib import Path

from vibe.data.mocap.asfamc import read_asfamc
from vibe.data.mocap.bvh import read_bvh
from vibe.data.mocap.expmap import find_skeleton, read_expmap
from vibe.data.mocap.types import MocapSequence
from vibe.errors import InputError

log = logging.getLogger(__name__)

MOTION_SUFFIXES = (".bvh", ".amc", ".txt")
MIN_BVH_FRAMES = 2  # fewer: a skeleton without motion (standard.bvh), not a take


def read_mocap(path: str | Path, asf: str | Path | None = None) -> MocapSequence:
    """Read a .bvh, an .amc (its .asf: `asf`, else beside it) or an expmap .txt -> MocapSequence."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"motion file {path} not found")
    suffix = path.suffix.lower()
    if suffix == ".bvh":
        sequence = read_bvh(path)
    elif suffix == ".amc":
        sequence = read_asfamc(path, asf)
    elif suffix == ".txt":
        sequence = read_expmap(path)
    else:
        raise InputError(f"{path}: not a motion file this reader knows (.bvh, .amc, or expmap .txt)")
    log.debug("read %s: %s, %d frames at %.3f fps, subject %s", sequence.name, sequence.convention,
              sequence.num_frames, sequence.fps, sequence.subject)
    return sequence


def find_mocap_files(root: str | Path) -> list[Path]:
    """Every motion file under `root`, sorted: .bvh takes, .amc files, and .txt files with a
    skeleton.json in their folder or above. BVH files of fewer than MIN_BVH_FRAMES frames (the
    skeleton alone, like standard.bvh) are skipped; read_mocap still reads them as one frame."""
    root = Path(root)
    if not root.is_dir():
        raise InputError(f"motion folder {root} not found")
    found = [p for p in sorted(root.rglob("*")) if p.suffix.lower() in MOTION_SUFFIXES and p.is_file()]
    kept = [p for p in found if _is_motion(p)]
    log.debug("%d motion files under %s (%d other files skipped)", len(kept), root, len(found) - len(kept))
    return kept


def _is_motion(path: Path) -> bool:
    suffix = path.suffix.lower()
    if suffix == ".bvh":
        frames = _bvh_frame_count(path)
        return frames is None or frames >= MIN_BVH_FRAMES
    if suffix == ".txt":
        return _has_skeleton(path)
    return True


def _has_skeleton(path: Path) -> bool:
    try:
        find_skeleton(path)
    except InputError:
        return False
    return True


def _bvh_frame_count(path: Path) -> int | None:
    """The 'Frames:' count of a BVH header; None when unreadable (read_mocap then says what is wrong)."""
    try:
        with path.open(errors="replace") as lines:
            for line in lines:
                if line.strip().startswith("Frames:"):
                    return int(line.split(":", 1)[1])
    except (OSError, ValueError):
        return None
    return None
