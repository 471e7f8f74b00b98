"""Conflicting decisions: the rule that picks one (admin outranks reviewer, then the latest by event time),
the roles recorded in events, the Conflicts queue, and old compacted files without a role column."""
import pyarrow.parquet as pq
import pytest

from curation.catalog import Catalog
from curation.reviews import ReviewError, ReviewLog, compact, read_events
from curation.workspace import Workspace
from labeling_ui import queues
from labeling_ui.queues import QueueSpec
from tests.review.workspaces import id_of, small_workspace


@pytest.fixture
def ws(tmp_path):
    return Workspace.init(tmp_path / "ws")


def _state(ws) -> dict[str, dict]:
    return {r["sample_id"]: r for r in Catalog(ws).query("SELECT * FROM review_state").to_pylist()}


def test_the_latest_decision_wins_among_reviewers_and_the_conflict_shows_both(ws):
    alice, bob = ReviewLog(ws, "alice", role="reviewer"), ReviewLog(ws, "bob", role="reviewer")
    alice.accept("x")
    bob.reject("x", "duplicate")
    state = _state(ws)["x"]
    assert (state["decision"], state["decision_reviewer"], state["decision_role"]) == ("reject", "bob", "reviewer")
    assert state["conflicting"] and state["reviewer_decisions"] == ["alice: accept", "bob: reject"]
    assert state["decided_by"] == ["alice", "bob"]  # what work distribution counts
    alice.reject("x", "duplicate")  # alice changes her mind: they agree now
    assert not _state(ws)["x"]["conflicting"]


def test_an_admin_outranks_later_reviewers_and_settles_the_conflict(ws):
    admin, bob = ReviewLog(ws, "root", role="admin"), ReviewLog(ws, "bob", role="reviewer")
    bob.reject("x", "duplicate")
    admin.accept("x")  # the admin decides after bob: settled
    state = _state(ws)["x"]
    assert state["decision"] == "accept" and state["decision_role"] == "admin" and not state["conflicting"]
    bob.reject("x", "other")  # a later reviewer decision does not override the admin's, and reopens the conflict
    state = _state(ws)["x"]
    assert state["decision"] == "accept" and state["decision_reviewer"] == "root" and state["conflicting"]
    ReviewLog(ws, "carol").reject("y", "other")  # no role recorded: ranks as a reviewer
    assert _state(ws)["y"]["decision_role"] == "reviewer"


def test_an_undone_admin_decision_gives_way_to_the_reviewers(ws):
    admin, bob = ReviewLog(ws, "root", role="admin"), ReviewLog(ws, "bob")
    decided = admin.accept("x")
    bob.reject("x", "other")
    assert _state(ws)["x"]["decision"] == "accept"
    bob.undo(decided["event_id"])
    state = _state(ws)["x"]
    assert state["decision"] == "reject" and not state["conflicting"]


def test_roles_are_checked_and_recorded_through_compaction(ws):
    with pytest.raises(ReviewError, match="role 'owner' is not one of reviewer, admin"):
        ReviewLog(ws, "alice", role="owner")
    log = ReviewLog(ws, "alice", role="admin")
    log.accept("x")
    log.close()
    compact(ws)
    assert read_events(ws).table["role"].to_pylist() == ["admin"]
    assert _state(ws)["x"]["decision_role"] == "admin"


def test_compacted_files_of_review_events_version_1_read_as_null_roles(ws):
    ReviewLog(ws, "bob").reject("x", "other")
    compact(ws)
    old = ws.parquet_files("reviews")[0]
    pq.write_table(pq.read_table(old).drop(["role"]), old)  # as an older gristmill wrote it
    ReviewLog(ws, "root", role="admin").accept("x")
    assert read_events(ws).table["role"].to_pylist() == [None, "admin"]
    state = _state(ws)["x"]
    assert state["decision"] == "accept" and state["decision_role"] == "admin" and not state["conflicting"]


def test_the_conflicts_queue_holds_the_disagreements_newest_first(tmp_path):
    ws = small_workspace(tmp_path / "ws", n=12)
    alice, bob = ReviewLog(ws, "alice"), ReviewLog(ws, "bob")
    for i in (1, 3, 5):
        alice.accept(id_of(i))
        bob.reject(id_of(i), "other")
    alice.accept(id_of(7))
    bob.accept(id_of(7))  # agreement: no conflict
    ReviewLog(ws, "root", role="admin").reject(id_of(5), "other")  # settled by an admin
    catalog = Catalog(ws)
    with pytest.raises(ValueError, match="hide_reviewed=False"):
        queues.build(catalog, QueueSpec("conflicts"))
    queue = queues.build(catalog, QueueSpec("conflicts", hide_reviewed=False))
    rows = queues.page(catalog, queue, 0, 10)
    assert [r["sample_id"] for r in rows] == [id_of(3), id_of(1)]
    assert all(r["conflicting"] and r["reviewer_decisions"] == ["alice: accept", "bob: reject"] for r in rows)


def test_the_app_shows_the_conflicts_queue_with_the_rule(tmp_path, monkeypatch):
    from streamlit.testing.v1 import AppTest

    from labeling_ui import ENV_REVIEWER, ENV_WORKSPACE
    from tests.review.test_app import APP

    ws = small_workspace(tmp_path / "ws", n=12)
    ReviewLog(ws, "alice").accept(id_of(2))
    ReviewLog(ws, "bob").reject(id_of(2), "other")
    monkeypatch.setenv(ENV_WORKSPACE, str(ws.root))
    monkeypatch.setenv(ENV_REVIEWER, "carol")
    at = AppTest.from_file(APP, default_timeout=60).run()
    at.switch_page("views/review_queue.py").run()
    at.selectbox(key="q_kind").set_value("conflicts").run()
    assert not at.exception, at.exception
    assert "conflicting decisions" in at.caption[0].value and "1 samples" in at.caption[0].value
    assert any("an admin's outranks a reviewer's" in c.value for c in at.sidebar.caption)
    assert any("reviewers disagree: alice: accept, bob: reject" in m.value for m in at.markdown)
