"""The FiftyOne bridge: a persistent FiftyOne dataset of catalog samples, and its edits back as review events.

`build` writes the selected samples' media to `<workspace>/fiftyone/media/` (FiftyOne needs files) and adds
them to the dataset, keyed by the `gm_id` field, with their current caption (the latest edit, or the crawled
one), review tags, decision, scores, `gm_kind` and `gm_parent_id` (a clip's video). Each sample also keeps
`gm_base_caption` and `gm_base_tags`: what gristmill last gave it. `sync` turns the differences between a
sample's caption and tags and that baseline (edits made in FiftyOne) into review events by reviewer
"fiftyone:<user>", skips any the review log already reflects, then moves the baseline: running it again
records nothing new.
Decision tags are decisions, not tags: adding `accepted` (or `accept`) records an accept, and `rejected`
(or `reject`) a reject with reason `other`, `reject:<reason>` one with that configured reason; removing one
retracts (an undo event) the decision a sync recorded for it. An event synced from FiftyOne carries the
time FiftyOne last modified the sample, so it never overrides a decision made in the app after that.
Label fields (labeling_ui.fiftyone_labels): every field of the label vocabulary has `<field>_proposal`
(the stored proposal, never synced) and `<field>_human` (the current human label, with baseline
`gm_base_label_<field>`); `sync` records a changed `<field>_human` as a label event, at FiftyOne's time, and
reports a class the field does not have as a problem of that sample. `build(..., brain=True)` also attaches
the stored embeddings and computes the brain runs gm_map, gm_similarity and gm_uniqueness
(labeling_ui.fiftyone_brain).
Updating a dataset syncs it first, so an edit made in FiftyOne is never overwritten before it is recorded.
"""
from __future__ import annotations

import getpass
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

from curation.atomic import write_bytes
from curation.catalog import Catalog
from curation.errors import GristmillError
from curation.labels.vocabulary import load_vocabulary
from curation.reviews import ReviewLog
from curation.shards import read_media
from curation.sql import quote_identifier
from curation.workspace import Workspace
from labeling_ui import fiftyone_brain, fiftyone_labels
from labeling_ui.queues import column_sql, score_columns

MEDIA = ("fiftyone", "media")
ACCEPT_TAGS = ("accept", "accepted")
REJECT_TAGS = ("reject", "rejected")
DEFAULT_REJECT_REASON = "other"
EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_MIME_EXT = {"image/jpeg": "jpg", "image/png": "png", "image/webp": "webp", "image/gif": "gif", "video/mp4": "mp4",
             "video/webm": "webm"}


@dataclass
class BuildReport:
    """What `build` did: the dataset name, samples added and updated, the sync it ran first and the brain runs
    (if any)."""

    name: str
    added: int
    updated: int
    synced: "SyncReport | None"
    brain: "fiftyone_brain.BrainReport | None"


@dataclass
class SyncReport:
    """What `sync` recorded: events by action, edits the log already had, and edits it could not use (why)."""

    reviewer: str
    events: dict[str, int]
    already_recorded: int
    problems: list[str]


def default_name(workspace: Workspace) -> str:
    """The dataset name used when none is given: gristmill-<workspace name>."""
    return f"gristmill-{workspace.config.name}"


def _extension(row: dict, data: bytes) -> str:
    if row.get("mime_type") in _MIME_EXT:
        return _MIME_EXT[row["mime_type"]]
    if data[:3] == b"\xff\xd8\xff":
        return "jpg"
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        return "png"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    if data[4:8] == b"ftyp":
        return "mp4"
    raise GristmillError(f"sample {row['sample_id']}: unknown media type (mime {row.get('mime_type')!r}); "
                         "FiftyOne needs a known image or video format")


def _selection(catalog: Catalog, where: str | None) -> list[dict]:
    scores = score_columns(catalog)
    views = sorted({c.split(".", 1)[0] for c in scores})
    score_cols = "".join(f", {column_sql(c, scores)} AS {quote_identifier(c)}" for c in scores)
    joins = "".join(f" LEFT JOIN {quote_identifier(v)} USING (sample_id)" for v in views)
    sql = (f"SELECT samples.sample_id, samples.url, samples.caption, samples.media_type, samples.mime_type, "
           f"samples.kind, samples.parent_id, "
           f"samples.media_path, samples.media_offset, samples.media_size, decisions.kept, "
           f"decisions.reason AS drop_reason, review_state.decision, review_state.reject_reason, "
           f"review_state.final_caption, review_state.tags{score_cols} "
           f"FROM samples LEFT JOIN decisions USING (sample_id) LEFT JOIN review_state USING (sample_id){joins} "
           f"WHERE samples.status = 'success' AND samples.media_path IS NOT NULL"
           + (f" AND ({where})" if where else "") + " ORDER BY samples.sample_id")
    import duckdb

    try:
        return catalog.query(sql).to_pylist()
    except duckdb.Error as exc:
        raise GristmillError(f"--where {where!r} failed: {exc}") from exc


