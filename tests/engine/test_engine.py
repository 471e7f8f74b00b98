"""The engine loop on a small synthetic corpus: learning, thresholds, routing, human precedence, audits."""
import json

import numpy as np
import pyarrow.parquet as pq
import pytest
from sklearn.metrics import roc_auc_score

from curation.engine import FULL, MANUAL, Engine, EngineConfig, EngineError, store
from schemas import DECISIONS
from tests.engine.conftest import SPEC, review_random


def test_learns_the_category_rule_from_reviews(corpus, reviewer):
    review_random(corpus, reviewer, 300)
    engine = Engine(corpus.workspace, EngineConfig())
    report = engine.train()
    _, p = engine.probabilities()
    truth = np.asarray([corpus.truth[s] for s in engine.samples().ids])
    assert roc_auc_score(truth, p) > 0.95
    bad_category = np.isin(corpus.category, SPEC.bad_categories)
    by_id = dict(zip(corpus.ids, bad_category))
    in_bad = np.asarray([by_id[s] for s in engine.samples().ids])
    assert p[in_bad].mean() < 0.1 < 0.8 < p[~in_bad & truth].mean()  # the category is only in the embedding
    assert report.quality.n == 300 and report.quality.auc > 0.9


def test_thresholds_meet_the_target_on_samples_nobody_reviewed(corpus, reviewer):
    reviewed = set(review_random(corpus, reviewer, 400))
    engine = Engine(corpus.workspace, EngineConfig(target_precision=0.95))
    report = engine.train()
    accept, reject = report.thresholds.accept, report.thresholds.reject
    assert accept and reject and accept.precision >= 0.95 and accept.ci_low <= accept.precision <= accept.ci_high
    routes = engine.latest_route().to_pylist()
    assert not reviewed & {r["sample_id"] for r in routes}  # human-decided samples are never routed
    auto_accepted = [r["sample_id"] for r in routes if r["route"] == "accept"]
    auto_rejected = [r["sample_id"] for r in routes if r["route"] == "reject"]
    assert len(auto_accepted) > 500 and len(auto_rejected) > 100
    # the estimate is held-out and statistical: the truth on unreviewed samples lies in its interval
    true_accept = np.mean([corpus.truth[s] for s in auto_accepted])
    true_reject = np.mean([not corpus.truth[s] for s in auto_rejected])
    assert accept.ci_low <= true_accept and true_accept >= 0.93
    assert reject.ci_low <= true_reject and true_reject >= 0.93


def test_automatic_decisions_are_decisions_rows_and_human_decisions_win(corpus, reviewer):
    review_random(corpus, reviewer, 300)
    engine = Engine(corpus.workspace, EngineConfig())
    route = engine.train().route
    rows = pq.read_table(route.decisions_path)
    assert rows.schema.equals(DECISIONS, check_metadata=False)
    assert set(rows["source"].to_pylist()) == {"engine"}
    assert json.loads(rows["versions"][0].as_py())["engine_model"] == "v0001"
    assert rows.num_rows == route.counts["accept"] + route.counts["reject"]
    auto = [r["sample_id"] for r in rows.to_pylist() if r["kept"]]
    overruled = auto[:5]
    assert set(overruled) <= engine.kept()
    for sid in overruled:
        reviewer.log.reject(sid, "other")
    assert not set(overruled) & engine.kept()
    again = engine.route()
    assert not set(overruled) & set(engine.latest_route()["sample_id"].to_pylist())
    assert again.run == "00002" and route.decisions_path.is_file()


def test_audits_stop_automatic_decisions_when_humans_disagree(corpus, reviewer):
    review_random(corpus, reviewer, 300)
    config = EngineConfig(audit_fraction=0.2, min_audits=30)
    engine = Engine(corpus.workspace, config)
    assert engine.train().route.counts["audit"] >= 30
    for item in engine.queue(40):  # a reviewer who contradicts every audited decision
        assert item.kind == "audit"
        if item.p >= 0.5:
            reviewer.log.reject(item.sample_id, "other")
        else:
            reviewer.log.accept(item.sample_id)
    audits = engine.audits()
    assert audits.n == 40 and audits.agree == 0 and audits.stopped
    route = engine.route()
    assert route.stage == MANUAL and route.counts["accept"] == route.counts["reject"] == 0
    status = engine.status()
    assert status["stage"] == MANUAL and not status["automatic"] and "stopped" in status["audits"]["message"]
    engine.resume("reviewer was testing")
    assert not engine.audits().stopped and engine.route().counts["accept"] > 0


