"""A small review workspace with a label vocabulary, stored proposals of both sources, human labels and a probe
version, written as curation.labels writes them, from seeded hand-made probabilities (no model runs)."""
from pathlib import Path

import numpy as np
import pyarrow as pa

from curation.labels import proposals, store
from curation.labels.human import encode
from curation.labels.vocabulary import LabelClass, LabelField, Vocabulary, save_vocabulary
from curation.reviews import ReviewLog
from curation.workspace import Workspace
from tests.review.workspaces import id_of, small_workspace


def _field(name: str, kind: str, classes: list[str]) -> LabelField:
    return LabelField(name=name, kind=kind, classes=[LabelClass(name=c, prompts=[f"a photo of {c}"]) for c in classes])


VOCABULARY = Vocabulary(fields=[_field("animal", "single", ["cat", "dog", "bird", "fish"]),
                                _field("tags", "multi", ["sunny", "night", "indoor"]),
                                _field("colour", "single", [f"c{i:02d}" for i in range(1, 12)])])
LABELLED = 12  # samples 0..11 carry a human label of `animal` (by "labeller"); the probe was trained on them
DISPUTED = (2, 5, 9)  # of those, the ones whose out-of-fold probabilities favour another class


def _probabilities(rng: np.random.Generator, n: int, k: int, multi: bool) -> np.ndarray:
    return rng.uniform(size=(n, k)) if multi else rng.dirichlet(np.ones(k), n)


def _propose(ws: Workspace, field_name: str, source: str, ids: list[str], p: np.ndarray) -> None:
    label_field = VOCABULARY.field(field_name)
    version = "zeroshot" if source == "zeroshot" else "v0001"
    meta = proposals.ProposalMeta(label_field, source, f"test:{field_name}/{version}", version, False,
                                  1_800_000_000_000_000)
    with proposals.writer(ws, meta) as write:
        write(ids, p)


def labelled_workspace(root: Path, n: int = 40) -> Workspace:
    """small_workspace(n) plus VOCABULARY, zero-shot proposals of every field, probe proposals and a probe
    version of `animal` trained on LABELLED human labels (DISPUTED among them)."""
    ws = small_workspace(root, n)
    save_vocabulary(ws, VOCABULARY)
    rng = np.random.default_rng(7)
    ids = [id_of(i) for i in range(n)]
    for f in VOCABULARY.fields:
        _propose(ws, f.name, "zeroshot", ids, _probabilities(rng, n, len(f.classes), f.multi))
    animal = VOCABULARY.field("animal")
    _propose(ws, "animal", "probe", ids, _probabilities(rng, n, 4, False))
    given = [i % 4 for i in range(LABELLED)]
    log = ReviewLog(ws, "labeller")
    for i, c in enumerate(given):
        log.label(ids[i], "animal", encode(animal, {animal.class_names[c]}))
    log.close()
    held = np.full((LABELLED, 4), 0.02, dtype=np.float32)
    for i, c in enumerate(given):
        held[i, (c + 1) % 4 if i in DISPUTED else c] = 0.94
    heldout = pa.table({"sample_id": pa.array(ids[:LABELLED]),
                        "p": pa.array(held.tolist(), pa.list_(pa.float32()))})
    store.save(ws, "animal", [], {"vocabulary": animal.digest()}, heldout)
    return ws
