"""The Captions page, driven headless with AppTest: generated captions shown as proposals, the accept, keep
and edit keys with the signed-in reviewer, undo, and the heuristic order before a caption model exists."""
import pytest
from streamlit.testing.v1 import AppTest

from curation.catalog import Catalog
from curation.labels import caption_attention
from curation.reviews import read_events
from labeling_ui import ENV_REVIEWER, ENV_WORKSPACE
from tests.review.test_app import APP
from tests.review.test_labels_app import signed_in_as_bob
from tests.review.workspaces import caption_of, id_of, small_workspace, write_generated_captions

N = 20


def generated_of(i: int) -> str:
    return f"a photo of shape number {i}"


@pytest.fixture
def ws(tmp_path):
    ws = small_workspace(tmp_path / "ws", n=N)
    write_generated_captions(ws, {id_of(i): generated_of(i) for i in range(N)}, model_id="test-coca")
    return ws


def _captions(at: AppTest) -> AppTest:
    at.switch_page("views/captions.py").run()
    assert not at.exception, at.exception
    return at


def _app(ws, monkeypatch, reviewer: str = "tester") -> AppTest:
    monkeypatch.setenv(ENV_WORKSPACE, str(ws.root))
    monkeypatch.setenv(ENV_REVIEWER, reviewer)
    return _captions(AppTest.from_file(APP, default_timeout=60).run())


def _focused(at) -> str:
    return next(m.value for m in at.markdown if m.value.startswith("**Focused:**")).split("`")[1]


def _index(sample_id: str) -> int:
    return next(i for i in range(N) if id_of(i) == sample_id)


def _events(ws) -> list[dict]:
    return read_events(ws).table.to_pylist()


def test_the_generated_caption_is_a_proposal_until_accepted(ws, tmp_path, monkeypatch):
    at = _captions(signed_in_as_bob(ws, tmp_path, monkeypatch).run())
    keys = {b.key: b.proto.shortcut for b in at.button if b.proto.shortcut}
    assert {"accept_generated": "g", "keep_alt_text": "o", "edit_caption": "e", "undo": "u"}.items() <= keys.items()
    sample = _focused(at)
    i = _index(sample)
    lines = [m.value for m in at.markdown]
    assert f":blue[proposed caption:] {generated_of(i)} (test-coca)" in lines
    assert f"**alt-text:** {caption_of(i)}" in lines
    assert not any(line.startswith("**human caption:**") for line in lines), "a proposal is not the human caption"
    assert _events(ws) == []
    at.button(key="accept_generated").click().run()
    [event] = _events(ws)
    assert (event["action"], event["sample_id"], event["reviewer"], event["role"]) == \
        ("edit_caption", sample, "bob", "reviewer")
    assert (event["old_caption"], event["new_caption"]) == (caption_of(i), generated_of(i))
    assert _focused(at) != sample, "the focus moves on"


def test_keep_alt_text_then_undo(ws, monkeypatch):
    at = _app(ws, monkeypatch)
    sample = _focused(at)
    at.button(key="keep_alt_text").click().run()
    [event] = _events(ws)
    assert (event["action"], event["tag"], event["sample_id"], event["reviewer"]) == \
        ("tag_add", caption_attention.CAPTION_OK, sample, "tester")
    assert caption_attention.targets(Catalog(ws)) == {sample: False}
    at.button(key="prev_sample").click().run()
    assert "**human:** alt-text kept (`caption_ok`)" in [m.value for m in at.markdown]
    at.button(key="undo").click().run()
    _, undo = _events(ws)
    assert undo["undo_of"] == event["event_id"]
    assert caption_attention.targets(Catalog(ws)) == {}


def test_edit_opens_a_box_and_save_records_the_new_caption(ws, monkeypatch):
    at = _app(ws, monkeypatch)
    sample = _focused(at)
    assert not at.text_area, "the edit box opens on E"
    at.button(key="edit_caption").click().run()
    at.text_area(key=f"new_caption_{sample}").set_value("a hand-written caption")
    at.button[[b.label for b in at.button].index("Save caption")].click().run()
    assert not at.exception, at.exception
    [event] = _events(ws)
    assert (event["action"], event["sample_id"], event["new_caption"], event["old_caption"]) == \
        ("edit_caption", sample, "a hand-written caption", caption_of(_index(sample)))
    assert caption_attention.targets(Catalog(ws)) == {sample: True}
    at.button(key="prev_sample").click().run()
    assert "**human caption:** a hand-written caption" in [m.value for m in at.markdown]


def test_the_queue_follows_the_heuristic_before_a_model(ws, monkeypatch):
    at = _app(ws, monkeypatch)
    assert "ordered by a heuristic" in at.caption[0].value
    ranked = caption_attention.rank(Catalog(ws), 500)
    assert ranked.by == "heuristic" and len(ranked.ids) == N
    assert list(ranked.p) == sorted(ranked.p, reverse=True)
    cards = [m.value.split("`")[1] for m in at.markdown if " · #" in m.value]
    assert cards == [sid[:12] for sid in ranked.ids[:12]]
