"""Duplicate groups: perceptual (Hamming distance of 64-bit hashes) and semantic (cosine of embeddings).

Both find candidate pairs without comparing every pair, verify them exactly, and join them into groups
with connected components (so duplicates of duplicates are one group). Exact dedup needs none of this:
it is a GROUP BY in SQL (compile.py). Which member of a group survives is decided in SQL as well.

Perceptual: multi-index hashing. The 64 bits are cut into 4 bands of 16 bits; two hashes within
`max_distance` bits differ in at most `max_distance // 4` bits in at least one band (pigeonhole), so
probing each band's bucket and its neighbours within that radius finds every pair: exact recall, and
about n * (1 + 16 * radius) * n / 65536 candidate checks per band for well-spread hashes.

Semantic (SemDeDup, Abbas et al. 2023): k-means on the embeddings (faiss), each sample placed in its
`probes` nearest clusters, then all pairs inside each cluster compared by cosine similarity (BLAS).
Recall against brute force grows with `probes`; the benchmark measures it.
"""
from __future__ import annotations

import math
from itertools import combinations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

BANDS = 4
BAND_BITS = 64 // BANDS
_CHUNK_PAIRS = 4_000_000  # candidate pairs materialised at once
EXACT_BELOW = 10_000  # semantic dedup compares all pairs (one cluster) up to this many rows


