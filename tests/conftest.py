"""Shared pytest fixtures: a tiny generated SMPL-format model (see tests/smpl_factory.py)."""
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))  # lets tests import smpl_factory

from smpl_factory import make_smpl_arrays, write_smpl_file  # noqa: E402

TINY_NUM_VERTS = 300


@pytest.fixture(scope="session")
def tiny_smpl_arrays():
    """The arrays of the tiny model in tiny_smpl_dir (read-only: do not modify)."""
    return make_smpl_arrays(num_verts=TINY_NUM_VERTS, seed=0)


@pytest.fixture(scope="session")
def tiny_smpl_dir(tmp_path_factory, tiny_smpl_arrays):
    """A data dir with SMPL_NEUTRAL.pkl, SMPL_MALE.pkl (seed 1) and SMPL_FEMALE.npz (seed 2):
    300-vertex SMPL-format models with embedded extra regressors and vertex ids."""
    folder = tmp_path_factory.mktemp("tiny_smpl")
    write_smpl_file(folder / "SMPL_NEUTRAL.pkl", tiny_smpl_arrays)
    write_smpl_file(folder / "SMPL_MALE.pkl", make_smpl_arrays(num_verts=TINY_NUM_VERTS, seed=1))
    write_smpl_file(folder / "SMPL_FEMALE.npz", make_smpl_arrays(num_verts=TINY_NUM_VERTS, seed=2))
    return folder


@pytest.fixture(scope="session")
def tiny_body_model(tiny_smpl_dir):
    """BodyModel over tiny_smpl_dir's SMPL_NEUTRAL.pkl (shared: do not train or move it)."""
    from vibe.body import load_body_model

    return load_body_model(tiny_smpl_dir, kind="smpl")


@pytest.fixture
def one_torch_thread():
    """Run a test on one torch thread (small optimisation batches run faster so, and the
    machine is shared), restoring the count afterwards."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
