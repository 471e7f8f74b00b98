"""Releases carry each label field's final label (human over automatic over none) as ClassLabel columns, with
its source and model, and `export diff` lists label changes."""
from datetime import datetime, timezone

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from curation.atomic import write_parquet
from curation.catalog import Catalog
from curation.labels.audit import STOPPED
from curation.labels.human import encode
from curation.labels.proposals import proposals_path
from curation.labels.vocabulary import LABELS, parse_vocabulary, save_vocabulary
from curation.reviews import ReviewLog
from gristmill.cli import main
from pipelines.export import ExportConfig, diff, export
from schemas import LABEL_PROPOSALS

VOCABULARY = """
fields:
  - name: animal
    kind: single
    classes:
      - {name: cat, prompts: ["a photo of a cat"]}
      - {name: dog, prompts: ["a photo of a dog"]}
      - {name: bird, prompts: ["a photo of a bird"]}
  - name: tags
    kind: multi
    classes:
      - {name: sunny, prompts: ["a sunny day"]}
      - {name: night, prompts: ["a photo at night"]}
"""


def probe_rows(field, rows: list[tuple[str, list[str], str]], vocabulary: str | None = None) -> pa.Table:
    """LABEL_PROPOSALS rows of source 'probe' for (sample_id, automatic classes, model_version)."""
    n = len(rows)
    return pa.table({
        "sample_id": [r[0] for r in rows], "field": [field.name] * n, "source": ["probe"] * n,
        "proposal": [r[1] or [field.class_names[0]] for r in rows], "confidence": [0.99] * n,
        "classes": [field.class_names] * n, "probabilities": [[0.5] * len(field.class_names)] * n,
        "automatic": [r[1] for r in rows], "audit": [False] * n, "model_id": ["probe"] * n,
        "model_version": [r[2] for r in rows], "vocabulary": [vocabulary or field.digest()] * n,
        "placeholder": [False] * n, "proposed_at": [datetime.now(timezone.utc)] * n}, schema=LABEL_PROPOSALS)


@pytest.fixture
def labelled(ws):
    """The export workspace with a vocabulary, human labels and probe proposals; (ws, kept sample ids, fields)."""
    vocabulary = parse_vocabulary(VOCABULARY, "test")
    save_vocabulary(ws, vocabulary)
    animal, tags = vocabulary.fields
    kept = Catalog(ws).query("SELECT d.sample_id FROM decisions d JOIN samples s USING (sample_id) "
                             "WHERE d.kept AND s.status = 'success' ORDER BY 1")["sample_id"].to_pylist()
    alice = ReviewLog(ws, "alice")
    alice.label(kept[0], "animal", encode(animal, {"dog"}))
    alice.label(kept[1], "animal", encode(animal, set()))  # none of these: a human label too
    alice.label(kept[2], "animal", encode(animal, {"bird"}))
    alice.label(kept[2], "animal", None)  # cleared: unlabelled again, so the probe's label stands
    alice.label(kept[3], "tags", encode(tags, {"night", "sunny"}))
    write_parquet(probe_rows(animal, [(kept[0], ["cat"], "v0001"), (kept[2], ["cat"], "v0001"),
                                      (kept[4], [], "v0001"), (kept[5], ["bird"], "v0001")]),
                  proposals_path(ws, "animal", "probe"))
    write_parquet(probe_rows(tags, [(kept[6], ["sunny"], "v0002")], vocabulary="0123456789ab"),  # stale definition
                  proposals_path(ws, "tags", "probe"))
    return ws, kept, (animal, tags)


def exported(result) -> dict[str, dict]:
    files = [str(result.out / s.file) for s in result.shards if s.format == "parquet"]
    return {r["sample_id"]: r for r in pq.read_table(files).to_pylist()}


def test_final_labels_are_human_then_automatic_then_none(labelled, tmp_path):
    ws, kept, _ = labelled
    result = export(ws, ExportConfig(out=tmp_path / "release"))
    rows = exported(result)
    label = {s: (r["label_animal"], r["label_animal_source"], r["label_animal_model"]) for s, r in rows.items()}
    assert label[kept[0]] == (1, "human", None)  # dog, over the probe's cat
    assert label[kept[1]] == (None, "human", None)  # none of these
    assert label[kept[2]] == (0, "automatic", "v0001")  # cleared human label: the probe's cat
    assert label[kept[4]] == (None, None, None)  # the probe labelled nothing automatically
    assert label[kept[5]] == (2, "automatic", "v0001")
    assert rows[kept[3]]["label_tags"] == [0, 1] and rows[kept[3]]["label_tags_source"] == "human"
    assert rows[kept[6]]["label_tags"] is None  # proposed for an older definition of the field: not a label
    from pipelines.export.manifest import load_manifest

    entry = load_manifest(result.out)["labels"]
    assert entry["animal"]["labels"] == {"human": 2, "automatic": 2} and entry["tags"]["multi"]


def test_hugging_face_reads_class_labels(labelled, tmp_path, monkeypatch):
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    from datasets import ClassLabel, List, load_dataset

    ws, kept, _ = labelled
    result = export(ws, ExportConfig(out=tmp_path / "release"))
    files = [str(result.out / s.file) for s in result.shards if s.format == "parquet"]
    ds = load_dataset("parquet", data_files=files, split="train", cache_dir=str(tmp_path / "cache"))
    assert ds.features["label_animal"] == ClassLabel(names=["cat", "dog", "bird"])
    assert ds.features["label_tags"] == List(ClassLabel(names=["sunny", "night"]))
    row = ds.filter(lambda r: r["sample_id"] == kept[0])[0]
    assert ds.features["label_animal"].int2str(row["label_animal"]) == "dog"


def test_a_stopped_probe_version_labels_nothing_and_diff_lists_the_changes(labelled, tmp_path, capsys):
    ws, kept, _ = labelled
    first = export(ws, ExportConfig(out=tmp_path / "a"))
    ws.path(LABELS, "models", "animal", "v0001").mkdir(parents=True)
    ws.path(LABELS, "models", "animal", "v0001", STOPPED).write_text("{}")  # its audits failed
    ReviewLog(ws, "bob").label(kept[1], "animal", "cat")
    second = export(ws, ExportConfig(out=tmp_path / "b"))
    rows = exported(second)
    assert rows[kept[2]]["label_animal_source"] is None and rows[kept[5]]["label_animal"] is None
    changes = {c["sample_id"]: (c["old"], c["new"]) for c in diff(first.out, second.out).changed_labels["animal"]}
    assert changes == {
        kept[1]: ({"classes": [], "source": "human"}, {"classes": ["cat"], "source": "human"}),
        kept[2]: ({"classes": ["cat"], "source": "automatic"}, None),
        kept[5]: ({"classes": ["bird"], "source": "automatic"}, None),
    }
    assert diff(first.out, second.out).changed_labels["tags"] == []
    capsys.readouterr()
    assert main(["export", "diff", str(first.out), str(second.out), "--limit", "1"]) == 0
    printed = capsys.readouterr().out
    assert f"labels.animal: 3: {kept[1]} (none of these (human) -> cat (human)), …" in printed, printed
    assert "labels.tags: 0" in printed


def test_a_workspace_without_labels_exports_no_label_columns(ws, tmp_path):
    result = export(ws, ExportConfig(out=tmp_path / "release"))
    row = next(iter(exported(result).values()))
    assert not [k for k in row if k.startswith("label_")]
