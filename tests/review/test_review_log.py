"""The review log: events, current state, undo, config, torn lines and compaction."""
import json
import logging
import os

import pytest

from curation.catalog import Catalog
from curation.reviews import (
    ReviewConfig,
    ReviewError,
    ReviewLog,
    compact,
    journal_files,
    load_config,
    read_events,
    save_config,
)
from curation.workspace import Workspace


@pytest.fixture
def ws(tmp_path):
    return Workspace.init(tmp_path / "ws")


def _state(ws) -> dict[str, dict]:
    catalog = Catalog(ws)
    return {r["sample_id"]: r for r in catalog.query("SELECT * FROM review_state").to_pylist()}


def test_every_action_is_an_event_with_reviewer_session_and_order(ws):
    log = ReviewLog(ws, "alice")
    log.accept("a")
    log.reject("b", "duplicate")
    log.edit_caption("a", "a red bicycle", "IMG_0001.jpg")
    log.tag("a", "hard_case")
    log.untag("a", "hard_case")
    log.label("a", "media_type", "photo")
    events = log.events().to_pylist()
    assert [e["action"] for e in events] == ["accept", "reject", "edit_caption", "tag_add", "tag_remove", "label"]
    assert [e["seq"] for e in events] == list(range(6))
    assert {e["reviewer"] for e in events} == {"alice"} and {e["session"] for e in events} == {log.session}
    assert [e["ts"] for e in events] == sorted(e["ts"] for e in events)
    assert events[2]["old_caption"] == "IMG_0001.jpg" and events[2]["new_caption"] == "a red bicycle"
    assert events[1]["reason"] == "duplicate"


def test_state_takes_the_latest_of_each_kind_and_ignores_undone_events(ws):
    log = ReviewLog(ws, "alice")
    log.reject("a", "low_quality")
    log.accept("a")
    log.edit_caption("a", "first fix", "orig")
    second = log.edit_caption("a", "second fix", "first fix")
    log.tag("a", "keep")
    log.tag("a", "gone")
    log.untag("a", "gone")
    log.label("a", "nsfw", "false")
    log.undo(second["event_id"])
    undone = log.accept("b")
    log.undo(undone["event_id"])
    state = _state(ws)
    assert state["a"]["decision"] == "accept" and state["a"]["decision_reviewer"] == "alice"
    assert state["a"]["final_caption"] == "first fix"
    assert state["a"]["tags"] == ["keep"] and dict(state["a"]["labels"]) == {"nsfw": "false"}
    assert state["a"]["n_events"] == 9 and not state["a"]["conflicting"]
    assert state["b"]["decision"] is None and state["b"]["n_events"] == 2


def test_conflicting_reviewers_are_both_kept_the_latest_wins_visibly(ws):
    alice, bob = ReviewLog(ws, "alice"), ReviewLog(ws, "bob")
    alice.accept("x")
    bob.reject("x", "caption_mismatch")
    alice.accept("y")
    bob.accept("y")
    state = _state(ws)
    assert state["x"]["decision"] == "reject" and state["x"]["decision_reviewer"] == "bob"
    assert state["x"]["reject_reason"] == "caption_mismatch" and state["x"]["conflicting"]
    assert not state["y"]["conflicting"]
    history = Catalog(ws).query("SELECT reviewer, action FROM reviews WHERE sample_id = 'x'").to_pylist()
    assert history == [{"reviewer": "alice", "action": "accept"}, {"reviewer": "bob", "action": "reject"}]


def test_reject_reasons_come_from_the_config(ws):
    with pytest.raises(ReviewError, match="unknown reject reason 'blurry'.*caption_mismatch"):
        ReviewLog(ws, "alice").reject("a", "blurry")
    save_config(ws, ReviewConfig(reject_reasons=["blurry", "other"]))
    assert load_config(ws).reject_reasons == ["blurry", "other"]
    assert ReviewLog(ws, "alice").reject("a", "blurry")["reason"] == "blurry"


