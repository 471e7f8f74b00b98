"""FiftyOne round trip with a real mongod: build a dataset, edit it as a FiftyOne user would, sync it back."""
import argparse
import time

import pytest

from curation.catalog import Catalog
from curation.reviews import ReviewLog
from gristmill.commands import fiftyone as command
from labeling_ui import fiftyone_bridge as bridge
from tests.review.workspaces import caption_of, id_of, small_workspace

fo = pytest.importorskip("fiftyone")


def _events(ws, reviewer):
    return Catalog(ws).query("SELECT action, sample_id, reason, tag, new_caption FROM reviews WHERE reviewer = ?",
                             [reviewer]).to_pylist()


def _sample(dataset, sid):
    return dataset.one(fo.ViewField("gm_id") == sid)


def test_build_edit_sync_is_idempotent_and_updates_keep_everything(tmp_path, dataset_name, capsys):
    ws = small_workspace(tmp_path / "ws", n=16)
    ui = ReviewLog(ws, "alice")
    ui.tag(id_of(2), "from_ui")
    ui.edit_caption(id_of(4), "a caption fixed in the app", caption_of(4))
    circles = [i for i in range(16) if "circle" in caption_of(i)]

    report = bridge.build(ws, dataset_name, where="samples.caption LIKE '%circle%'", user="tester")
    assert (report.added, report.updated, report.synced) == (len(circles), 0, None)
    dataset = fo.load_dataset(dataset_name)
    assert dataset.persistent and len(dataset) == len(circles)
    assert _sample(dataset, id_of(2)).tags == ["from_ui"]
    assert _sample(dataset, id_of(4))["caption"] == "a caption fixed in the app"
    assert _sample(dataset, id_of(0))["score_clip_clip_score"] is not None

    a, b, c = _sample(dataset, id_of(0)), _sample(dataset, id_of(12)), _sample(dataset, id_of(2))
    a.tags.append("blurry")
    a.save()
    b["caption"] = "an edited caption from FiftyOne"
    b.save()
    c.tags.remove("from_ui")
    c.save()
    ui.tag(id_of(8), "tagged_after_build")  # in the app, after the build: sync must not undo it

    sync = bridge.sync(ws, dataset_name, user="tester")
    assert sync.reviewer == "fiftyone:tester"
    assert sync.events == {"edit_caption": 1, "tag_add": 1, "tag_remove": 1}
    events = {(e["action"], e["sample_id"]) for e in _events(ws, "fiftyone:tester")}
    assert events == {("tag_add", id_of(0)), ("edit_caption", id_of(12)), ("tag_remove", id_of(2))}
    state = {r["sample_id"]: r for r in Catalog(ws).query("SELECT * FROM review_state").to_pylist()}
    assert state[id_of(0)]["tags"] == ["blurry"] and state[id_of(2)]["tags"] == []
    assert state[id_of(12)]["final_caption"] == "an edited caption from FiftyOne"
    assert state[id_of(8)]["tags"] == ["tagged_after_build"]

    assert bridge.sync(ws, dataset_name, user="tester").events == {}  # idempotent
    assert len(_events(ws, "fiftyone:tester")) == 3

    d = _sample(dataset, id_of(10))
    d.tags.append("recorded_twice")
    d.save()
    ReviewLog(ws, "fiftyone:tester").tag(id_of(10), "recorded_twice")  # as if a sync died before its baseline
    again = bridge.sync(ws, dataset_name, user="tester")
    assert again.events == {} and again.already_recorded == 1

    args = argparse.Namespace(words=[str(ws.root)], name=dataset_name, where="samples.caption LIKE '%circle%'",
                              user="tester", brain=False, launch=False, port=5151, address="127.0.0.1")
    assert command.run(args) == 0
    assert f"0 sample(s) added, {len(circles)} updated" in capsys.readouterr().out.replace("\n", " ")
    assert _sample(dataset, id_of(8)).tags == ["tagged_after_build"]
    args.words = ["sync", str(ws.root)]
    assert command.run(args) == 0 and "no new edits" in capsys.readouterr().out


def test_sync_of_a_missing_dataset_and_bad_where_are_clear_errors(tmp_path, dataset_name):
    from curation.errors import GristmillError

    ws = small_workspace(tmp_path / "ws", n=4)
    with pytest.raises(GristmillError, match="no FiftyOne dataset"):
        bridge.sync(ws, dataset_name)
    with pytest.raises(GristmillError, match="--where"):
        bridge.build(ws, dataset_name, where="no_such_column > 1")


