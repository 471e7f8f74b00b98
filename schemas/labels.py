"""Schema of stored label proposals (`labels/proposals/<field>.<source>.parquet`), the `label_proposals` view.

One row per sample, label field and source ('zeroshot': CLIP prompts against stored image embeddings;
'probe': a model trained on human labels). Proposals are never human labels: human labels live in the
review log. PROPOSALS_VERSION is in each file's schema metadata; bump it when a column changes meaning.
"""
import pyarrow as pa

PROPOSALS_VERSION = "1"
PROPOSAL_SOURCES = ("zeroshot", "probe")


def _f(name: str, type_: pa.DataType, doc: str) -> pa.Field:
    return pa.field(name, type_, nullable=False, metadata={"doc": doc})


LABEL_PROPOSALS = pa.schema(
    [
        _f("sample_id", pa.string(), "the sample proposed for"),
        _f("field", pa.string(), "label field (labels/vocabulary.yaml)"),
        _f("source", pa.string(), "'zeroshot' or 'probe'"),
        _f("proposal", pa.list_(pa.string()),
           "proposed classes: single-label the likeliest class; multi-label every class at p >= 1/2 (maybe none)"),
        _f("confidence", pa.float64(),
           "calibrated probability that the proposal is right: single-label p of the class; multi-label the "
           "least certain class's max(p, 1 - p)"),
        _f("classes", pa.list_(pa.string()), "the field's classes, in vocabulary order"),
        pa.field("probabilities", pa.list_(pa.float32()), nullable=False, metadata={"doc": (
            "calibrated probability of each class in `classes` (null: the probe could not learn that class)")}),
        _f("automatic", pa.list_(pa.string()),
           "classes labelled automatically: those whose threshold met the target precision on held-out human "
           "labels and whose p reaches it (probe only; empty for zeroshot)"),
        _f("audit", pa.bool_(), "the row's automatic labels are to be checked by a human (a stable draw of "
                                "audit_fraction by sample_id); their agreement drives the stop rule"),
        _f("model_id", pa.string(), "what proposed: CLIP model and vocabulary, or probe version; PLACEHOLDER for "
                                    "random weights"),
        _f("model_version", pa.string(), "'zeroshot' or the probe version (labels/models/<field>/vNNNN)"),
        _f("vocabulary", pa.string(), "digest of the field's definition the classes come from"),
        _f("placeholder", pa.bool_(), "true when computed from random (placeholder) CLIP weights: no meaning"),
        _f("proposed_at", pa.timestamp("us", tz="UTC"), "when the proposals were computed"),
    ],
    metadata={"gristmill.label_proposals_version": PROPOSALS_VERSION},
)
