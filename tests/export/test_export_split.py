"""The train/val split: by a hash of sample_id only, stable across runs and machines."""
import hashlib

import pytest

from pipelines.export.config import ExportConfig, parse_size
from pipelines.export.plan import row_groups
from pipelines.export.split import assign, parse_splits, position

IDS = [f"{i:032x}" for i in range(20_000)]


def test_position_is_pinned():
    # a change here would move samples between splits of every existing release
    assert f"{position('0123456789abcdef0123456789abcdef'):.12f}" == "0.799479299340"
    digest = hashlib.blake2b(b"0123456789abcdef0123456789abcdef", digest_size=8).digest()
    assert position("0123456789abcdef0123456789abcdef") == int.from_bytes(digest, "big") / 2**64


def test_fractions_are_respected_and_deterministic():
    names = assign(IDS, {"val": 0.05, "test": 0.02})
    assert names == assign(IDS, {"test": 0.02, "val": 0.05})
    assert abs(names.count("val") / len(IDS) - 0.05) < 0.006
    assert abs(names.count("test") / len(IDS) - 0.02) < 0.004
    assert set(names) == {"train", "val", "test"}


def test_growing_a_split_only_takes_from_the_rest():
    small, large = assign(IDS, {"val": 0.01}), assign(IDS, {"val": 0.03})
    assert all(b == "val" for a, b in zip(small, large) if a == "val")


def test_no_splits_means_all_train():
    assert set(assign(IDS[:100], {})) == {"train"}


@pytest.mark.parametrize("text", ["train=0.1", "val", "val=x", "val=0", "val=1", "Val=0.1", "a=0.6,b=0.5",
                                  "val=0.1,val=0.2", "../x=0.1"])
def test_bad_splits_are_refused(text):
    with pytest.raises(ValueError):
        parse_splits(text)


def test_parse_splits_and_sizes():
    assert parse_splits("val=0.01, test=0.02") == {"val": 0.01, "test": 0.02}
    assert parse_splits("") == {}
    assert parse_size("512MB") == 512_000_000 and parse_size("64KiB") == 65536 and parse_size("1.5GB") == 1_500_000_000
    assert ExportConfig(out="x", shard_size="1MB", splits="val=0.1").splits == {"val": 0.1}
    with pytest.raises(ValueError):
        ExportConfig(out="x", shard_size="-1MB")


def test_row_groups_close_at_the_size_or_row_limit():
    import numpy as np

    assert row_groups(np.array([5, 5, 5, 5, 5]), 10, 100) == [(0, 2), (2, 2), (4, 1)]
    assert row_groups(np.array([50, 1, 1]), 10, 100) == [(0, 1), (1, 2)]
    assert row_groups(np.ones(5, dtype=np.int64), 100, 2) == [(0, 2), (2, 2), (4, 1)]
