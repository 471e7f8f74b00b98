"""Text embeddings of a field's prompts, from the CLIP model that made the stored image embeddings.

The prompts go through the `clip` scorer's own text encoder (`ClipScorer`: the same tokenizer, chunking and
precision as the caption embeddings it stores), so a class embedding lives in the same space as the image
embeddings. The model loads under the weights policy of `curation.models`: the loaded model's id must equal
the image embeddings' `model_id` (text and images from different weights would give meaningless cosines),
and random weights are allowed only for placeholder image embeddings, whose proposals then say PLACEHOLDER.

A class's embedding is the re-normalised mean of its prompts' embeddings (CLIP prompt ensembling).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from curation.labels.vocabulary import LabelError, LabelField
from curation.models import ClipModelSpec, PLACEHOLDER_WEIGHTS
from curation.placeholders import PLACEHOLDER_MARK


@dataclass
class ClassEmbeddings:
    """A field's class embeddings (classes, dim) and, for a multi-label field, its background's (dim,)."""

    classes: np.ndarray
    background: np.ndarray | None
    logit_scale: float
    model_id: str

    @property
    def placeholder(self) -> bool:
        return PLACEHOLDER_MARK in self.model_id


def spec_for(embedding_model: str, pretrained: str | None = None, device: str = "cpu") -> ClipModelSpec:
    """The spec that reloads the model of `embedding_model` ('<model>/<weights>'); `pretrained` overrides
    the weights (needed when they were a local checkpoint, whose id is 'name.pt@<sha256 prefix>').
    Placeholder embeddings get the same seeded random weights again, so their proposals are placeholders."""
    model, _, weights = embedding_model.rpartition("/")
    placeholder = weights == PLACEHOLDER_WEIGHTS
    if pretrained is None and not placeholder:
        if "@" in weights:
            raise LabelError(f"the image embeddings come from a local checkpoint ({embedding_model}): give its "
                             "path with --pretrained")
        pretrained = weights
    return ClipModelSpec(model=model, pretrained=pretrained, device=device, allow_random_weights=placeholder)


def _normalised(x: np.ndarray) -> np.ndarray:
    return x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), 1e-12)


def encode_field(label_field: LabelField, spec: ClipModelSpec, embedding_model: str,
                 precision: str = "fp32") -> ClassEmbeddings:
    """The class (and background) embeddings of `label_field` from the model of `spec`, checked against
    the image embeddings' model id."""
    from curation.scorers.clip import ClipScorer

    scorer = ClipScorer(spec, precision)
    scorer.load()
    if scorer.model_id != embedding_model:
        raise LabelError(f"the text encoder {scorer.model_id} is not the model of the image embeddings "
                         f"({embedding_model}); load the same weights (--model, --pretrained)")
    prompts = [c.prompts for c in label_field.classes] + ([label_field.background()] if label_field.multi else [])
    texts = [t for group in prompts for t in group]
    emb = _normalised(scorer.encode_captions(texts).numpy().astype(np.float64))
    means, start = [], 0
    for group in prompts:
        means.append(_normalised(emb[start:start + len(group)].mean(axis=0)))
        start += len(group)
    means = np.stack(means)
    scale = float(scorer.clip.model.logit_scale.detach().exp())
    if label_field.multi:
        return ClassEmbeddings(means[:-1], means[-1], scale, scorer.model_id)
    return ClassEmbeddings(means, None, scale, scorer.model_id)
