"""The caption attention model learns from human caption decisions (edits where the alt-text CLIP score is low)
and ranks unseen samples by it; the engine reports caption edits per 1,000 reviewed samples per stage."""
import numpy as np
import pyarrow as pa
import pytest

from curation.atomic import write_parquet
from curation.catalog import Catalog
from curation.engine.engine import Engine
from curation.engine.stages import FULL, MANUAL, SEMI
from curation.labels import caption_attention, store
from curation.labels.vocabulary import LabelError
from curation.reviews import ReviewLog
from tests.review.workspaces import _score_table, caption_of, id_of, small_workspace, write_generated_captions

N, DECIDED = 60, 56  # samples 56..59 stay undecided: two with a low clip score, two with a high one
LOW, HIGH = (56, 57), (58, 59)


def _clip(i: int) -> float:
    if i >= DECIDED:
        return 0.12 if i in LOW else 0.36
    return 0.12 + 0.004 * i if i % 2 == 0 else 0.30 + 0.004 * (i % 10)


@pytest.fixture
def ws(tmp_path):
    ws = small_workspace(tmp_path / "ws", n=N)
    ids = [id_of(i) for i in range(N)]
    clip = {"clip_score": [_clip(i) for i in range(N)], "model_id": ["test-model"] * N}
    write_parquet(_score_table("clip", ids, clip), ws.path("scores", "clip", "00000.parquet"))
    write_generated_captions(ws, {sid: caption_of(i) + " outdoors" for i, sid in enumerate(ids)})
    return ws


def _decide(ws, edited) -> None:
    """Humans edit the even (low clip score) samples' captions and keep the odd ones' alt-text."""
    log = ReviewLog(ws, "captioner")
    for i in range(DECIDED):
        if edited(i):
            log.edit_caption(id_of(i), f"a better caption {i}", caption_of(i))
        else:
            log.tag(id_of(i), caption_attention.CAPTION_OK)
    log.close()


def test_before_enough_decisions_the_heuristic_ranks_low_clip_scores_first(ws):
    catalog = Catalog(ws)
    assert caption_attention.maybe_train(catalog) is None
    with pytest.raises(LabelError, match="needs 20 of each"):
        caption_attention.train(catalog)
    ranked = caption_attention.rank(catalog, 500)
    assert ranked.by == "heuristic"
    assert ranked.ids.index(id_of(LOW[0])) < ranked.ids.index(id_of(HIGH[0]))


def test_the_model_learns_that_low_clip_scores_get_edited(ws):
    _decide(ws, lambda i: i % 2 == 0)
    catalog = Catalog(ws)
    assert caption_attention.maybe_train(catalog) == "v0001"
    assert caption_attention.maybe_train(catalog) is None, "no new decisions: no new version"
    meta = store.load_meta(ws, caption_attention.MODEL_FIELD, "v0001")
    assert (meta["n_edited"], meta["n_kept"]) == (28, 28)
    ranked = caption_attention.rank(catalog, 500)
    assert ranked.by == "v0001" and sorted(ranked.ids) == sorted(id_of(i) for i in LOW + HIGH)
    p = dict(zip(ranked.ids, ranked.p))
    assert min(p[id_of(i)] for i in LOW) > 0.8 > 0.2 > max(p[id_of(i)] for i in HIGH)
    assert ranked.ids[:2] == sorted(ranked.ids[:2], key=lambda s: -p[s])


def test_the_model_follows_the_decisions_not_the_heuristic(ws):
    _decide(ws, lambda i: i % 2 == 1)  # here humans edit the high-score captions: the model must rank them first
    catalog = Catalog(ws)
    caption_attention.train(catalog)
    ranked = caption_attention.rank(catalog, 500)
    assert {ranked.ids[0], ranked.ids[1]} == {id_of(i) for i in HIGH}


def test_caption_edits_per_1000_reviewed_samples_by_stage(ws):
    """Events count in the stage of the latest routing run at or before them; undone events do not count."""
    assert Engine(ws).caption_edits([])[MANUAL] == {"edits": 0, "reviewed": 0, "per_1000": None}
    log = ReviewLog(ws, "r")
    for i in range(8):
        log.accept(id_of(i), at_us=10 + i)
    for i in range(2):
        log.edit_caption(id_of(i), f"better {i}", caption_of(i), at_us=50)
    log.edit_caption(id_of(20), "at the run: that run's stage", caption_of(20), at_us=100)
    log.edit_caption(id_of(20), "again", caption_of(20), at_us=150)
    undone = log.edit_caption(id_of(21), "undone", caption_of(21), at_us=160)
    log.undo(undone["event_id"], at_us=170)
    log.tag(id_of(22), caption_attention.CAPTION_OK, at_us=199)
    log.accept(id_of(30), at_us=500)
    log.close()
    report = Engine(ws).caption_edits([(100, SEMI), (200, FULL)])
    assert report[MANUAL] == {"edits": 2, "reviewed": 8, "per_1000": 250.0}
    assert report[SEMI] == {"edits": 2, "reviewed": 2, "per_1000": 1000.0}
    assert report[FULL] == {"edits": 0, "reviewed": 1, "per_1000": 0.0}
