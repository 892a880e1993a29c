"""vibe: video to per-frame SMPL bodies (VIBE-compatible), CPU first, no gated downloads.

The flow reads off the package tree:
video -> tracker/ -> crops -> (models/: features -> temporal encoder -> regressor
| keypoints/ -> fitting/) -> body/ -> results (io/) -> render/ and export.

Importing this package is cheap: heavy optional parts (mediapipe, anny, moderngl) are imported
lazily by the modules that need them.
"""
import logging

from vibe.errors import VibeError

__version__ = "0.1.0"
__all__ = ["VibeError", "__version__"]

logging.getLogger(__name__).addHandler(logging.NullHandler())
