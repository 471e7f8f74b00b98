"""`report(ws)`: per label field, the human labels and how well each source of proposals agrees with them.

The probe is judged on the labels it was not trained on (those that came later) and, in its version, on its
out-of-fold accuracy and its audits; zero-shot learns only its calibration from labels, so all of them judge it.
"""
from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

from curation.catalog import Catalog
from curation.labels import audit, proposals, store
from curation.labels.human import HumanLabels, read_labels
from curation.labels.vocabulary import load_vocabulary
from curation.workspace import Workspace


def _agreement(ws: Workspace, field_name: str, source: str, human: HumanLabels, trained_on: set[str]) -> dict | None:
    """How often a source's stored proposals agree with the current human labels that the source was not
    trained on (None without proposals)."""
    ids = [s for s in human.ids if s not in trained_on]
    table = proposals.read(ws, field_name, source, ids)
    if table is None:
        return None
    by_id = dict(zip(human.ids, human.classes))
    agree = [frozenset(p) == by_id[s] for s, p in zip(table["sample_id"].to_pylist(), table["proposal"].to_pylist())]
    summary = json.loads(proposals.proposals_path(ws, field_name, source).with_suffix(".json").read_text())
    return {"samples": proposals.count(ws, field_name, source), "labelled": len(agree), "agree": int(sum(agree)),
            "rate": (sum(agree) / len(agree)) if agree else None, "model_id": summary["model_id"],
            "placeholder": summary["placeholder"], "calibrated_on": summary["calibrated_on"],
            "automatic": summary["automatic"]}


def report(workspace: Workspace | str | Path) -> dict:
    """Per field: its classes, human labels per class, each source's agreement with them, the probe."""
    ws = workspace if isinstance(workspace, Workspace) else Workspace.open(Path(workspace))
    vocabulary = load_vocabulary(ws)
    catalog = Catalog(ws)
    try:
        fields = []
        for label_field in vocabulary.fields:
            human = read_labels(catalog, label_field)
            counts = human.indicator(label_field.class_names).sum(axis=0).astype(int).tolist()
            version = store.current_version(ws, label_field.name)
            meta = store.load(ws, label_field.name, version)[1] if version else None
            trained_on = set(store.trained_on(ws, label_field.name, version)) if version else set()
            fields.append({
                "field": label_field.name, "kind": label_field.kind, "classes": label_field.class_names,
                "human_labels": len(human.ids), "labels_per_class": dict(zip(label_field.class_names, counts)),
                "unknown_values": human.unknown,
                "zeroshot": _agreement(ws, label_field.name, "zeroshot", human, set()),
                "probe": _agreement(ws, label_field.name, "probe", human, trained_on),
                "probe_version": None if meta is None else {
                    "version": version, "n_labels": meta["n_labels"], "quality": meta["quality"],
                    "thresholds": meta["thresholds"], "stale": meta["vocabulary"] != label_field.digest(),
                    "audits": asdict(audit.agreement(ws, catalog, label_field, version, vocabulary)),
                    "stopped": audit.is_stopped(ws, label_field.name, version)},
            })
        return {"workspace": str(ws.root), "target_precision": vocabulary.target_precision, "fields": fields}
    finally:
        catalog.close()
