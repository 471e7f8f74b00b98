"""Latency on a 1-million-sample catalog with a 300,000-event review log: review-queue page moves
(< 300 ms) and tuner counts (< 200 ms).

Opt-in (`pytest -m slow tests/review/test_latency.py`): building the catalog takes a while. Page moves
are timed as whole Streamlit reruns through AppTest (server side: queries plus drawing the page).
"""
import json
import statistics
import time

import pytest
from streamlit.testing.v1 import AppTest

from curation.catalog import Catalog
from curation.reviews import compact, now_us
from labeling_ui import ENV_REVIEWER, ENV_WORKSPACE, tuner
from labeling_ui.tuner import Threshold
from tests.review.test_app import APP
from tests.review.workspaces import big_workspace, id_of

pytestmark = pytest.mark.slow
N = 1_000_000
EVENTS = 300_000


@pytest.fixture(scope="module")
def big(tmp_path_factory):
    ws = big_workspace(tmp_path_factory.mktemp("big") / "ws", n=N)
    journal = ws.path("reviews", "journal", "bulk-session.jsonl")  # as ReviewLog writes it, without the fsyncs
    journal.parent.mkdir(parents=True, exist_ok=True)
    start = now_us()
    with open(journal, "w") as fh:
        for k in range(EVENTS):
            fh.write(json.dumps({"event_id": f"e{k}", "sample_id": id_of(k * 7919 % N), "action": "accept",
                                 "reviewer": f"r{k % 4}", "session": "bulk-session", "ts": start + k, "seq": k}) + "\n")
    assert compact(ws).events_written == EVENTS
    return ws


def _timed(action) -> float:
    start = time.perf_counter()
    action()
    return time.perf_counter() - start


def _report(name: str, seconds: list[float]) -> None:
    ms = sorted(s * 1000 for s in seconds)
    print(f"\n{name}: median {statistics.median(ms):.0f} ms, p95 {ms[int(len(ms) * 0.95) - 1]:.0f} ms, "
          f"max {ms[-1]:.0f} ms over {len(ms)}")


def test_next_page_under_300_ms(big, monkeypatch):
    monkeypatch.setenv(ENV_WORKSPACE, str(big.root))
    monkeypatch.setenv(ENV_REVIEWER, "latency")
    at = AppTest.from_file(APP, default_timeout=120).run()
    builds = {"audit": _timed(lambda: at.switch_page("views/review_queue.py").run())}  # the default queue
    for kind in ("audit", "margin"):
        build = builds.get(kind) or _timed(lambda: at.selectbox(key="q_kind").set_value(kind).run())
        print(f"\n{kind} queue: build and first page {build * 1000:.0f} ms ({at.caption[0].value})")
        moves = [_timed(lambda: at.button(key="next_page").click().run()) for _ in range(60)]
        assert not at.exception
        _report(f"{kind} queue: next page (12 samples)", moves)
        assert statistics.median(moves) < 0.3 and sorted(moves)[int(len(moves) * 0.95) - 1] < 0.3


def test_tuner_counts_under_200_ms(big):
    catalog = Catalog(big)
    build = _timed(lambda: tuner.build(catalog, ["clip.clip_score", "basic.luma_std", "text.language_score"]))
    print(f"\ntuner build (3 columns, {N:,} rows): {build * 1000:.0f} ms")
    moves = []
    for value in [0.2 + i * 0.002 for i in range(50)]:
        thresholds = [Threshold("clip.clip_score", "min", value), Threshold("basic.luma_std", "min", 5.0),
                      Threshold("text.language_score", "min", 0.6)]
        moves.append(_timed(lambda: tuner.counts(catalog, thresholds)))
    _report("tuner counts (3 filters)", moves)
    assert sorted(moves)[int(len(moves) * 0.95) - 1] < 0.2
