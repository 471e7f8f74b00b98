"""Leases: one holder per sample (two for double-reviewed ones), expiry, release, restarts, and several real
processes handing out one queue's pages (labeling_ui.work) without giving a sample to two reviewers."""
import multiprocessing as mp
import signal

import pytest

from curation.catalog import Catalog
from curation.leases import Leases
from curation.reviews import ReviewLog, read_events
from curation.workspace import Workspace
from labeling_ui import queues, work
from labeling_ui.queues import QueueSpec
from tests.review.workspaces import small_workspace

T0 = 1_800_000_000_000_000  # µs: every test says when, so nothing here depends on the clock or on timing
LEASE_US = 300_000_000
MARGIN = QueueSpec("margin", column="clip.clip_score", threshold=0.25)  # every member wants one reviewer


@pytest.fixture
def ws(tmp_path):
    return small_workspace(tmp_path / "ws", n=40)


def test_a_sample_goes_to_one_holder_until_its_lease_expires_or_is_released(tmp_path):
    leases = Leases(Workspace.init(tmp_path / "ws"))
    assert list(leases.claim("s-alice", "alice", [("a", 1), ("b", 1)], T0)) == ["a", "b"]
    assert list(leases.claim("s-bob", "bob", [("a", 1), ("b", 1), ("c", 1)], T0 + 1)) == ["c"]
    assert leases.held_by_others("s-bob", T0 + 1) == {"a": 1, "b": 1}
    assert list(leases.claim("s-alice", "alice", [("a", 1)], T0 + LEASE_US - 1)) == ["a"]  # a renewal
    assert list(leases.claim("s-bob", "bob", [("a", 1), ("b", 1)], T0 + LEASE_US)) == ["b"]  # b expired, a renewed
    assert leases.release("s-alice") == 1
    assert list(leases.claim("s-bob", "bob", [("a", 1)], T0 + LEASE_US + 1)) == ["a"]
    leases.keep_only("s-bob", ["a"], T0 + LEASE_US + 2)
    assert leases.held("s-bob", T0 + LEASE_US + 2) == ["a"]
    assert list(leases.claim("s-carol", "carol", [("b", 1), ("c", 1)], T0 + LEASE_US + 3)) == ["b", "c"]


def test_double_reviewed_samples_go_to_two_different_reviewers_only(tmp_path):
    leases = Leases(Workspace.init(tmp_path / "ws"))
    assert list(leases.claim("s-alice", "alice", [("a", 2)], T0)) == ["a"]
    assert list(leases.claim("s-alice-2", "alice", [("a", 2)], T0)) == [], "two tabs of one reviewer are not agreement"
    assert leases.claim("s-bob", "bob", [("a", 2)], T0) == {"a": ["alice"]}, "a grant names the other holders"
    assert list(leases.claim("s-carol", "carol", [("a", 2)], T0)) == []
    assert [(lease.holder, lease.reviewer) for lease in leases.active(T0)] == [("s-alice", "alice"), ("s-bob", "bob")]


def test_leases_outlive_the_process_and_the_connection(tmp_path):
    ws = Workspace.init(tmp_path / "ws")
    first = Leases(ws)
    first.claim("s-alice", "alice", [("a", 1)], T0)
    first.close()
    again = Leases(Workspace.open(ws.root))  # as after an app restart
    assert again.held("s-alice", T0 + 1) == ["a"]
    assert list(again.claim("s-bob", "bob", [("a", 1)], T0 + 1)) == []


def _page(catalog, queue, leases, holder, reviewer, start, size=6, now=T0):
    return work.claim_page(catalog, queue, leases, holder, reviewer, start, size, now)