def test_agreeing_audits_keep_the_engine_automatic(corpus, reviewer):
    review_random(corpus, reviewer, 400)
    engine = Engine(corpus.workspace, EngineConfig(audit_fraction=0.2, min_audits=30))
    engine.train()
    for item in engine.queue(40):
        reviewer.review(item.sample_id)
    audits = engine.audits()
    assert audits.n == 40 and audits.rate >= 0.9 and not audits.stopped


def test_queue_is_uncertain_and_diverse(corpus, reviewer):
    review_random(corpus, reviewer, 300)
    engine = Engine(corpus.workspace, EngineConfig(audit_fraction=0.0, target_precision=0.99, calibration_share=0.2))
    assert engine.train().route.counts["flag"] >= 50
    items = engine.queue(10)
    assert len({i.sample_id for i in items}) == 10
    f, c = "flagged", "calibration"  # a fifth of the batch drawn at random, spread through it
    assert [i.kind for i in items] == [f, f, c, f, f, f, f, c, f, f]
    flagged = [i for i in items if i.kind == "flagged"]
    spread = {corpus.category[list(corpus.ids).index(i.sample_id)] for i in flagged}
    assert len(spread) >= 3  # not eight near-identical samples
    routes = dict(zip(*engine.latest_route().select(["sample_id", "route"]).to_pydict().values()))
    assert all(routes[i.sample_id] == "flag" for i in flagged)


def test_calibration_picks_cover_the_confident_ranges(corpus, reviewer):
    review_random(corpus, reviewer, 300)
    engine = Engine(corpus.workspace, EngineConfig(audit_fraction=0.0, target_precision=0.99, calibration_share=0.5))
    engine.train()
    items = engine.queue(40)
    drawn = np.asarray([i.p for i in items if i.kind == "calibration"])
    flagged = np.asarray([i.p for i in items if i.kind == "flagged"])
    assert len(drawn) == len(flagged) == 20
    # random picks reach where uncertainty sampling does not
    assert np.mean(np.abs(drawn - 0.5) > 0.4) > 0.5
    assert np.max(np.abs(flagged - 0.5)) < np.median(np.abs(drawn - 0.5))


def test_cold_start_queue_and_training_needs_decisions(corpus, reviewer):
    engine = Engine(corpus.workspace, EngineConfig())
    first = engine.queue(20)
    assert len(first) == 20 and {i.kind for i in first} == {"cold_start"}
    for item in first:
        reviewer.review(item.sample_id)
    with pytest.raises(EngineError, match="training needs 100"):
        engine.train()
    assert engine.maybe_retrain() is None


def test_retrains_after_every_n_decisions_and_never_overwrites(corpus, reviewer):
    review_random(corpus, reviewer, 120)
    engine = Engine(corpus.workspace, EngineConfig(retrain_every=50))
    assert engine.maybe_retrain().version == "v0001"
    model_file = corpus.workspace.path("engine", "models", "v0001", "model.npz")
    before = model_file.read_bytes()
    ids = [i.sample_id for i in engine.queue(49)]
    for sid in ids:
        reviewer.review(sid)
    assert engine.maybe_retrain() is None
    reviewer.review(engine.queue(1)[0].sample_id)
    assert engine.maybe_retrain().version == "v0002"
    assert store.versions(corpus.workspace) == ["v0001", "v0002"]
    assert store.current_version(corpus.workspace) == "v0002"
    assert model_file.read_bytes() == before
    run = store.route_files(corpus.workspace)[0]
    with pytest.raises(EngineError, match="never overwritten"):
        store._create(run, lambda tmp: tmp.write_bytes(b"x"))


