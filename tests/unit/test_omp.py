"""The batched OMP kernel against scikit-learn's reference implementation."""

import numpy as np
import pytest
import torch
from sklearn.linear_model import orthogonal_mp

from tokswap.omp.pursuit import ExactAtomSearch, sparse_codes


def _sklearn_codes(queries: torch.Tensor, atoms: torch.Tensor, k: int) -> np.ndarray:
    """scikit-learn assumes unit atoms: select on those, then rescale to the raw atoms' coefficients."""
    norms = atoms.norm(dim=1, keepdim=True)
    return orthogonal_mp((atoms / norms).T.numpy(), queries.T.numpy(), n_nonzero_coefs=k).T / norms.T.numpy()


@pytest.mark.parametrize("candidates", [None, 60])
def test_matches_sklearn(candidates):
    gen = torch.Generator().manual_seed(0)
    atoms = torch.randn(60, 24, generator=gen, dtype=torch.float64) * torch.rand(60, 1, generator=gen, dtype=torch.float64).add(0.5)
    queries = torch.randn(40, 24, generator=gen, dtype=torch.float64)
    codes = sparse_codes(queries, atoms, k=8, candidates=candidates, batch_size=16, progress=False)
    expected = _sklearn_codes(queries, atoms, 8)
    dense = np.zeros_like(expected)
    np.put_along_axis(dense, codes.atoms.numpy(), codes.coefficients.numpy(), axis=1)
    assert ((dense != 0) == (expected != 0)).all()
    np.testing.assert_allclose(dense, expected, rtol=1e-5, atol=1e-9)


@pytest.mark.parametrize("probes", [None, 25])
def test_a_residual_round_finds_atoms_the_query_search_misses(probes):
    """With 25 probes the inverted-file index over these 1,000 vectors (500 atoms and negatives) visits every list."""
    gen = torch.Generator().manual_seed(1)
    atoms = torch.randn(500, 64, generator=gen)
    truth = torch.zeros(30, 500)
    for row in truth:
        row[torch.randperm(500, generator=gen)[:3]] = torch.rand(3, generator=gen) + 1.0
    queries = truth @ atoms

    def dense(rounds):
        codes = sparse_codes(queries, atoms, k=6, candidates=64, probes=probes, batch_size=8, progress=False, rounds=rounds)
        return torch.zeros(30, 500, dtype=torch.float64).scatter_add_(1, codes.atoms, codes.coefficients).float()

    assert not torch.allclose(dense(1), truth, atol=1e-4)
    torch.testing.assert_close(dense(2), truth, atol=1e-4, rtol=1e-4)


def test_ridge_bounds_the_cancelling_coefficients_of_near_duplicate_atoms():
    atoms = torch.tensor([[1.0, 0.0, 0.0], [1.0, 0.05, 0.0], [0.0, 0.0, 1.0]], dtype=torch.float64)
    queries = torch.tensor([[0.0, 1.0, 0.0]], dtype=torch.float64)
    plain = sparse_codes(queries, atoms, k=2, candidates=None, progress=False)
    ridged = sparse_codes(queries, atoms, k=2, candidates=None, progress=False, ridge=0.1)
    assert plain.coefficients.abs().max() > 10
    assert (ridged.atoms == plain.atoms).all()
    assert ridged.coefficients.abs().max() < 1


def test_dependent_atoms_get_zero_weight():
    atoms = torch.tensor([[1.0, 0.0, 0.0], [2.0, 0.0, 0.0], [0.0, 1.0, 0.0]], dtype=torch.float64)
    queries = torch.tensor([[3.0, 1.0, 0.0]], dtype=torch.float64)
    codes = sparse_codes(queries, atoms, k=3, candidates=None, progress=False)
    assert torch.isfinite(codes.coefficients).all()
    torch.testing.assert_close(codes.combine(atoms), queries)


def test_exact_search_ranks_atoms_by_absolute_inner_product():
    gen = torch.Generator().manual_seed(2)
    atoms = torch.nn.functional.normalize(torch.randn(300, 16, generator=gen), dim=1)
    queries = torch.nn.functional.normalize(torch.randn(50, 16, generator=gen), dim=1)
    found = ExactAtomSearch(atoms, chunk=7).search(queries, 10)
    expected = np.argsort(-np.abs(queries.numpy() @ atoms.numpy().T), axis=1)[:, :10]
    assert (found.sort(1).values.numpy() == np.sort(expected, axis=1)).all()
    assert found.shape == (50, 10) and (queries @ atoms.T).gather(1, found).min() < 0


def test_a_pool_of_k_atoms_is_fitted_whole_with_the_ridge():
    gen = torch.Generator().manual_seed(3)
    atoms = torch.randn(200, 32, generator=gen, dtype=torch.float64)
    queries = torch.randn(20, 32, generator=gen, dtype=torch.float64)
    codes = sparse_codes(queries, atoms, k=12, candidates=12, progress=False, ridge=0.05)
    unit_atoms = atoms / atoms.norm(dim=1, keepdim=True)
    for query, chosen, coefficients in zip(queries, codes.atoms, codes.coefficients):
        nearest = (unit_atoms @ query).abs().topk(12).indices
        assert set(chosen.tolist()) == set(nearest.tolist())
        local = unit_atoms[chosen]
        fit = torch.linalg.solve(local @ local.T + 0.05 * torch.eye(12, dtype=torch.float64), local @ query)
        torch.testing.assert_close(coefficients, fit / atoms[chosen].norm(dim=1))
