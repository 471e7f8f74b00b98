"""Every page of the review app, driven headless with Streamlit's AppTest against a small real workspace."""
from pathlib import Path

import pytest
import yaml
from streamlit.testing.v1 import AppTest

from curation.catalog import Catalog
from curation.recipes.model import parse_recipe
from curation.reviews import ReviewLog
from labeling_ui import ENV_REVIEWER, ENV_WORKSPACE
from tests.review.workspaces import CLIP_THRESHOLD, caption_of, id_of, small_workspace, write_generated_captions

PURPLE = sum("purple circle" in caption_of(i) for i in range(40))
APP = str(Path(__file__).parents[2] / "labeling_ui" / "app.py")


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    return small_workspace(tmp_path_factory.mktemp("app") / "ws", n=40)


@pytest.fixture
def ws(tmp_path):
    return small_workspace(tmp_path / "ws", n=40)


def _app(ws, monkeypatch, page: str | None = None, reviewer: str = "tester") -> AppTest:
    monkeypatch.setenv(ENV_WORKSPACE, str(ws.root))
    monkeypatch.setenv(ENV_REVIEWER, reviewer)
    at = AppTest.from_file(APP, default_timeout=60).run()
    if page:
        at.switch_page(f"views/{page}.py").run()
    assert not at.exception, at.exception
    return at


def _state(ws) -> dict[str, dict]:
    return {r["sample_id"]: r for r in Catalog(ws).query("SELECT * FROM review_state").to_pylist()}


def _focused(at) -> str:
    return next(m.value for m in at.markdown if m.value.startswith("**Focused:**")).split("`")[1]


def test_overview_shows_counts_funnel_progress_and_histograms(workspace, monkeypatch):
    at = _app(workspace, monkeypatch)
    metrics = {m.label: m.value for m in at.metric}
    kept = Catalog(workspace).query("SELECT count(*) FILTER (WHERE kept) AS n FROM decisions").column("n")[0].as_py()
    assert metrics["input pairs"] == "40" and metrics["crawled"] == "40"
    assert metrics["kept by the recipe"] == str(kept) and metrics["reviewed"] == "0"
    assert at.multiselect(key="overview_columns").value == ["clip.clip_score"]
    assert at.get("vega_lite_chart"), "no histogram drawn"


def test_review_queue_keyboard_actions_caption_tags_and_undo(ws, monkeypatch):
    at = _app(ws, monkeypatch, "review_queue")
    assert "random audit: kept samples" in at.caption[0].value
    assert {b.key: b.proto.shortcut for b in at.button if b.proto.shortcut} == {
        "accept": "a", "reject": "x", "next_sample": "j", "prev_sample": "k", "undo": "u",
        "prev_page": "left", "next_page": "right"}
    first = _focused(at)
    at.button(key="accept").click().run()
    second = _focused(at)
    at.selectbox(key="reject_reason").set_value("watermark_or_text").run()
    at.button(key="reject").click().run()
    third = _focused(at)
    assert len({first, second, third}) == 3
    at.text_area(key=f"caption_{third}").input("a fixed caption")
    at.button(key=f"FormSubmitter:caption_form_{third}-Save caption").click().run()
    at.text_input(key=f"tag_{third}").input("hard_case").run()
    at.button(key=f"untag_{third}_hard_case").click().run()
    at.text_input(key=f"tag_{third}").input("keep_me").run()
    state = _state(ws)
    assert state[first]["decision"] == "accept" and state[first]["decision_reviewer"] == "tester"
    assert state[second]["decision"] == "reject" and state[second]["reject_reason"] == "watermark_or_text"
    assert state[third]["final_caption"] == "a fixed caption" and state[third]["tags"] == ["keep_me"]
    assert any(m.value.startswith("~~") and "a fixed caption" in m.value for m in at.markdown)
    at.button(key="undo").click().run()  # undoes the last action: the keep_me tag
    assert _state(ws)[third]["tags"] == []
    assert not at.exception


def test_review_queue_pages_move_focus_and_show_conflicts(ws, monkeypatch):
    at = _app(ws, monkeypatch, "review_queue")
    at.selectbox(key="page_size").set_value(6).run()
    seen = []
    for _ in range(3):
        seen += [m.value.split("`")[1] for m in at.markdown if " · #" in m.value]
        at.button(key="next_page").click().run()
    assert len(seen) == len(set(seen)) == 18, "pages overlap or skip samples"
    at.button(key="prev_page").click().run()
    for _ in range(6):  # J past the end of a page moves to the next page
        at.button(key="next_sample").click().run()
    assert "page 4 of" in at.caption[0].value
    at.button(key="prev_sample").click().run()
    assert "page 3 of" in at.caption[0].value
    target = _focused(at)
    ReviewLog(ws, "someone-else").reject(target, "duplicate")
    at.button(key="accept").click().run()
    state = _state(ws)[target]
    assert state["conflicting"] and state["decision"] == "accept"
    at.button(key="prev_sample").click().run()
    assert any("reviewers disagree" in m.value for m in at.markdown)


