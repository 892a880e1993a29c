"""Reading and writing SPIN's and VIBE's checkpoint files.

Files are always read with `map_location='cpu'` (VIBE's own loader fails on CPU-only machines)
and `weights_only=True`: these dicts hold only tensors, numbers, strings and containers, plus
numpy scalars (VIBE stores `performance` as numpy.float64), which are allow-listed explicitly.
Modules are built on the CPU, checked key by key against the file, loaded, then moved to the
chosen device. `regressor.smpl.*` (SMPL arrays baked in by VIBE's code) is ignored.
"""
from __future__ import annotations

import logging
import pickle
import re
import zipfile
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import torch
from torch import nn

from vibe.device import pick_device
from vibe.errors import AssetError
from vibe.io.atomic import atomic_path
from vibe.models.backbone import ResNet50Backbone
from vibe.models.discriminator import DEFAULT_HIDDEN as DEFAULT_DISC_HIDDEN
from vibe.models.discriminator import DEFAULT_LAYERS as DEFAULT_DISC_LAYERS
from vibe.models.discriminator import MotionDiscriminator
from vibe.models.generator import VibeGenerator, build_generator
from vibe.models.regressor import Regressor

log = logging.getLogger(__name__)

SPIN_MODEL_KEY = "model"
GEN_KEY = "gen_state_dict"
DISC_KEY = "disc_motion_state_dict"
GEN_OPT_KEY = "gen_optimizer"
DISC_OPT_KEY = "disc_motion_optimizer"
GRU_HIDDEN_KEY = "gru.weight_hh_l0"  # (3 H, H)
IGNORED_PREFIXES = ("regressor.smpl.",)
# BatchNorm counters appeared in torch 0.4.1; older files lack them and eval never reads them.
OPTIONAL_SUFFIXES = (".num_batches_tracked",)
MAX_KEYS_LISTED = 8
# Errors whose message tells a reader what is wrong with the file without their type's name.
_SELF_EXPLAINING_ERRORS = (RuntimeError, OSError, EOFError, zipfile.BadZipFile, ValueError, pickle.UnpicklingError)
# torch's weights-only unpickler error: boilerplate around "WeightsUnpickler error: <reason>".
_UNPICKLER_REASON = re.compile(r"WeightsUnpickler error: (.+?)\s*(?:Check the documentation|$)")
# numpy scalars as pickled by numpy 2 and by numpy 1 (VIBE's era).
_NUMPY_SCALAR = (np._core if hasattr(np, "_core") else np.core).multiarray.scalar
_SAFE_GLOBALS = [
    _NUMPY_SCALAR,
    (_NUMPY_SCALAR, "numpy.core.multiarray.scalar"),
    np.dtype,
    *(type(np.dtype(name)) for name in ("float64", "float32", "int64", "int32")),
]


def _read_checkpoint(path: str | Path, required_key: str) -> dict:
    """The checkpoint dict, read onto the CPU; one-line AssetError when missing, unreadable or not ours."""
    path = Path(path)
    if not path.is_file():
        raise AssetError(f"checkpoint {path} not found; put the file there or pass its path")
    try:
        with torch.serialization.safe_globals(_SAFE_GLOBALS):
            checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        foreign = re.search(r"Unsupported global: GLOBAL (\S+)", str(err))
        if foreign is None:
            raise _unreadable(path, err) from None
        raise AssetError(f"checkpoint {path} holds a {foreign.group(1)} object, which is not loaded for safety; "
                         "save the file with tensors, numbers and dicts only") from None
    except Exception as err:  # noqa: BLE001 - the unpickler fails on a foreign file (e.g. text) in many ways
        raise _unreadable(path, err) from None
    if not isinstance(checkpoint, dict) or required_key not in checkpoint:
        raise AssetError(f"checkpoint {path} has no '{required_key}' entry; is it the right file?")
    return checkpoint


