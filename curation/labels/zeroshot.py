"""Zero-shot class scores: one matrix product of stored image embeddings with the class text embeddings.

    single-label   z = cos(image, class)                       p = softmax(t * z) over the classes
    multi-label    z_c = cos(image, class c) - cos(image, bg)   p_c = sigmoid(a_c * z_c + b_c)
With no human label, t = a_c = the CLIP model's logit scale and b_c = 0 (CLIP's own softmax; multi-label,
the softmax of a class's prompts against the background prompts). With human labels, the calibration is
fitted on them (`curation.labels.calibration`). No image passes through a model here.
"""
from __future__ import annotations

import numpy as np

from curation.labels.calibration import Calibration, fit, prior
from curation.labels.text import ClassEmbeddings


def scores(embeddings: np.ndarray, text: ClassEmbeddings) -> np.ndarray:
    """The zero-shot scores z (n, classes) of L2-normalised image embeddings (n, dim)."""
    z = embeddings.astype(np.float32) @ text.classes.T.astype(np.float32)
    if text.background is not None:
        z = z - (embeddings.astype(np.float32) @ text.background.astype(np.float32))[:, None]
    return z.astype(np.float64)


def calibrate(text: ClassEmbeddings, labelled: np.ndarray | None, truth: np.ndarray | None) -> Calibration:
    """The zero-shot calibration: the model's prior, fitted on labelled embeddings' human truth when given."""
    start = prior(text.background is not None, len(text.classes), text.logit_scale)
    if labelled is None or not len(labelled):
        return start
    return fit(scores(labelled, text), truth, start)
