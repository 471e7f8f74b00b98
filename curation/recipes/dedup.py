"""Which samples duplicate a kept representative: perceptual (Hamming distance of 64-bit hashes) and semantic
(cosine of embeddings) dedup. Exact dedup needs none of this: it is a window in SQL (compile.py).

Representatives are chosen greedily, as SemDeDup (Abbas et al. 2023) and greedy clustering do: rows come in
representative order (compile.representative_order: alive before the step first, then best `keep`, then
sample_id), and each alive row within the threshold of an already kept representative duplicates the first
such representative, while every other alive row becomes one. A chain A~B~C with A and C apart keeps A and C
and drops B, so a group spreads at most one threshold around its representative, never without bound as
connected components do. Rows dropped before the step come last and are never representatives: they
neither bridge live rows nor survive, but are still judged (one within the threshold of a representative
lists the step among its reasons).

Both methods find candidate pairs without comparing every pair and verify them exactly; `greedy_duplicates`
then makes one pass over the pairs in representative order: O(rows + pairs).

Perceptual: multi-index hashing. The 64 bits are cut into 4 bands of 16 bits; two hashes within
`max_distance` bits differ in at most `max_distance // 4` bits in at least one band (pigeonhole), so
probing each band's bucket and its neighbours within that radius finds every pair: exact recall, and
about n * (1 + 16 * radius) * n / 65536 candidate checks per band for well-spread hashes. Identical hashes
are searched once.

Semantic (SemDeDup): k-means on the embeddings (faiss), each sample placed in its `probes` nearest
clusters, then all pairs inside each cluster compared by cosine similarity (BLAS). Recall against brute
force grows with `probes`; the benchmark measures it.
"""
from __future__ import annotations

import math
from itertools import combinations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

BANDS = 4
BAND_BITS = 64 // BANDS
_CHUNK_PAIRS = 4_000_000  # candidate pairs materialised at once
EXACT_BELOW = 10_000  # semantic dedup compares all pairs (one cluster) up to this many rows


def greedy_duplicates(n: int, n_alive: int, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The row each of `n` rows duplicates, -1 for none, given the pairs (a[i], b[i]) within the threshold.

    Rows are numbered in representative order and the first `n_alive` are alive. An alive row is kept as a
    representative unless a kept row before it is paired with it; a row that is not kept duplicates the
    first kept row it is paired with (if any). Rows from `n_alive` on are never kept.
    """
    lo, hi = np.minimum(a, b).astype(np.int64), np.maximum(a, b).astype(np.int64)
    by_row = np.lexsort((lo, hi))
    lo, hi = lo[by_row], hi[by_row]
    kept = np.arange(n) < n_alive
    alive_pairs = int(np.searchsorted(hi, n_alive))
    rows, starts = np.unique(hi[:alive_pairs], return_index=True)
    ends = np.append(starts[1:], alive_pairs)
    for row, start, end in zip(rows.tolist(), starts.tolist(), ends.tolist()):  # rows before `row` are final
        if kept[lo[start:end]].any():
            kept[row] = False
    to_kept = kept[lo]
    duplicates, first = np.unique(hi[to_kept], return_index=True)  # pairs sorted by lo: first = best kept
    out = np.full(n, -1, np.int64)
    out[duplicates] = lo[to_kept][first]
    return out


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


def perceptual_duplicates(hashes: pa.Array, max_distance: int, n_alive: int) -> np.ndarray:
    """`greedy_duplicates` of hashes (rows in representative order, the first `n_alive` alive) within
    `max_distance` bits.

    Rows sharing a hash are one node, placed at its best row: within distance 0 of each other, they all
    duplicate the representative that node's best row is or duplicates (see the module docstring).
    """
    codes = parse_hex64(hashes)
    unique, first, inverse = np.unique(codes, return_index=True, return_inverse=True)
    order = np.argsort(first, kind="stable")  # nodes in the order of their best rows
    rank = np.empty_like(order)
    rank[order] = np.arange(len(order))
    best = first[order]
    a, b = hamming_pairs(unique[order], max_distance)
    node_dup = greedy_duplicates(len(order), int(np.searchsorted(best, n_alive)), a, b)
    kept = (node_dup < 0) & (best < n_alive)
    rep = np.where(kept, best, np.where(node_dup >= 0, best[np.maximum(node_dup, 0)], -1))[rank[inverse.ravel()]]
    return np.where(rep == np.arange(len(codes)), -1, rep)


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


def semantic_duplicates(vectors: np.ndarray, min_similarity: float, clusters: int | None, probes: int,
                        n_alive: int) -> np.ndarray:
    """`greedy_duplicates` of rows of `vectors` (in representative order, the first `n_alive` alive) at cosine
    similarity >= min_similarity, pairs found by `cosine_pairs`."""
    a, b = cosine_pairs(vectors, min_similarity, clusters, probes)
    return greedy_duplicates(len(vectors), n_alive, a, b)
