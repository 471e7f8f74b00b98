"""Audits of automatic labels and the stop rule, as the engine has for its decisions (curation.engine.audit).

A probe version's proposals mark a stable share (`audit_fraction`, drawn by sample_id) of the rows it labels
automatically for audit. An audit counts once a human labels that sample, unless the version was trained on
that label: each automatic class agrees when the human's classes include it. Agreement is measured per
version. The stop rule: with at least `min_audits` audited labels, when even the upper end of the
agreement's Wilson interval is below the target precision, the version stops labelling automatically for
good (`stopped.json` in its folder); a new version, trained on the disagreements too, is judged on its own.
"""
from __future__ import annotations

from dataclasses import asdict

import pyarrow.compute as pc
import pyarrow.parquet as pq

from curation.atomic import write_json
from curation.catalog import Catalog
from curation.engine.audit import Agreement
from curation.engine.thresholds import wilson
from curation.labels import proposals, store
from curation.labels.human import read_labels
from curation.labels.vocabulary import LABELS, LabelField, Vocabulary
from curation.workspace import Workspace

STOPPED = "stopped.json"


def measure(n: int, agree: int, vocabulary: Vocabulary) -> Agreement:
    """Agreement of `agree` out of `n` audited labels, and whether the stop rule fires."""
    low, high = wilson(agree, n, vocabulary.confidence)
    rate = agree / n if n else None
    stopped = n >= vocabulary.min_audits and high < vocabulary.target_precision
    if stopped:
        message = (f"automatic labels stopped: humans agreed with {agree} of {n} audited labels ({rate:.1%}, CI "
                   f"{low:.1%}-{high:.1%}), below the target {vocabulary.target_precision:.1%}; label the "
                   "disagreements' kind of samples, then train a new version")
    elif n < vocabulary.min_audits:
        message = f"{n} of {vocabulary.min_audits} audited labels needed before the stop rule applies"
    else:
        message = f"audits agree {rate:.1%} (CI {low:.1%}-{high:.1%})"
    return Agreement(n, agree, rate, low, high, stopped, message)


def agreement(ws: Workspace, catalog: Catalog, label_field: LabelField, version: str,
              vocabulary: Vocabulary) -> Agreement:
    """Agreement with the audited automatic labels of `version` in the field's stored probe proposals."""
    path = proposals.proposals_path(ws, label_field.name, "probe")
    n = agree = 0
    if path.is_file():
        rows = pq.read_table(path, columns=["sample_id", "automatic", "model_version"],
                             filters=pc.field("audit") & (pc.field("model_version") == version)).to_pylist()
        human = read_labels(catalog, label_field)
        by_id = dict(zip(human.ids, human.classes))
        trained = set(store.trained_on(ws, label_field.name, version))
        for row in rows:
            if row["sample_id"] in by_id and row["sample_id"] not in trained:
                n += len(row["automatic"])
                agree += sum(c in by_id[row["sample_id"]] for c in row["automatic"])
    return measure(n, agree, vocabulary)


def is_stopped(ws: Workspace, field_name: str, version: str) -> bool:
    return ws.path(LABELS, store.MODELS, field_name, version, STOPPED).is_file()


def record_stop(ws: Workspace, field_name: str, version: str, found: Agreement) -> None:
    """Stop a version's automatic labels for good (kept, like every version file)."""
    write_json(asdict(found), ws.path(LABELS, store.MODELS, field_name, version, STOPPED))
