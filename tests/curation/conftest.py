"""Build small workspaces directly (shards, score files, review events) so curation tests need no crawl."""
from __future__ import annotations

import datetime as dt
import uuid
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from curation.shards import ShardWriter
from curation.workspace import Workspace
from schemas import REVIEW_EVENTS, SCORE_KEY_COLUMNS, SCORERS, conform, embedding_schema, score_schema


def sid(i: int) -> str:
    """A 32-hex-char sample id that sorts like `i`."""
    return f"{i:032x}"


def make_workspace(root: Path, samples: list[dict], scores: dict[str, list[dict]] | None = None) -> Workspace:
    """A workspace with one shard of `samples` (SAMPLES columns; defaults filled) and score files."""
    ws = Workspace.init(root)
    writer = ShardWriter(ws.root, "00000")
    for row in samples:
        writer.add({"url": f"http://example.test/{row['sample_id']}.jpg", "media_type": "image",
                    "status": "success", **row})
    writer.commit()
    for scorer, rows in (scores or {}).items():
        write_scores(ws, scorer, rows)
    return ws


def write_scores(ws: Workspace, scorer: str, rows: list[dict], part: str = "00000") -> None:
    """Write `scores/<scorer>/<part>.parquet`; columns beyond the scorer's schema (e.g. phash) are kept."""
    base = score_schema(scorer) if scorer in SCORERS else pa.schema(SCORE_KEY_COLUMNS)
    names = list(dict.fromkeys(k for r in rows for k in r))
    extra = [n for n in names if n not in base.names]
    inferred = pa.Table.from_pylist([{k: r.get(k) for k in extra} for r in rows]).schema if extra else pa.schema([])
    schema = pa.schema(list(base) + [f for f in inferred if f.name not in ("scorer_version", "model_id")])
    if "scorer_version" not in schema.names:
        schema = schema.append(pa.field("scorer_version", pa.string())).append(pa.field("model_id", pa.string()))
    full = [{"scorer_version": f"{scorer}-test-1", "model_id": "test-model", **r} for r in rows]
    table = pa.Table.from_pylist([{n: r.get(n) for n in schema.names} for r in full], schema=schema)
    path = ws.path("scores", scorer, f"{part}.parquet")
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, path)


def write_embeddings(ws: Workspace, model: str, ids: list[str], vectors) -> None:
    """Write image embeddings (rows of `vectors`, L2-normalised by the caller) for `ids`."""
    dim = vectors.shape[1]
    schema = embedding_schema(dim)
    table = pa.table({
        "sample_id": ids,
        "image_embedding": pa.FixedSizeListArray.from_arrays(pa.array(vectors.ravel().astype("float16")), dim),
        "text_embedding": pa.nulls(len(ids), schema.field("text_embedding").type),
        "model_id": [model] * len(ids),
    })
    path = ws.path("embeddings", model.replace("/", "_"), "00000.parquet")
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(conform(table, schema), path)


def write_reviews(ws: Workspace, events: list[dict]) -> None:
    """Append review events: dicts with sample_id and action (accept | reject | undo …)."""
    start = dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc)
    rows = []
    for seq, e in enumerate(events):
        rows.append({"event_id": uuid.uuid4().hex, "reviewer": "tester", "session": "s1",
                     "ts": start + dt.timedelta(seconds=seq), "seq": seq, **e})
    table = pa.Table.from_pylist([{f.name: r.get(f.name) for f in REVIEW_EVENTS} for r in rows], schema=REVIEW_EVENTS)
    pq.write_table(table, ws.path("reviews", f"{uuid.uuid4().hex}.parquet"))


@pytest.fixture
def workspace_factory(tmp_path):
    """make_workspace in a fresh folder per call."""
    counter = iter(range(1000))
    return lambda samples, scores=None: make_workspace(tmp_path / f"ws{next(counter)}", samples, scores)
