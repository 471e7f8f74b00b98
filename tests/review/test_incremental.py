"""Cost independent of history: the journals are read incrementally, compaction reads only what was appended,
runs in the background next to live writers and other processes, and review_state is maintained, not
recomputed. Assertions count bytes read and state rows rebuilt, never seconds."""
import os
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from curation.catalog import Catalog
from curation.reviews import JOURNAL, REVIEWS, JournalTail, ReviewLog, compact, pending_bytes, read_events
from curation.workspace import Workspace
from labeling_ui.compactor import Compactor

ROOT = Path(__file__).parents[2]


@pytest.fixture
def ws(tmp_path):
    return Workspace.init(tmp_path / "ws")


def _full_state(catalog: Catalog) -> list[dict]:
    from curation.reviews import review_state_sql

    return catalog.query(f"SELECT * FROM ({review_state_sql('reviews')}) ORDER BY sample_id").to_pylist()


def _kept_state(catalog: Catalog) -> list[dict]:
    return catalog.query("SELECT * FROM review_state ORDER BY sample_id").to_pylist()


def test_the_tail_reads_only_appended_bytes_and_a_torn_line_later(ws):
    log = ReviewLog(ws, "alice")
    for i in range(500):
        log.accept(f"s{i:04d}")
    tail = JournalTail(ws)
    assert tail.read().table.num_rows == 500
    size = log.path.stat().st_size
    assert tail.bytes_read == size
    event = log.reject("s0001", "other")
    read = tail.read()
    assert read.table["event_id"].to_pylist() == [event["event_id"]]
    assert tail.bytes_read == log.path.stat().st_size  # the new line only, not the 500 before it
    line = log.path.read_bytes()[size:].replace(event["event_id"].encode(), b"f" * 32)
    log.close()
    with open(log.path, "ab") as fh:  # a writer in the middle of a line
        fh.write(line[:40])
    torn = tail.read()
    assert torn.table.num_rows == 0 and "incomplete last line" in torn.problems[0]
    with open(log.path, "ab") as fh:
        fh.write(line[40:])
    assert tail.read().table["event_id"].to_pylist() == ["f" * 32]  # read once complete, not lost


def test_a_journal_replaced_under_its_name_is_read_again_from_the_start(ws):
    log = ReviewLog(ws, "alice", session="s1")
    log.accept("a")
    log.accept("b")
    log.close()
    tail = JournalTail(ws)
    assert tail.read().table.num_rows == 2
    compact(ws)  # a dead journal: compacted, then deleted
    assert not log.path.exists()
    again = ReviewLog(ws, "alice", session="s1")  # the session resumed: a new file under the old name
    resumed = again.accept("c")
    again.close()
    assert tail.read().table["event_id"].to_pylist() == [resumed["event_id"]]


def test_a_click_rebuilds_the_state_of_its_sample_only(ws):
    alice, bob = ReviewLog(ws, "alice"), ReviewLog(ws, "bob")
    for i in range(2000):
        alice.accept(f"s{i:04d}")
    for i in range(0, 2000, 2):
        bob.reject(f"s{i:04d}", "other")
    compact(ws)
    for i in range(1000):
        alice.tag(f"s{i:04d}", "seen")
    catalog = Catalog(ws)
    views = catalog.review_views
    read_at_open = views.tail.bytes_read
    undone = alice.accept("s0002")
    catalog.refresh_reviews()
    assert views.samples_recomputed == 1 and views.events_recomputed == 4  # accept, reject, tag, accept
    assert views.tail.bytes_read - read_at_open == len(_line(alice, undone))
    alice.undo(undone["event_id"])
    bob.accept("s1999")
    catalog.refresh_reviews()
    assert views.samples_recomputed == 3
    assert _kept_state(catalog) == _full_state(catalog)
    state = {r["sample_id"]: r for r in _kept_state(catalog)}
    assert state["s0002"]["decision"] == "reject" and state["s1999"]["decision"] == "accept"
    assert views.compacted_lookups == 3  # all three had compacted events
    first = alice.accept("never-reviewed")  # the usual click: a sample nobody reviewed yet
    alice.undo(first["event_id"])
    bob.reject("never-reviewed", "other")
    catalog.refresh_reviews()
    assert views.compacted_lookups == 3 and views.samples_recomputed == 4  # rebuilt from the journals alone
    assert _kept_state(catalog) == _full_state(catalog)


