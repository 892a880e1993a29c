"""What the three readers share: a file's text, the leading rest-pose frame, the output points."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from vibe.errors import InputError
from vibe.keypoints.conventions import joint_names


def read_text(path: Path) -> str:
    """The file's text; InputError when it cannot be read."""
    try:
        return path.read_text(errors="replace")
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror or exc}") from None


def first_motion_frame(root_rotation: np.ndarray) -> int:
    """Index of the first real frame given the (T, 3) root rotation values of a take.

    CMU's BVH conversions and the expmap set begin every take with a rest-pose frame: root
    rotation exactly 0 (all three values), the joints near their rest pose, then a jump to the
    real first pose. That frame is skipped (1) when frame 0's root rotation is exactly zero and
    frame 1's is not; otherwise, and for one-frame files (a skeleton's rest pose), 0.
    """
    if len(root_rotation) < 2 or np.any(root_rotation[0] != 0) or not np.any(root_rotation[1] != 0):
        return 0
    return 1


def select_points(points: np.ndarray, native_names: list[str], output_names: dict[str, str],
                  convention: str, source: str) -> np.ndarray:
    """(T, N, 3) points named `native_names` -> (T, J, 3) float32 in `convention`'s order.

    output_names maps each output joint name of `convention` to the native point it is; a
    skeleton lacking one of them is refused (InputError naming `source`).
    """
    index = {name: i for i, name in enumerate(native_names)}
    order = []
    for name in joint_names(convention):
        native = output_names[name]
        if native not in index:
            raise InputError(f"{source}: the skeleton has no {native!r}, needed for {convention!r}; "
                             f"only the CMU skeletons of shared/mocap are supported")
        order.append(index[native])
    return points[:, order].astype(np.float32)
