"""Queue SQL, paging, tuner counts and the summaries, against the catalog of a small workspace."""
import pytest

from curation.catalog import Catalog
from curation.curate import load_recipe
from curation.reviews import ReviewLog
from labeling_ui import queues, summaries, tuner
from labeling_ui.queues import QueueSpec
from labeling_ui.tuner import Threshold
from tests.review.workspaces import CLIP_THRESHOLD, caption_of, id_of, small_workspace, write_generated_captions


@pytest.fixture
def ws(tmp_path):
    return small_workspace(tmp_path / "ws", n=40)


def _all_pages(catalog, queue, size):
    rows, index = [], 0
    while batch := queues.page(catalog, queue, index, size):
        rows += batch
        queues.prefetch(catalog, queue, index, size)
        index += 1
    return rows


def test_pages_cover_the_queue_once_in_order_across_chunks(ws, monkeypatch):
    monkeypatch.setattr(queues, "CHUNK_ROWS", 7)
    monkeypatch.setattr(queues, "PREFETCH_ROWS", 3)
    catalog = Catalog(ws)
    queue = queues.build(catalog, QueueSpec("audit", subset="all"))
    rows = _all_pages(catalog, queue, 4)
    assert [r["rank"] for r in rows] == list(range(1, 41)) and queue.size == 40
    assert len({r["sample_id"] for r in rows}) == 40
    assert rows[0]["caption"] and rows[0]["media_size"] and "clip.clip_score" in rows[0]


def test_margin_queue_orders_by_distance_to_the_threshold(ws):
    catalog = Catalog(ws)
    queue = queues.build(catalog, QueueSpec("margin", column="clip.clip_score", threshold=CLIP_THRESHOLD))
    distances = [abs(r["clip.clip_score"] - CLIP_THRESHOLD) for r in _all_pages(catalog, queue, 12)]
    assert distances == sorted(distances) and len(distances) == 40
    with pytest.raises(ValueError, match="unknown score column"):
        queues.build(catalog, QueueSpec("margin", column="clip.nope", threshold=0))


def test_dropped_and_audit_subsets_follow_the_decisions(ws):
    catalog = Catalog(ws)
    reasons = queues.drop_reasons(catalog)
    assert [r for r, _ in reasons] == ["filter:clip.clip_score"]
    dropped = queues.build(catalog, QueueSpec("dropped", reason=reasons[0][0]))
    kept = queues.build(catalog, QueueSpec("audit", subset="kept")).size
    assert dropped.size == reasons[0][1] and kept + dropped.size == 40


def test_reviewed_samples_are_hidden_and_the_page_shows_the_live_state(ws):
    catalog = Catalog(ws)
    log = ReviewLog(ws, "alice")
    log.accept(id_of(0))
    catalog.refresh_reviews()
    hidden = queues.build(catalog, QueueSpec("audit", subset="all"))
    shown = queues.build(catalog, QueueSpec("audit", subset="all", hide_reviewed=False))
    assert (hidden.size, shown.size) == (39, 40)
    log.reject(id_of(1), "duplicate")
    catalog.refresh_reviews()
    decisions = {r["sample_id"]: r["decision"] for r in _all_pages(catalog, shown, 40)}
    assert decisions[id_of(0)] == "accept" and decisions[id_of(1)] == "reject"


def test_similar_queue_ranks_by_cosine(ws):
    catalog = Catalog(ws)
    queue = queues.build(catalog, QueueSpec("similar", text=id_of(3), hide_reviewed=False))
    assert queue.size == 39
    sims = catalog.query(queues.similar_sql(), [id_of(3), 100])["similarity"].to_pylist()
    assert sims == sorted(sims, reverse=True) and len(sims) == 39


def test_tuner_counts_match_direct_sql(ws):
    catalog = Catalog(ws)
    tuner.build(catalog, ["clip.clip_score", "basic.luma_std"])
    lo, hi = tuner.ranges(catalog, ["clip.clip_score"])["clip.clip_score"]
    assert lo < CLIP_THRESHOLD < hi
    both = [Threshold("clip.clip_score", "min", CLIP_THRESHOLD), Threshold("basic.luma_std", "max", 40.0)]
    result = tuner.counts(catalog, both)
    expected = catalog.query(
        "SELECT count(*) FILTER (WHERE clip_score >= 0.25 AND luma_std <= 40) AS kept, "
        "count(*) FILTER (WHERE clip_score < 0.25) AS clip_fail, "
        "count(*) FILTER (WHERE luma_std > 40 AND clip_score >= 0.25) AS only_luma "
        "FROM clip JOIN basic USING (sample_id)").to_pylist()[0]
    assert result["total"] == 40 and result["kept"] == expected["kept"]
    assert result["filters"][0]["dropped"] == expected["clip_fail"]
    assert result["filters"][1]["dropped_only_by_this"] == expected["only_luma"]
    above, below = tuner.near(catalog, both[0], k=3)
    assert all(r["value"] >= CLIP_THRESHOLD for r in above) and all(r["value"] < CLIP_THRESHOLD for r in below)
    assert len(above) == len(below) == 3


def test_tuner_recipe_is_a_valid_recipe_or_a_clear_error(ws):
    path = tuner.save_recipe(ws, "tuned", [Threshold("clip.clip_score", "min", 0.3)])
    assert "clip.clip_score" in path.read_text()
    assert load_recipe(path).models == {"clip": "test-model"}  # the model of the scores the thresholds were set on
    with pytest.raises(Exception, match="not a valid recipe"):
        tuner.save_recipe(ws, "bad name!", [Threshold("clip.clip_score", "min", 0.3)])


def test_agreement_and_kappa(ws):
    alice, bob, carol = (ReviewLog(ws, name) for name in ("alice", "bob", "carol"))
    for i in range(10):
        alice.accept(id_of(i)) if i < 5 else alice.reject(id_of(i), "duplicate")
        bob.accept(id_of(i)) if i < 6 else bob.reject(id_of(i), "duplicate")
    first = carol.accept(id_of(0))
    carol.undo(first["event_id"])  # an undone decision does not count
    pairs = summaries.agreement(Catalog(ws))
    assert len(pairs) == 1
    pair = pairs[0]
    assert (pair["overlap"], pair["agreed"], pair["agreement"]) == (10, 9, 0.9)
    assert pair["kappa"] == pytest.approx(0.8, abs=1e-3)  # po 0.9, pe 0.5


def test_pages_carry_generated_captions_when_the_captioning_scorer_ran(ws):
    write_generated_captions(ws, {id_of(i): f"generated {i}" for i in range(5)})
    catalog = Catalog(ws)
    rows = {r["sample_id"]: r for r in _all_pages(catalog, queues.build(catalog, QueueSpec("audit", subset="all")), 40)}
    assert [rows[id_of(i)]["generated_caption"] for i in range(6)] == [f"generated {i}" for i in range(5)] + [None]
    assert rows[id_of(0)]["caption"] == caption_of(0)  # the original caption is untouched
    catalog.con.execute("DROP VIEW caption")  # a workspace whose catalog has no captioning scorer at all
    rows = _all_pages(catalog, queues.build(catalog, QueueSpec("audit", subset="all")), 40)
    assert len(rows) == 40 and {r["generated_caption"] for r in rows} == {None}