def test_two_reviewers_on_one_queue_get_disjoint_pages_and_released_pages_come_back(ws):
    spec = MARGIN
    alice_cat, bob_cat = Catalog(ws), Catalog(ws)
    alice_q, bob_q = queues.build(alice_cat, spec, reviewer="alice"), queues.build(bob_cat, spec, reviewer="bob")
    leases = Leases(ws)
    a = _page(alice_cat, alice_q, leases, "s-alice", "alice", 1)
    b = _page(bob_cat, bob_q, leases, "s-bob", "bob", 1)
    assert a.ranks == [1, 2, 3, 4, 5, 6] and b.ranks == [7, 8, 9, 10, 11, 12]
    log = ReviewLog(ws, "alice")
    log.accept(a.sample_ids[0])  # decided, then released when alice moves on: it must not come back
    a2 = _page(alice_cat, alice_q, leases, "s-alice", "alice", a.next_rank)
    assert a2.ranks[0] == 13
    b_again = _page(bob_cat, bob_q, leases, "s-bob", "bob", 1)
    assert b_again.sample_ids == a.sample_ids[1:] + [b.sample_ids[0]], "skipped samples come back, decided ones not"
    assert _page(alice_cat, alice_q, leases, "s-alice", "alice", 1).sample_ids[0] == a.sample_ids[0], \
        "a reviewer's own decided samples stay on their pages"


def test_the_audit_queue_double_reviews_its_agreement_share_only(ws):
    spec = QueueSpec("audit", subset="all")
    cats = {name: Catalog(ws) for name in ("alice", "bob", "carol")}
    qs = {name: queues.build(cat, spec, reviewer=name) for name, cat in cats.items()}
    wanted = dict(cats["alice"].con.execute("SELECT sample_id, reviews_wanted FROM ui.queue").fetchall())
    twice = {s for s, n in wanted.items() if n == 2}
    assert 0 < len(twice) < len(wanted) / 4
    leases = Leases(ws)
    pages = {name: set(_page(cats[name], qs[name], leases, f"s-{name}", name, 1, size=40).sample_ids)
             for name in cats}
    everyone = pages["alice"] | pages["bob"] | pages["carol"]
    assert everyone == set(wanted)
    for sid in wanted:
        holders = sum(sid in p for p in pages.values())
        assert holders == (2 if sid in twice else 1), sid


def test_a_double_reviewed_sample_counts_its_holders_with_its_deciders(ws):
    spec = QueueSpec("audit", subset="all")
    cats = {name: Catalog(ws) for name in ("alice", "bob", "carol")}
    qs = {name: queues.build(cat, spec, reviewer=name) for name, cat in cats.items()}
    twice = cats["alice"].con.execute("SELECT rank, sample_id FROM ui.queue WHERE reviews_wanted = 2 "
                                      "ORDER BY rank LIMIT 1").fetchall()[0]
    rank, sid = twice
    leases = Leases(ws)
    for name in ("alice", "bob"):
        assert _page(cats[name], qs[name], leases, f"s-{name}", name, rank, size=1).sample_ids == [sid]
    ReviewLog(ws, "alice").accept(sid)
    leases.release("s-alice")  # alice decided and moved on; bob still has it on screen
    carol = _page(cats["carol"], qs["carol"], leases, "s-carol", "carol", rank, size=1)
    assert carol.sample_ids != [sid], "a third reviewer was handed a sample wanted twice"


# -- several real processes ------------------------------------------------------------------------------
def _reviewer_process(root: str, reviewer: str, size: int, start, out) -> None:
    """Review the audit queue of all samples page by page, as the app does, and report what was decided."""
    ws = Workspace.open(root)
    catalog, leases, log = Catalog(ws), Leases(ws), ReviewLog(ws, reviewer)
    queue = queues.build(catalog, QueueSpec("audit", subset="all"), reviewer=reviewer)
    start.wait()
    rank, decided = 1, []
    while rank <= queue.size:
        page = work.claim_page(catalog, queue, leases, log.session, reviewer, rank, size)
        for sid in page.sample_ids:
            log.accept(sid)
            decided.append(sid)
        rank = page.next_rank
    leases.release(log.session)
    out.put((reviewer, decided))


def _holding_process(root: str, out) -> None:
    """Claim a page, decide its first sample, report, then wait to be killed."""
    ws = Workspace.open(root)
    catalog, leases, log = Catalog(ws), Leases(ws), ReviewLog(ws, "victim")
    queue = queues.build(catalog, MARGIN, reviewer="victim")
    page = work.claim_page(catalog, queue, leases, log.session, "victim", 1, 5)
    event = log.accept(page.sample_ids[0])
    out.put((page.sample_ids, event["event_id"]))
    signal.pause()


