"""Zero-shot proposals from stored embeddings: accurate where the class is in the embedding, calibrated by
human labels, stored as LABEL_PROPOSALS in the catalog, and marked when CLIP weights are random."""
import numpy as np
import open_clip
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch

from curation.atomic import write_parquet
from curation.catalog import Catalog
from curation.labels import proposals
from curation.labels.calibration import expected_calibration_error, softmax
from curation.labels.runs import TextModel, propose_zeroshot
from curation.labels.text import encode_field, spec_for
from curation.labels.vocabulary import LabelError, load_vocabulary
from curation.models import save_checkpoint
from curation.scorers.clip import model_slug
from gristmill.cli import main
from schemas import LABEL_PROPOSALS, embedding_schema, validate
from tests.labels.conftest import build, label

NOISE = 0.08  # zero-shot is right about 90% of the time: confidences have something to be calibrated against


def _stored(corpus, model_id: str) -> pa.Table:
    """The image embeddings the corpus stored (sample_id, image_embedding)."""
    return pq.read_table(corpus.workspace.path("embeddings", model_slug(model_id)),
                         columns=["sample_id", "image_embedding"])


def _outcome(corpus, table: pa.Table, rows=None):
    """(proposed class index, true class index, confidence) per stored proposal, restricted to corpus rows."""
    index = {s: i for i, s in enumerate(corpus.ids)}
    at = np.array([index[s] for s in table["sample_id"].to_pylist()])
    names = corpus.label_field.class_names
    proposed = np.array([names.index(p[0]) for p in table["proposal"].to_pylist()])
    keep = np.ones(len(at), bool) if rows is None else np.isin(at, rows)
    return proposed[keep], corpus.truth[at][keep], table["confidence"].to_numpy()[keep]


def test_proposals_recover_the_class_and_calibrate_on_human_labels(tmp_path, animal_field, model_id, tiny_checkpoint):
    corpus = build(tmp_path / "ws", animal_field, model_id, tiny_checkpoint[1], noise=NOISE)
    text_model = TextModel(pretrained=str(tiny_checkpoint[1]))
    first = propose_zeroshot(corpus.workspace, "animal", text_model)
    assert first.samples == 2000 and first.calibrated_on == 0 and not first.placeholder
    proposed, truth, confidence = _outcome(corpus, proposals.read(corpus.workspace, "animal", "zeroshot"))
    accuracy = (proposed == truth).mean()
    assert accuracy > 0.6  # four classes: chance is 0.25
    before = expected_calibration_error(confidence, proposed == truth)

    label(corpus, range(300))  # humans label the first 300 samples; calibration is measured on the others
    second = propose_zeroshot(corpus.workspace, "animal", text_model)
    assert second.calibrated_on == 300
    held_out = np.arange(300, 2000)
    proposed, truth, confidence = _outcome(corpus, proposals.read(corpus.workspace, "animal", "zeroshot"), held_out)
    after = expected_calibration_error(confidence, proposed == truth)
    assert after < 0.05 and after < before / 3
    assert (proposed == truth).mean() == pytest.approx(accuracy, abs=0.03)  # calibration keeps the ranking


def test_uncalibrated_probabilities_are_clip_softmax_of_one_matrix_product(tmp_path, animal_field, model_id,
                                                                           tiny_checkpoint):
    corpus = build(tmp_path / "ws", animal_field, model_id, tiny_checkpoint[1], n=200, noise=NOISE)
    propose_zeroshot(corpus.workspace, "animal", TextModel(pretrained=str(tiny_checkpoint[1])))
    table = proposals.read(corpus.workspace, "animal", "zeroshot")
    validate(table, LABEL_PROPOSALS)
    stored = _stored(corpus, model_id)
    emb = np.asarray(stored["image_embedding"].to_pylist(), dtype=np.float32)
    order = {s: i for i, s in enumerate(stored["sample_id"].to_pylist())}
    text = encode_field(animal_field, spec_for(model_id, str(tiny_checkpoint[1])), model_id)
    rows = [order[s] for s in table["sample_id"].to_pylist()]
    expected = softmax(text.logit_scale * (emb[rows] @ text.classes.T))
    got = np.asarray(table["probabilities"].to_pylist())
    assert np.allclose(got, expected, atol=1e-5)
    assert table["classes"][0].as_py() == animal_field.class_names
    assert set(table["source"].to_pylist()) == {"zeroshot"} and table["automatic"].to_pylist() == [[]] * 200
    assert table["model_id"][0].as_py() == f"{model_id}#labels-{animal_field.digest()}"
    catalog = Catalog(corpus.workspace)
    n = catalog.query("SELECT count(*) AS n FROM label_proposals WHERE field = 'animal'")["n"][0].as_py()
    assert n == 200