def _media_file(workspace: Workspace, row: dict) -> Path:
    data = read_media(workspace.root, row["media_path"], row["media_offset"], row["media_size"])
    path = workspace.path(*MEDIA, f"{row['sample_id']}.{_extension(row, data)}")
    if not (path.is_file() and path.stat().st_size == len(data)):
        write_bytes(data, path)
    return path


def _fields(row: dict, scores: list[str]) -> dict:
    caption = row["final_caption"] if row["final_caption"] is not None else row["caption"]
    tags = list(row["tags"] or [])
    fields = {"gm_id": row["sample_id"], "caption": caption, "gm_url": row["url"], "gm_kind": row["kind"],
              "gm_parent_id": row["parent_id"], "gm_kept": row["kept"],
              "gm_drop_reason": row["drop_reason"], "gm_decision": row["decision"],
              "gm_reject_reason": row["reject_reason"], "gm_base_caption": caption, "gm_base_tags": tags}
    fields.update({"score_" + c.replace(".", "_"): row[c] for c in scores})
    return fields


def _declare_fields(dataset, scores: list[str]) -> None:
    """Declare gristmill's fields with their types (FiftyOne cannot infer a type from all-None values)."""
    import fiftyone as fo

    strings = ["gm_id", "caption", "gm_url", "gm_kind", "gm_parent_id", "gm_drop_reason", "gm_decision",
               "gm_reject_reason", "gm_base_caption"]
    wanted = {**{f: (fo.StringField, {}) for f in strings}, "gm_kept": (fo.BooleanField, {}),
              "gm_base_tags": (fo.ListField, {"subfield": fo.StringField})}
    wanted.update({"score_" + c.replace(".", "_"): (fo.FloatField, {}) for c in scores})
    have = dataset.get_field_schema()
    for field, (ftype, kwargs) in wanted.items():
        if field not in have:
            dataset.add_sample_field(field, ftype, **kwargs)


def build(workspace: Workspace, name: str | None = None, where: str | None = None,
          user: str | None = None, brain: bool = False) -> BuildReport:
    """Create or update the persistent dataset `name` with the samples matching `where` (SQL over the views);
    with `brain`, also attach the stored embeddings and (re)compute the brain runs (labeling_ui.fiftyone_brain)."""
    import fiftyone as fo

    name = name or default_name(workspace)
    synced = sync(workspace, name, user) if fo.dataset_exists(name) else None
    catalog = Catalog(workspace)
    rows = _selection(catalog, where)
    scores = score_columns(catalog)
    vocabulary = load_vocabulary(workspace)
    labels = fiftyone_labels.sample_fields(catalog, vocabulary, [row["sample_id"] for row in rows])
    dataset = fo.load_dataset(name) if fo.dataset_exists(name) else fo.Dataset(name)
    dataset.persistent = True
    _declare_fields(dataset, scores)
    fiftyone_labels.declare(dataset, vocabulary)
    existing = set(dataset.distinct("gm_id")) if len(dataset) else set()
    new, updates = [], {}
    for row in rows:
        fields = _fields(row, scores) | labels[row["sample_id"]]
        if row["sample_id"] in existing:
            updates[row["sample_id"]] = fields
        else:
            tags = fields["gm_base_tags"]
            new.append(fo.Sample(filepath=str(_media_file(workspace, row)), tags=tags, **fields))
    if new:
        dataset.add_samples(new, progress=False)
    if updates:
        for field in next(iter(updates.values())):
            if field != "gm_id":
                dataset.set_values(field, {i: f[field] for i, f in updates.items()}, key_field="gm_id")
        dataset.set_values("tags", {i: f["gm_base_tags"] for i, f in updates.items()}, key_field="gm_id")
    report = fiftyone_brain.compute(dataset, catalog) if brain else None
    return BuildReport(name, len(new), len(updates), synced, report)


