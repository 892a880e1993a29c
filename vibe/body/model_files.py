"""Reading SMPL-format body model files and their joint regressors, with one-line errors.

A model file is a chumpy-free ``.pkl`` or an ``.npz`` holding the arrays ``smplx.SMPL`` reads
(``v_template, shapedirs, posedirs, J_regressor, weights, kintree_table, f``). A model with SMPL's
6890 vertices takes its extra regressors from ``J_regressor_extra.npy`` / ``J_regressor_h36m.npy``
beside it (VIBE's data dir) and smplx's own vertex ids; any other mesh (the open body model)
carries them as keys inside the file: ``J_regressor_extra`` (9, V), ``J_regressor_h36m`` (17, V),
``vertex_id_names`` (21,) and ``vertex_id_values`` (21,).
"""
from __future__ import annotations

import pickle
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vibe.errors import AssetError
from vibe.keypoints.conventions import EXTRA9, H36M17, SMPL24

SMPL_NUM_VERTS = 6890
NUM_POSE_BASIS = 9 * (len(SMPL24) - 1)  # 207: (R - I) of the 23 body joints
GENDERS = ("neutral", "male", "female")
MODEL_SUFFIXES = (".pkl", ".npz")
SMPL_URL = "https://smpl.is.tue.mpg.de"
EXTRA_REGRESSOR_FILE = "J_regressor_extra.npy"
H36M_REGRESSOR_FILE = "J_regressor_h36m.npy"
EXTRA_REGRESSOR_KEY = "J_regressor_extra"
H36M_REGRESSOR_KEY = "J_regressor_h36m"
VERTEX_ID_NAMES_KEY = "vertex_id_names"
VERTEX_ID_VALUES_KEY = "vertex_id_values"
# smplx's vertex_ids keys, in the order of conventions.SMPLX_VERTEX_JOINTS.
SMPLX_VERTEX_ID_KEYS = (
    "nose", "reye", "leye", "rear", "lear",
    "LBigToe", "LSmallToe", "LHeel", "RBigToe", "RSmallToe", "RHeel",
    "lthumb", "lindex", "lmiddle", "lring", "lpinky", "rthumb", "rindex", "rmiddle", "rring", "rpinky",
)
USE_OPEN_BODY_HINT = "or run without --body_model smpl to use the bundled open body model"
VIBE_DATA_HINT = "copy it from VIBE's vibe_data download (scripts/prepare_data.sh) into that folder"


@dataclass
class ModelFile:
    """An SMPL-format model as read from disk, with the regressors the 49 joints need."""

    path: Path
    arrays: dict  # the keys smplx.SMPL reads (J_regressor may be scipy.sparse)
    j_regressor_extra: np.ndarray  # (9, V)
    j_regressor_h36m: np.ndarray | None  # (17, V); None when the data dir lacks it
    vertex_ids: dict[str, int]  # smplx key -> vertex index, 21 entries

    @property
    def num_verts(self) -> int:
        return self.arrays["v_template"].shape[0]


def model_file_name(gender: str) -> str:
    """'SMPL_NEUTRAL.pkl' etc.: the name VIBE's data dir uses."""
    return f"SMPL_{gender.upper()}{MODEL_SUFFIXES[0]}"


def find_model_file(folder: Path, gender: str) -> Path | None:
    """SMPL_<GENDER>.pkl, else SMPL_<GENDER>.npz in `folder`; None when neither is there."""
    stem = Path(model_file_name(gender)).stem
    for suffix in MODEL_SUFFIXES:
        candidate = folder / f"{stem}{suffix}"
        if candidate.is_file():
            return candidate
    return None


def missing_smpl_error(name: str, folder: Path) -> AssetError:
    return AssetError(f"SMPL model file {name} not found in {folder}; download it from {SMPL_URL} "
                      f"(chumpy-free .pkl or .npz) into that folder, {USE_OPEN_BODY_HINT}")


def read_model_file(path: Path, label: str = "SMPL model file") -> ModelFile:
    """Read and check an SMPL-format model file and its regressors. AssetError on any fault."""
    arrays = _read_arrays(path, label)
    _check_model_arrays(arrays, path, label)
    num_verts = arrays["v_template"].shape[0]
    if EXTRA_REGRESSOR_KEY in arrays:
        return _with_embedded_extras(path, arrays, label)
    if num_verts != SMPL_NUM_VERTS:
        raise AssetError(f"{label} {path.name} in {path.parent} has {num_verts} vertices (not SMPL's "
                         f"{SMPL_NUM_VERTS}) and no embedded {EXTRA_REGRESSOR_KEY}; rebuild it with its "
                         f"extra regressor and vertex-id keys")
    return _with_data_dir_extras(path, arrays)


def _read_arrays(path: Path, label: str) -> dict:
    where = f"{label} {path.name} in {path.parent}"
    if path.suffix == ".npz" and not zipfile.is_zipfile(path):
        raise AssetError(f"{where} cannot be read (not an .npz archive); replace it with a fresh copy")
    try:
        if path.suffix == ".npz":
            with np.load(path, allow_pickle=False) as npz:
                return {key: npz[key] for key in npz.files}
        with open(path, "rb") as handle:
            arrays = pickle.load(handle, encoding="latin1")
    except ModuleNotFoundError as err:
        raise AssetError(f"{where} is pickled with {err.name} objects, which cannot be read here; "
                         f"convert it to a chumpy-free .pkl or .npz (e.g. smplx's tools/clean_ch.py)") from None
    except Exception as err:  # any unpickling/zip failure means the same thing to the user
        raise AssetError(f"{where} cannot be read ({type(err).__name__}: {err}); "
                         f"replace it with a fresh copy") from None
    if not isinstance(arrays, dict):
        raise AssetError(f"{where} holds a {type(arrays).__name__}, not an SMPL model dict; "
                         f"replace it with a fresh copy")
    return arrays