def test_bad_config_and_bad_actions_say_why(ws):
    ws.path("reviews", "config.yaml").write_text("reject_reasons: [Bad Reason]\n")
    with pytest.raises(ReviewError, match="not a valid review config"):
        ReviewLog(ws, "alice")
    ws.path("reviews", "config.yaml").unlink()
    log = ReviewLog(ws, "alice")
    with pytest.raises(ReviewError, match="no review event"):
        log.undo("nope")
    undo = log.undo(log.accept("a")["event_id"])
    with pytest.raises(ReviewError, match="is an undo"):
        log.undo(undo["event_id"])
    with pytest.raises(ReviewError, match="same as the old"):
        log.edit_caption("a", "same", "same")
    with pytest.raises(ReviewError, match="session"):
        ReviewLog(ws, "alice", session="../escape")
    with pytest.raises(ReviewError, match="reviewer"):
        ReviewLog(ws, " ")


def test_a_torn_last_line_is_ignored_reported_and_cut_when_the_session_resumes(ws, caplog):
    log = ReviewLog(ws, "alice", session="s1")
    kept = log.accept("a")
    log.close()
    with open(log.path, "ab") as fh:
        fh.write(b'{"event_id":"torn","sample_id":"b","act')
    read = read_events(ws)
    assert read.table["event_id"].to_pylist() == [kept["event_id"]]
    assert len(read.problems) == 1 and "incomplete last line" in read.problems[0]
    assert Catalog(ws).review_problems == read.problems
    with caplog.at_level(logging.WARNING):
        resumed = ReviewLog(ws, "alice", session="s1").accept("c")
    assert "torn last line" in caplog.text
    assert resumed["seq"] == 1 and resumed["ts"] >= kept["ts"]
    assert [json.loads(line)["sample_id"] for line in log.path.read_text().splitlines()] == ["a", "c"]
    assert read_events(ws).problems == []


def test_a_corrupt_middle_line_is_skipped_and_reported_not_fatal(ws):
    log = ReviewLog(ws, "alice")
    log.accept("a")
    with open(log.path, "ab") as fh:
        fh.write(b"not json\n")
    log.accept("b")
    read = read_events(ws)
    assert read.table["sample_id"].to_pylist() == ["a", "b"]
    assert "corrupt line" in read.problems[0]


def test_a_session_in_use_cannot_be_opened_twice(ws, monkeypatch):
    monkeypatch.setattr("curation.reviews._LOCK_WAIT_S", 0.1)
    ReviewLog(ws, "alice", session="busy").accept("a")
    with pytest.raises(ReviewError, match="in use by another writer"):
        ReviewLog(ws, "alice", session="busy").accept("b")


def test_compaction_moves_dead_journals_keeps_live_ones_and_is_idempotent(ws):
    live = ReviewLog(ws, "alice")
    dead = ReviewLog(ws, "bob")
    for i in range(5):
        live.accept(f"s{i}")
        dead.reject(f"s{i}", "duplicate")
    dead.close()
    report = compact(ws)
    assert report.events_written == 10 and report.journals_removed == [dead.path]
    assert report.journals_live == [live.path]
    assert compact(ws).events_written == 0 and compact(ws).parquet is None
    live.accept("s9")
    dead.accept("s9")  # a closed session reopens a fresh journal and continues its seq
    assert compact(ws).events_written == 2
    events = read_events(ws).table
    assert events.num_rows == 12 and len(set(events["event_id"].to_pylist())) == 12
    bob = [e["seq"] for e in events.to_pylist() if e["reviewer"] == "bob"]
    assert bob == list(range(6))
    assert Catalog(ws).query("SELECT count(*) AS n FROM reviews").column("n")[0].as_py() == 12
    assert sorted(p.name for p in ws.parquet_files("reviews")) == ["00000.parquet", "00001.parquet"]


def test_journal_events_already_compacted_are_not_counted_twice(ws):
    log = ReviewLog(ws, "alice")
    log.accept("a")
    compact(ws)  # the live journal stays and still holds the event
    assert journal_files(ws) == [log.path]
    catalog = Catalog(ws)
    assert catalog.query("SELECT count(*) AS n FROM reviews").column("n")[0].as_py() == 1
    assert read_events(ws).table.num_rows == 1


def test_a_failed_write_leaves_no_partial_line(ws, monkeypatch):
    log = ReviewLog(ws, "alice")
    log.accept("a")
    real_write = os.write

    def half_then_fail(fd, data):
        real_write(fd, data[: len(data) // 2])
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "write", half_then_fail)
    with pytest.raises(OSError):
        log.accept("b")
    monkeypatch.setattr(os, "write", real_write)
    log.accept("c")
    read = read_events(ws)
    assert read.table["sample_id"].to_pylist() == ["a", "c"] and read.problems == []