def sync(workspace: Workspace, name: str, user: str | None = None) -> SyncReport:
    """Record the caption, tag, decision and human label edits made in FiftyOne since the last build or sync as
    review events.

    Each event's time is when FiftyOne last modified the sample, so a decision made in the app after it wins
    by the conflict rule (curation.reviews), whenever the sync runs. A removed decision tag retracts (undoes)
    the decision a sync recorded for it. A label of a class the field does not have is reported in `problems`.
    """
    import fiftyone as fo

    if not fo.dataset_exists(name):
        raise GristmillError(f"no FiftyOne dataset {name!r}; create it with: gristmill fiftyone {workspace.root}")
    dataset = fo.load_dataset(name)
    ids, captions, tags, base_captions, base_tags, modified = dataset.values(
        ["gm_id", "caption", "tags", "gm_base_caption", "gm_base_tags", "last_modified_at"])
    catalog = Catalog(workspace)
    current = {r["sample_id"]: r for r in catalog.query(
        "SELECT s.sample_id, coalesce(r.final_caption, s.caption) AS caption, coalesce(r.tags, []) AS tags, "
        "r.decision "
        "FROM samples s LEFT JOIN review_state r USING (sample_id) WHERE s.sample_id IN (SELECT unnest(?))",
        [ids]).to_pylist()}
    log = ReviewLog(workspace, f"fiftyone:{user or getpass.getuser()}")
    ours = _fiftyone_decisions(catalog, ids)
    planned: list[tuple[int | None, int, object, tuple]] = []  # (when, order, action, arguments)
    already = 0
    for sid, caption, tag_list, base_caption, base_tag_list, at in zip(ids, captions, tags, base_captions,
                                                                         base_tags, modified):
        state = current.get(sid)
        if state is None:
            raise GristmillError(f"FiftyOne sample {sid} is not in the workspace's catalog")
        at_us = _epoch_us(at)

        def plan(action, *args) -> None:
            planned.append((at_us, len(planned), action, args))

        now, base = set(tag_list or []), set(base_tag_list or [])
        for tag in sorted(base - now):
            if decision_of_tag(tag):
                retracted = ours.pop((sid, decision_of_tag(tag)[0]), None)
                if retracted is None:  # that tag recorded nothing (the log had the decision already)
                    already += 1
                else:
                    plan(log.undo, retracted)
        for tag in sorted(now - base):
            if decision_of_tag(tag):
                action, reason = decision_of_tag(tag)
                if state["decision"] == action:
                    already += 1
                elif action == "accept":
                    plan(log.accept, sid)
                else:
                    plan(log.reject, sid, reason)
                state["decision"] = action
        now = {t for t in now if not decision_of_tag(t)}
        base = {t for t in base if not decision_of_tag(t)}
        edits = [(log.tag, t) for t in sorted(now - base) if t not in state["tags"]]
        edits += [(log.untag, t) for t in sorted(base - now) if t in state["tags"]]
        already += len(now ^ base) - len(edits)
        for action, tag in edits:
            plan(action, sid, tag)
        if caption != base_caption and caption:
            if caption != state["caption"]:
                plan(log.edit_caption, sid, caption, state["caption"])
            else:
                already += 1
    labels = fiftyone_labels.read_edits(dataset, catalog, load_vocabulary(workspace), ids)
    for row, sid, label_field, value in labels.edits:
        planned.append((_epoch_us(modified[row]), len(planned), log.label, (sid, label_field, value)))
    planned.sort(key=lambda p: (p[0] is None, p[0] or 0, p[1]))  # oldest first: ts never decreases in a session
    events = [action(*args, at_us=at_us) for at_us, _, action, args in planned]
    dataset.set_values("gm_base_tags", [list(t or []) for t in tags])
    dataset.set_values("gm_base_caption", captions)
    for base, values in labels.baselines.items():
        dataset.set_values(base, values)
    log.close()
    counts: dict[str, int] = {}
    for event in events:
        counts[event["action"]] = counts.get(event["action"], 0) + 1
    return SyncReport(log.reviewer, counts, already + labels.already_recorded, labels.problems)


def _fiftyone_decisions(catalog: Catalog, ids: list[str]) -> dict[tuple[str, str], str]:
    """(sample_id, action) -> event_id of the latest live decision a FiftyOne sync recorded on `ids`."""
    rows = catalog.query(
        "WITH e AS (SELECT * FROM reviews WHERE sample_id IN (SELECT unnest(?))), "
        "undone AS (SELECT undo_of FROM e WHERE action = 'undo') "
        "SELECT sample_id, action, arg_max(event_id, (ts, session, seq)) AS event_id FROM e "
        "WHERE reviewer LIKE 'fiftyone:%' AND action IN ('accept', 'reject') "
        "AND event_id NOT IN (SELECT undo_of FROM undone) GROUP BY sample_id, action", [ids]).to_pylist()
    return {(r["sample_id"], r["action"]): r["event_id"] for r in rows}


def _epoch_us(at: datetime | None) -> int | None:
    """µs since the epoch of FiftyOne's `last_modified_at` (naive UTC), None when the dataset has none."""
    if at is None:
        return None
    return (at.replace(tzinfo=timezone.utc) - EPOCH) // timedelta(microseconds=1)


def decision_of_tag(tag: str) -> tuple[str, str | None] | None:
    """('accept', None) or ('reject', reason) for a decision tag, None for an ordinary tag."""
    if tag in ACCEPT_TAGS:
        return "accept", None
    if tag in REJECT_TAGS:
        return "reject", DEFAULT_REJECT_REASON
    if tag.startswith("reject:") and tag[len("reject:"):]:
        return "reject", tag[len("reject:"):]
    return None


def launch(name: str, address: str = "127.0.0.1", port: int = 5151) -> None:
    """Open the FiftyOne App on the dataset and wait until it is closed."""
    import fiftyone as fo

    fo.launch_app(fo.load_dataset(name), address=address, port=port, auto=False).wait()
