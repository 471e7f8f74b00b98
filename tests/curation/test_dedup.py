"""Candidate search of perceptual and semantic dedup against brute force; greedy representatives."""
import numpy as np
import pyarrow as pa
import pytest

from curation.recipes.dedup import (
    cosine_pairs,
    greedy_duplicates,
    hamming_pairs,
    parse_hex64,
    perceptual_duplicates,
)


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


def brute_greedy(close: np.ndarray, n_alive: int) -> list[int]:
    """The greedy rule row by row over a boolean matrix of pairs within the threshold."""
    kept, out = [], []
    for row in range(len(close)):
        reps = [k for k in kept if close[row, k]]
        out.append(reps[0] if reps else -1)
        if not reps and row < n_alive:
            kept.append(row)
    return out


def test_greedy_keeps_both_ends_of_a_chain():
    assert greedy_duplicates(3, 3, np.array([0, 1]), np.array([1, 2])).tolist() == [-1, 0, -1]


def test_dropped_rows_never_represent_nor_bridge():
    # rows 0 and 1 alive and apart, row 2 dropped earlier and close to both; row 3 dropped, close to row 2 only
    assert greedy_duplicates(4, 2, np.array([0, 2, 1]), np.array([2, 3, 2])).tolist() == [-1, -1, 0, -1]


@pytest.mark.parametrize("n_alive", [0, 150, 300])
def test_perceptual_duplicates_follow_the_greedy_rule_row_by_row(n_alive):
    rng = np.random.default_rng(n_alive)
    base = rng.integers(0, 2**63, size=60, dtype=np.int64).astype(np.uint64)
    codes = base[rng.integers(0, 60, 300)]  # many rows share a hash
    for k in range(0, 300, 3):
        codes[k] ^= np.uint64(1) << np.uint64(int(rng.integers(0, 64)))
    hashes = pa.array([f"{int(c):016x}" for c in codes])
    close = np.bitwise_count(codes[:, None] ^ codes[None, :]) <= 2
    assert perceptual_duplicates(hashes, 2, n_alive).tolist() == brute_greedy(close, n_alive)


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
