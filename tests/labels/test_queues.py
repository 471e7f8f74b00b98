"""Review queues on corpora with hidden truth: likely-wrong finds planted label errors, rare-first surfaces the
rare classes, disagreement finds where zero-shot is wrong, uncertain ranks by the stored proposals' margin."""
import numpy as np
import pytest

from curation.labels import proposals, queues
from curation.labels.human import encode
from curation.labels.runs import TextModel, propose_zeroshot, train_probe
from curation.labels.text import encode_field, spec_for
from curation.labels.vocabulary import LabelError, load_vocabulary
from curation.reviews import ReviewLog
from tests.labels.conftest import build, label

CAT, DOG, BIRD, FISH = range(4)


def _relabel(corpus, rows, classes) -> None:
    """Record the given class index at each of `rows` (planted errors when it is not the truth)."""
    log = ReviewLog(corpus.workspace, "careless")
    names = corpus.label_field.class_names
    for row, c in zip(rows, classes):
        log.label(corpus.ids[row], "animal", encode(corpus.label_field, {names[c]}))
    log.close()


def _separated(animal_field, model_id, checkpoint) -> dict[int, np.ndarray]:
    """Class centres in random, nearly orthogonal directions (the tiny CLIP's prompts may lie close together)."""
    dim = encode_field(animal_field, spec_for(model_id, str(checkpoint)), model_id).classes.shape[1]
    return dict(enumerate(np.random.default_rng(11).normal(size=(4, dim))))


def _rows(corpus, items) -> np.ndarray:
    index = {s: i for i, s in enumerate(corpus.ids)}
    return np.array([index[item.sample_id] for item in items], dtype=int)


def test_likely_wrong_finds_planted_label_errors_judged_out_of_fold(tmp_path, animal_field, model_id,
                                                                     tiny_checkpoint):
    corpus = build(tmp_path / "ws", animal_field, model_id, tiny_checkpoint[1], n=2000, noise=0.05,
                   centres=_separated(animal_field, model_id, tiny_checkpoint[1]))
    rng = np.random.default_rng(5)
    label(corpus, range(800))
    planted = rng.choice(800, 40, replace=False)  # wrong labels the probe is trained on
    _relabel(corpus, planted, (corpus.truth[planted] + rng.integers(1, 4, 40)) % 4)
    train_probe(corpus.workspace, "animal")
    later = np.arange(800, 1000)  # labelled after training: judged by the probe's proposals
    label(corpus, later, seed=3)
    late_planted = later[rng.choice(200, 10, replace=False)]
    _relabel(corpus, late_planted, (corpus.truth[late_planted] + 1) % 4)
    found = queues.likely_wrong(corpus.workspace, "animal", limit=50)
    rows = _rows(corpus, found)
    errors = set(planted.tolist()) | set(late_planted.tolist())
    hits = np.array([r in errors for r in rows])
    assert len(found) == 50 and hits.mean() >= 0.9  # precision at the number of planted errors
    assert set(late_planted.tolist()) <= set(rows.tolist())
    assert all(item.reason == "likely_wrong" and item.score > 0 for item in found)
    assert [i.score for i in found] == sorted((i.score for i in found), reverse=True)
    names = animal_field.class_names
    says_truth = [item.note.endswith(f"the probe says {names[corpus.truth[r]]}") for item, r in zip(found, rows)]
    assert np.mean(says_truth) >= 0.9  # and the class it prefers is the true one
    _relabel(corpus, planted, corpus.truth[planted])  # corrected: no longer disputed
    again = set(_rows(corpus, queues.likely_wrong(corpus.workspace, "animal", limit=50)).tolist())
    assert not again & set(planted.tolist())


def test_rare_first_surfaces_the_rare_classes(tmp_path, animal_field, model_id, tiny_checkpoint):
    corpus = build(tmp_path / "ws", animal_field, model_id, tiny_checkpoint[1], n=3000, noise=0.05,
                   centres=_separated(animal_field, model_id, tiny_checkpoint[1]), weights=[0.485, 0.485, 0.015, 0.015])
    label(corpus, range(300))  # a random start: only a handful of birds and fish among them
    train_probe(corpus.workspace, "animal")
    found = queues.rare_first(corpus.workspace, "animal", limit=60)
    rows = _rows(corpus, found)
    assert len(found) == 60 and not (rows < 300).any()  # labelled samples are not queued again
    rare = np.isin(corpus.truth[rows], [BIRD, FISH])
    assert rare.mean() >= 0.9  # 3% of the corpus, 90% of the queue
    assert {BIRD, FISH} <= set(corpus.truth[rows[:20]].tolist())
    assert all(item.reason == "rare" and item.note.split()[0] in ("bird", "fish") for item in found[:20])
    # once every class has enough human labels, nothing is rare any more
    counts = np.bincount(corpus.truth[:300], minlength=4)
    assert queues.rare_first(corpus.workspace, "animal", enough=int(counts.min())) == []


