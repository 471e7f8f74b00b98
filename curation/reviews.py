"""The human review log: every reviewer action is an event, appended and never changed.

Storage under `<workspace>/reviews/`:
    journal/<session>.jsonl   one file per writer session, one JSON event per line (REVIEW_EVENTS columns,
                              `ts` in integer µs since the epoch). An append is written and fsync'd before
                              the call returns: that is when a decision counts as acknowledged.
    NNNNN.parquet             immutable compacted events (REVIEW_EVENTS), written by `compact()`, sorted by
                              sample_id so that looking up a page of samples reads few row groups
    config.yaml               the reject reasons (ReviewConfig)
    .compact.lock             serialises compactions

Writers never share a file, so concurrent reviewers need no coordination. A writer holds an exclusive
`flock` on its journal while it lives; the kernel drops it when the process dies, which is how compaction
tells a live journal (compact its events, keep the file) from a dead one (compact, then delete). A torn
last line left by a crash was never acknowledged: readers skip it and report it, and a writer resuming
that session cuts it off first. Readers read journals before they list Parquet files and drop duplicate
event_ids, so a compaction running at the same time makes them see every event exactly once.

Events are ordered by (ts, session, seq). The current state of a sample (`review_state` in the catalog)
ignores undone events and takes the latest caption edit, the latest action per tag and per label field,
and the decision by the conflict rule: an admin's decision outranks a reviewer's, and among decisions of
one rank the latest by event time wins. A sample whose reviewers' latest decisions differ is
`conflicting` (the app's Conflicts queue) until an admin's decision, the latest of all, settles it. An event's `ts` is when the reviewer acted: now for the app,
the time FiftyOne last modified the sample for an edit synced from FiftyOne (labeling_ui.fiftyone_bridge).
"""
from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import os
import re
import threading
import time
import uuid
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterator

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator

from curation.atomic import fsync_path, write_bytes, write_parquet
from curation.errors import GristmillError
from curation.workspace import Workspace
from curation.yaml_config import read_yaml_config
from schemas import REVIEW_EVENTS

log = logging.getLogger(__name__)

REVIEWS = "reviews"
JOURNAL = "journal"
CONFIG_NAME = "config.yaml"
ACTIONS = ("accept", "reject", "edit_caption", "tag_add", "tag_remove", "label", "undo")
DECISIONS = ("accept", "reject")
ROLES = ("reviewer", "admin")
ORDER = ("ts", "session", "seq")
_SESSION_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
_LOCK_WAIT_S = 5.0
POSITIONS_KEY = "gristmill.journal_positions"  # compacted file metadata: how far each journal was read
COMPACT_ROW_GROUP = 8192  # compacted files are sorted by sample_id: a lookup of a few samples skips most groups
DEFAULT_REJECT_REASONS = (
    "caption_mismatch",
    "bad_caption_text",
    "low_quality",
    "watermark_or_text",
    "duplicate",
    "unsafe",
    "not_a_photo",
    "other",
)


class ReviewError(GristmillError):
    """A review action that cannot be recorded (unknown reason, bad session name, unknown event)."""


class ReviewConfig(BaseModel):
    """What `reviews/config.yaml` holds: the reject reasons reviewers choose from."""

    model_config = ConfigDict(extra="forbid")
    reject_reasons: list[str] = Field(default_factory=lambda: list(DEFAULT_REJECT_REASONS), min_length=1)

    @field_validator("reject_reasons")
    @classmethod
    def _unique_identifiers(cls, reasons: list[str]) -> list[str]:
        bad = [r for r in reasons if not re.fullmatch(r"[a-z0-9][a-z0-9_:-]*", r)]
        if bad:
            raise ValueError(f"reasons must be lower-case words (a-z, 0-9, _ : -): {bad}")
        if len(set(reasons)) != len(reasons):
            raise ValueError("reasons must be unique")
        return reasons


def load_config(workspace: Workspace) -> ReviewConfig:
    """The workspace's review config; the defaults (DEFAULT_REJECT_REASONS) when it has no config.yaml."""
    path = workspace.path(REVIEWS, CONFIG_NAME)
    return read_yaml_config(path, ReviewConfig, ReviewError, "review config")