def _line(log: ReviewLog, event: dict) -> bytes:
    return next(line for line in log.path.read_bytes().splitlines(keepends=True)
                if event["event_id"].encode() in line)


def test_a_compaction_between_refreshes_loses_nothing_the_tail_missed(ws):
    catalog = Catalog(ws)
    log = ReviewLog(ws, "alice")
    log.accept("seen")
    catalog.refresh_reviews()
    log.reject("missed", "other")  # written and compacted (journal deleted) before the catalog refreshes
    log.close()
    report = compact(ws)
    assert report.journals_removed and report.events_written == 2
    catalog.refresh_reviews()
    assert catalog.query("SELECT count(*) AS n FROM review_log.journal").to_pylist() == [{"n": 0}]  # pruned
    state = {r["sample_id"]: r["decision"] for r in _kept_state(catalog)}
    assert state == {"seen": "accept", "missed": "reject"}
    assert _kept_state(catalog) == _full_state(catalog)


def test_a_first_review_read_and_compacted_between_two_refreshes_keeps_its_state(ws):
    catalog = Catalog(ws)
    log = ReviewLog(ws, "alice")
    log.accept("new")  # the live journal is compacted (and kept) before the catalog reads it
    assert compact(ws).events_written == 1
    catalog.refresh_reviews()  # reads the event from the journal and sees the new compacted file at once
    assert [(r["sample_id"], r["decision"]) for r in _kept_state(catalog)] == [("new", "accept")]
    ReviewLog(ws, "bob").reject("new", "other")
    catalog.refresh_reviews()
    assert _kept_state(catalog) == _full_state(catalog)


def test_compaction_reads_only_what_was_appended_since_the_previous_one(ws):
    log = ReviewLog(ws, "alice")
    for i in range(1000):
        log.accept(f"s{i:04d}")
    first = compact(ws)
    assert first.events_written == 1000 and first.bytes_read == log.path.stat().st_size
    size = log.path.stat().st_size
    log.reject("s0001", "other")
    second = compact(ws)
    assert second.events_written == 1 and second.bytes_read == log.path.stat().st_size - size
    assert compact(ws).bytes_read == 0 and pending_bytes(ws) == 0
    ids = read_events(ws).table["event_id"].to_pylist()
    assert len(ids) == len(set(ids)) == 1001


def test_a_log_compacted_without_positions_or_a_shrunk_journal_is_deduplicated(ws):
    log = ReviewLog(ws, "alice")
    for i in range(10):
        log.accept(f"s{i}")
    compact(ws)
    old = ws.parquet_files(REVIEWS)[0]
    table = pq.read_table(old)
    pq.write_table(table.replace_schema_metadata({}), old)  # as an older gristmill wrote it: no positions
    log.accept("s10")
    assert compact(ws).events_written == 1  # everything read again, the 10 compacted ones skipped
    content = log.path.read_bytes()
    log.close()
    log.path.write_bytes(content[: content.rfind(b"\n", 0, len(content) - 1) + 1])  # shorter than its position
    assert compact(ws).events_written == 0
    ids = read_events(ws).table["event_id"].to_pylist()
    assert len(ids) == len(set(ids)) == 11


