"""Small synthetic corpora with hidden truth (curation.engine.simulate): 2,000 samples, 16-d embeddings."""
import numpy as np
import pytest

from curation.engine.simulate import CorpusSpec, Reviewer, build
from curation.reviews import ReviewLog

SPEC = CorpusSpec(n=2000, dim=16, categories=8, bad_categories=(1, 5), noise=0.04, seed=3)


@pytest.fixture
def corpus(tmp_path):
    """A fresh 2,000-sample corpus in its own workspace."""
    return build(tmp_path / "ws", SPEC)


@pytest.fixture
def reviewer(corpus):
    """A reviewer who is never wrong, writing to the corpus's review log."""
    log = ReviewLog(corpus.workspace, "tester")
    yield Reviewer(corpus, log, error_rate=0.0, seed=1)
    log.close()


def review_random(corpus, reviewer, n: int, seed: int = 0) -> list[str]:
    """Have the reviewer decide n random samples; return their ids."""
    ids = np.random.default_rng(seed).choice(corpus.ids, n, replace=False).tolist()
    for sid in ids:
        reviewer.review(sid)
    return ids
