"""FiftyOne Brain over the stored embeddings, and label fields round-tripping through FiftyOne, with a real mongod."""
import argparse
import importlib.util

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from curation.atomic import write_parquet
from curation.catalog import Catalog
from curation.errors import GristmillError
from curation.labels import proposals
from curation.labels.human import NONE_OF_THESE, encode, read_labels
from curation.labels.vocabulary import parse_vocabulary, save_vocabulary
from curation.reviews import ReviewLog
from gristmill.commands import fiftyone as command
from labeling_ui import fiftyone_bridge as bridge
from labeling_ui.fiftyone_brain import KEYS, SIMILARITY_KEY, UNIQUENESS_KEY
from tests.review.test_fiftyone import _sample
from tests.review.workspaces import id_of, small_workspace

fo = pytest.importorskip("fiftyone")

N = 40
# sample -> the sample its embedding nearly repeats: groups of three, since FiftyOne's uniqueness (brain 0.25)
# leaves out each sample's nearest neighbour, so a sample with one near-duplicate is not scored low (seen here)
DUPLICATES = {30 + i: i // 2 for i in range(8)}
GROUPS = [{i, 30 + 2 * i, 31 + 2 * i} for i in range(4)]
NO_EMBEDDING = 39
VOCABULARY = """
fields:
  - name: shape
    kind: single
    classes:
      - {name: circle, prompts: ["a circle"]}
      - {name: square, prompts: ["a square"]}
  - name: style
    kind: multi
    classes:
      - {name: bright, prompts: ["bright colours"]}
      - {name: dark, prompts: ["dark colours"]}
"""


def _near_duplicate_embeddings(ws) -> None:
    """Rewrite the stored embeddings: DUPLICATES keys near their originals, NO_EMBEDDING without one."""
    path = ws.parquet_files("embeddings", "test-model")[0]
    table = pq.read_table(path)
    vectors = np.asarray(table["image_embedding"].combine_chunks().flatten(), np.float32).reshape(table.num_rows, -1)
    rng = np.random.default_rng(3)
    for copy, original in DUPLICATES.items():
        vectors[copy] = vectors[original] + rng.normal(scale=0.01, size=vectors.shape[1])
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    column = pa.FixedSizeListArray.from_arrays(pa.array(vectors.astype(np.float16).ravel()), vectors.shape[1])
    table = table.set_column(table.schema.get_field_index("image_embedding"), "image_embedding", column)
    write_parquet(table.filter(pa.array([i != NO_EMBEDDING for i in range(table.num_rows)])), path)


@pytest.fixture
def brain_ws(tmp_path):
    ws = small_workspace(tmp_path / "ws", n=N)
    _near_duplicate_embeddings(ws)
    return ws


def test_brain_runs_map_index_and_uniqueness_over_the_stored_embeddings(brain_ws, dataset_name):
    report = bridge.build(brain_ws, dataset_name, user="tester", brain=True)
    method = "umap" if importlib.util.find_spec("umap") else "tsne"
    assert (report.brain.model, report.brain.method, report.brain.embedded, report.brain.missing) == \
        ("test-model", method, N - 1, 1)
    dataset = fo.load_dataset(dataset_name)
    assert set(KEYS) <= set(dataset.list_brain_runs())
    assert dataset.get_brain_info("gm_map").config.method == method
    assert dataset.info["gm_embedding_model"] == "test-model"
    assert _sample(dataset, id_of(NO_EMBEDDING))["gm_embedding"] is None

    for group in GROUPS:
        for i in group:
            own = _sample(dataset, id_of(i))["gm_embedding"]
            hits = dataset.sort_by_similarity(own, k=3, brain_key=SIMILARITY_KEY).values("gm_id")
            assert set(hits) == {id_of(j) for j in group}  # itself and its two near-duplicates, nothing else

    uniqueness = dict(zip(*dataset.exists(UNIQUENESS_KEY).values(["gm_id", UNIQUENESS_KEY])))
    assert len(uniqueness) == N - 1 and id_of(NO_EMBEDDING) not in uniqueness
    duplicated = {id_of(i) for group in GROUPS for i in group}
    unique = [u for sid, u in uniqueness.items() if sid not in duplicated]
    assert max(uniqueness[sid] for sid in duplicated) < np.median(unique)
    assert np.mean([uniqueness[sid] for sid in duplicated]) < np.mean(unique) / 2

    again = bridge.build(brain_ws, dataset_name, user="tester", brain=True)  # replaces the runs, never fails
    assert (again.added, again.updated, again.brain.embedded) == (0, N, N - 1)
    assert sorted(fo.load_dataset(dataset_name).list_brain_runs()) == sorted(KEYS)


def test_the_command_runs_the_brain_on_request(brain_ws, dataset_name, capsys):
    args = argparse.Namespace(words=[str(brain_ws.root)], name=dataset_name, where=None, user="tester",
                              brain=True, launch=False, port=5151, address="127.0.0.1")
    assert command.run(args) == 0
    out = capsys.readouterr().out.replace("\n", " ")
    assert f"over {N - 1} sample(s) with embeddings of test-model (1 without)" in out and "gm_map" in out


def _labelled(ws):
    """Save the vocabulary, zero-shot proposals of both fields (a probe's for sample 0's shape) and three human
    labels; return the `shape` field."""
    vocabulary = parse_vocabulary(VOCABULARY, "test")
    save_vocabulary(ws, vocabulary)
    shape, style = vocabulary.field("shape"), vocabulary.field("style")
    ids = [id_of(i) for i in range(N)]
    p_shape = np.array([[0.9, 0.1] if i % 2 == 0 else [0.2, 0.8] for i in range(N)])
    p_style = np.tile([0.7, 0.6], (N, 1))
    for label_field, source, version, p, rows in [(shape, "zeroshot", "zeroshot", p_shape, ids),
                                                  (style, "zeroshot", "zeroshot", p_style, ids),
                                                  (shape, "probe", "v0001", np.array([[0.35, 0.65]]), ids[:1])]:
        meta = proposals.ProposalMeta(label_field, source, "test-model", version, False, 1_700_000_000_000_000)
        with proposals.writer(ws, meta) as write:
            write(rows, p)
    alice = ReviewLog(ws, "alice")
    alice.label(id_of(1), "shape", encode(shape, {"circle"}))
    alice.label(id_of(2), "style", encode(style, {"dark"}))
    alice.label(id_of(3), "shape", encode(shape, set()))
    alice.close()
    return shape


def _set(dataset, i, field, value):
    sample = _sample(dataset, id_of(i))
    sample[field] = value
    sample.save()


def _label_events(ws):
    return Catalog(ws).query("SELECT sample_id, label_field, label_value, ts, reviewer FROM reviews "
                             "WHERE action = 'label' AND reviewer LIKE 'fiftyone:%' ORDER BY sample_id").to_pylist()


def test_proposals_and_human_labels_are_separate_fields_and_human_edits_sync_once(tmp_path, dataset_name):
    ws = small_workspace(tmp_path / "ws", n=N)
    shape = _labelled(ws)
    bridge.build(ws, dataset_name, user="tester")
    dataset = fo.load_dataset(dataset_name)

    probe = _sample(dataset, id_of(0))["shape_proposal"]
    assert isinstance(probe, fo.Classification)
    assert (probe.label, probe.confidence, probe["gm_source"], probe["gm_model_version"]) == \
        ("square", pytest.approx(0.65), "probe", "v0001")
    zeroshot = _sample(dataset, id_of(2))["shape_proposal"]
    assert (zeroshot.label, zeroshot.confidence, zeroshot["gm_source"]) == ("circle", pytest.approx(0.9), "zeroshot")
    multi = _sample(dataset, id_of(4))["style_proposal"]
    assert isinstance(multi, fo.Classifications)
    assert [(c.label, round(c.confidence, 3)) for c in multi.classifications] == [("bright", 0.7), ("dark", 0.6)]
    assert _sample(dataset, id_of(1))["shape_human"].label == "circle"
    assert _sample(dataset, id_of(1))["shape_proposal"].label == "square"  # the proposal stays beside it
    assert _sample(dataset, id_of(3))["shape_human"].label == NONE_OF_THESE
    assert [c.label for c in _sample(dataset, id_of(2))["style_human"].classifications] == ["dark"]
    assert _sample(dataset, id_of(4))["shape_human"] is None and _sample(dataset, id_of(4))["style_human"] is None

    _set(dataset, 4, "shape_human", fo.Classification(label="circle"))
    _set(dataset, 5, "style_human", fo.Classifications(classifications=[fo.Classification(label="bright")]))
    _set(dataset, 1, "shape_human", None)  # cleared: unlabelled again
    _set(dataset, 6, "shape_proposal", fo.Classification(label="circle", confidence=1.0))  # never recorded
    _set(dataset, 7, "shape_human", fo.Classification(label="triangle"))
    edited_at = _sample(dataset, id_of(4)).last_modified_at

    report = bridge.sync(ws, dataset_name, user="tester")
    assert report.events == {"label": 3}
    assert len(report.problems) == 1 and id_of(7) in report.problems[0] and "'triangle'" in report.problems[0]
    events = {e["sample_id"]: e for e in _label_events(ws)}
    assert {sid: (e["label_field"], e["label_value"]) for sid, e in events.items()} == {
        id_of(4): ("shape", "circle"), id_of(5): ("style", '["bright"]'), id_of(1): ("shape", None)}
    assert {e["reviewer"] for e in events.values()} == {"fiftyone:tester"}
    assert events[id_of(4)]["ts"].replace(tzinfo=None) == edited_at  # when it was made in FiftyOne
    human = read_labels(Catalog(ws), shape)
    assert dict(zip(human.ids, human.classes)) == {id_of(3): frozenset(), id_of(4): frozenset({"circle"})}

    ReviewLog(ws, "alice").label(id_of(4), "shape", "square")  # in the app, after the sync: must stay
    again = bridge.sync(ws, dataset_name, user="tester")
    assert again.events == {} and len(_label_events(ws)) == 3
    assert len(again.problems) == 1  # reported until it is fixed
    _set(dataset, 7, "shape_human", fo.Classification(label="square"))
    fixed = bridge.sync(ws, dataset_name, user="tester")
    assert fixed.events == {"label": 1} and fixed.problems == []

    bridge.build(ws, dataset_name, user="tester")  # an update keeps the human labels synced from FiftyOne
    assert _sample(dataset, id_of(7))["shape_human"].label == "square"
    assert _sample(dataset, id_of(1))["shape_human"] is None
    assert _sample(dataset, id_of(4))["shape_human"].label == "square"


def test_the_brain_without_stored_embeddings_is_a_clear_error(tmp_path, dataset_name):
    ws = small_workspace(tmp_path / "ws", n=4)
    for path in ws.parquet_files("embeddings", "test-model"):
        path.unlink()
    with pytest.raises(GristmillError, match="no embeddings"):
        bridge.build(ws, dataset_name, user="tester", brain=True)