def test_rejected_tags_made_in_fiftyone_become_reject_events_once(tmp_path, dataset_name):
    ws = small_workspace(tmp_path / "ws", n=12)
    bridge.build(ws, dataset_name, user="tester")
    dataset = fo.load_dataset(dataset_name)
    rejected = [id_of(i) for i in range(5)]
    for sid in rejected:
        sample = _sample(dataset, sid)
        sample.tags.append("rejected")
        sample.save()
    sample = _sample(dataset, id_of(6))
    sample.tags.append("reject:duplicate")
    sample.save()

    assert bridge.sync(ws, dataset_name, user="tester").events == {"reject": 6}
    assert bridge.sync(ws, dataset_name, user="tester").events == {}
    rejects = [e for e in _events(ws, "fiftyone:tester") if e["action"] == "reject"]
    assert len(rejects) == 6
    assert {e["sample_id"] for e in rejects if e["reason"] == "other"} == set(rejected)
    state = {r["sample_id"]: r for r in Catalog(ws).query("SELECT * FROM review_state").to_pylist()}
    assert all(state[sid]["decision"] == "reject" for sid in rejected)
    assert state[id_of(6)]["reject_reason"] == "duplicate" and state[id_of(6)]["tags"] == []


def _tag(dataset, sid, add=None, remove=None):
    sample = _sample(dataset, sid)
    if add:
        sample.tags.append(add)
    if remove:
        sample.tags.remove(remove)
    sample.save()
    time.sleep(0.01)  # FiftyOne's modification times have millisecond resolution


def test_a_late_sync_never_overrides_a_newer_app_decision(tmp_path, dataset_name):
    ws = small_workspace(tmp_path / "ws", n=8)
    app = ReviewLog(ws, "alice")
    app.accept(id_of(1))  # before the FiftyOne edit: the FiftyOne decision is newer and wins
    time.sleep(0.01)
    bridge.build(ws, dataset_name, user="tester")
    dataset = fo.load_dataset(dataset_name)
    _tag(dataset, id_of(0), add="accepted")
    _tag(dataset, id_of(1), add="rejected")
    app.reject(id_of(0), "duplicate")  # in the app, after the FiftyOne tag, before the sync

    assert bridge.sync(ws, dataset_name, user="tester").events == {"accept": 1, "reject": 1}
    state = {r["sample_id"]: r for r in Catalog(ws).query("SELECT * FROM review_state").to_pylist()}
    assert (state[id_of(0)]["decision"], state[id_of(0)]["decision_reviewer"]) == ("reject", "alice")
    assert state[id_of(0)]["conflicting"]  # both decisions are in the log, and the Conflicts queue shows them
    assert (state[id_of(1)]["decision"], state[id_of(1)]["decision_reviewer"]) == ("reject", "fiftyone:tester")
    synced = Catalog(ws).query("SELECT ts FROM reviews WHERE reviewer = 'fiftyone:tester' AND sample_id = ?",
                               [id_of(0)]).to_pylist()[0]["ts"]
    assert synced < state[id_of(0)]["decision_ts"]  # the event carries when it was made in FiftyOne


def test_removing_a_decision_tag_retracts_the_decision_as_an_event(tmp_path, dataset_name):
    ws = small_workspace(tmp_path / "ws", n=8)
    bridge.build(ws, dataset_name, user="tester")
    dataset = fo.load_dataset(dataset_name)
    _tag(dataset, id_of(3), add="reject:duplicate")
    _tag(dataset, id_of(4), add="accepted")
    assert bridge.sync(ws, dataset_name, user="tester").events == {"reject": 1, "accept": 1}
    _tag(dataset, id_of(3), remove="reject:duplicate")
    assert bridge.sync(ws, dataset_name, user="tester").events == {"undo": 1}
    assert bridge.sync(ws, dataset_name, user="tester").events == {}
    state = {r["sample_id"]: r for r in Catalog(ws).query("SELECT * FROM review_state").to_pylist()}
    assert state[id_of(3)]["decision"] is None and state[id_of(4)]["decision"] == "accept"
    history = [e["action"] for e in _events(ws, "fiftyone:tester") if e["sample_id"] == id_of(3)]
    assert history == ["reject", "undo"]  # retracted by an event, nothing deleted
