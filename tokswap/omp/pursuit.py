"""Batched orthogonal matching pursuit, fast enough for a whole vocabulary on a CPU.

Exhaustive OMP scores every atom at every step. The production path preselects C candidate atoms per
query (by |inner product| of unit vectors: faiss's inverted-file index, or exactly with one matrix product),
precomputes each query's C×C Gram matrix with one batched matrix product, and pursues on those Gram
matrices: each step costs O(C·t) per query instead of O(atoms·hidden). The pursuit itself runs in float64,
orthogonalising chosen atoms incrementally. The exhaustive path shares the same pursuit, scoring all atoms
with one matrix product per step; it is the reference the benchmark measures the candidate path against.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np
import torch
from tqdm import tqdm

from ..nearest import inner_product_index

DEPENDENT = 1e-4


@dataclass
class SparseCodes:
    """Per query: k atom indices and the coefficients of the unnormalised atoms (0 where a step found nothing)."""

    atoms: torch.Tensor
    coefficients: torch.Tensor

    def combine(self, values: torch.Tensor) -> torch.Tensor:
        """The same combination of other vectors attached to the atoms (e.g. the source model's rows): one
        sparse-by-dense product, never a (queries × k × hidden) gather."""
        count, k = self.atoms.shape
        positions = torch.stack([torch.arange(count).repeat_interleave(k), self.atoms.flatten()])
        codes = torch.sparse_coo_tensor(positions, self.coefficients.flatten().to(values.dtype), (count, len(values)), check_invariants=True)
        return torch.sparse.mm(codes, values)

    def relative_residuals(self, queries: torch.Tensor, atoms: torch.Tensor) -> torch.Tensor:
        """|query − code·atoms| / |query| for each query: how much of it the code leaves unexplained."""
        return (queries - self.combine(atoms)).norm(dim=1) / queries.norm(dim=1).clamp_min(1e-12)


class Basis(Protocol):
    """A batch of queries and their unit atoms, with the orthonormal basis the pursuit builds from them."""

    initial: torch.Tensor
    blocked: torch.Tensor | None

    def projections(self, chosen: torch.Tensor, step: int) -> torch.Tensor:
        """Inner products of each query's `chosen` atom with the basis vectors so far, (B, step)."""

    def extend(self, chosen: torch.Tensor, projections: torch.Tensor, length: torch.Tensor, step: int) -> torch.Tensor:
        """Add the chosen atom's orthonormalised part as basis vector `step`; its correlations with every atom, (B, C)."""

    def support_gram(self, support: torch.Tensor) -> torch.Tensor:
        """Inner products among each query's chosen atoms, (B, k, k), float64."""


@dataclass
class CandidateGram:
    """Each query with its own C candidate atoms: the basis is kept as its correlations with them, (B, k, C)."""

    gram_matrix: torch.Tensor
    initial: torch.Tensor
    basis: torch.Tensor
    blocked: torch.Tensor

    @classmethod
    def build(cls, queries: torch.Tensor, unit_atoms: torch.Tensor, candidates: torch.Tensor, k: int, scratch: torch.Tensor) -> CandidateGram:
        """`candidates` holds -1 where a search found fewer; `scratch` is reused, saving page faults."""
        blocked = candidates < 0
        candidates = candidates.clamp_min(0)
        local = torch.index_select(unit_atoms, 0, candidates.flatten(), out=scratch[: candidates.numel()])
        local = local.view(*candidates.shape, unit_atoms.shape[1])
        gram = torch.bmm(local, local.transpose(1, 2))
        initial = torch.bmm(local, queries[:, :, None].to(local.dtype))[:, :, 0].double().masked_fill(blocked, 0.0)
        return cls(gram, initial, initial.new_zeros(len(initial), k, initial.shape[1]), blocked)

    def projections(self, chosen, step):
        return self.basis[torch.arange(len(chosen)), :step, chosen]

    def extend(self, chosen, projections, length, step):
        column = self.gram_matrix[torch.arange(len(chosen)), chosen].double()
        image = (column - torch.bmm(projections[:, None, :], self.basis[:, :step])[:, 0]) / length[:, None]
        self.basis[:, step] = image
        return image

    def support_gram(self, support):
        rows = torch.gather(self.gram_matrix, 1, support[:, :, None].expand(-1, -1, self.gram_matrix.shape[2]))
        return torch.gather(rows, 2, support[:, None, :].expand(-1, support.shape[1], -1)).double()


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

    def support_gram(self, support):
        chosen = self.unit_atoms[support]
        return torch.bmm(chosen, chosen.transpose(1, 2))


def pursue(view: Basis, k: int, ridge: float = 0.0) -> tuple[torch.Tensor, torch.Tensor]:
    """OMP on unit atoms by incremental Gram-Schmidt: (support (B, k) local indices, gamma (B, k)).

    Each step orthogonalises the chosen atom against the basis, takes the residual's coordinate on it and
    updates every correlation, all in O(C·t); the coefficients of the atoms themselves come from one
    triangular solve at the end (the basis is the atoms times the inverse of the factor built here).
    An atom whose part orthogonal to the chosen ones is under 1% of its length, or a slot with no candidate
    left, gets a zero coefficient: coefficients stay bounded, every query keeps exactly k slots and the batch
    never branches. `ridge` > 0 refits the chosen atoms' coefficients with that ridge penalty instead: a
    least-squares fit over 64 correlated atoms cancels large coefficients that do not cancel elsewhere.
    With a ridge, a pool of at most k atoms leaves nothing to choose: all of them are fitted at once (the
    default's one round), which gives the same codes without k steps.
    """
    alpha = view.initial.clone()
    batch, count = alpha.shape
    if ridge > 0 and count <= k:
        everything = torch.arange(count, device=alpha.device).expand(batch, count)
        usable = torch.ones_like(alpha, dtype=torch.bool) if view.blocked is None else ~view.blocked
        return everything, _ridge_fit(view, everything, usable, ridge)
    on = {"device": alpha.device, "dtype": torch.float64}
    rows = torch.arange(batch, device=alpha.device)
    support = torch.zeros(batch, k, dtype=torch.long, device=alpha.device)
    factor = torch.zeros(batch, k, k, **on)
    coordinates = torch.zeros(batch, k, **on)
    kept = torch.zeros(batch, k, dtype=torch.bool, device=alpha.device)
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
        kept[:, step] = keep
    if ridge > 0:
        return support, _ridge_fit(view, support, kept, ridge)
    gamma = torch.linalg.solve_triangular(factor.transpose(1, 2), coordinates[:, :, None], upper=True)[:, :, 0]
    return support, gamma


def _ridge_fit(view: Basis, support: torch.Tensor, kept: torch.Tensor, ridge: float) -> torch.Tensor:
    """Coefficients of the kept unit atoms minimising |query - atoms·c|² + ridge·|c|²; dropped slots stay 0."""
    both = kept[:, :, None] & kept[:, None, :]
    gram = view.support_gram(support).masked_fill(~both, 0.0)
    gram = gram + torch.diag_embed(torch.where(kept, ridge, 1.0).double())
    target = torch.gather(view.initial, 1, support).masked_fill(~kept, 0.0)
    return torch.cholesky_solve(target[:, :, None], torch.linalg.cholesky(gram))[:, :, 0]


def unit(matrix: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Rows scaled to unit length, and the lengths (a zero row stays zero)."""
    norms = matrix.norm(dim=1)
    return matrix / norms.clamp_min(1e-12)[:, None], norms


class AtomSearch(Protocol):
    """Finds the atoms most correlated with each query, as OMP's selection ranks them."""

    def search(self, unit_queries: torch.Tensor, count: int) -> torch.Tensor:
        """Indices of the `count` atoms most correlated with each query, -1 where fewer were found, (n, count)."""


@dataclass
class ExactAtomSearch:
    """Every atom scored by |inner product| with one matrix product per chunk of queries, on the atoms' device.
    At vocabulary sizes this beats faiss's flat index over the atoms and their negatives, whose per-query heaps
    dominate (see docs/omp.md)."""

    unit_atoms: torch.Tensor
    chunk: int = 1024

    def search(self, unit_queries: torch.Tensor, count: int) -> torch.Tensor:
        count = min(count, len(self.unit_atoms))
        parts = [
            (unit_queries[start : start + self.chunk].to(self.unit_atoms) @ self.unit_atoms.T).abs_().topk(count, 1).indices.cpu()
            for start in range(0, len(unit_queries), self.chunk)
        ]
        return torch.cat(parts) if parts else torch.empty(0, count, dtype=torch.long)


class AtomIndex:
    """faiss inverted-file index over the unit atoms and their negatives, so a search ranks atoms by |inner
    product|, as OMP's selection does. `probes`: see `inner_product_index`."""

    def __init__(self, unit_atoms: torch.Tensor, probes: int):
        self.count = len(unit_atoms)
        both = unit_atoms.float().cpu().numpy()
        self.index = inner_product_index(np.concatenate([both, -both]), probes)

    def search(self, unit_queries: torch.Tensor, count: int) -> torch.Tensor:
        """Indices of the `count` atoms most correlated with each query, -1 where fewer were found, (n, count)."""
        _, found = self.index.search(np.ascontiguousarray(unit_queries.float().cpu().numpy()), count)
        found = torch.from_numpy(found).long()
        return distinct(torch.where(found < 0, found, found % self.count))


def distinct(pools: torch.Tensor) -> torch.Tensor:
    """Each row's indices with repeats (and -1) replaced by -1."""
    ordered, _ = pools.sort(1)
    repeat = torch.zeros_like(ordered, dtype=torch.bool)
    repeat[:, 1:] = ordered[:, 1:] == ordered[:, :-1]
    return ordered.masked_fill(repeat, -1)


def sparse_codes(
    queries: torch.Tensor,
    atoms: torch.Tensor,
    k: int = 64,
    candidates: int | None = 256,
    probes: int | None = None,
    batch_size: int = 512,
    device: str = "cpu",
    progress: bool = True,
    rounds: int = 1,
    ridge: float = 0.0,
) -> SparseCodes:
    """OMP codes of `queries` (n, hidden) over `atoms` (m, hidden).

    `candidates=None` (or at least m) scores every atom at every step: the exact reference. Otherwise each
    query is pursued within its `candidates` atoms most correlated with it (`AtomIndex` with `probes`,
    `ExactAtomSearch` without); each further round pursues again within the atoms chosen so far plus the
    `candidates` most correlated with the residual. The atoms exhaustive OMP picks after the first few are
    rarely near the query (on SmolLM2 → Gemma-3 their median similarity rank is ~10,000 of 46,000), so the
    residual finds them, not the query.
    """
    exhaustive = candidates is None or candidates >= len(atoms)
    k = min(k, len(atoms) if exhaustive else candidates)
    unit_atoms, norms = unit(atoms)
    on_device = unit_atoms.to(device), norms.to(device)
    if exhaustive:
        return _pursue_in_batches(queries, *on_device, None, k, batch_size, ridge, progress)
    index: AtomSearch = ExactAtomSearch(on_device[0]) if probes is None else AtomIndex(unit_atoms, probes)
    pools = index.search(unit(queries)[0], candidates)
    for round_ in range(rounds):
        codes = _pursue_in_batches(queries, *on_device, pools, k, batch_size, ridge, progress)
        if round_ + 1 < rounds:
            residual = queries - codes.combine(atoms.to(queries.dtype))
            kept = torch.where(codes.coefficients != 0, codes.atoms, -1)
            pools = distinct(torch.cat([kept, index.search(unit(residual)[0], candidates)], 1))
    return codes


def _pursue_in_batches(
    queries: torch.Tensor, unit_atoms: torch.Tensor, norms: torch.Tensor, pools: torch.Tensor | None, k: int, batch_size: int, ridge: float, progress: bool
) -> SparseCodes:
    """Exhaustive pursuit (`pools=None`) or pursuit within each query's pool, batch by batch on the atoms' device."""
    device = unit_atoms.device
    if pools is not None:
        scratch = unit_atoms.new_empty(min(batch_size, len(queries)) * pools.shape[1], unit_atoms.shape[1])
    found_atoms, found_coefficients = [], []
    for start in tqdm(range(0, len(queries), batch_size), desc="omp", unit="batch", disable=not progress):
        batch = queries[start : start + batch_size].to(device)
        if pools is None:
            chosen, gamma = pursue(FullDictionary.build(batch, unit_atoms, k), k, ridge)
        else:
            pool = pools[start : start + batch_size].to(device)
            support, gamma = pursue(CandidateGram.build(batch, unit_atoms, pool, k, scratch), k, ridge)
            chosen = torch.gather(pool, 1, support).clamp_min(0)
        found_atoms.append(chosen.cpu())
        found_coefficients.append((gamma / norms[chosen].double().clamp_min(1e-12)).cpu())
    return SparseCodes(torch.cat(found_atoms), torch.cat(found_coefficients))
