"""Label fields in FiftyOne: each vocabulary field's proposal and human label, and human edits back as labels.

For every field of the workspace's label vocabulary (curation.labels.vocabulary) a sample has
    <field>_proposal       the stored proposal of the field as defined now (the probe's, else zero-shot's):
                           fo.Classification (label, confidence) for a single-label field, fo.Classifications
                           (each proposed class, confidence its probability) for a multi-label one; attributes
                           gm_source, gm_model_version, gm_placeholder. Edits to it are never recorded.
    <field>_human          the current human label, of the same type: "none of these" is the label `__none__`
                           (single-label) or no classifications (multi-label); None: unlabelled
    gm_base_label_<field>  the review-log text of the human label gristmill last gave it (its baseline)
`read_edits` turns each `<field>_human` that differs from its baseline into a label value for the review log.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from curation.catalog import Catalog
from curation.labels.human import NONE_OF_THESE, decode, encode, read_labels
from curation.labels.vocabulary import LabelError, LabelField, Vocabulary


def proposal_field(label_field: LabelField) -> str:
    return f"{label_field.name}_proposal"


def human_field(label_field: LabelField) -> str:
    return f"{label_field.name}_human"


def base_field(label_field: LabelField) -> str:
    return f"gm_base_label_{label_field.name}"


@dataclass
class LabelEdits:
    """Human label edits found in FiftyOne, and what `read_edits` could not use."""

    edits: list[tuple[int, str, str, str | None]] = field(default_factory=list)  # (row, sample_id, field, value)
    already_recorded: int = 0
    problems: list[str] = field(default_factory=list)
    baselines: dict[str, list[str | None]] = field(default_factory=dict)  # baseline field -> value per row


def declare(dataset, vocabulary: Vocabulary) -> None:
    """Declare each vocabulary field's proposal, human and baseline fields on `dataset`."""
    import fiftyone as fo

    have = dataset.get_field_schema()
    for label_field in vocabulary.fields:
        kind = fo.Classifications if label_field.multi else fo.Classification
        for name in (proposal_field(label_field), human_field(label_field)):
            if name not in have:
                dataset.add_sample_field(name, fo.EmbeddedDocumentField, embedded_doc_type=kind)
        if base_field(label_field) not in have:
            dataset.add_sample_field(base_field(label_field), fo.StringField)


def sample_fields(catalog: Catalog, vocabulary: Vocabulary, ids: list[str]) -> dict[str, dict]:
    """Per sample id, the value of every label field `declare` declares (None where there is nothing)."""
    out: dict[str, dict] = {sid: {} for sid in ids}
    for label_field in vocabulary.fields:
        proposals = _proposals(catalog, label_field, ids)
        human = _human_values(catalog, label_field)
        for sid in ids:
            value = human.get(sid)
            out[sid][proposal_field(label_field)] = proposals.get(sid)
            out[sid][human_field(label_field)] = None if value is None else to_label(label_field, value)
            out[sid][base_field(label_field)] = value
    return out


def read_edits(dataset, catalog: Catalog, vocabulary: Vocabulary, ids: list[str]) -> LabelEdits:
    """The human label edits in `dataset` (rows in `ids` order) against their baselines; a label naming a class
    the field does not have is a problem of that sample, whose baseline then stays as it was."""
    result = LabelEdits()
    schema = dataset.get_field_schema()
    for label_field in vocabulary.fields:
        if human_field(label_field) not in schema:
            continue  # declared in the vocabulary after the last build
        current = _human_values(catalog, label_field)
        labels, bases = dataset.values([human_field(label_field), base_field(label_field)])
        for row, (sid, label, base) in enumerate(zip(ids, labels, bases)):
            try:
                value = review_value(label_field, label)
            except LabelError as exc:
                result.problems.append(f"sample {sid}: {exc}")
                continue
            if value != base:
                if value == current.get(sid):
                    result.already_recorded += 1
                else:
                    result.edits.append((row, sid, label_field.name, value))
            bases[row] = value
        result.baselines[base_field(label_field)] = bases
    return result


def to_label(label_field: LabelField, value: str):
    """The FiftyOne label of a review-log label value (curation.labels.human)."""
    import fiftyone as fo

    if label_field.multi:
        return fo.Classifications(classifications=[fo.Classification(label=c)
                                                   for c in sorted(decode(label_field, value))])
    return fo.Classification(label=value)


def review_value(label_field: LabelField, label) -> str | None:
    """The review-log value of a FiftyOne human label (None: unlabelled); LabelError for a class not in the field."""
    import fiftyone as fo

    if label is None or (isinstance(label, fo.Classification) and label.label is None):
        return None
    if isinstance(label, fo.Classifications):
        classes = [c.label or "" for c in label.classifications]
    else:
        classes = [] if label.label == NONE_OF_THESE else [label.label]
    return encode(label_field, classes)


def _human_values(catalog: Catalog, label_field: LabelField) -> dict[str, str]:
    """sample_id -> review-log value of the field's current human label (values of unknown classes left out)."""
    human = read_labels(catalog, label_field)
    return {sid: encode(label_field, classes) for sid, classes in zip(human.ids, human.classes)}


def _proposals(catalog: Catalog, label_field: LabelField, ids: list[str]) -> dict:
    """sample_id -> FiftyOne label of its proposal: the probe's when it has one, else zero-shot's."""
    import fiftyone as fo

    rows = catalog.query(
        "SELECT sample_id, source, proposal, confidence, classes, probabilities, model_version, placeholder "
        "FROM label_proposals WHERE field = ? AND vocabulary = ? AND sample_id IN (SELECT unnest(?)) "
        "QUALIFY row_number() OVER (PARTITION BY sample_id ORDER BY source = 'probe' DESC, proposed_at DESC) = 1",
        [label_field.name, label_field.digest(), ids]).to_pylist()
    out = {}
    for r in rows:
        about = {"gm_source": r["source"], "gm_model_version": r["model_version"], "gm_placeholder": r["placeholder"]}
        if label_field.multi:
            p = dict(zip(r["classes"], r["probabilities"]))
            out[r["sample_id"]] = fo.Classifications(
                classifications=[fo.Classification(label=c, confidence=p[c]) for c in r["proposal"]], **about)
        else:
            out[r["sample_id"]] = fo.Classification(label=r["proposal"][0], confidence=r["confidence"], **about)
    return out
