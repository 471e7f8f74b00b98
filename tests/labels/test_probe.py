"""The probe learns from human labels in the review log: it fixes a class zero-shot gets wrong, is versioned,
and labels automatically only the classes whose precision bound holds on held-out human labels."""
import numpy as np
import pytest

from curation.labels import probe, proposals, store
from curation.labels.human import encode
from curation.labels.report import report
from curation.labels.runs import TextModel, propose_probe, propose_zeroshot, train_probe
from curation.labels.text import encode_field, spec_for
from curation.labels.vocabulary import LabelError, load_vocabulary, parse_vocabulary, save_vocabulary
from curation.reviews import ReviewLog
from tests.labels.conftest import ANIMALS, build, label

CAT, DOG, BIRD, FISH = range(4)


def _text(animal_field, model_id, checkpoint) -> np.ndarray:
    return encode_field(animal_field, spec_for(model_id, str(checkpoint)), model_id).classes


def _proposed(corpus, source: str, rows) -> tuple[np.ndarray, np.ndarray, list[list[str]]]:
    """(proposed class index, true class index, automatic classes) of the stored proposals at corpus rows."""
    table = proposals.read(corpus.workspace, "animal", source, [corpus.ids[r] for r in rows])
    index = {s: i for i, s in enumerate(corpus.ids)}
    at = np.array([index[s] for s in table["sample_id"].to_pylist()])
    names = corpus.label_field.class_names
    proposed = np.array([names.index(p[0]) for p in table["proposal"].to_pylist()])
    return proposed, corpus.truth[at], table["automatic"].to_pylist()


def test_the_probe_fixes_a_class_that_zero_shot_gets_wrong(tmp_path, animal_field, model_id, tiny_checkpoint):
    text = _text(animal_field, model_id, tiny_checkpoint[1])
    # bird images sit beyond the fish prompt, away from the bird prompt: CLIP calls them fish
    corpus = build(tmp_path / "ws", animal_field, model_id, tiny_checkpoint[1], noise=0.05,
                   centres={BIRD: 2 * text[FISH] - text[BIRD]})
    labelled, held_out = np.arange(600), np.arange(600, 2000)
    label(corpus, labelled)
    propose_zeroshot(corpus.workspace, "animal", TextModel(pretrained=str(tiny_checkpoint[1])))
    trained = train_probe(corpus.workspace, "animal")
    assert trained.version == "v0001" and trained.n_labels == 600
    zs, truth, _ = _proposed(corpus, "zeroshot", held_out)
    pr, truth_again, _ = _proposed(corpus, "probe", held_out)
    assert (truth == truth_again).all()
    birds = truth == BIRD
    assert (zs[birds] == BIRD).mean() < 0.3
    assert (pr[birds] == BIRD).mean() > 0.85
    assert (pr == truth).mean() > (zs == truth).mean() + 0.1
    summary = report(corpus.workspace)["fields"][0]
    assert summary["human_labels"] == 600 and summary["probe_version"]["version"] == "v0001"
    assert summary["probe_version"]["quality"]["accuracy"] > summary["zeroshot"]["rate"] + 0.1
    assert summary["probe"]["labelled"] == 0  # every human label trained it: none left to judge it on
    label(corpus, range(600, 800), seed=2)
    later = report(corpus.workspace)["fields"][0]
    assert later["probe"]["labelled"] == 200 and later["probe"]["rate"] > later["zeroshot"]["rate"]


def test_automatic_labels_only_for_classes_whose_bound_holds(tmp_path, animal_field, model_id, tiny_checkpoint):
    text = _text(animal_field, model_id, tiny_checkpoint[1])
    # cats and dogs look the same in embedding space: no model can label them at 90% precision
    corpus = build(tmp_path / "ws", animal_field, model_id, tiny_checkpoint[1], noise=0.05, centres={DOG: text[CAT]})
    label(corpus, range(1000))
    trained = train_probe(corpus.workspace, "animal")
    assert trained.thresholds["cat"] is None and trained.thresholds["dog"] is None
    for name in ("bird", "fish"):
        side = trained.thresholds[name]
        assert side is not None and side["ci_low"] >= 0.9 and side["threshold"] >= 0.5
    _, truth, automatic = _proposed(corpus, "probe", range(1000, 2000))
    auto_rows = [i for i, a in enumerate(automatic) if a]
    assert len(auto_rows) > 200 and {a for row in automatic for a in row} <= {"bird", "fish"}
    names = animal_field.class_names
    precision = np.mean([names[truth[i]] in automatic[i] for i in auto_rows])
    assert precision >= 0.9
    assert trained.proposals.automatic["cat"] == trained.proposals.automatic["dog"] == 0


def test_probe_versions_are_kept_and_reload_to_the_same_proposals(tmp_path, animal_field, model_id,
                                                                   tiny_checkpoint):
    corpus = build(tmp_path / "ws", animal_field, model_id, tiny_checkpoint[1], n=600, noise=0.05)
    label(corpus, range(200))
    assert train_probe(corpus.workspace, "animal").version == "v0001"
    first = proposals.read(corpus.workspace, "animal", "probe")
    assert train_probe(corpus.workspace, "animal").version == "v0002"
    assert store.versions(corpus.workspace, "animal") == ["v0001", "v0002"]
    assert store.current_version(corpus.workspace, "animal") == "v0002"
    again = propose_probe(corpus.workspace, "animal")
    table = proposals.read(corpus.workspace, "animal", "probe")
    assert again.samples == 600 and table["model_version"][0].as_py() == "v0002"
    assert np.allclose(np.asarray(table["probabilities"].to_pylist()),
                       np.asarray(first["probabilities"].to_pylist()), atol=1e-6)
    assert store.heldout(corpus.workspace, "animal", "v0002").is_file()
    changed = parse_vocabulary(ANIMALS.replace("a photo of a dog", "a dog running"), "v")
    save_vocabulary(corpus.workspace, changed)
    with pytest.raises(LabelError, match="trained on another definition of the field"):
        propose_probe(corpus.workspace, "animal")
    assert report(corpus.workspace)["fields"][0]["probe_version"]["stale"]