def _unreadable(path: Path, err: Exception) -> AssetError:
    """A checkpoint torch cannot read: the whole reason on one line. For a file the safe unpickler
    refuses, its own complaint, without torch's advice to load the file unsafely."""
    reason = " ".join(str(err).split())
    refused = _UNPICKLER_REASON.search(reason)
    if refused:
        reason = refused.group(1)
    if not isinstance(err, _SELF_EXPLAINING_ERRORS) or not reason:  # e.g. KeyError '101': meaningless alone
        reason = f"{type(err).__name__}: {reason}".rstrip(": ")
    return AssetError(f"checkpoint {path} is unreadable or truncated ({reason}); download it again")


def _listed(keys: list[str]) -> str:
    shown = ", ".join(keys[:MAX_KEYS_LISTED])
    return shown + (f" ... ({len(keys) - MAX_KEYS_LISTED} more)" if len(keys) > MAX_KEYS_LISTED else "")


def _fmt_shape(shape) -> str:
    return "(" + ", ".join(str(d) for d in shape) + ")"


def check_state_dict(state: Mapping[str, Any], expected: Mapping[str, torch.Size], source: str) -> dict[str, torch.Tensor]:
    """`state` minus ignored keys, after checking its key set and shapes against `expected`.

    Raises AssetError listing missing and unexpected keys, or naming a key and both shapes.
    """
    kept = {k: v for k, v in state.items() if not k.startswith(IGNORED_PREFIXES)}
    missing = sorted(k for k in expected if k not in kept and not k.endswith(OPTIONAL_SUFFIXES))
    unexpected = sorted(k for k in kept if k not in expected)
    if missing or unexpected:
        parts = [f"missing keys [{_listed(missing)}]" if missing else "",
                 f"unexpected keys [{_listed(unexpected)}]" if unexpected else ""]
        raise AssetError(f"{source}: " + "; ".join(p for p in parts if p) + "; is it the right file?")
    for key, value in kept.items():
        if not isinstance(value, torch.Tensor):
            raise AssetError(f"{source}: {key} is a {type(value).__name__}, expected a tensor; is it the right file?")
        if value.shape != expected[key]:
            raise AssetError(f"{source}: {key} has shape {_fmt_shape(value.shape)}, expected "
                             f"{_fmt_shape(expected[key])}; is it the right file?")
    return kept


def _load_into(module: nn.Module, state: Mapping[str, Any], source: str) -> None:
    expected = {k: v.shape for k, v in module.state_dict().items()}
    module.load_state_dict(check_state_dict(state, expected, source), strict=False)


def _place(module: nn.Module, device: str | torch.device | None) -> nn.Module:
    target = device if isinstance(device, torch.device) else pick_device(device or "auto")
    return module.to(target).eval()


def _shapes(module_type: type[nn.Module]) -> dict[str, torch.Size]:
    """Key -> shape of a module's state dict, built on the meta device (no memory, no init cost)."""
    with torch.device("meta"):
        return {k: v.shape for k, v in module_type().state_dict().items()}


def _split_spin(path: str | Path) -> tuple[dict, dict, str]:
    """SPIN's `model` dict (checked) split into backbone keys and HMR head keys, plus its name for errors."""
    state = _read_checkpoint(path, SPIN_MODEL_KEY)[SPIN_MODEL_KEY]
    source = f"{path} [{SPIN_MODEL_KEY}]"
    head_shapes = _shapes(Regressor)
    check_state_dict(state, {**_shapes(ResNet50Backbone), **head_shapes}, source)
    backbone = {k: v for k, v in state.items() if k not in head_shapes}
    head = {k: v for k, v in state.items() if k in head_shapes}
    return backbone, head, source


def load_spin_backbone(path: str | Path, device: str | torch.device | None = None) -> ResNet50Backbone:
    """SPIN's frozen ResNet-50: normalised crops `(B, 3, 224, 224)` -> features `(B, 2048)`, in eval mode.

    For speed pass it through `vibe.models.inference.prepare_backbone` (BN folded, channels_last).
    """
    backbone_state, _, source = _split_spin(path)
    backbone = ResNet50Backbone()
    _load_into(backbone, backbone_state, source)
    return _place(backbone.requires_grad_(False), device)


