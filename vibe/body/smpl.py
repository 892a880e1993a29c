"""The body model: a thin nn.Module over smplx.SMPL giving vertices, SPIN/VIBE's 49 joints and
SMPL's 24, for the user's SMPL files or the bundled open body model.

The functional core (blend shapes, linear blend skinning) stays in smplx; this module adds the
49-joint stack (``vibe.keypoints.conventions.SPIN49_MODEL_SOURCES``), the H36M regressor used by
evaluation, and asset errors a user can act on.
"""
from __future__ import annotations

import contextlib
import io
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from vibe.body.model_files import (
    GENDERS, ModelFile, find_model_file, missing_h36m_error, missing_smpl_error,
    model_file_name, read_model_file,
)
from vibe.config import resolve_data_dir
from vibe.errors import AssetError, InputError
from vibe.keypoints.conventions import SMPL24, SPIN49, SPIN49_MODEL_SOURCES, joint_index

log = logging.getLogger(__name__)

OPEN_BODY_PATH = Path(__file__).parent / "assets" / "open_body.npz"
NUM_BETAS = 10
KINDS = ("auto", "smpl", "open")
_NUM_BODY_JOINTS = len(SMPL24) - 1  # 23, without the root
_AXIS_ANGLE = 3
OPEN_BODY_GENDER = "neutral"  # the only gender the open body model has
_logged_messages: set[str] = set()


@dataclass
class BodyOutput:
    """Posed body. verts (B, V, 3); joints (B, 49, 3) in spin49 order; smpl_joints (B, 24, 3)."""

    verts: torch.Tensor
    joints: torch.Tensor
    smpl_joints: torch.Tensor


class BodyModel(nn.Module):
    """SMPL-format body model (user's SMPL or the open body) through smplx.SMPL."""

    def __init__(self, model_file: ModelFile, kind: str, num_betas: int = NUM_BETAS):
        super().__init__()
        import smplx  # heavy-ish; only the body model needs it

        self.kind = kind
        self.source = model_file.path
        self.num_betas = num_betas
        quiet = io.StringIO()
        with contextlib.redirect_stdout(quiet):  # smplx prints a warning about 10 betas
            self.smpl = smplx.SMPL(
                model_path=str(model_file.path), data_struct=smplx.utils.Struct(**model_file.arrays),
                vertex_ids=model_file.vertex_ids, num_betas=num_betas, batch_size=1,
                create_global_orient=False, create_body_pose=False, create_betas=False, create_transl=False,
            )
        if quiet.getvalue().strip():
            log.debug("smplx: %s", quiet.getvalue().strip())
        self.register_buffer("j_regressor_extra", torch.from_numpy(model_file.j_regressor_extra))
        h36m = model_file.j_regressor_h36m
        self.register_buffer("j_regressor_h36m", None if h36m is None else torch.from_numpy(h36m))
        sources = [joint_index("smpl54", SPIN49_MODEL_SOURCES[name]) for name in SPIN49]
        self.register_buffer("spin49_sources", torch.tensor(sources, dtype=torch.long))

    @property
    def faces(self) -> np.ndarray:
        """(F, 3) int64 triangle vertex indices."""
        return np.asarray(self.smpl.faces, dtype=np.int64)

    @property
    def num_verts(self) -> int:
        return self.smpl.get_num_verts()

    def forward(self, global_orient: torch.Tensor, body_pose: torch.Tensor, betas: torch.Tensor,
                transl: torch.Tensor | None = None, pose2rot: bool = True) -> BodyOutput:
        """Pose the body.

        global_orient (B, 3) and body_pose (B, 69) axis-angle, or with pose2rot=False rotation
        matrices (B, 1, 3, 3) and (B, 23, 3, 3); betas (B, num_betas); transl (B, 3) or None.
        """
        _check_pose_shapes(global_orient, body_pose, pose2rot)
        out = self.smpl(global_orient=global_orient, body_pose=body_pose, betas=betas,
                        transl=transl, pose2rot=pose2rot)
        extra = torch.einsum("jv,bvc->bjc", self.j_regressor_extra, out.vertices)
        stack54 = torch.cat([out.joints, extra], dim=1)  # smpl54 order
        return BodyOutput(verts=out.vertices, joints=stack54[:, self.spin49_sources],
                          smpl_joints=out.joints[:, : len(SMPL24)])

    def h36m_joints(self, verts: torch.Tensor) -> torch.Tensor:
        """(B, V, 3) vertices -> (B, 17, 3) H36M joints via J_regressor_h36m."""
        if self.j_regressor_h36m is None:
            raise missing_h36m_error(self.source.parent)
        return torch.einsum("jv,bvc->bjc", self.j_regressor_h36m, verts)


