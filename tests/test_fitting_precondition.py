"""The temporal preconditioner: its matrix against the defining identity, its windows against an
explicit block-diagonal product (a fit through it: tests/test_fitting_smplify.py)."""
import numpy as np
import pytest
import scipy.linalg
import torch

from vibe.fitting.precondition import TemporalPreconditioner, _window_matrix


def _second_difference(length: int) -> np.ndarray:
    return np.diff(np.eye(length), n=2, axis=0)  # (length - 2, length) rows (1, -2, 1)


@pytest.mark.parametrize("length, stiffness", [(3, 1.0), (10, 10.0), (64, 1000.0)])
def test_matrix_whitens_the_smoothness_hessian(length, stiffness):
    matrix = _window_matrix(length, stiffness)
    second = _second_difference(length)
    hessian = np.eye(length) + stiffness * second.T @ second
    np.testing.assert_allclose(matrix, matrix.T, atol=1e-12)
    np.testing.assert_allclose(matrix @ hessian @ matrix, np.eye(length), atol=1e-9)
    # a straight line has no second difference: M leaves it alone
    line = np.linspace(-1.0, 2.0, length)
    np.testing.assert_allclose(matrix @ line, line, atol=1e-9)


def test_windows_are_a_block_diagonal_product():
    num_frames, window = 150, 64
    pre = TemporalPreconditioner(num_frames, 10.0, window)
    z = torch.randn(num_frames, 5, generator=torch.Generator().manual_seed(0))
    blocks = [_window_matrix(stop - start, 10.0) for start, stop in ((0, 64), (64, 128), (128, 150))]
    expected = scipy.linalg.block_diag(*blocks) @ z.double().numpy()
    np.testing.assert_allclose(pre.apply(z).numpy(), expected, atol=1e-5)


def test_zero_stiffness_is_the_identity():
    z = torch.randn(7, 3)
    assert TemporalPreconditioner(7, 0.0, 64).apply(z) is z