def _writer(ws: Workspace, reviewer: str, n: int) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "tests.review.writer", str(ws.root), reviewer, str(n), "accept"],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _compactor_process(ws: Workspace, seconds: float) -> subprocess.Popen:
    code = ("import sys, time; from curation.workspace import Workspace; from labeling_ui.compactor import Compactor;"
            "c = Compactor(Workspace.open(sys.argv[1]), 0.02, 1).start(); time.sleep(float(sys.argv[2])); c.stop();"
            "print(len(c.rounds))")
    return subprocess.Popen([sys.executable, "-c", code, str(ws.root), str(seconds)], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_background_compaction_in_two_processes_with_live_writers_loses_nothing(ws):
    writers = {name: _writer(ws, name, 1500) for name in ("alice", "bob", "carol")}
    other = _compactor_process(ws, 4.0)  # a second `gristmill review` process on the workspace
    here = Compactor(ws, interval_s=0.02, min_bytes=1).start()
    catalog = Catalog(ws)
    acknowledged = set()
    while any(p.poll() is None for p in writers.values()):
        catalog.refresh_reviews()  # a reviewer's clicks, while compaction moves events under it
        time.sleep(0.01)
    for name, process in writers.items():
        out, err = process.communicate()
        assert process.returncode == 0, f"writer {name} failed:\n{err}"
        acknowledged |= set(out.split())
    out, err = other.communicate()
    assert other.returncode == 0, err
    here.stop()
    assert len(here.rounds) + int(out) > 2, "compaction never ran while the writers wrote"
    compact(ws)
    events = read_events(ws).table
    ids = events["event_id"].to_pylist()
    assert len(ids) == len(set(ids)) == len(acknowledged) == 4500 and set(ids) == acknowledged
    for name in writers:
        seqs = [e["seq"] for e in events.to_pylist() if e["reviewer"] == name]
        assert seqs == list(range(1500)), f"{name}: events lost or out of order"
    compacted = [i for f in ws.parquet_files(REVIEWS) for i in pq.read_table(f, columns=["event_id"])["event_id"]
                 .to_pylist()]
    assert sorted(compacted) == sorted(ids), "a compacted file lost or duplicated an event"
    assert not os.listdir(ws.path(REVIEWS, JOURNAL)), "dead journals were not compacted away"
    catalog.refresh_reviews()
    assert _kept_state(catalog) == _full_state(catalog)
    assert catalog.query("SELECT count(*) AS n FROM reviews").to_pylist() == [{"n": 4500}]


def test_the_app_compacts_in_the_background_while_it_is_up(tmp_path, monkeypatch):
    import json

    from streamlit.testing.v1 import AppTest

    from curation.reviews import now_us
    from labeling_ui import ENV_COMPACT_S, ENV_REVIEWER, ENV_WORKSPACE, compactor
    from tests.review.test_app import APP
    from tests.review.workspaces import id_of, small_workspace

    monkeypatch.setattr(compactor, "MIN_BYTES", 64 << 10)
    ws = small_workspace(tmp_path / "ws", n=12)
    journal = ws.path(REVIEWS, JOURNAL, "earlier-session.jsonl")  # a finished session's journal, over MIN_BYTES
    journal.parent.mkdir(parents=True, exist_ok=True)
    start, lines = now_us(), []
    for k in range(compactor.MIN_BYTES // 150):
        lines.append(json.dumps({"event_id": f"e{k}", "sample_id": id_of(k % 12), "action": "tag_add",
                                 "tag": f"t{k}", "reviewer": "earlier", "session": "earlier-session",
                                 "ts": start + k, "seq": k}))
    journal.write_text("\n".join(lines) + "\n")
    monkeypatch.setenv(ENV_WORKSPACE, str(ws.root))
    monkeypatch.setenv(ENV_REVIEWER, "tester")
    monkeypatch.setenv(ENV_COMPACT_S, "0.05")
    at = AppTest.from_file(APP, default_timeout=60).run()
    assert not at.exception, at.exception
    deadline = time.monotonic() + 60
    while not ws.parquet_files(REVIEWS) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert ws.parquet_files(REVIEWS), "no background compaction while the app was up"
    assert not journal.exists()  # a dead journal: compacted, then removed
    assert len(read_events(ws).table) == len(lines)
