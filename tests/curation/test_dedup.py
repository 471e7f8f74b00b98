"""Candidate search of perceptual and semantic dedup against brute force."""
import numpy as np
import pyarrow as pa
import pytest

from curation.recipes.dedup import components, cosine_pairs, hamming_pairs, parse_hex64


def brute_hamming(codes: np.ndarray, d: int) -> set[tuple[int, int]]:
    dist = np.bitwise_count(codes[:, None] ^ codes[None, :])
    i, j = np.nonzero(np.triu(dist <= d, k=1))
    return set(zip(i.tolist(), j.tolist()))


@pytest.mark.parametrize("max_distance", [0, 3, 4, 7, 9])
def test_banded_hamming_search_is_exact(max_distance):
    rng = np.random.default_rng(max_distance)
    base = rng.integers(0, 2**63, size=400, dtype=np.int64).astype(np.uint64)
    flips = rng.integers(0, 64, size=(400, 12))
    near = base.copy()
    for k in range(400):  # a copy of each code with 0..11 bits flipped
        for bit in flips[k, : k % 12]:
            near[k] ^= np.uint64(1) << np.uint64(bit)
    codes = np.concatenate([base, near])
    a, b = hamming_pairs(codes, max_distance)
    assert set(zip(a.tolist(), b.tolist())) == brute_hamming(codes, max_distance)


def test_hex_hashes_are_checked():
    assert parse_hex64(pa.array(["ffffffffffffffff", "0000000000000001"])).tolist() == [2**64 - 1, 1]
    with pytest.raises(ValueError, match="16 hex characters"):
        parse_hex64(pa.array(["abc"]))


def test_components_join_chains():
    assert components(5, np.array([0, 1]), np.array([1, 2])).tolist() == [0, 0, 0, 1, 2]


def test_clustered_cosine_search_recall():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(12_000, 32)).astype(np.float32)
    x[6000:6600] = x[:600] + 0.1 * rng.normal(size=(600, 32))  # 600 planted near-duplicates
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    a, b = cosine_pairs(x, 0.95, clusters=40, probes=2)
    found = set(zip(a.tolist(), b.tolist()))
    truth = set()
    for s in range(0, len(x), 2000):
        sims = x[s:s + 2000] @ x.T
        i, j = np.nonzero(sims >= 0.95)
        truth |= {(s + p, q) for p, q in zip(i.tolist(), j.tolist()) if s + p < q}
    assert len(truth) >= 550 and found <= truth
    assert len(found & truth) / len(truth) >= 0.95
