"""Fixtures for label tests: a tiny CLIP checkpoint, a vocabulary, and corpora with hidden class truth.

Image embeddings are written directly: each sample's embedding is a class's centre plus Gaussian noise,
L2-normalised, stored under the tiny checkpoint's model_id so that the text encoder matches them. By default
a class's centre is its own prompts' text embedding (zero-shot can recover it); `centres` overrides that.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
import torch

from curation.atomic import write_parquet
from curation.labels.human import encode
from curation.labels.text import encode_field, spec_for
from curation.labels.vocabulary import LabelField, parse_vocabulary, save_vocabulary
from curation.models import ClipModelSpec, register_tiny_config, save_checkpoint
from curation.reviews import ReviewLog
from curation.scorers.clip import ClipScorer, model_slug
from curation.workspace import Workspace
from schemas import SAMPLES, conform, embedding_schema

ANIMALS = """
fields:
  - name: animal
    kind: single
    classes:
      - {name: cat, description: a house cat, prompts: ["a photo of a cat", "a cat sitting"]}
      - {name: dog, prompts: ["a photo of a dog"]}
      - {name: bird, prompts: ["a photo of a bird"]}
      - {name: fish, prompts: ["a photo of a fish"]}
  - name: tags
    kind: multi
    classes:
      - {name: sunny, prompts: ["a sunny day"]}
      - {name: night, prompts: ["a photo at night"]}
min_support: 20
target_precision: 0.9
"""


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory) -> tuple[str, Path]:
    """(model name, checkpoint path) of the tiny registered CLIP with seeded weights the test wrote."""
    import open_clip

    name = register_tiny_config(tmp_path_factory.mktemp("model-configs"))
    torch.manual_seed(1234)
    return name, save_checkpoint(open_clip.create_model(name), tmp_path_factory.mktemp("ckpt") / "tiny.pt")


@pytest.fixture(scope="session")
def model_id(tiny_checkpoint) -> str:
    """The model_id the clip scorer gives the tiny checkpoint: the stored embeddings' model."""
    name, path = tiny_checkpoint
    scorer = ClipScorer(ClipModelSpec(model=name, pretrained=str(path)), "fp32")
    scorer.load()
    return scorer.model_id


@dataclass
class Corpus:
    """A workspace with embeddings and the hidden class of every sample."""

    workspace: Workspace
    ids: list[str]
    truth: np.ndarray        # class index per sample
    label_field: LabelField


def build(root: Path, label_field: LabelField, model_id: str, checkpoint: Path, n: int = 2000, noise: float = 0.02,
          centres: dict[int, np.ndarray] | None = None, weights: list[float] | None = None, seed: int = 0) -> Corpus:
    """A workspace of `n` successful samples whose embeddings sit around class centres (see module doc)."""
    rng = np.random.default_rng(seed)
    ws = Workspace.init(root)
    save_vocabulary(ws, parse_vocabulary(ANIMALS, "test"))
    text = encode_field(label_field, spec_for(model_id, str(checkpoint)), model_id)
    base = text.classes.copy()
    for index, centre in (centres or {}).items():
        base[index] = centre / np.linalg.norm(centre)
    k = len(base)
    truth = rng.choice(k, n, p=weights)
    vectors = base[truth] + rng.normal(scale=noise, size=(n, base.shape[1]))
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    ids = [hashlib.md5(f"labels-{seed}-{i}".encode()).hexdigest() for i in range(n)]
    samples = {f.name: pa.nulls(n, f.type) for f in SAMPLES}
    samples.update(sample_id=pa.array(ids), url=pa.array([f"https://example.com/{i}.jpg" for i in range(n)]),
                   media_type=pa.array(["image"] * n), status=pa.array(["success"] * n),
                   shard=pa.array(["00000"] * n))
    write_parquet(conform(pa.table(samples), SAMPLES), ws.path("shards", "00000.parquet"))
    dim = base.shape[1]
    flat = pa.array(vectors.astype(np.float16).ravel(), pa.float16())
    schema = embedding_schema(dim)
    table = pa.table({"sample_id": pa.array(ids), "image_embedding": pa.FixedSizeListArray.from_arrays(flat, dim),
                      "text_embedding": pa.nulls(n, schema.field("text_embedding").type),
                      "model_id": pa.array([model_id] * n)})
    write_parquet(conform(table, schema), ws.path("embeddings", model_slug(model_id), "00000.parquet"))
    return Corpus(ws, ids, truth, label_field)


def label(corpus: Corpus, rows, error_rate: float = 0.0, seed: int = 1) -> None:
    """Record human labels of the samples at `rows` (the true class, wrong with probability error_rate)."""
    rng = np.random.default_rng(seed)
    names = corpus.label_field.class_names
    log = ReviewLog(corpus.workspace, "tester")
    try:
        for row in rows:
            cls = corpus.truth[row]
            if rng.random() < error_rate:
                cls = rng.choice([c for c in range(len(names)) if c != cls])
            log.label(corpus.ids[row], corpus.label_field.name, encode(corpus.label_field, {names[cls]}))
    finally:
        log.close()


@pytest.fixture(scope="session")
def animal_field() -> LabelField:
    return parse_vocabulary(ANIMALS, "test").field("animal")