def _check_pose_shapes(global_orient: torch.Tensor, body_pose: torch.Tensor, pose2rot: bool) -> None:
    if pose2rot:
        expected = {"global_orient": (_AXIS_ANGLE,), "body_pose": (_NUM_BODY_JOINTS * _AXIS_ANGLE,)}
        form = "axis-angle (pose2rot=True)"
    else:
        expected = {"global_orient": (1, 3, 3), "body_pose": (_NUM_BODY_JOINTS, 3, 3)}
        form = "rotation matrices (pose2rot=False)"
    for name, value in (("global_orient", global_orient), ("body_pose", body_pose)):
        if tuple(value.shape[1:]) != expected[name] or value.ndim != len(expected[name]) + 1:
            raise InputError(f"{name} has shape {tuple(value.shape)}, expected (B, "
                             f"{', '.join(map(str, expected[name]))}) {form}")


def load_smpl(path_or_dir: str | Path, gender: str = "neutral", num_betas: int = NUM_BETAS) -> BodyModel:
    """An SMPL-format model from a file, or SMPL_<GENDER>.pkl/.npz in a folder (VIBE's data dir)."""
    path = Path(path_or_dir).expanduser()
    if path.is_dir():
        _check_gender(gender)
        found = find_model_file(path, gender)
        if found is None:
            raise missing_smpl_error(model_file_name(gender), path)
        path = found
    elif not path.is_file():
        raise missing_smpl_error(path.name, path.parent)
    return BodyModel(read_model_file(path), kind="smpl", num_betas=num_betas)


def load_open_body(num_betas: int = NUM_BETAS) -> BodyModel:
    """The bundled open body model (vibe/body/assets/open_body.npz)."""
    if not OPEN_BODY_PATH.is_file():
        raise AssetError(f"open body model file {OPEN_BODY_PATH.name} not found in {OPEN_BODY_PATH.parent}; "
                         f"it ships with the repository: restore it (or rebuild it with tools/build_open_body.py), "
                         f"or put SMPL model files in the data dir and use --body_model smpl")
    return BodyModel(read_model_file(OPEN_BODY_PATH, label="open body model file"), kind="open",
                     num_betas=num_betas)


def load_body_model(data_dir: str | Path | None = None, gender: str = "neutral", kind: str = "auto") -> BodyModel:
    """The body model for a run: kind 'smpl' (user's SMPL file, required), 'open' (bundled) or
    'auto' (SMPL when its file is in the data dir, else the open body). data_dir None -> the
    configured default (vibe.config.resolve_data_dir)."""
    if kind not in KINDS:
        raise InputError(f"unknown body model kind {kind!r}; use one of {', '.join(KINDS)}")
    _check_gender(gender)
    folder = Path(data_dir).expanduser() if data_dir is not None else resolve_data_dir()
    smpl_file = None if kind == "open" else find_model_file(folder, gender)
    if kind == "smpl" and smpl_file is None:
        raise missing_smpl_error(model_file_name(gender), folder)
    model = load_smpl(smpl_file) if smpl_file is not None else load_open_body()
    _log_once(logging.INFO, f"body model: {model.kind} ({model.source}, {model.num_verts} vertices; requested {kind})")
    if model.kind == "open" and gender != OPEN_BODY_GENDER:
        _log_once(logging.WARNING, _ignored_gender_message(gender, kind, folder))
    return model


def _check_gender(gender: str) -> None:
    if gender not in GENDERS:
        raise InputError(f"unknown body model gender {gender!r}; use one of {', '.join(GENDERS)}")


def _ignored_gender_message(gender: str, kind: str, folder: Path) -> str:
    """Why a gender was ignored (the open body has none) and how to get a gendered SMPL body."""
    where = f"{model_file_name(gender)} in {folder}"
    fix = f"put {where}" if kind == "auto" else f"use --body_model smpl (BODY.MODEL) with {where}"
    return (f"body model gender {gender!r} ignored: the open body model has no genders (one shape space for "
            f"everyone); for a {gender} SMPL body {fix}")


def _log_once(level: int, message: str) -> None:
    """Log `message` the first time only: a process that loads the body per video says it once."""
    if message not in _logged_messages:
        _logged_messages.add(message)
        log.log(level, message)
