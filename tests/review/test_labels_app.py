"""The Labels page, driven headless with AppTest: proposals shown as proposals, number keys, none of these,
multi-label toggles, undo, the label history, leases between two reviewers and the four label queues."""
import json

import pytest
import yaml
from streamlit.testing.v1 import AppTest

from curation.catalog import Catalog
from curation.labels import queues as label_queues
from curation.labels.human import NONE_OF_THESE
from curation.labels.vocabulary import save_vocabulary
from curation.leases import Leases
from curation.reviews import ReviewLog, now_us, read_events
from labeling_ui import ENV_REVIEWER, ENV_WORKSPACE, labelling, work
from labeling_ui.auth import ENV_AUTH_TOKENS, hash_token
from labeling_ui.labelling import LabelQueueSpec
from tests.review.label_workspace import DISPUTED, VOCABULARY, labelled_workspace
from tests.review.test_app import APP
from tests.review.workspaces import id_of, small_workspace

ANIMALS = VOCABULARY.field("animal").class_names


@pytest.fixture
def ws(tmp_path):
    return labelled_workspace(tmp_path / "ws")


def _app(ws, monkeypatch, reviewer: str = "tester", **widgets) -> AppTest:
    monkeypatch.setenv(ENV_WORKSPACE, str(ws.root))
    monkeypatch.setenv(ENV_REVIEWER, reviewer)
    at = AppTest.from_file(APP, default_timeout=60).run()
    return _labels(at, **widgets)


def _labels(at: AppTest, **widgets) -> AppTest:
    at.switch_page("views/labels.py").run()
    for key, value in widgets.items():
        at.selectbox(key=key).set_value(value).run()
    assert not at.exception, at.exception
    return at


def _focused(at) -> str:
    return next(m.value for m in at.markdown if m.value.startswith("**Focused:**")).split("`")[1]


def _cards(at) -> list[str]:
    return [m.value.split("`")[1] for m in at.markdown if " · #" in m.value]


def _labels_of(ws, reviewer: str | None = None) -> list[dict]:
    return [e for e in read_events(ws).table.to_pylist() if e["action"] in ("label", "undo")
            and e["reviewer"] != "labeller" and (reviewer is None or e["reviewer"] == reviewer)]


def test_the_proposal_is_shown_as_one_and_recorded_only_when_accepted(ws, monkeypatch):
    at = _app(ws, monkeypatch)
    assert "label animal: most uncertain, by the probe proposals" in at.caption[0].value
    keys = {b.key: b.proto.shortcut for b in at.button if b.proto.shortcut}
    assert keys == {"class_1": "1", "class_2": "2", "class_3": "3", "class_4": "4", "none_of_these": "0",
                    "accept_label": "a", "next_sample": "j", "prev_sample": "k", "undo": "u",
                    "prev_page": "left", "next_page": "right"}
    sample = _focused(at)
    proposal = label_queues.uncertain(ws, "animal", 1)[0]
    assert sample == proposal.sample_id
    shown = [m.value for m in at.markdown if m.value.startswith(":blue[proposed:]")]
    assert any(line.endswith(", probe v0001) · pre-selected") for line in shown)
    assert any(line.endswith(", zero-shot)") for line in shown)
    assert ":grey[no human label yet]" in [m.value for m in at.markdown]
    assert _labels_of(ws) == [], "a proposal shown is not a label"
    proposed = next(b for b in at.button if b.key.startswith("class_") and "(proposed)" in b.label)
    assert proposed.proto.type == "primary"
    at.button(key="accept_label").click().run()
    [event] = _labels_of(ws)
    assert (event["sample_id"], event["label_field"], event["reviewer"]) == (sample, "animal", "tester")
    assert event["label_value"] == proposed.label.split(" · ")[1].removesuffix(" (proposed)")
    assert _focused(at) != sample, "the focus moves on"


def signed_in_as_bob(ws, tmp_path, monkeypatch) -> AppTest:
    """The app (not run yet) of `ws` with token sign-in, opened with reviewer bob's token."""
    tokens = tmp_path / "tokens.yaml"
    tokens.write_text(yaml.safe_dump({"reviewers": [{"name": "bob", "token_sha256": hash_token("bob-token-1")}]}))
    monkeypatch.setenv(ENV_AUTH_TOKENS, str(tokens))
    monkeypatch.setenv(ENV_WORKSPACE, str(ws.root))
    at = AppTest.from_file(APP, default_timeout=60)
    at.query_params["token"] = "bob-token-1"
    return at


def test_a_number_key_records_its_class_for_the_signed_in_reviewer(ws, tmp_path, monkeypatch):
    at = _labels(signed_in_as_bob(ws, tmp_path, monkeypatch).run())
    sample = _focused(at)
    at.button(key="class_3").click().run()
    [event] = _labels_of(ws)
    assert (event["sample_id"], event["label_value"], event["reviewer"], event["role"]) == \
        (sample, ANIMALS[2], "bob", "reviewer")


def test_none_of_these_undo_and_the_label_history(ws, monkeypatch):
    at = _app(ws, monkeypatch)
    sample = _focused(at)
    at.button(key="none_of_these").click().run()
    at.button(key="prev_sample").click().run()
    assert _focused(at) == sample and "**human label:** none of these" in [m.value for m in at.markdown]
    history = at.dataframe[0].value
    assert history[["who", "label", "undone by"]].values.tolist() == [["tester", "none of these", ""]]
    at.button(key="undo").click().run()
    label, undo = _labels_of(ws)
    assert label["label_value"] == NONE_OF_THESE and undo["undo_of"] == label["event_id"]
    assert at.dataframe[0].value["undone by"].tolist() == ["tester"]
    assert ":grey[no human label yet]" in [m.value for m in at.markdown]
    assert Catalog(ws).query("SELECT labels FROM review_state WHERE sample_id = ?", [sample])["labels"].to_pylist() \
        in ([None], [[]])


