"""Browser sessions of one server process share one review state (labeling_ui.shared_catalog): a decision made
in one session is in every session's review_state after a refresh, each session keeps its own queue tables,
the state tables exist once however many sessions there are, and refreshes from many threads lose nothing."""
import gc
import threading

from curation.catalog import Catalog
from curation.reviews import ReviewLog
from labeling_ui import queues
from labeling_ui.queues import QueueSpec
from labeling_ui.shared_catalog import session_catalog
from tests.review.workspaces import id_of, small_workspace, write_generated_captions


def _state(catalog) -> dict[str, str]:
    return {r["sample_id"]: r["decision"] for r in catalog.query("SELECT sample_id, decision FROM review_state").to_pylist()}


def _databases(catalog: Catalog) -> list[str]:
    return [name for (name,) in catalog.con.execute("SELECT database_name FROM duckdb_databases() "
                                                    "WHERE NOT internal").fetchall()]


def test_sessions_share_one_review_state_and_keep_their_own_queues(tmp_path):
    ws = small_workspace(tmp_path / "ws", n=40)
    shared = Catalog(ws)
    a, b = shared.session(), shared.session()
    log = ReviewLog(ws, "ann")
    log.accept(id_of(1))
    a.refresh_reviews()
    assert _state(b) == {id_of(1): "accept"}, "b sees what a's refresh read, without reading the log itself"
    log.reject(id_of(2), "other")
    b.refresh_reviews()
    assert _state(a) == _state(shared) == {id_of(1): "accept", id_of(2): "reject"}
    log.close()

    queue_a = queues.build(a, QueueSpec("audit", subset="all", seed=0, hide_reviewed=False), reviewer="ann")
    queue_b = queues.build(b, QueueSpec("audit", subset="all", seed=1, hide_reviewed=False), reviewer="bob")
    ranks = lambda c: c.query("SELECT sample_id FROM ui.queue ORDER BY rank").column(0).to_pylist()  # noqa: E731
    assert queue_a.size == queue_b.size == 40 and ranks(a) != ranks(b), "each session has its own ui.queue"
    tables = shared.con.execute("SELECT database_name, schema_name, table_name FROM duckdb_tables() "
                                "WHERE table_name IN ('state', 'journal')").fetchall()
    assert sorted(tables) == [(shared._database, "review_log", "journal"), (shared._database, "review_log", "state")]

    a.close()
    assert len(_databases(shared)) == 2, "a closed session's database goes at once"
    del b
    gc.collect()
    shared.refresh_reviews()
    assert _databases(shared) == [shared._database], "a collected session's database goes at the next refresh"


def test_a_new_session_sees_folders_that_appeared_since(tmp_path):
    ws = small_workspace(tmp_path / "ws", n=10)
    first = session_catalog(ws)
    assert first.query("SELECT count(*) AS n FROM caption").column(0)[0].as_py() == 0
    write_generated_captions(ws, {id_of(i): f"generated {i}" for i in range(10)})
    assert session_catalog(ws).query("SELECT count(*) AS n FROM caption").column(0)[0].as_py() == 10


def test_refreshes_from_many_threads_lose_no_decision(tmp_path):
    ws = small_workspace(tmp_path / "ws", n=200)
    shared = Catalog(ws)
    errors = []

    def reviewer(k: int) -> None:
        catalog, log = shared.session(), ReviewLog(ws, f"r{k}")
        try:
            for i in range(k, 200, 4):
                log.accept(id_of(i))
                catalog.refresh_reviews()
                assert _state(catalog).get(id_of(i)) == "accept", "a session reads its own decision back"
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            log.close()
            catalog.close()

    threads = [threading.Thread(target=reviewer, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    shared.refresh_reviews()
    assert _state(shared) == {id_of(i): "accept" for i in range(200)}