def load_spin_regressor(path: str | Path, body_model: nn.Module | None = None,
                        device: str | torch.device | None = None) -> VibeGenerator:
    """SPIN's HMR head as a single-frame generator (no temporal encoder): features `(N, T, 2048)` -> VibeOutput."""
    _, head_state, source = _split_spin(path)
    generator = build_generator(temporal=False)
    _load_into(generator.regressor, head_state, source)
    generator.body_model = body_model
    return _place(generator, device)


def load_vibe(path: str | Path, body_model: nn.Module | None = None,
              device: str | torch.device | None = None) -> VibeGenerator:
    """VIBE's generator from `gen_state_dict` (eval mode, on `device`, default automatic)."""
    checkpoint = _read_checkpoint(path, GEN_KEY)
    generator = build_generator()
    _load_into(generator, checkpoint[GEN_KEY], f"{path} [{GEN_KEY}]")
    generator.body_model = body_model
    log.info("loaded VIBE generator from %s (epoch %s, performance %s)", path,
             checkpoint.get("epoch"), checkpoint.get("performance"))
    return _place(generator, device)


def load_motion_discriminator(path: str | Path, device: str | torch.device | None = None) -> MotionDiscriminator:
    """A motion discriminator from `disc_motion_state_dict` (eval mode): VIBE's (1024 wide) or one
    of other sizes (the bundled one is 256 wide), the sizes read off the GRU's weights."""
    checkpoint = _read_checkpoint(path, DISC_KEY)
    state = checkpoint[DISC_KEY]
    hidden = state.get(GRU_HIDDEN_KEY)
    discriminator = MotionDiscriminator(
        hidden_size=int(hidden.shape[1]) if hidden is not None else DEFAULT_DISC_HIDDEN,
        num_layers=sum(1 for key in state if key.startswith("gru.weight_hh_l")) or DEFAULT_DISC_LAYERS)
    _load_into(discriminator, state, f"{path} [{DISC_KEY}]")
    return _place(discriminator, device)


def _to_cpu(value: Any) -> Any:
    """Tensors inside nested dicts/lists moved to the CPU, so files load anywhere."""
    if isinstance(value, torch.Tensor):
        return value.detach().cpu()
    if isinstance(value, dict):
        return {k: _to_cpu(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_to_cpu(v) for v in value)
    return value


def generator_state_dict(generator: VibeGenerator) -> dict[str, torch.Tensor]:
    """VIBE's `gen_state_dict` keys only (`encoder.*`, `regressor.*`; never the attached body model)."""
    if generator.encoder is None:
        raise ValueError("a VIBE checkpoint needs a temporal encoder; this generator is SPIN's single-frame head")
    return {**generator.encoder.state_dict(prefix="encoder."), **generator.regressor.state_dict(prefix="regressor.")}


def save_vibe_checkpoint(path: str | Path, generator: VibeGenerator, discriminator: MotionDiscriminator,
                         epoch: int, performance: float, gen_optimizer: torch.optim.Optimizer | None = None,
                         disc_optimizer: torch.optim.Optimizer | None = None) -> None:
    """Write VIBE's checkpoint layout atomically (tensors on the CPU); VIBE's code reads it too."""
    checkpoint = {
        "epoch": int(epoch),
        GEN_KEY: generator_state_dict(generator),
        "performance": float(performance),
        GEN_OPT_KEY: gen_optimizer.state_dict() if gen_optimizer is not None else None,
        DISC_KEY: discriminator.state_dict(),
        DISC_OPT_KEY: disc_optimizer.state_dict() if disc_optimizer is not None else None,
    }
    with atomic_path(path) as tmp:
        torch.save(_to_cpu(checkpoint), tmp)