def test_multi_label_keys_toggle_then_accept_records_the_selection(ws, monkeypatch):
    at = _app(ws, monkeypatch, l_field="tags", l_kind="uncertain")
    at.radio(key="l_source").set_value("zeroshot").run()
    sample = _focused(at)
    proposed = {b.label.split()[-2] for b in at.button if b.key.startswith("class_") and "(proposed)" in b.label}
    before = {b.key for b in at.button if b.key.startswith("class_") and "☑" in b.label}
    at.button(key="class_1").click().run()
    at.button(key="class_3").click().run()
    assert _labels_of(ws) == [], "toggles are not labels"
    after = {b.key for b in at.button if b.key.startswith("class_") and "☑" in b.label}
    assert after == before ^ {"class_1", "class_3"}
    assert at.button(key="accept_label").label == "Accept selection"
    at.button(key="accept_label").click().run()
    [event] = _labels_of(ws)
    names = VOCABULARY.field("tags").class_names
    assert event["sample_id"] == sample
    assert json.loads(event["label_value"]) == sorted(names[int(k[-1]) - 1] for k in after)
    assert proposed <= set(names)


def test_classes_after_the_ninth_are_buttons_without_keys(ws, monkeypatch):
    at = _app(ws, monkeypatch, l_field="colour")
    at.radio(key="l_source").set_value("zeroshot").run()
    shortcuts = {b.key: b.proto.shortcut for b in at.button if b.key.startswith("class_")}
    assert [shortcuts[f"class_{k}"] for k in range(1, 12)] == [str(k) for k in range(1, 10)] + ["", ""]
    sample = _focused(at)
    at.button(key="class_11").click().run()
    assert [(e["sample_id"], e["label_value"]) for e in _labels_of(ws)] == [(sample, "c11")]


def test_two_reviewers_get_disjoint_samples(ws, monkeypatch):
    alice = _app(ws, monkeypatch, "alice")
    bob = _app(ws, monkeypatch, "bob")
    first = _cards(alice)
    assert len(first) == len(_cards(bob)) == 12 and not set(first) & set(_cards(bob))
    labelled = _focused(alice)
    alice.button(key="class_1").click().run()
    alice.button(key="next_page").click().run()  # alice's first page goes back to the pool
    carol = _app(ws, monkeypatch, "carol")
    assert _cards(carol) == [sid for sid in first if sid != labelled[:12]]
    assert not set(_cards(alice)) & (set(first) | set(_cards(bob)) | set(_cards(carol)))


def test_a_sample_labelled_since_the_queue_was_built_leaves_it_for_others(ws):
    catalog, leases = Catalog(ws), Leases(ws)
    spec = LabelQueueSpec("animal", "uncertain", since_us=now_us())
    queue = labelling.build(catalog, spec).queue
    alice = work.claim_page(catalog, queue, leases, "s-alice", "alice", 1, 6)
    ReviewLog(ws, "alice").label(alice.sample_ids[0], "animal", "cat")
    leases.release("s-alice")
    assert work.claim_page(catalog, queue, leases, "s-bob", "bob", 1, 6).sample_ids[0] == alice.sample_ids[1]
    leases.release("s-bob")
    assert work.claim_page(catalog, queue, leases, "s-alice", "alice", 1, 6).sample_ids == alice.sample_ids, \
        "a reviewer's own labels stay on their pages"
    undo = ReviewLog(ws, "alice")
    undo.undo(read_events(ws).table.to_pylist()[-1]["event_id"])
    leases.release("s-alice")
    assert work.claim_page(catalog, queue, leases, "s-bob", "bob", 1, 6).sample_ids == alice.sample_ids, \
        "an undone label does not count"


@pytest.mark.parametrize("kind, library", [
    ("uncertain", lambda ws: label_queues.uncertain(ws, "animal", 500)),
    ("rare", lambda ws: label_queues.rare_first(ws, "animal", 500)),
    ("disagreement", lambda ws: label_queues.disagreement(ws, "animal", 500)),
    ("likely_wrong", lambda ws: label_queues.likely_wrong(ws, "animal", 500)),
])
def test_each_queue_lists_what_the_library_returns_in_order(ws, monkeypatch, kind, library):
    at = _app(ws, monkeypatch, l_kind=kind)
    expected = [item.sample_id for item in library(ws)]
    assert f" · {len(expected)} samples · " in at.caption[0].value
    assert _cards(at) == [sid[:12] for sid in expected[:12]]
    if kind == "likely_wrong":
        assert sorted(expected) == sorted(id_of(i) for i in DISPUTED)
        assert any(m.value.startswith("**human label:**") for m in at.markdown)


def test_without_label_fields_or_proposals_the_page_says_what_to_run(tmp_path, monkeypatch):
    bare = small_workspace(tmp_path / "bare", n=6)
    assert "gristmill labels define" in _app(bare, monkeypatch).info[0].value
    save_vocabulary(bare, VOCABULARY)
    assert "no probe proposals: `gristmill labels train` first" in _app(bare, monkeypatch).info[0].value
