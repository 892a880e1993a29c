"""What a run is asked to do: the options (VIBE's demo flags and ours), their mapping onto the
yacs config, and the choice of the reconstruction method."""
from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass, field
from pathlib import Path

from yacs.config import CfgNode

from vibe.config import get_cfg_defaults, load_config, merge_overrides
from vibe.errors import AssetError, InputError

log = logging.getLogger(__name__)

METHODS = ("auto", "vibe", "fitting")
TRACKING_METHODS = ("bbox", "pose")

# Option name -> config key it overrides when set (None keeps the config's value).
CONFIG_OPTIONS = {
    "detector": "TRACKER.DETECTOR",
    "yolo_img_size": "TRACKER.YOLO_IMG_SIZE",
    "tracker_batch_size": "TRACKER.BATCH_SIZE",
    "vibe_batch_size": "MODEL.CHUNK_SIZE",
    "smooth_min_cutoff": "RENDER.SMOOTH_MIN_CUTOFF",
    "smooth_beta": "RENDER.SMOOTH_BETA",
    "body_model": "BODY.MODEL",
    "gender": "BODY.GENDER",
    "device": "DEVICE",
    "data_dir": "DATA_DIR",
}


@dataclass
class RunOptions:
    """Options of `vibe.pipeline.run`; the names are demo.py's flags (VIBE's where VIBE has one).

    Options listed in CONFIG_OPTIONS override the config key of the same meaning when not None;
    `cfg_file` and `opts` (KEY VALUE pairs) are merged into the config first.
    """

    method: str = "auto"  # auto | vibe | fitting
    run_smplify: bool = False  # refine the network's result by fitting (network path only)
    tracking_method: str = "bbox"
    render: bool = True
    wireframe: bool = False
    sideview: bool = False
    save_obj: bool = False
    smooth: bool = False
    display: bool = False  # also write the tracker's debug video
    use_cache: bool = True
    progress: bool = True  # tqdm bars on the long stages
    cfg_file: str | None = None
    opts: list[str] = field(default_factory=list)
    detector: str | None = None
    yolo_img_size: int | None = None
    tracker_batch_size: int | None = None
    vibe_batch_size: int | None = None
    smooth_min_cutoff: float | None = None
    smooth_beta: float | None = None
    body_model: str | None = None
    gender: str | None = None
    device: str | None = None
    data_dir: str | None = None

    def __post_init__(self):
        if self.method not in METHODS:
            raise InputError(f"unknown method '{self.method}'; use one of {', '.join(METHODS)}")
        if self.tracking_method not in TRACKING_METHODS:
            raise InputError(f"unknown tracking method '{self.tracking_method}'; use bbox")
        if self.tracking_method == "pose":
            raise InputError("tracking method 'pose' (OpenPose's STAF tracker) is not available; "
                             "use --tracking_method bbox (the default)")

    @classmethod
    def from_kwargs(cls, **kwargs) -> "RunOptions":
        """RunOptions from keyword arguments, with unknown names as an InputError listing the valid ones."""
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(kwargs) - names)
        if unknown:
            raise InputError(f"unknown option(s) {', '.join(unknown)}; valid: {', '.join(sorted(names))}")
        return cls(**kwargs)

    def config_overrides(self) -> list[str]:
        """KEY VALUE pairs for the config options that are set."""
        pairs: list[str] = []
        for name, key in CONFIG_OPTIONS.items():
            value = getattr(self, name)
            if value is not None:
                pairs += [key, str(value)]
        return pairs


def build_config(options: RunOptions, cfg: CfgNode | None = None) -> CfgNode:
    """The run's frozen config: `cfg` (default: defaults + options.cfg_file), then options.opts,
    then the options that map onto config keys."""
    if cfg is None:
        return load_config(options.cfg_file, list(options.opts) + options.config_overrides())
    if options.cfg_file:
        raise InputError("pass the config either as a CfgNode (cfg) or as a YAML file (cfg_file), not both")
    merged = cfg.clone()
    merged.defrost()
    merge_overrides(merged, list(options.opts) + options.config_overrides())
    merged.freeze()
    return merged


@dataclass(frozen=True)
class MethodChoice:
    """The reconstruction path: 'vibe' (network) or 'fitting', why, and the checkpoints it needs."""

    method: str
    reason: str
    vibe_checkpoint: Path | None = None
    spin_checkpoint: Path | None = None


def choose_method(requested: str, data_dir: Path, cfg: CfgNode | None = None) -> MethodChoice:
    """'auto' takes the network path when MODEL.VIBE_CHECKPOINT is in the data dir, else fitting.

    The network path also needs MODEL.SPIN_CHECKPOINT (the backbone): an AssetError if it is missing.
    """
    cfg = cfg or get_cfg_defaults()
    vibe_file = Path(data_dir) / cfg.MODEL.VIBE_CHECKPOINT
    spin_file = Path(data_dir) / cfg.MODEL.SPIN_CHECKPOINT
    if requested == "fitting":
        return MethodChoice("fitting", "requested with --method fitting")
    if requested == "auto" and not vibe_file.is_file():
        return MethodChoice("fitting", f"network path unavailable: {vibe_file} not found; "
                                       "using the fitting path (temporal SMPLify on 2D keypoints)")
    if not vibe_file.is_file():
        raise AssetError(f"VIBE checkpoint {vibe_file} not found; put VIBE's {cfg.MODEL.VIBE_CHECKPOINT} "
                         "in the data dir (--data_dir) or use --method fitting")
    if not spin_file.is_file():
        raise AssetError(f"the network path needs SPIN's backbone {spin_file} (next to {vibe_file.name}); "
                         f"put {cfg.MODEL.SPIN_CHECKPOINT} there or use --method fitting")
    reason = "requested with --method vibe" if requested == "vibe" else f"found {vibe_file}"
    return MethodChoice("vibe", reason, vibe_file, spin_file)