def components(n: int, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Connected-component label of each of `n` nodes given edges (a[i], b[i])."""
    graph = coo_matrix((np.ones(len(a), dtype=np.int8), (a, b)), shape=(n, n))
    return connected_components(graph, directed=False)[1]


def parse_hex64(hashes: pa.Array) -> np.ndarray:
    """16-hex-char strings (imagehash's str(phash)) to uint64; ValueError naming a bad value."""
    hashes = hashes.combine_chunks() if isinstance(hashes, pa.ChunkedArray) else hashes
    bad = pc.invert(pc.match_substring_regex(hashes, "^[0-9a-fA-F]{16}$"))
    if pc.any(bad).as_py():
        example = hashes.filter(bad)[0].as_py()
        raise ValueError(f"perceptual hashes must be 16 hex characters (a 64-bit imagehash); got {example!r}")
    raw = bytes.fromhex("".join(hashes.to_pylist()))
    return np.frombuffer(raw, dtype=">u8").astype(np.uint64)


def _band_masks(radius: int) -> np.ndarray:
    masks = [0]
    for r in range(1, radius + 1):
        masks += [sum(1 << bit for bit in bits) for bits in combinations(range(BAND_BITS), r)]
    return np.array(masks, dtype=np.int64)


def hamming_pairs(codes: np.ndarray, max_distance: int) -> tuple[np.ndarray, np.ndarray]:
    """All index pairs (i < j) of `codes` (uint64) at Hamming distance <= max_distance, found by banding."""
    n = len(codes)
    masks = _band_masks(max_distance // BANDS)
    found_a, found_b = [], []
    for band in range(BANDS):
        keys = ((codes >> np.uint64(band * BAND_BITS)) & np.uint64(0xFFFF)).astype(np.int64)
        order = np.argsort(keys, kind="stable")
        sorted_keys = keys[order]
        for mask in masks:
            probe = keys ^ mask
            lo = np.searchsorted(sorted_keys, probe, "left")
            counts = np.searchsorted(sorted_keys, probe, "right") - lo
            for start, stop in _chunks(counts):
                src = np.repeat(np.arange(start, stop), counts[start:stop])
                first = np.repeat(lo[start:stop], counts[start:stop])
                offsets = np.arange(len(src)) - np.repeat(np.cumsum(counts[start:stop]) - counts[start:stop],
                                                         counts[start:stop])
                dst = order[first + offsets]
                keep = src < dst
                src, dst = src[keep], dst[keep]
                close = np.bitwise_count(codes[src] ^ codes[dst]) <= max_distance
                found_a.append(src[close])
                found_b.append(dst[close])
    if not found_a:
        return np.empty(0, np.int64), np.empty(0, np.int64)
    pairs = np.unique(np.concatenate(found_a).astype(np.int64) * n + np.concatenate(found_b))
    return pairs // n, pairs % n


def _chunks(counts: np.ndarray):
    """Split source indices into runs whose candidate counts sum to about _CHUNK_PAIRS."""
    total = np.cumsum(counts)
    start = 0
    while start < len(counts):
        base = total[start - 1] if start else 0
        stop = max(int(np.searchsorted(total, base + _CHUNK_PAIRS, "right")), start + 1)
        yield start, min(stop, len(counts))
        start = stop


def perceptual_groups(hashes: pa.Array, max_distance: int) -> np.ndarray:
    """Group label per hash: hashes within `max_distance` bits (transitively) share a label."""
    codes = parse_hex64(hashes)
    unique, inverse = np.unique(codes, return_inverse=True)
    a, b = hamming_pairs(unique, max_distance)
    return components(len(unique), a, b)[inverse]


def cosine_pairs(vectors: np.ndarray, min_similarity: float, clusters: int | None = None, probes: int = 2,
                 seed: int = 0, block: int = 1024) -> tuple[np.ndarray, np.ndarray]:
    """Index pairs (i < j) of L2-normalised rows with cosine similarity >= min_similarity, SemDeDup-style.

    `clusters` defaults to sqrt(n) (one cluster, i.e. exact brute force, up to EXACT_BELOW rows); each
    row is compared with the rows of its `probes` nearest centroids.
    """
    n, dim = vectors.shape
    k = clusters or (1 if n <= EXACT_BELOW else round(math.sqrt(n)))
    k = max(1, min(n, k))
    probes = min(probes, k)
    assigned = np.zeros((n, 1), np.int64) if k == 1 else _nearest_centroids(vectors, k, probes, seed)
    rows = np.repeat(np.arange(n), assigned.shape[1])
    by_cluster = np.lexsort((rows, assigned.ravel()))
    cluster_of, rows = assigned.ravel()[by_cluster], rows[by_cluster]
    bounds = np.flatnonzero(np.diff(cluster_of)) + 1
    found_a, found_b = [], []
    for members in np.split(rows, bounds):
        if len(members) < 2:
            continue
        x = np.ascontiguousarray(vectors[members], dtype=np.float32)
        for s in range(0, len(members), block):
            sims = x[s:s + block] @ x[s:].T
            i, j = np.nonzero(np.triu(sims >= min_similarity, k=1))
            found_a.append(members[s + i])
            found_b.append(members[s + j])
    if not found_a:
        return np.empty(0, np.int64), np.empty(0, np.int64)
    a, b = np.concatenate(found_a).astype(np.int64), np.concatenate(found_b).astype(np.int64)
    lo, hi = np.minimum(a, b), np.maximum(a, b)
    pairs = np.unique(lo * n + hi)
    return pairs // n, pairs % n


def _nearest_centroids(vectors: np.ndarray, k: int, probes: int, seed: int) -> np.ndarray:
    """Spherical k-means (faiss, trained on 64 samples per centroid); the `probes` nearest centroids per row."""
    import faiss

    n, dim = vectors.shape
    kmeans = faiss.Kmeans(dim, k, niter=10, seed=seed, spherical=True, max_points_per_centroid=64, verbose=False)
    rng = np.random.default_rng(seed)
    sample = vectors[np.sort(rng.choice(n, size=min(n, k * 64), replace=False))]
    kmeans.train(np.ascontiguousarray(sample, dtype=np.float32))
    index = faiss.IndexFlatIP(dim)
    index.add(kmeans.centroids)
    return np.concatenate([
        index.search(np.ascontiguousarray(vectors[s:s + 65536], dtype=np.float32), probes)[1]
        for s in range(0, n, 65536)
    ])


def semantic_groups(vectors: np.ndarray, min_similarity: float, clusters: int | None, probes: int) -> np.ndarray:
    """Group label per row of `vectors`: rows at cosine >= min_similarity (transitively) share a label."""
    a, b = cosine_pairs(vectors, min_similarity, clusters, probes)
    return components(len(vectors), a, b)