def test_status_reports_stage_and_decisions_per_thousand(corpus, reviewer):
    review_random(corpus, reviewer, 400)
    engine = Engine(corpus.workspace, EngineConfig(full_auto_max_flagged=0.5))
    engine.train()
    status = engine.status()
    assert status["stage"] == FULL and status["model"]["version"] == "v0001"
    curated = 400 + status["queues"]["auto_accept"] + status["queues"]["auto_reject"]
    assert status["human_per_1000_curated"] == pytest.approx(1000 * 400 / curated)
    assert status["history"]["per_stage"]["assisted-manual"] == {"human": 400, "curated": 400, "per_1000": 1000.0}
    assert status["history"]["per_stage"]["fully-automatic"]["curated"] == curated - 400
    assert status["history"]["over_time"][-1]["per_1000"] == pytest.approx(status["human_per_1000_curated"])


def _contradict_audits(engine, reviewer, k: int) -> None:
    """A reviewer who decides against every audited proposal in the next k queue items."""
    for item in engine.queue(k):
        assert item.kind == "audit"
        if item.suggestion == "accept":
            reviewer.log.reject(item.sample_id, "other")
        else:
            reviewer.log.accept(item.sample_id)


def test_a_retrained_version_waits_for_its_own_audits_after_a_stop(corpus, reviewer):
    review_random(corpus, reviewer, 300)
    engine = Engine(corpus.workspace, EngineConfig(audit_fraction=0.2, min_audits=30))
    engine.train()
    _contradict_audits(engine, reviewer, 40)
    assert engine.audits().stopped
    retrained = engine.train()  # the review page's and `gristmill engine train`'s retrain
    assert retrained.version == "v0002"
    assert retrained.route.counts["accept"] == retrained.route.counts["reject"] == 0  # not automatic again
    assert retrained.route.counts["audit"] >= 30 and retrained.route.stage == MANUAL
    assert retrained.route.audits.waiting and retrained.route.audits.n == 0
    assert not pq.read_table(retrained.route.decisions_path).num_rows
    status = engine.status()
    assert not status["automatic"] and "probation" in status["audits"]["message"]
    audits = engine.queue(30)  # its own audits come first, with what the version proposed
    assert {i.kind for i in audits} == {"audit"} and {i.suggestion for i in audits} <= {"accept", "reject"}
    for item in audits[:29]:
        reviewer.review(item.sample_id)
    waiting = engine.route()  # 29 of 30: still waiting
    assert waiting.audits.waiting and waiting.counts["accept"] == waiting.counts["reject"] == 0
    reviewer.review(engine.queue(1)[0].sample_id)
    passed = engine.audits()
    assert passed.n == 30 and not passed.waiting and not passed.stopped
    again = engine.route()
    assert again.counts["accept"] + again.counts["reject"] > 0  # the contradicted accepts may keep accept manual
    assert again.stage != MANUAL and engine.status()["automatic"]


def test_a_retrained_version_that_fails_its_audits_stays_manual(corpus, reviewer):
    review_random(corpus, reviewer, 300)
    engine = Engine(corpus.workspace, EngineConfig(audit_fraction=0.2, min_audits=30))
    engine.train()
    engine.train()  # a retrain without a stop is on probation too
    assert engine.audits().waiting
    _contradict_audits(engine, reviewer, 30)
    failed = engine.audits()
    assert failed.stopped and not failed.waiting
    manual = engine.route()
    assert manual.counts["accept"] == manual.counts["reject"] == manual.counts["audit"] == 0


def test_an_operator_resume_lifts_probation(corpus, reviewer):
    review_random(corpus, reviewer, 300)
    engine = Engine(corpus.workspace, EngineConfig(audit_fraction=0.2, min_audits=30))
    engine.train()
    assert engine.train().route.counts["accept"] == 0
    engine.resume("v0002 checked by hand")
    assert not engine.audits().waiting and engine.route().counts["accept"] > 0


def test_audits_of_routing_runs_saved_before_probation_still_count(corpus, reviewer):
    review_random(corpus, reviewer, 300)
    engine = Engine(corpus.workspace, EngineConfig(audit_fraction=0.2, min_audits=30))
    engine.train()
    run = store.route_files(corpus.workspace)[-1]
    pq.write_table(pq.read_table(run).drop(["proposed"]), run)  # as an older gristmill wrote it
    audited = engine.queue(10)
    for item in audited:
        reviewer.review(item.sample_id)
    assert engine.audits().n == 10 and {i.kind for i in audited} == {"audit"}
