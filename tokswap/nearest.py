"""Nearest neighbours by inner product with faiss, shared by the methods that search embedding spaces."""

from __future__ import annotations

import hashlib

import faiss
import numpy as np
import torch

from .cache import cached_tensors


def inner_product_index(vectors: np.ndarray, probes: int | None = None) -> faiss.Index:
    """Exhaustive (`probes=None`) or an inverted-file index visiting `probes` of its 4·√n clusters per query:
    far cheaper for a whole vocabulary and exact on the vectors it returns. The clusters are trained on at
    most 40 vectors each (faiss samples them), which halves training on a vocabulary-sized set."""
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    if probes is None:
        index = faiss.IndexFlatIP(vectors.shape[1])
    else:
        lists = max(1, min(int(4 * len(vectors) ** 0.5), len(vectors) // 40))
        index = faiss.IndexIVFFlat(faiss.IndexFlatIP(vectors.shape[1]), vectors.shape[1], lists, faiss.METRIC_INNER_PRODUCT)
        index.cp.max_points_per_centroid = 40
        index.train(vectors)
        index.nprobe = min(probes, lists)
    index.add(vectors)
    return index


def top_inner_products(queries: torch.Tensor, keys: torch.Tensor, count: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The `count` keys with the largest inner product with each query, exactly: (scores, indices), (n, count)."""
    index = inner_product_index(keys.float().cpu().numpy())
    scores, found = index.search(np.ascontiguousarray(queries.float().cpu().numpy()), count)
    return torch.from_numpy(scores), torch.from_numpy(found).long()


def cached_top_inner_products(queries: torch.Tensor, keys: torch.Tensor, count: int) -> tuple[torch.Tensor, torch.Tensor]:
    """`top_inner_products`, stored on disk keyed by the exact bytes of both vector sets: a whole vocabulary's
    exact search is one of the slowest steps of a transplant, and the same vectors always find the same neighbours."""
    queries, keys = queries.float().contiguous(), keys.float().contiguous()
    digest = hashlib.sha256(f"{count}:{tuple(queries.shape)}:{tuple(keys.shape)}".encode())
    for vectors in (queries, keys):
        digest.update(memoryview(vectors.numpy()))
    found = cached_tensors(
        "neighbours",
        digest.hexdigest()[:32],
        f"{count} nearest of {len(keys):,} keys for {len(queries):,} queries",
        lambda: dict(zip(("scores", "indices"), top_inner_products(queries, keys, count))),
    )
    return found["scores"], found["indices"]
