"""Batched orthogonal matching pursuit, fast enough for a whole vocabulary on a CPU.

Exhaustive OMP scores every atom at every step. The production path preselects C candidate atoms per
query (faiss, inner product of unit vectors), precomputes each query's C×C Gram matrix with one batched
matrix product, and pursues on those Gram matrices: each step costs O(C·t) per query instead of
O(atoms·hidden). The pursuit itself runs in float64, orthogonalising chosen atoms incrementally. The
exhaustive path shares the same pursuit, scoring all atoms with one matrix product per step; it is the
reference the benchmark measures the candidate path against.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import faiss
import numpy as np
import torch
from tqdm import tqdm

DEPENDENT = 1e-4


@dataclass
class SparseCodes:
    """Per query: k atom indices and the coefficients of the unnormalised atoms (0 where a step found nothing)."""

    atoms: torch.Tensor
    coefficients: torch.Tensor

    def combine(self, values: torch.Tensor, chunk: int = 4096) -> torch.Tensor:
        """The same combination of other vectors attached to the atoms (e.g. the source model's rows)."""
        coefficients = self.coefficients.to(values.dtype)
        parts = [
            torch.einsum("nk,nkh->nh", coefficients[start : start + chunk], values[self.atoms[start : start + chunk]])
            for start in range(0, len(self.atoms), chunk)
        ]
        return torch.cat(parts) if parts else values.new_zeros(0, values.shape[1])


class Basis(Protocol):
    """A batch of queries and their unit atoms, with the orthonormal basis the pursuit builds from them."""

    initial: torch.Tensor
    blocked: torch.Tensor | None

    def projections(self, chosen: torch.Tensor, step: int) -> torch.Tensor:
        """Inner products of each query's `chosen` atom with the basis vectors so far, (B, step)."""

    def extend(self, chosen: torch.Tensor, projections: torch.Tensor, length: torch.Tensor, step: int) -> torch.Tensor:
        """Add the chosen atom's orthonormalised part as basis vector `step`; its correlations with every atom, (B, C)."""


@dataclass
class CandidateGram:
    """Each query with its own C candidate atoms: the basis is kept as its correlations with them, (B, k, C)."""

    gram_matrix: torch.Tensor
    initial: torch.Tensor
    basis: torch.Tensor
    blocked: torch.Tensor

    @classmethod
    def build(cls, initial: torch.Tensor, unit_atoms: torch.Tensor, candidates: torch.Tensor, k: int, scratch: torch.Tensor) -> CandidateGram:
        """`initial`: each query's inner products with its candidates, whose index is -1 where a search found
        fewer; `scratch` is reused, saving page faults."""
        blocked = candidates < 0
        candidates = candidates.clamp_min(0)
        local = torch.index_select(unit_atoms, 0, candidates.flatten(), out=scratch[: candidates.numel()])
        local = local.view(*candidates.shape, unit_atoms.shape[1])
        gram = torch.bmm(local, local.transpose(1, 2))
        initial = initial.double().masked_fill(blocked, 0.0)
        return cls(gram, initial, initial.new_zeros(len(initial), k, initial.shape[1]), blocked)

    def projections(self, chosen, step):
        return self.basis[torch.arange(len(chosen)), :step, chosen]

    def extend(self, chosen, projections, length, step):
        column = self.gram_matrix[torch.arange(len(chosen)), chosen].double()
        image = (column - torch.bmm(projections[:, None, :], self.basis[:, :step])[:, 0]) / length[:, None]
        self.basis[:, step] = image
        return image


@dataclass
class FullDictionary:
    """Every query against every atom: the basis is kept as vectors, (B, hidden, k); one product per step."""

    unit_atoms: torch.Tensor
    initial: torch.Tensor
    basis: torch.Tensor
    blocked: None = None

    @classmethod
    def build(cls, queries: torch.Tensor, unit_atoms: torch.Tensor, k: int) -> FullDictionary:
        atoms = unit_atoms.double()
        return cls(atoms, queries.double() @ atoms.T, atoms.new_zeros(len(queries), atoms.shape[1], k))

    def projections(self, chosen, step):
        return torch.einsum("bht,bh->bt", self.basis[:, :, :step], self.unit_atoms[chosen])

    def extend(self, chosen, projections, length, step):
        vector = (self.unit_atoms[chosen] - torch.einsum("bht,bt->bh", self.basis[:, :, :step], projections)) / length[:, None]
        self.basis[:, :, step] = vector
        return vector @ self.unit_atoms.T


def pursue(view: Basis, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """OMP on unit atoms by incremental Gram-Schmidt: (support (B, k) local indices, gamma (B, k)).

    Each step orthogonalises the chosen atom against the basis, takes the residual's coordinate on it and
    updates every correlation, all in O(C·t); the coefficients of the atoms themselves come from one
    triangular solve at the end (the basis is the atoms times the inverse of the factor built here).
    An atom whose part orthogonal to the chosen ones is under 1% of its length, or a slot with no candidate
    left, gets a zero coefficient: coefficients stay bounded, every query keeps exactly k slots and the batch
    never branches.
    """
    alpha = view.initial.clone()
    batch, count = alpha.shape
    on = {"device": alpha.device, "dtype": torch.float64}
    rows = torch.arange(batch, device=alpha.device)
    support = torch.zeros(batch, k, dtype=torch.long, device=alpha.device)
    factor = torch.zeros(batch, k, k, **on)
    coordinates = torch.zeros(batch, k, **on)
    taken = torch.zeros(batch, count, dtype=torch.bool, device=alpha.device) if view.blocked is None else view.blocked.clone()
    for step in range(k):
        scores = alpha.abs().masked_fill(taken, -1.0)
        chosen = scores.argmax(1)
        open_slot = scores[rows, chosen] >= 0
        taken[rows, chosen] = True
        support[:, step] = chosen
        projections = view.projections(chosen, step)
        rest = 1.0 - (projections * projections).sum(1)
        keep = (rest > DEPENDENT) & open_slot
        length = torch.where(keep, rest.clamp_min(DEPENDENT).sqrt(), 1.0)
        projections = projections * keep[:, None]
        image = view.extend(chosen, projections, length, step) * keep[:, None]
        coordinate = torch.where(keep, alpha[rows, chosen] / length, 0.0)
        alpha -= coordinate[:, None] * image
        factor[:, step, :step] = projections
        factor[:, step, step] = length
        coordinates[:, step] = coordinate
    gamma = torch.linalg.solve_triangular(factor.transpose(1, 2), coordinates[:, :, None], upper=True)[:, :, 0]
    return support, gamma


def unit(matrix: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Rows scaled to unit length, and the lengths (a zero row stays zero)."""
    norms = matrix.norm(dim=1)
    return matrix / norms.clamp_min(1e-12)[:, None], norms


def candidate_atoms(unit_queries: torch.Tensor, unit_atoms: torch.Tensor, count: int, probes: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """The `count` atoms with the largest inner product with each query: (inner products, indices), (n, count).

    `probes=None` searches exhaustively; otherwise an inverted-file index visits that many of its
    4·√atoms clusters per query, far cheaper for a whole vocabulary and exact on the atoms it returns.
    """
    atoms = np.ascontiguousarray(unit_atoms.float().numpy())
    if probes is None:
        index = faiss.IndexFlatIP(atoms.shape[1])
    else:
        lists = max(1, min(int(4 * len(atoms) ** 0.5), len(atoms) // 40))
        index = faiss.IndexIVFFlat(faiss.IndexFlatIP(atoms.shape[1]), atoms.shape[1], lists, faiss.METRIC_INNER_PRODUCT)
        index.train(atoms)
        index.nprobe = min(probes, lists)
    index.add(atoms)
    scores, found = index.search(np.ascontiguousarray(unit_queries.float().numpy()), count)
    return torch.from_numpy(scores), torch.from_numpy(found).long()


def sparse_codes(
    queries: torch.Tensor,
    atoms: torch.Tensor,
    k: int = 64,
    candidates: int | None = 256,
    probes: int | None = None,
    batch_size: int = 512,
    device: str = "cpu",
    progress: bool = True,
) -> SparseCodes:
    """OMP codes of `queries` (n, hidden) over `atoms` (m, hidden).

    `candidates=None` (or at least m) scores every atom at every step: the exact reference. Otherwise each
    query is pursued within its `candidates` best atoms, found exhaustively or with `probes` (see
    `candidate_atoms`).
    """
    exhaustive = candidates is None or candidates >= len(atoms)
    k = min(k, len(atoms) if exhaustive else candidates)
    unit_atoms, norms = unit(atoms)
    unit_queries, query_norms = unit(queries)
    if not exhaustive:
        scores, pool = candidate_atoms(unit_queries, unit_atoms, candidates, probes)
        initial = scores * query_norms[:, None]
        scratch = torch.empty(min(batch_size, len(queries)) * candidates, atoms.shape[1], device=device)
    unit_atoms, norms = unit_atoms.to(device), norms.to(device)
    found_atoms, found_coefficients = [], []
    for start in tqdm(range(0, len(queries), batch_size), desc="omp", unit="batch", disable=not progress):
        part = slice(start, start + batch_size)
        if exhaustive:
            chosen, gamma = pursue(FullDictionary.build(queries[part].to(device), unit_atoms, k), k)
        else:
            local = pool[part].to(device)
            support, gamma = pursue(CandidateGram.build(initial[part].to(device), unit_atoms, local, k, scratch), k)
            chosen = torch.gather(local, 1, support).clamp_min(0)
        found_atoms.append(chosen.cpu())
        found_coefficients.append((gamma / norms[chosen].double().clamp_min(1e-12)).cpu())
    return SparseCodes(torch.cat(found_atoms), torch.cat(found_coefficients))