def test_uncertain_ranks_unlabelled_samples_by_the_stored_margin(tmp_path, animal_field, model_id, tiny_checkpoint):
    centres = {c: v / np.linalg.norm(v) for c, v in _separated(animal_field, model_id, tiny_checkpoint[1]).items()}
    centres[DOG] = 0.9 * centres[CAT] + 0.1 * centres[DOG]  # close to cats: that boundary is where the probe is unsure
    corpus = build(tmp_path / "ws", animal_field, model_id, tiny_checkpoint[1], n=1500, noise=0.05, centres=centres)
    label(corpus, range(400))
    train_probe(corpus.workspace, "animal")
    found = queues.uncertain(corpus.workspace, "animal", limit=50)
    table = proposals.read(corpus.workspace, "animal", "probe")
    p = np.asarray(table["probabilities"].to_pylist())
    margin = 1 - np.abs(np.diff(np.sort(p, axis=1)[:, -2:], axis=1))[:, 0]
    ids = table["sample_id"].to_pylist()
    labelled = set(corpus.ids[:400])
    expected = sorted(((m, s) for m, s in zip(margin, ids) if s not in labelled), key=lambda t: (-t[0], t[1]))[:50]
    assert [i.sample_id for i in found] == [s for _, s in expected]
    assert np.allclose([i.score for i in found], [m for m, _ in expected])
    assert np.isin(corpus.truth[_rows(corpus, found)], [CAT, DOG]).mean() >= 0.9
    by_entropy = queues.uncertain(corpus.workspace, "animal", limit=50, by="entropy")
    assert len(set(i.sample_id for i in by_entropy) & set(i.sample_id for i in found)) >= 35
    with pytest.raises(LabelError, match="no zeroshot proposals"):
        queues.uncertain(corpus.workspace, "animal", source="zeroshot")


def test_disagreement_finds_the_class_zero_shot_gets_wrong(tmp_path, animal_field, model_id, tiny_checkpoint):
    text = encode_field(animal_field, spec_for(model_id, str(tiny_checkpoint[1])), model_id).classes
    corpus = build(tmp_path / "ws", animal_field, model_id, tiny_checkpoint[1], noise=0.05,
                   centres={BIRD: 2 * text[FISH] - text[BIRD]})  # CLIP calls these birds fish
    with pytest.raises(LabelError, match="no zeroshot proposals"):
        queues.disagreement(corpus.workspace, "animal")
    label(corpus, range(600))
    propose_zeroshot(corpus.workspace, "animal", TextModel(pretrained=str(tiny_checkpoint[1])))
    train_probe(corpus.workspace, "animal")
    found = queues.disagreement(corpus.workspace, "animal", limit=100)
    rows = _rows(corpus, found)
    assert len(found) == 100 and not (rows < 600).any()
    assert (corpus.truth[rows] == BIRD).mean() >= 0.9
    assert sum(item.note == "zero-shot fish, probe bird" for item in found) >= 90


def test_uncertainty_of_hand_made_probabilities():
    single = np.array([[0.5, 0.5, 0.0], [0.9, 0.05, 0.05], [0.4, np.nan, 0.6]])
    assert np.allclose(queues.uncertainty(single, multi=False), [1.0, 0.15, 0.8])
    assert queues.uncertainty(single, False, "entropy").argmax() == 0
    multi = np.array([[0.5, 0.99], [0.9, np.nan], [0.2, 0.7]])
    assert np.allclose(queues.uncertainty(multi, multi=True), [1.0, 0.2, 0.6])
    with pytest.raises(LabelError, match="margin' or 'entropy'"):
        queues.uncertainty(single, False, "variance")


def test_likely_wrong_on_a_multi_label_field(tmp_path, animal_field, model_id, tiny_checkpoint):
    corpus = build(tmp_path / "ws", animal_field, model_id, tiny_checkpoint[1], n=1000, noise=0.05,
                   centres=_separated(animal_field, model_id, tiny_checkpoint[1]))
    tags = load_vocabulary(corpus.workspace).field("tags")
    truth = np.column_stack([np.isin(corpus.truth, [CAT, DOG]), corpus.truth == FISH])  # sunny, night
    planted = np.arange(0, 600, 30)  # 20 rows whose 'sunny' is flipped
    given = truth.copy()
    given[planted, 0] = ~given[planted, 0]
    log = ReviewLog(corpus.workspace, "tagger")
    for row in range(600):
        log.label(corpus.ids[row], "tags", encode(tags, {c for c, t in zip(tags.class_names, given[row]) if t}))
    log.close()
    train_probe(corpus.workspace, "tags")
    found = queues.likely_wrong(corpus.workspace, "tags", limit=20)
    assert np.isin(_rows(corpus, found), planted).mean() >= 0.9


def test_interleave_takes_turns_and_skips_repeats():
    a = [queues.QueueItem(s, "a", 1.0) for s in ("x", "y", "z")]
    b = [queues.QueueItem(s, "b", 1.0) for s in ("x", "w")]
    got = queues.interleave([a, b], limit=10)
    assert [(i.sample_id, i.reason) for i in got] == [("x", "a"), ("w", "b"), ("y", "a"), ("z", "a")]
    assert len(queues.interleave([a, b], limit=2)) == 2