def save_config(workspace: Workspace, config: ReviewConfig) -> Path:
    """Write `reviews/config.yaml` atomically."""
    data = yaml.safe_dump(config.model_dump(), sort_keys=True).encode()
    return write_bytes(data, workspace.path(REVIEWS, CONFIG_NAME))


def now_us() -> int:
    """The current UTC time in integer microseconds since the epoch."""
    return time.time_ns() // 1000


def new_session(reviewer: str) -> str:
    """A fresh, file-name-safe session id: UTC start time, reviewer slug and a random suffix."""
    slug = re.sub(r"[^A-Za-z0-9]+", "-", reviewer).strip("-")[:32] or "reviewer"
    return f"{datetime.now(timezone.utc):%Y%m%dT%H%M%S}-{slug}-{uuid.uuid4().hex[:8]}"


@dataclass
class EventRead:
    """Events read from the log, plus what was skipped and why (torn or corrupt journal lines)."""

    table: pa.Table
    problems: list[str] = field(default_factory=list)


class ReviewLog:
    """One reviewer's writer session over a workspace's review log.

    Every method that records an action returns the event (a dict of REVIEW_EVENTS columns, `ts` as µs)
    once it is on disk. `session` defaults to a fresh id; passing an existing one continues it. `role`
    (reviewer or admin, None when nobody signed in) is recorded in every event: it ranks decisions. Actions
    take `at_us`, when the reviewer acted if not now (an edit made in FiftyOne); `ts` never decreases within
    a session, so record such actions oldest first.
    """

    def __init__(self, workspace: Workspace | str | Path, reviewer: str, session: str | None = None,
                 role: str | None = None):
        self.workspace = workspace if isinstance(workspace, Workspace) else Workspace.open(Path(workspace))
        if not reviewer or not reviewer.strip():
            raise ReviewError("a reviewer id is required")
        if role is not None and role not in ROLES:
            raise ReviewError(f"role {role!r} is not one of {', '.join(ROLES)}")
        self.reviewer, self.role = reviewer, role
        self.session = session or new_session(reviewer)
        self._resumed = session is not None  # a given session may have events already: continue its seq
        if not _SESSION_RE.match(self.session):
            raise ReviewError(f"session {self.session!r} must be 1-128 of A-Z a-z 0-9 . _ - (no leading dot)")
        self.config = load_config(self.workspace)
        self.path = self.workspace.path(REVIEWS, JOURNAL, f"{self.session}.jsonl")
        self._lock = threading.Lock()
        self._fd: int | None = None
        self._seq = 0
        self._last_ts = 0
        self._written: dict[str, dict] = {}

    # -- actions -------------------------------------------------------------------------------------
    def accept(self, sample_id: str, at_us: int | None = None) -> dict:
        """Record that the sample belongs in the corpus."""
        return self._append(sample_id, "accept", at_us)

    def reject(self, sample_id: str, reason: str, at_us: int | None = None) -> dict:
        """Record that the sample does not belong in the corpus, for one of the configured reasons."""
        if reason not in self.config.reject_reasons:
            raise ReviewError(f"unknown reject reason {reason!r}; configured: {', '.join(self.config.reject_reasons)}")
        return self._append(sample_id, "reject", at_us, reason=reason)

    def edit_caption(self, sample_id: str, new: str, old: str | None, at_us: int | None = None) -> dict:
        """Record a caption fix: `old` is the caption the reviewer saw, `new` the replacement."""
        if not isinstance(new, str) or not new.strip():
            raise ReviewError("a caption edit needs a non-empty new caption")
        if new == old:
            raise ReviewError("the new caption is the same as the old one")
        return self._append(sample_id, "edit_caption", at_us, old_caption=old, new_caption=new)

    def tag(self, sample_id: str, tag: str, at_us: int | None = None) -> dict:
        """Add a tag to the sample."""
        return self._append(sample_id, "tag_add", at_us, tag=_clean_tag(tag))

    def untag(self, sample_id: str, tag: str, at_us: int | None = None) -> dict:
        """Remove a tag from the sample."""
        return self._append(sample_id, "tag_remove", at_us, tag=_clean_tag(tag))

    def label(self, sample_id: str, field_name: str, value: str | None, at_us: int | None = None) -> dict:
        """Set (or clear, with None) a label field of the sample."""
        if not field_name or not field_name.strip():
            raise ReviewError("a label fix needs a field name")
        return self._append(sample_id, "label", at_us, label_field=field_name.strip(), label_value=value)

    def undo(self, event_id: str, at_us: int | None = None) -> dict:
        """Cancel (retract) an earlier event of any reviewer; undo events themselves cannot be undone."""
        target = self._written.get(event_id) or _find_event(self.workspace, event_id)
        if target is None:
            raise ReviewError(f"no review event {event_id!r} to undo")
        if target["action"] == "undo":
            raise ReviewError(f"event {event_id} is an undo; record the action again instead of undoing an undo")
        return self._append(target["sample_id"], "undo", at_us, undo_of=event_id)

    # -- reading and maintenance ---------------------------------------------------------------------
    def events(self) -> pa.Table:
        """Every event of the workspace (all sessions), ordered by (ts, session, seq)."""
        read = read_events(self.workspace)
        for problem in read.problems:
            log.warning(problem)
        return read.table

    def compact(self) -> "CompactReport":
        """Compact the workspace's journals into Parquet (see `compact`)."""
        return compact(self.workspace)

    def close(self) -> None:
        """Release the journal (and its lock); later actions reopen it."""
        with self._lock:
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None

    # -- internals -----------------------------------------------------------------------------------
    def _append(self, sample_id: str, action: str, at_us: int | None, **fields) -> dict:
        if not isinstance(sample_id, str) or not sample_id:
            raise ReviewError("a review event needs a sample_id")
        with self._lock:
            fd = self._fd if self._fd is not None else self._open()
            ts = max(now_us() if at_us is None else min(int(at_us), now_us()), self._last_ts)
            event = {name: None for name in REVIEW_EVENTS.names}
            event.update(fields, event_id=uuid.uuid4().hex, sample_id=sample_id, action=action,
                         reviewer=self.reviewer, session=self.session, ts=ts, seq=self._seq, role=self.role)
            data = (json.dumps(event, ensure_ascii=False, separators=(",", ":")) + "\n").encode()
            end = os.fstat(fd).st_size
            try:
                while data:
                    data = data[os.write(fd, data):]
                os.fsync(fd)
            except OSError:
                os.ftruncate(fd, end)  # never leave a partial line for the next event to be glued to
                raise
            self._seq += 1
            self._last_ts = ts
            self._written[event["event_id"]] = event
        return event

    def _open(self) -> int:
        """Open and lock this session's journal, cutting off a torn tail and resuming seq and ts."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        deadline = time.monotonic() + _LOCK_WAIT_S
        while True:
            fd = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                if time.monotonic() > deadline:
                    raise ReviewError(f"session {self.session} is in use by another writer ({self.path})") from None
                time.sleep(0.02)
                continue
            if _same_file(fd, self.path):
                break
            os.close(fd)  # compaction deleted the file between our open and our lock: open it again
        fsync_path(self.path.parent)
        size = os.fstat(fd).st_size
        if size:
            content = os.pread(fd, size, 0)
            complete = content.rfind(b"\n") + 1
            if complete < size:
                log.warning("%s: cut off a torn last line (%d bytes) left by an interrupted write",
                            self.path, size - complete)
                os.ftruncate(fd, complete)
                os.fsync(fd)
        previous = (read_events(self.workspace).table.filter(pc.field("session") == self.session)
                    if self._resumed else REVIEW_EVENTS.empty_table())
        if previous.num_rows:
            self._seq = pc.max(previous["seq"]).as_py() + 1
            self._last_ts = pc.max(previous["ts"]).cast(pa.int64()).as_py()
        self._fd = fd
        return fd


def _clean_tag(tag: str) -> str:
    if not isinstance(tag, str) or not tag.strip():
        raise ReviewError("a tag must be a non-empty string")
    return tag.strip()


def _same_file(fd: int, path: Path) -> bool:
    try:
        return os.fstat(fd).st_ino == os.stat(path).st_ino
    except FileNotFoundError:
        return False


# -- reading ---------------------------------------------------------------------------------------------
def journal_files(workspace: Workspace) -> list[Path]:
    """The journal files present now, sorted."""
    folder = workspace.path(REVIEWS, JOURNAL)
    return sorted(p for p in folder.glob("*.jsonl") if not p.name.startswith(".")) if folder.is_dir() else []


def parse_journal(path: Path) -> tuple[list[dict], list[str]]:
    """The complete events of one journal file, and a problem line for each line skipped."""
    try:
        content = path.read_bytes()
    except FileNotFoundError:  # compacted and deleted since it was listed: its events are in Parquet now
        return [], []
    complete = content.rfind(b"\n") + 1
    events, problems = _parse_lines(content[:complete], path, 1)
    if complete < len(content):
        problems.append(_torn(path, len(content) - complete))
    return events, problems


def _torn(path: Path, n_bytes: int) -> str:
    return (f"{path}: ignored an incomplete last line ({n_bytes} bytes): "
            "a crashed write (never acknowledged) or one in progress")


def _parse_lines(content: bytes, path: Path, first_number: int) -> tuple[list[dict], list[str]]:
    """Events of `content` (complete lines, ending with a newline) numbered from `first_number`, and problems."""
    events, problems = [], []
    for number, line in enumerate(content.split(b"\n")[:-1], first_number):
        try:
            event = json.loads(line)
            missing = [f.name for f in REVIEW_EVENTS if not f.nullable and event.get(f.name) is None]
            if missing:
                raise ValueError(f"missing {', '.join(missing)}")
        except ValueError as exc:
            problems.append(f"{path}:{number}: ignored a corrupt line ({exc})")
            continue
        events.append(event)
    return events, problems


@dataclass(frozen=True)
class JournalPosition:
    """How far a journal file was read: its identity (`journal_identity`), the byte offset after its last
    complete line read, and how many lines that is."""

    identity: str
    offset: int
    lines: int


def journal_identity(fd: int) -> str:
    """Which file an open journal is: its inode and a digest of its first line (inode numbers are reused
    once a file is deleted, and a resumed session's new journal has a new first event)."""
    head = os.pread(fd, 4096, 0)
    first = head[: head.find(b"\n") + 1]
    return f"{os.fstat(fd).st_ino}:{hashlib.blake2b(first, digest_size=8).hexdigest()}"


@dataclass
class JournalRead:
    """What `read_from` read of one journal: complete events, corrupt lines skipped, a torn last line left
    for later (or None), the new position, whether it had to start again from the beginning (the events may
    have been read before) and the bytes read."""

    events: list[dict]
    corrupt: list[str]
    torn: str | None
    position: JournalPosition
    restarted: bool
    bytes_read: int


def read_from(fd: int, path: Path, since: JournalPosition | None) -> JournalRead:
    """The complete events of an open journal after `since` (None: from the start).

    A torn last line is left to be read later. `since` is dropped, and the file read from the start, when
    it is another file now or no longer ends a line at its offset (it shrank).
    """
    identity, size = journal_identity(fd), os.fstat(fd).st_size
    restarted = since is not None and (since.identity != identity or since.offset > size
                                       or (since.offset > 0 and os.pread(fd, 1, since.offset - 1) != b"\n"))
    start, lines = (since.offset, since.lines) if since and not restarted else (0, 0)
    data = os.pread(fd, size - start, start)
    complete = data.rfind(b"\n") + 1
    events, corrupt = _parse_lines(data[:complete], path, lines + 1)
    torn = _torn(path, len(data) - complete) if complete < len(data) else None
    position = JournalPosition(identity, start + complete, lines + data.count(b"\n", 0, complete))
    return JournalRead(events, corrupt, torn, position, restarted, len(data))


class JournalTail:
    """Reads a workspace's journals incrementally: each `read` returns only the complete events appended
    since the previous one (a torn last line is read once complete; never lost).

    `bytes_read` counts every journal byte read. A file read again from the start (see `read_from`) gives
    its events again: consumers dedupe by event_id, as the catalog's `reviews` view does.
    """

    def __init__(self, workspace: Workspace):
        self.workspace = workspace
        self.bytes_read = 0
        self.positions: dict[str, JournalPosition] = {}
        self._corrupt: list[str] = []

    def read(self) -> EventRead:
        """New complete events of every journal, and the problems seen (corrupt lines so far, torn tails now)."""
        events, torn, present = [], [], set()
        for path in journal_files(self.workspace):
            try:
                fd = os.open(path, os.O_RDONLY)
            except FileNotFoundError:  # compacted and deleted since listed: its events are in Parquet
                continue
            try:
                read = read_from(fd, path, self.positions.get(path.name))
            finally:
                os.close(fd)
            self.positions[path.name] = read.position
            self.bytes_read += read.bytes_read
            present.add(path.name)
            events += read.events
            torn += [read.torn] if read.torn else []
            self._corrupt += read.corrupt
        for gone in set(self.positions) - present:
            del self.positions[gone]
        return EventRead(events_table(events), self._corrupt + torn)


def events_table(events: list[dict]) -> pa.Table:
    """REVIEW_EVENTS table of event dicts (`ts` in µs), in (ts, session, seq) order."""
    columns = {}
    for f in REVIEW_EVENTS:
        values = [e.get(f.name) for e in events]
        columns[f.name] = (pa.array(values, pa.int64()).cast(f.type) if f.name == "ts"
                           else pa.array(values, f.type))
    table = pa.Table.from_pydict(columns, schema=REVIEW_EVENTS)
    return table.sort_by([(c, "ascending") for c in ORDER])


def read_journals(workspace: Workspace) -> EventRead:
    """Every complete event in the journals now (possibly also compacted already)."""
    events, problems = [], []
    for path in journal_files(workspace):
        found, skipped = parse_journal(path)
        events += found
        problems += skipped
    return EventRead(events_table(events), problems)


def compacted_files(workspace: Workspace) -> list[Path]:
    """The committed compacted Parquet files, sorted."""
    return workspace.parquet_files(REVIEWS)


def read_events(workspace: Workspace) -> EventRead:
    """Every event of the log exactly once, ordered by (ts, session, seq)."""
    journals = read_journals(workspace)  # before listing Parquet: see the module docstring
    parts = [pq.read_table(p, schema=REVIEW_EVENTS) for p in compacted_files(workspace)]
    compacted = pa.concat_tables(parts) if parts else REVIEW_EVENTS.empty_table()
    done = compacted["event_id"].combine_chunks()
    fresh = journals.table.filter(pc.invert(pc.is_in(journals.table["event_id"], value_set=done)))
    table = pa.concat_tables([compacted, fresh]).sort_by([(c, "ascending") for c in ORDER])
    return EventRead(table, journals.problems)


def _find_event(workspace: Workspace, event_id: str) -> dict | None:
    rows = read_events(workspace).table.filter(pc.field("event_id") == event_id).to_pylist()
    return rows[0] if rows else None


# -- compaction ------------------------------------------------------------------------------------------
@dataclass
class CompactReport:
    """What one compaction did."""

    events_written: int
    parquet: Path | None
    journals_removed: list[Path]
    journals_live: list[Path]
    problems: list[str]
    bytes_read: int  # journal bytes read: only what was appended since the previous compaction


@contextmanager
def _exclusive(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def compact(workspace: Workspace) -> CompactReport:
    """Move journal events into a new immutable `reviews/NNNNN.parquet`, then delete dead journals.

    Incremental: each compacted file records in its metadata how far it read every journal (POSITIONS_KEY),
    and the next compaction reads only what was appended since. Where that record is missing (a log an older
    gristmill compacted) or a journal is not the file it was (`read_from`), events already compacted are
    skipped by event_id. A file and its positions are committed together, so a crash at any point loses and
    duplicates nothing. Journals of live writers are compacted but kept (their writers go on appending).
    """
    with _exclusive(workspace.path(REVIEWS, ".compact.lock")):
        dead: list[tuple[Path, int]] = []
        live: list[Path] = []
        for path in journal_files(workspace):
            fd = os.open(path, os.O_RDONLY)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                live.append(path)
                continue
            dead.append((path, fd))  # held locked until deleted, so no writer can resume it meanwhile
        try:
            fresh, positions, problems, bytes_read = _uncompacted(workspace)
            parquet = None
            if fresh.num_rows:
                parquet = workspace.path(REVIEWS, f"{_next_index(workspace):05d}.parquet")
                by_sample = fresh.sort_by([("sample_id", "ascending")] + [(c, "ascending") for c in ORDER])
                saved = json.dumps({name: asdict(p) for name, p in positions.items()}, sort_keys=True)
                by_sample = by_sample.replace_schema_metadata({**REVIEW_EVENTS.metadata, POSITIONS_KEY: saved})
                write_parquet(by_sample, parquet, row_group_size=COMPACT_ROW_GROUP)
            for path, _ in dead:
                path.unlink()
            if dead:
                fsync_path(workspace.path(REVIEWS, JOURNAL))
        finally:
            for _, fd in dead:
                os.close(fd)
    return CompactReport(fresh.num_rows, parquet, [p for p, _ in dead], live, problems, bytes_read)


def _saved_positions(workspace: Workspace) -> dict[str, JournalPosition] | None:
    """How far the latest compaction read each journal; {} before the first, None if it did not say."""
    files = compacted_files(workspace)
    if not files:
        return {}
    raw = (pq.read_schema(files[-1]).metadata or {}).get(POSITIONS_KEY.encode())
    return None if raw is None else {name: JournalPosition(**p) for name, p in json.loads(raw).items()}


def pending_bytes(workspace: Workspace) -> int:
    """Journal bytes appended since the latest compaction read them (by file name and size; every byte of a
    log whose latest compaction did not record positions)."""
    saved = _saved_positions(workspace) or {}
    total = 0
    for path in journal_files(workspace):
        try:
            size = path.stat().st_size
        except FileNotFoundError:
            continue
        at = saved.get(path.name)
        total += size - at.offset if at is not None and at.offset <= size else size
    return total


def _uncompacted(workspace: Workspace) -> tuple[pa.Table, dict[str, JournalPosition], list[str], int]:
    """Journal events that no compacted file holds yet ((ts, session, seq) order), every journal's new
    position, the problems seen and the journal bytes read."""
    saved = _saved_positions(workspace)
    events, problems, positions, bytes_read, recheck = [], [], {}, 0, saved is None
    for path in journal_files(workspace):
        try:
            fd = os.open(path, os.O_RDONLY)
        except FileNotFoundError:
            continue
        try:
            read = read_from(fd, path, (saved or {}).get(path.name))
        finally:
            os.close(fd)
        events += read.events
        problems += read.corrupt + ([read.torn] if read.torn else [])
        positions[path.name] = read.position
        bytes_read += read.bytes_read
        recheck |= read.restarted
    fresh = events_table(events)
    if recheck:  # some events may be compacted already: skip those by event_id
        ids = [pq.read_table(p, columns=["event_id"])["event_id"].combine_chunks() for p in compacted_files(workspace)]
        done = pa.concat_arrays(ids) if ids else pa.array([], pa.string())
        fresh = fresh.filter(pc.invert(pc.is_in(fresh["event_id"], value_set=done)))
    return fresh, positions, problems, bytes_read


def _next_index(workspace: Workspace) -> int:
    numbers = [int(p.stem) for p in compacted_files(workspace) if p.stem.isdigit()]
    return max(numbers, default=-1) + 1


# -- catalog views ---------------------------------------------------------------------------------------
def reviews_sql(compacted: str, journal: str) -> str:
    """SELECT of the `reviews` view: compacted and journal events, each event once, in (ts, session, seq) order.

    Deduplicating per (sample_id, event_id) lets a filter on sample_id reach both scans.
    """
    cols = ", ".join(REVIEW_EVENTS.names)
    return (f"SELECT {cols} FROM (SELECT {cols} FROM ({compacted}) UNION ALL SELECT {cols} FROM {journal}) "
            f"QUALIFY row_number() OVER (PARTITION BY sample_id, event_id) = 1 ORDER BY {', '.join(ORDER)}")


_KEY = "(ts, session, seq)"
_RANKED_KEY = "(CASE WHEN role = 'admin' THEN 1 ELSE 0 END, ts, session, seq)"  # the conflict rule
_STATE_TEMPLATE = f"""
WITH events AS (SELECT * FROM {{events}}),
undone AS (SELECT DISTINCT undo_of AS event_id FROM events WHERE action = 'undo'),
live AS (SELECT * FROM events WHERE action <> 'undo' AND event_id NOT IN (SELECT event_id FROM undone)),
decided AS (
    SELECT sample_id, arg_max({{'action': action, 'reason': reason, 'reviewer': reviewer, 'ts': ts, 'role': role}},
                              {_RANKED_KEY}) AS d
    FROM live WHERE action IN ('accept', 'reject') GROUP BY sample_id),
per_reviewer AS (
    SELECT sample_id, reviewer, arg_max(action, {_KEY}) AS action, max(ts) AS ts
    FROM live WHERE action IN ('accept', 'reject') GROUP BY sample_id, reviewer),
conflicts AS (
    SELECT sample_id, count(DISTINCT action) > 1 AS disagree, max(ts) AS last_decision_ts,
           list(reviewer || ': ' || action ORDER BY reviewer) AS reviewer_decisions,
           list(reviewer ORDER BY reviewer) AS decided_by
    FROM per_reviewer GROUP BY sample_id),
captions AS (
    SELECT sample_id, arg_max(new_caption, {_KEY}) AS final_caption
    FROM live WHERE action = 'edit_caption' GROUP BY sample_id),
tag_last AS (
    SELECT sample_id, tag, arg_max(action, {_KEY}) AS action
    FROM live WHERE action IN ('tag_add', 'tag_remove') GROUP BY sample_id, tag),
tags AS (
    SELECT sample_id, list(tag ORDER BY tag) FILTER (WHERE action = 'tag_add') AS tags
    FROM tag_last GROUP BY sample_id),
label_last AS (
    SELECT sample_id, label_field, arg_max({{'v': label_value}}, {_KEY}).v AS label_value
    FROM live WHERE action = 'label' GROUP BY sample_id, label_field),
labels AS (
    SELECT sample_id, map_from_entries(list((label_field, label_value) ORDER BY label_field)) AS labels
    FROM label_last GROUP BY sample_id),
counts AS (SELECT sample_id, count(*) AS n_events, max(ts) AS last_ts FROM events GROUP BY sample_id)
SELECT counts.sample_id,
       decided.d.action AS decision,
       decided.d.reason AS reject_reason,
       decided.d.reviewer AS decision_reviewer,
       decided.d.ts AS decision_ts,
       coalesce(decided.d.role, CASE WHEN decided.d.action IS NOT NULL THEN 'reviewer' END) AS decision_role,
       coalesce(conflicts.disagree AND NOT (coalesce(decided.d.role = 'admin', false)
                                            AND decided.d.ts >= conflicts.last_decision_ts), false) AS conflicting,
       conflicts.reviewer_decisions,
       coalesce(conflicts.decided_by, []::VARCHAR[]) AS decided_by,
       captions.final_caption,
       coalesce(tags.tags, []::VARCHAR[]) AS tags,
       labels.labels,
       counts.n_events,
       counts.last_ts
FROM counts
LEFT JOIN decided USING (sample_id)
LEFT JOIN conflicts USING (sample_id)
LEFT JOIN captions USING (sample_id)
LEFT JOIN tags USING (sample_id)
LEFT JOIN labels USING (sample_id)
"""


def review_state_sql(events: str = "reviews") -> str:
    """SELECT of the current review state, one row per sample, computed from the relation `events`.

    An undo event carries the sample_id of the event it undoes, so `events` may be the reviews of a few
    samples only (a page of the review app), which is much cheaper than the whole `review_state` view.
    """
    return _STATE_TEMPLATE.replace("{events}", events)