def _check_model_arrays(arrays: dict, path: Path, label: str) -> None:
    where = f"{label} {path.name} in {path.parent}"
    required = ("v_template", "shapedirs", "posedirs", "J_regressor", "weights", "kintree_table", "f")
    missing = [key for key in required if key not in arrays]
    if missing:
        raise AssetError(f"{where} lacks {', '.join(missing)}; it is not an SMPL-format model file")
    num_verts, num_joints = arrays["v_template"].shape[0], len(SMPL24)
    expected = {
        "v_template": (num_verts, 3), "shapedirs": (num_verts, 3, None),
        "posedirs": (num_verts, 3, NUM_POSE_BASIS), "J_regressor": (num_joints, num_verts),
        "weights": (num_verts, num_joints), "kintree_table": (2, num_joints), "f": (None, 3),
    }
    for key, shape in expected.items():
        _check_shape(f"{where}: key {key}", arrays[key], shape, "replace it with a fresh copy")


def _check_shape(what: str, array, expected: tuple, fix: str) -> None:
    """AssetError '<what> has shape (..), expected (..); <fix>' unless shapes match (None = any)."""
    shape = tuple(array.shape)
    if len(shape) != len(expected) or any(e is not None and s != e for s, e in zip(shape, expected)):
        shown = "(" + ", ".join("N" if e is None else str(e) for e in expected) + ")"
        raise AssetError(f"{what} has shape {shape}, expected {shown}; {fix}")


def _with_embedded_extras(path: Path, arrays: dict, label: str) -> ModelFile:
    num_verts = arrays["v_template"].shape[0]
    where = f"{label} {path.name} in {path.parent}"
    fix = "rebuild the model file"
    missing = [k for k in (H36M_REGRESSOR_KEY, VERTEX_ID_NAMES_KEY, VERTEX_ID_VALUES_KEY) if k not in arrays]
    if missing:
        raise AssetError(f"{where} has {EXTRA_REGRESSOR_KEY} but lacks {', '.join(missing)}; {fix}")
    extra, h36m = arrays[EXTRA_REGRESSOR_KEY], arrays[H36M_REGRESSOR_KEY]
    _check_shape(f"{where}: key {EXTRA_REGRESSOR_KEY}", extra, (len(EXTRA9), num_verts), fix)
    _check_shape(f"{where}: key {H36M_REGRESSOR_KEY}", h36m, (len(H36M17), num_verts), fix)
    names = [str(name) for name in arrays[VERTEX_ID_NAMES_KEY]]
    values = [int(value) for value in arrays[VERTEX_ID_VALUES_KEY]]
    if sorted(names) != sorted(SMPLX_VERTEX_ID_KEYS) or len(values) != len(names):
        raise AssetError(f"{where}: {VERTEX_ID_NAMES_KEY} must name the {len(SMPLX_VERTEX_ID_KEYS)} smplx "
                         f"vertex joints ({', '.join(SMPLX_VERTEX_ID_KEYS)}) once each; {fix}")
    if not all(0 <= value < num_verts for value in values):
        raise AssetError(f"{where}: {VERTEX_ID_VALUES_KEY} holds indices outside 0..{num_verts - 1}; {fix}")
    return ModelFile(path, arrays, np.asarray(extra, np.float32), np.asarray(h36m, np.float32),
                     dict(zip(names, values)))


def _with_data_dir_extras(path: Path, arrays: dict) -> ModelFile:
    from smplx.vertex_ids import vertex_ids as smplx_vertex_ids  # SMPL and SMPL-H share topology

    folder = path.parent
    extra = _read_regressor(folder, EXTRA_REGRESSOR_FILE, len(EXTRA9), required=True)
    h36m = _read_regressor(folder, H36M_REGRESSOR_FILE, len(H36M17), required=False)
    return ModelFile(path, arrays, extra, h36m, dict(smplx_vertex_ids["smplh"]))


def _read_regressor(folder: Path, name: str, num_joints: int, required: bool) -> np.ndarray | None:
    """A (num_joints, 6890) regressor .npy from VIBE's data dir; None if optional and absent."""
    path = folder / name
    if not path.is_file():
        if required:
            raise AssetError(f"{name} not found in {folder}; {VIBE_DATA_HINT}, {USE_OPEN_BODY_HINT}")
        return None
    try:
        regressor = np.load(path, allow_pickle=False)
    except Exception as err:  # corrupt or truncated .npy
        raise AssetError(f"{name} in {folder} cannot be read ({type(err).__name__}: {err}); "
                         f"{VIBE_DATA_HINT}") from None
    _check_shape(name, regressor, (num_joints, SMPL_NUM_VERTS), f"replace it (in {folder}) with the copy "
                 f"from VIBE's vibe_data download")
    return regressor.astype(np.float32)


def missing_h36m_error(folder: Path) -> AssetError:
    return AssetError(f"{H36M_REGRESSOR_FILE} not found in {folder}; it is needed for H36M-joint "
                      f"evaluation: {VIBE_DATA_HINT}")