def test_review_queue_kinds_margin_dropped_search(ws, monkeypatch):
    at = _app(ws, monkeypatch, "review_queue")
    at.selectbox(key="q_kind").set_value("margin").run()
    at.number_input(key="q_threshold").set_value(CLIP_THRESHOLD).run()
    assert "clip.clip_score = 0.25" in at.caption[0].value and "40 samples" in at.caption[0].value
    at.selectbox(key="q_kind").set_value("dropped").run()
    dropped = Catalog(ws).query("SELECT count(*) FILTER (WHERE NOT kept) AS n FROM decisions").column("n")[0].as_py()
    assert f"{dropped} samples" in at.caption[0].value
    assert all("dropped: filter:clip.clip_score" in c.value for c in at.caption if c.value.startswith("filters:"))
    at.selectbox(key="q_kind").set_value("search").run()
    at.text_input(key="q_text").input("purple circle").run()
    assert f"{PURPLE} samples" in at.caption[0].value
    assert not at.exception


def test_reviewed_samples_leave_the_queue_unless_asked(ws, monkeypatch):
    at = _app(ws, monkeypatch, "review_queue")
    total = int(at.caption[0].value.split(" · ")[1].split()[0])
    at.button(key="accept").click().run()
    at2 = _app(ws, monkeypatch, "review_queue")
    assert f"{total - 1} samples" in at2.caption[0].value
    at2.checkbox(key="q_hide").uncheck().run()
    assert f"{total} samples" in at2.caption[0].value


def test_threshold_tuner_counts_examples_recipe_and_margin_queue(ws, monkeypatch):
    at = _app(ws, monkeypatch, "threshold_tuner")
    at.slider(key="t_clip.clip_score").set_value(CLIP_THRESHOLD).run()
    metrics = {m.label: m.value for m in at.metric}
    kept = Catalog(ws).query("SELECT count(*) FILTER (WHERE kept) AS n FROM decisions").column("n")[0].as_py()
    assert metrics["kept"].startswith(f"{kept} ") and metrics["dropped"] == str(40 - kept)
    assert [c.value for c in at.caption if c.value in ("just kept", "just dropped")] == ["just kept", "just dropped"]
    at.radio(key="op_clip.clip_score").set_value("max").run()
    assert {m.label: m.value for m in at.metric}["kept"].startswith(f"{40 - kept} ")
    at.radio(key="op_clip.clip_score").set_value("min").run()
    at.text_input(key="recipe_name").input("clip-tuned").run()
    at.button(key="save_recipe").click().run()
    saved = yaml.safe_load(ws.path("recipes", "clip-tuned.yaml").read_text())
    assert parse_recipe(saved).steps[0].min == pytest.approx(CLIP_THRESHOLD)
    at.switch_page("views/overview.py").run()
    assert "red line" in " ".join(c.value for c in at.caption)
    at.switch_page("views/threshold_tuner.py").run()
    at.button(key="margin_clip.clip_score").click().run()
    assert "clip.clip_score = 0.25" in at.caption[0].value, "the margin queue did not open"


def test_search_by_caption_and_by_embedding_and_open_as_queue(ws, monkeypatch):
    at = _app(ws, monkeypatch, "search")
    at.text_input(key="search_text").input("PURPLE circle").run()
    assert f"{PURPLE} samples" in " ".join(m.value for m in at.markdown)
    sample = id_of(4)
    at.text_input(key="similar_id").input(sample).run()
    similarities = [c.value for c in at.caption if "similarity" in c.value]
    assert len(similarities) == 12 and sample[:12] not in " ".join(similarities)
    at.button(key="open_search").click().run()
    assert "caption contains 'PURPLE circle'" in at.caption[0].value and f"{PURPLE} samples" in at.caption[0].value


def test_reviewer_stats_rates_and_agreement(ws, monkeypatch):
    alice, bob = ReviewLog(ws, "alice"), ReviewLog(ws, "bob")
    for i in range(4):
        alice.accept(id_of(i))
        if i < 3:
            bob.accept(id_of(i))
        else:
            bob.reject(id_of(i), "duplicate")
    at = _app(ws, monkeypatch, "reviewer_stats")
    reviewers = at.dataframe[0].value.set_index("reviewer")
    assert reviewers.loc["alice", "decisions"] == 4 and reviewers.loc["bob", "decisions_per_hour"] > 0
    pair = at.dataframe[1].value.iloc[0]
    assert (pair["reviewer_a"], pair["reviewer_b"], pair["overlap"], pair["agreed"]) == ("alice", "bob", 4, 3)
    assert {m.label: m.value for m in at.metric}["agreement, all pairs"] == "75.0%"


def test_a_workspace_that_is_not_one_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv(ENV_WORKSPACE, str(tmp_path))
    at = AppTest.from_file(APP, default_timeout=60).run()
    assert "not a gristmill workspace" in at.error[0].value


def test_review_cards_show_generated_captions_when_there_are_any(ws, monkeypatch):
    at = _app(ws, monkeypatch, "review_queue")
    assert not [m for m in at.markdown if "generated:" in m.value]
    write_generated_captions(ws, {id_of(i): f"a shape, generated {i}" for i in range(40)})
    at = _app(ws, monkeypatch, "review_queue")
    shown = [m.value for m in at.markdown if m.value.startswith(":grey[generated:] a shape, generated ")]
    assert len(shown) == len([m for m in at.markdown if " · #" in m.value]) == 12
