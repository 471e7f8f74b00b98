"""Human labels in the review log: how a label field's value is written as text, and reading them back.

A reviewer's label is a `label` event (`ReviewLog.label(sample_id, field, value)`); `review_state.labels`
holds the latest value per field. The value is text:
    single-label field   the class name, or NONE_OF_THESE when no class fits
    multi-label field    a JSON list of class names, sorted ('[]': none of these)
A null value clears the field (the sample is unlabelled again). Values naming a class the vocabulary no
longer has are not used, and counted.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field

from curation.catalog import Catalog
from curation.labels.vocabulary import LabelError, LabelField

NONE_OF_THESE = "__none__"


def encode(label_field: LabelField, classes: list[str] | set[str]) -> str:
    """The review-log text of a set of classes of `label_field` (empty: none of these)."""
    chosen = sorted(set(classes))
    unknown = [c for c in chosen if c not in label_field.class_names]
    if unknown:
        raise LabelError(f"field {label_field.name!r} has no class {', '.join(map(repr, unknown))}; "
                         f"classes: {', '.join(label_field.class_names)}")
    if label_field.multi:
        return json.dumps(chosen)
    if len(chosen) > 1:
        raise LabelError(f"field {label_field.name!r} is single-label: one class or none, not {chosen}")
    return chosen[0] if chosen else NONE_OF_THESE


def decode(label_field: LabelField, value: str) -> frozenset[str]:
    """The classes a review-log value names; a LabelError for a value that is not one of the field's."""
    if label_field.multi:
        try:
            classes = json.loads(value)
        except ValueError:
            classes = None
        if not isinstance(classes, list) or not all(isinstance(c, str) for c in classes):
            raise LabelError(f"multi-label field {label_field.name!r} needs a JSON list of classes, not {value!r}")
    else:
        classes = [] if value == NONE_OF_THESE else [value]
    unknown = [c for c in classes if c not in label_field.class_names]
    if unknown:
        raise LabelError(f"field {label_field.name!r} has no class {', '.join(map(repr, unknown))}")
    return frozenset(classes)


@dataclass
class HumanLabels:
    """A field's current human labels: sample ids (sorted) and the classes of each."""

    ids: list[str]
    classes: list[frozenset[str]]
    unknown: dict[str, int] = field(default_factory=dict)  # value -> samples whose value is not in the field

    def indicator(self, names: list[str]):
        """(n, len(names)) boolean matrix: sample i has class names[j]."""
        import numpy as np

        return np.array([[c in chosen for c in names] for chosen in self.classes], dtype=bool).reshape(-1, len(names))


def read_labels(catalog: Catalog, label_field: LabelField) -> HumanLabels:
    """The current human labels of `label_field` from `review_state` (cleared values left out)."""
    rows = catalog.query(
        "SELECT sample_id, e.value AS value FROM (SELECT sample_id, unnest(map_entries(labels)) AS e "
        "FROM review_state WHERE labels IS NOT NULL) WHERE e.key = ? AND e.value IS NOT NULL ORDER BY sample_id",
        [label_field.name]).to_pylist()
    ids, classes, unknown = [], [], {}
    for row in rows:
        try:
            classes.append(decode(label_field, row["value"]))
        except LabelError:
            unknown[row["value"]] = unknown.get(row["value"], 0) + 1
            continue
        ids.append(row["sample_id"])
    return HumanLabels(ids, classes, unknown)
