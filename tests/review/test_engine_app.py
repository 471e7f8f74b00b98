"""The data engine in the review app: its flagged queue (engine order, model probabilities, decisions into the
review log) and its status page, driven headless with AppTest on the engine's synthetic corpus."""
import shutil
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from curation.catalog import Catalog
from curation.engine import Engine
from curation.workspace import Workspace
from labeling_ui import ENV_REVIEWER, ENV_WORKSPACE, queues, shared_engine
from tests.review.workspaces import engine_workspace, small_workspace

APP = str(Path(__file__).parents[2] / "labeling_ui" / "app.py")


@pytest.fixture
def corpus(tmp_path):
    return engine_workspace(tmp_path / "ws")


def _app(root: Path, monkeypatch, page: str) -> AppTest:
    monkeypatch.setenv(ENV_WORKSPACE, str(root))
    monkeypatch.setenv(ENV_REVIEWER, "tester")
    at = AppTest.from_file(APP, default_timeout=120).run()
    at.switch_page(f"views/{page}.py").run()
    assert not at.exception, at.exception
    return at


def _cards(at) -> list[str]:
    return [m.value.split("`")[1] for m in at.markdown if " · #" in m.value]


def test_flagged_queue_is_the_engines_queue_and_decisions_go_to_the_review_log(corpus, monkeypatch):
    expected = Engine(corpus.workspace).queue(queues.FLAGGED_LIMIT)
    assert len(expected) > 12 and {i.kind for i in expected[:12]} == {"flagged", "calibration"}
    at = _app(corpus.workspace.root, monkeypatch, "review_queue")
    at.selectbox(key="q_kind").set_value("flagged").run()
    assert "flagged by the model" in at.caption[0].value and f"{len(expected)} samples" in at.caption[0].value
    assert _cards(at) == [i.sample_id[:12] for i in expected[:12]]
    lines = [c.value for c in at.caption if c.value.startswith("engine: ")]
    why = {"flagged": "flagged, leans", "calibration": "a random check for the thresholds, leans"}
    assert lines == [f"engine: p(accept) {i.p:.3f} · {why[i.kind]} {i.suggestion}" for i in expected[:12]]
    at.button(key="accept").click().run()
    events = Catalog(corpus.workspace).query("SELECT * FROM reviews WHERE sample_id = ?", [expected[0].sample_id])
    assert events["action"].to_pylist() == ["accept"] and events["reviewer"].to_pylist() == ["tester"]
    assert at.markdown[0].value == f"**Focused:** `{expected[1].sample_id}`"
    at.button(key="engine_next").click().run()  # asks the engine again: the decided sample has left its queue
    assert "no retraining due yet" in " ".join(c.value for c in at.sidebar.caption)
    assert _cards(at)[0] != expected[0].sample_id[:12] and f"{len(expected) - 1} samples" in at.caption[0].value
    assert not at.exception


def test_engine_page_shows_the_engine_status_and_trains(corpus, monkeypatch):
    status = Engine(corpus.workspace).status()
    at = _app(corpus.workspace.root, monkeypatch, "engine")
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["stage"] == status["stage"] and metrics["model"] == "v0001"
    assert metrics["human decisions"] == "200" and metrics["flagged for review"] == f"{status['queues']['flagged']:,}"
    assert metrics["human decisions per 1,000 curated"] == f"{status['human_per_1000_curated']:.1f}"
    sides = at.dataframe[0].value.set_index("side")
    for word in ("accept", "reject"):
        side = status["thresholds"][word]
        if side is None:
            assert "stays manual" in sides.loc[word, "rule"]
        else:
            assert sides.loc[word, "CI low"] == pytest.approx(side["ci_low"])
    at.button(key="engine_train").click().run()
    assert {m.label: m.value for m in at.metric}["model"] == "v0002"
    assert any(c.value.startswith("trained v0002 on 200 decisions") for c in at.caption)
    at.button(key="open_flagged").click().run()
    assert "flagged by the model" in at.caption[0].value
    assert not at.exception


def test_flagged_queue_before_any_model_is_a_diverse_cold_start(tmp_path, monkeypatch):
    ws = small_workspace(tmp_path / "ws", n=40)
    at = _app(ws.root, monkeypatch, "engine")
    assert {m.label: m.value for m in at.metric}["stage"] == "assisted-manual"
    at = _app(ws.root, monkeypatch, "review_queue")
    at.selectbox(key="q_kind").set_value("flagged").run()
    lines = [c.value for c in at.caption if c.value.startswith("engine: ")]
    assert lines and set(lines) == {"engine: no model yet, a diverse first pick"}
    assert not at.exception


def test_flagged_queue_without_embeddings_says_why(tmp_path, monkeypatch):
    ws = small_workspace(tmp_path / "ws", n=12)
    shutil.rmtree(ws.path("embeddings"))
    at = _app(ws.root, monkeypatch, "review_queue")
    at.selectbox(key="q_kind").set_value("flagged").run()
    assert "has no embeddings" in at.info[0].value and not at.exception


def _count_loads(monkeypatch) -> list[int]:
    import curation.engine.engine as engine_module

    loads, load = [], engine_module.load_samples
    monkeypatch.setattr(engine_module, "load_samples", lambda *a, **k: loads.append(1) or load(*a, **k))
    return loads


def test_sessions_share_one_engine_reloaded_only_when_current_changes(corpus, monkeypatch):
    loads = _count_loads(monkeypatch)
    for _ in range(2):  # two browser sessions open the flagged queue
        at = _app(corpus.workspace.root, monkeypatch, "review_queue")
        at.selectbox(key="q_kind").set_value("flagged").run()
        assert not at.exception, at.exception
    assert len(loads) == 1, "each session loaded the samples' features again"
    shared = shared_engine.shared(Workspace.open(corpus.workspace.root))
    with shared.use() as engine:
        engine.queue(5)
        trained = engine.train()  # this engine's own new version: nothing to reload
    with shared.use() as again:
        assert again is engine and again.status()["model"]["version"] == trained.version
    assert len(loads) == 1
    Engine(corpus.workspace).train()  # another process moves engine/CURRENT (and loads its own features)
    before = len(loads)
    with shared.use() as engine:
        engine.queue(5)
    assert len(loads) == before + 1, "engine/CURRENT changed but the shared engine kept its old state"
