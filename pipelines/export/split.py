"""Deterministic train/val(/…) split by a hash of sample_id.

A sample's position u in [0, 1) is the first 8 bytes of BLAKE2b(sample_id) over 2**64. The named splits take
consecutive intervals of u in name order ('test' before 'val'), and 'train' takes the rest. The same
sample_id lands in the same split on every machine and in every release; growing a split's fraction only
moves samples into it from the splits after it.
"""
import hashlib
import re

import numpy as np

TRAIN = "train"
_NAME = re.compile(r"^[a-z][a-z0-9_]{0,31}$")


def parse_splits(text: str) -> dict[str, float]:
    """{'val': 0.01} from 'val=0.01' ('test=0.01,val=0.02' for several; '' for none)."""
    splits: dict[str, float] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        name, sep, fraction = (x.strip() for x in part.partition("="))
        if not sep or name in splits:
            raise ValueError(f"bad split {part!r}: write NAME=FRACTION once per name, e.g. val=0.01")
        try:
            splits[name] = float(fraction)
        except ValueError:
            raise ValueError(f"bad split {part!r}: {fraction!r} is not a number") from None
    return check_splits(splits)


def check_splits(splits: dict[str, float]) -> dict[str, float]:
    """`splits` if every name is a new lowercase name other than train and the fractions leave room for train."""
    for name, fraction in splits.items():
        if not _NAME.match(name) or name == TRAIN:
            raise ValueError(
                f"bad split {name!r}: use a lowercase name (letters, digits, _) other than '{TRAIN}', "
                "which is what the other splits leave"
            )
        if not 0 < fraction < 1:
            raise ValueError(f"bad split {name}={fraction}: the fraction must be between 0 and 1")
    if sum(splits.values()) >= 1:
        raise ValueError(f"splits {splits} leave nothing for '{TRAIN}': their fractions must sum to less than 1")
    return dict(splits)


def position(sample_id: str) -> float:
    """The sample's place in [0, 1), from its id alone."""
    digest = hashlib.blake2b(sample_id.encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


def assign(sample_ids: list[str], splits: dict[str, float]) -> list[str]:
    """The split name of each sample id."""
    if not splits:
        return [TRAIN] * len(sample_ids)
    names = sorted(splits)
    bounds = np.cumsum([splits[name] for name in names])  # upper end of each named split's interval
    u = np.fromiter((position(sid) for sid in sample_ids), np.float64, len(sample_ids))
    labels = [*names, TRAIN]
    return [labels[i] for i in np.searchsorted(bounds, u, side="right")]