def test_reviewer_processes_never_decide_a_sample_twice_outside_the_agreement_share(ws):
    ctx = mp.get_context("spawn")
    start, out = ctx.Barrier(4), ctx.Queue()
    names = ["r0", "r1", "r2", "r3"]
    procs = [ctx.Process(target=_reviewer_process, args=(str(ws.root), n, 3, start, out)) for n in names]
    for p in procs:
        p.start()
    results = dict(out.get(timeout=300) for _ in procs)
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    catalog = Catalog(ws)
    queues.build(catalog, QueueSpec("audit", subset="all", hide_reviewed=False))
    wanted = dict(catalog.con.execute("SELECT sample_id, reviews_wanted FROM ui.queue").fetchall())
    by = {}
    for reviewer, decided in results.items():
        assert len(decided) == len(set(decided)), f"{reviewer} was handed a sample twice"
        for sid in decided:
            by.setdefault(sid, []).append(reviewer)
    assert set(by) == set(wanted), "a sample of the queue was never handed out"
    over = {sid: who for sid, who in by.items() if len(who) > wanted[sid]}
    assert not over, f"handed to more reviewers than wanted: {over}"
    events = read_events(ws).table
    assert events.num_rows == sum(len(d) for d in results.values())  # every decision is in the log


def test_a_killed_reviewers_page_is_handed_out_again_once_its_lease_expires(ws):
    ctx = mp.get_context("spawn")
    out = ctx.Queue()
    victim = ctx.Process(target=_holding_process, args=(str(ws.root), out))
    victim.start()
    page, event_id = out.get(timeout=120)
    victim.kill()  # SIGKILL: no chance to release anything
    victim.join(60)
    assert victim.exitcode == -signal.SIGKILL
    catalog, leases = Catalog(ws), Leases(ws)  # as a restarted app would open them
    queue = queues.build(catalog, MARGIN, reviewer="bob")
    now = max(lease.expires_us for lease in leases.active()) - 1
    before = work.claim_page(catalog, queue, leases, "s-bob", "bob", 1, 5, now)
    assert not set(before.sample_ids) & set(page), "a live lease was handed to someone else"
    after = work.claim_page(catalog, queue, leases, "s-bob", "bob", 1, 5, now + LEASE_US + 1)
    assert set(page[1:]) <= set(after.sample_ids) and page[0] not in after.sample_ids
    assert event_id in read_events(ws).table["event_id"].to_pylist(), "the killed reviewer's decision was lost"


# -- the app -----------------------------------------------------------------------------------------------
def _cards(at) -> list[str]:
    return [m.value.split("`")[1] for m in at.markdown if " · #" in m.value]


def test_two_sessions_of_the_app_on_one_queue_see_disjoint_pages(ws, monkeypatch):
    from streamlit.testing.v1 import AppTest

    from labeling_ui import ENV_REVIEWER, ENV_WORKSPACE
    from tests.review.test_app import APP

    monkeypatch.setenv(ENV_WORKSPACE, str(ws.root))
    sessions = {}
    for name in ("alice", "bob"):
        monkeypatch.setenv(ENV_REVIEWER, name)
        at = AppTest.from_file(APP, default_timeout=60).run()
        at.switch_page("views/review_queue.py").run()
        at.selectbox(key="q_kind").set_value("margin").run()
        assert not at.exception, at.exception
        sessions[name] = at
    alice, bob = (set(_cards(at)) for at in sessions.values())
    assert len(alice) == len(bob) == 12 and not alice & bob
    sessions["alice"].button(key="next_page").click().run()  # alice's first page goes back to the pool
    carol = Catalog(ws)
    queue = queues.build(carol, MARGIN, reviewer="carol")
    carols = {sid[:12] for sid in work.claim_page(carol, queue, Leases(ws), "s-carol", "carol", 1, 40).sample_ids}
    alice_now = set(_cards(sessions["alice"]))
    assert len(alice_now) == 12 and not alice_now & (alice | bob)
    assert alice <= carols and not carols & (bob | alice_now) and len(carols) == 40 - 24