def test_too_few_human_labels_say_what_is_missing(tmp_path, animal_field, model_id, tiny_checkpoint):
    corpus = build(tmp_path / "ws", animal_field, model_id, tiny_checkpoint[1], n=100)
    label(corpus, range(3))
    with pytest.raises(LabelError, match=r"has 3 human labels on samples with embeddings \(cat \d+, dog \d+"):
        train_probe(corpus.workspace, "animal")
    assert load_vocabulary(corpus.workspace).field("animal") == animal_field


def test_a_multi_label_probe_learns_each_class_it_has_labels_for():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(400, 8))
    truth = np.column_stack([x[:, 0] > 0, x[:, 1] > 0.5, np.zeros(400, bool)])  # the third class: never seen
    fitted, oof = probe.fit(x, truth, multi=True, folds=5)
    assert fitted.models[2] is None and np.isnan(oof[:, 2]).all()
    assert ((oof[:, :2] >= 0.5) == truth[:, :2]).mean() > 0.95
    p = fitted.predict(rng.normal(size=(50, 8)), 3)
    assert p.shape == (50, 3) and np.isnan(p[:, 2]).all() and ((p[:, :2] >= 0) & (p[:, :2] <= 1)).all()


def test_a_single_label_probe_scores_none_of_these_as_its_own_outcome():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(300, 6))
    y = np.digitize(x[:, 0], [-0.5, 0.5])  # 0, 1 or 2 = none of these
    truth = np.eye(3, dtype=bool)[y][:, :2]
    fitted, oof = probe.fit(x, truth, multi=False, folds=5)
    assert fitted.columns == 3 and oof.shape == (300, 2)
    none = y == 2
    assert (oof[none].max(axis=1) < 0.5).mean() > 0.8
    assert (oof[~none].argmax(axis=1) == y[~none]).mean() > 0.8


def test_audits_that_disagree_stop_automatic_labels_until_a_new_version(tmp_path, animal_field, model_id,
                                                                        tiny_checkpoint):
    text = _text(animal_field, model_id, tiny_checkpoint[1])
    corpus = build(tmp_path / "ws", animal_field, model_id, tiny_checkpoint[1], noise=0.05, centres={DOG: text[CAT]})
    ws = corpus.workspace
    save_vocabulary(ws, parse_vocabulary(ANIMALS + "audit_fraction: 0.2\nmin_audits: 20\n", "v"))
    label(corpus, range(1000))
    train_probe(ws, "animal")
    table = proposals.read(ws, "animal", "probe")
    index = {s: i for i, s in enumerate(corpus.ids)}
    audited = [(s, a) for s, a, flag in zip(table["sample_id"].to_pylist(), table["automatic"].to_pylist(),
                                            table["audit"].to_pylist()) if flag and index[s] >= 1000]
    assert len(audited) >= 20 and all(a for _, a in audited)
    log = ReviewLog(ws, "auditor")
    for sid, _ in audited:  # a careful auditor: the true class
        log.label(sid, "animal", encode(animal_field, {animal_field.class_names[corpus.truth[index[sid]]]}))
    kept = propose_probe(ws, "animal")
    assert not kept.stopped and "audits agree" in kept.audits and sum(kept.automatic.values()) > 200
    for sid, automatic in audited:  # the audits now say every automatic label was wrong
        log.label(sid, "animal", encode(animal_field, {"cat"}))
    log.close()
    halted = propose_probe(ws, "animal")
    assert halted.stopped and "automatic labels stopped" in halted.audits
    assert sum(halted.automatic.values()) == 0
    assert proposals.read(ws, "animal", "probe")["automatic"].to_pylist() == [[]] * 2000
    assert propose_probe(ws, "animal").stopped  # the stop holds although no row is audited any more
    assert report(ws)["fields"][0]["probe_version"]["stopped"]
    fresh = train_probe(ws, "animal")
    assert fresh.version == "v0002" and not fresh.proposals.stopped


def test_a_multi_label_field_trains_from_the_review_log(tmp_path, animal_field, model_id, tiny_checkpoint):
    corpus = build(tmp_path / "ws", animal_field, model_id, tiny_checkpoint[1], n=1500, noise=0.05)
    tags = load_vocabulary(corpus.workspace).field("tags")
    truth = np.column_stack([np.isin(corpus.truth, [CAT, DOG]), corpus.truth == FISH])  # sunny, night
    log = ReviewLog(corpus.workspace, "tagger")
    for row in range(800):
        log.label(corpus.ids[row], "tags", encode(tags, {c for c, t in zip(tags.class_names, truth[row]) if t}))
    log.close()
    trained = train_probe(corpus.workspace, "tags")
    assert trained.n_labels == 800 and trained.accuracy > 0.9
    assert all(trained.thresholds[c] is not None for c in ("sunny", "night"))
    table = proposals.read(corpus.workspace, "tags", "probe", corpus.ids[800:])
    index = {s: i for i, s in enumerate(corpus.ids)}
    rows = [index[s] for s in table["sample_id"].to_pylist()]
    for j, name in enumerate(tags.class_names):
        auto = np.array([name in a for a in table["automatic"].to_pylist()])
        assert auto.sum() > 50 and truth[rows][auto, j].mean() >= 0.9
    proposed = np.array([[c in p for c in tags.class_names] for p in table["proposal"].to_pylist()])
    assert (proposed == truth[rows]).mean() > 0.9