def test_multi_label_classes_are_weighed_against_the_background_prompts(tmp_path, animal_field, model_id,
                                                                         tiny_checkpoint):
    corpus = build(tmp_path / "ws", animal_field, model_id, tiny_checkpoint[1], n=100, noise=NOISE)
    tags = load_vocabulary(corpus.workspace).field("tags")
    report = propose_zeroshot(corpus.workspace, "tags", TextModel(pretrained=str(tiny_checkpoint[1])))
    table = proposals.read(corpus.workspace, "tags", "zeroshot")
    text = encode_field(tags, spec_for(model_id, str(tiny_checkpoint[1])), model_id)
    stored = _stored(corpus, model_id).sort_by("sample_id")
    emb = np.asarray(stored["image_embedding"].to_pylist(), dtype=np.float32)
    z = text.logit_scale * (emb @ text.classes.T - (emb @ text.background)[:, None])
    p = np.asarray(table["probabilities"].to_pylist())
    assert np.allclose(p, 1 / (1 + np.exp(-z)), atol=1e-5)
    assert [set(x) for x in table["proposal"].to_pylist()] == [
        {c for c, v in zip(tags.class_names, row) if v >= 0.5} for row in p]
    assert np.allclose(table["confidence"].to_numpy(), np.maximum(p, 1 - p).min(axis=1))
    assert sum(report.proposed.values()) == sum(len(x) for x in table["proposal"].to_pylist())


def test_the_text_encoder_must_be_the_model_of_the_embeddings(tmp_path, animal_field, model_id, tiny_checkpoint):
    corpus = build(tmp_path / "ws", animal_field, model_id, tiny_checkpoint[1], n=50)
    with pytest.raises(LabelError, match="give its path with --pretrained"):
        propose_zeroshot(corpus.workspace, "animal")
    torch.manual_seed(99)
    other = save_checkpoint(open_clip.create_model(tiny_checkpoint[0]), tmp_path / "other.pt")
    with pytest.raises(LabelError, match="is not the model of the image embeddings"):
        propose_zeroshot(corpus.workspace, "animal", TextModel(pretrained=str(other)))
    assert proposals.read(corpus.workspace, "animal", "zeroshot") is None


def test_random_weights_make_placeholder_proposals_that_warn(tmp_path, animal_field, model_id, tiny_checkpoint,
                                                             capsys):
    corpus = build(tmp_path / "ws", animal_field, model_id, tiny_checkpoint[1], n=50)
    placeholder = f"{model_id.split('/')[0]}/random-init-PLACEHOLDER"
    old = _stored(corpus, model_id)
    schema = embedding_schema(32)
    table = pa.table({"sample_id": old["sample_id"], "image_embedding": old["image_embedding"],
                      "text_embedding": pa.nulls(old.num_rows, schema.field("text_embedding").type),
                      "model_id": pa.array([placeholder] * old.num_rows)}, schema=schema)
    write_parquet(table, corpus.workspace.path("embeddings", model_slug(model_id), "00000.parquet"))
    report = propose_zeroshot(corpus.workspace, "animal")
    table = proposals.read(corpus.workspace, "animal", "zeroshot")
    assert report.placeholder and all(table["placeholder"].to_pylist())
    assert "PLACEHOLDER" in table["model_id"][0].as_py()
    catalog = Catalog(corpus.workspace)
    assert catalog.query("SELECT bool_and(placeholder) AS p FROM label_proposals")["p"].to_pylist() == [True]
    capsys.readouterr()
    assert main(["labels", "propose", str(corpus.workspace.root), "animal"]) == 0
    assert "WARNING: placeholder label proposals" in capsys.readouterr().out
