"""Workspaces for the review tests: a small one with real images, and a big one (no media) for latency.

Scores, embeddings and decisions are written as the scoring and curation stages write them (their
schemas, committed atomically), with values drawn from a seeded generator.
"""
import io
from pathlib import Path

import numpy as np
import pyarrow as pa
from PIL import Image, ImageDraw

from curation.atomic import write_parquet
from curation.catalog import CURRENT_DECISIONS
from curation.identity import sample_id
from curation.shards import ShardWriter, shard_name
from curation.workspace import Workspace
from schemas import DECISIONS, SAMPLES, embedding_schema, score_schema

COLOURS = ["red", "green", "blue", "orange", "purple", "yellow", "black", "white"]
SHAPES = ["circle", "square"]
CLIP_THRESHOLD = 0.25
EMBEDDING_DIM = 8


def url_of(i: int) -> str:
    """The URL of sample i."""
    return f"http://127.0.0.1/{i}.jpg"


def id_of(i: int) -> str:
    """The sample_id of sample i (as the crawler computes it)."""
    return sample_id(url_of(i), caption_of(i))


def caption_of(i: int) -> str:
    """The caption of sample i: its picture in words, or junk for every seventh sample."""
    return f"IMG_{i:04d}.jpg" if i % 7 == 6 else f"a {COLOURS[i % 8]} {SHAPES[i % 2]} on a grey background"


def _jpeg(i: int) -> bytes:
    image = Image.new("RGB", (96, 64), "grey")
    draw = ImageDraw.Draw(image)
    box = (28, 12, 68, 52)
    (draw.ellipse if i % 2 == 0 else draw.rectangle)(box, fill=COLOURS[i % 8])
    out = io.BytesIO()
    image.save(out, format="JPEG", quality=80)
    return out.getvalue()


def small_workspace(root: Path, n: int = 40) -> Workspace:
    """A workspace of `n` real JPEG samples in one shard, scored and curated (clip_score >= 0.25)."""
    ws = Workspace.init(root)
    writer = ShardWriter(ws.root, shard_name(0))
    ids = []
    for i in range(n):
        sid = id_of(i)
        ids.append(sid)
        writer.add(dict(sample_id=sid, url=url_of(i), caption=caption_of(i), media_type="image",
                        status="success", width=96, height=64), media=_jpeg(i), ext="jpg")
    writer.commit()
    _write_derived(ws, shard_name(0), ids, np.random.default_rng(0))
    _write_decisions(ws)
    return ws


def big_workspace(root: Path, n: int = 1_000_000, shard_rows: int = 50_000) -> Workspace:
    """A workspace of `n` samples (no media bytes) with scores, embeddings and decisions, for latency tests."""
    ws = Workspace.init(root)
    rng = np.random.default_rng(1)
    for shard_index, start in enumerate(range(0, n, shard_rows)):
        shard = shard_name(shard_index)
        ids = [id_of(i) for i in range(start, min(n, start + shard_rows))]
        rows = len(ids)
        columns = {f.name: pa.nulls(rows, f.type) for f in SAMPLES}
        columns.update(
            sample_id=pa.array(ids), url=pa.array([url_of(i) for i in range(start, start + rows)]),
            caption=pa.array([caption_of(i) for i in range(start, start + rows)]),
            media_type=pa.array(["image"] * rows), status=pa.array(["success"] * rows), shard=pa.array([shard] * rows),
            width=pa.array(rng.integers(32, 1024, rows), pa.int32()),
            height=pa.array(rng.integers(32, 1024, rows), pa.int32()),
        )
        write_parquet(pa.table(columns, schema=SAMPLES), ws.path("shards", f"{shard}.parquet"))
        _write_derived(ws, shard, ids, rng)
    _write_decisions(ws)
    return ws


def _score_table(scorer: str, ids: list[str], values: dict) -> pa.Table:
    schema = score_schema(scorer)
    columns = {f.name: pa.nulls(len(ids), f.type) for f in schema}
    columns.update({name: pa.array(v, schema.field(name).type) for name, v in values.items()})
    columns.update(sample_id=pa.array(ids), scorer_version=pa.array(["test-1"] * len(ids)))
    return pa.table(columns, schema=schema)


def _write_derived(ws: Workspace, shard: str, ids: list[str], rng: np.random.Generator) -> None:
    n = len(ids)
    clip = rng.normal(0.27, 0.04, n)
    clip_scores = {"clip_score": clip, "model_id": ["test-model"] * n}  # as the clip scorer writes them, with its model
    write_parquet(_score_table("clip", ids, clip_scores), ws.path("scores", "clip", f"{shard}.parquet"))
    basic = {"luma_std": rng.uniform(0, 80, n), "aspect_ratio": rng.uniform(0.3, 3.0, n)}
    write_parquet(_score_table("basic", ids, basic), ws.path("scores", "basic", f"{shard}.parquet"))
    text = {"language_score": rng.uniform(0.5, 1.0, n), "n_words": rng.integers(1, 20, n)}
    write_parquet(_score_table("text", ids, text), ws.path("scores", "text", f"{shard}.parquet"))
    vectors = rng.normal(size=(n, EMBEDDING_DIM)).astype(np.float16)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True).astype(np.float16)
    schema = embedding_schema(EMBEDDING_DIM)
    vec = pa.FixedSizeListArray.from_arrays(pa.array(vectors.reshape(-1), pa.float16()), EMBEDDING_DIM)
    table = pa.table({"sample_id": pa.array(ids), "image_embedding": vec, "text_embedding": vec,
                      "model_id": pa.array(["test-model"] * n)}, schema=schema)
    write_parquet(table, ws.path("embeddings", "test-model", f"{shard}.parquet"))


def _write_decisions(ws: Workspace) -> None:
    """Decisions of a one-step recipe `clip.clip_score >= CLIP_THRESHOLD`, computed by DuckDB."""
    import duckdb

    files = [str(p) for p in ws.parquet_files("scores", "clip")]
    table = duckdb.sql(
        f"SELECT sample_id, clip_score >= {CLIP_THRESHOLD} AS kept, "
        f"CASE WHEN clip_score >= {CLIP_THRESHOLD} THEN NULL ELSE 'filter:clip.clip_score' END AS reason, "
        f"CASE WHEN clip_score >= {CLIP_THRESHOLD} THEN []::VARCHAR[] ELSE ['filter:clip.clip_score'] END AS reasons, "
        "NULL::VARCHAR AS duplicate_of, 'recipe' AS source, 'test' AS recipe_name, 'abc' AS recipe_hash, NULL::VARCHAR AS versions "
        f"FROM read_parquet({files})"
    ).to_arrow_table()
    write_parquet(table.cast(DECISIONS), ws.path("decisions", "test-abc.parquet"))
    ws.path("decisions", CURRENT_DECISIONS).write_text("test-abc.parquet\n")


def engine_workspace(root: Path, n: int = 600, reviewed: int = 200):
    """The engine's synthetic corpus (curation.engine.simulate: no media, hidden truth), `reviewed` random
    samples decided by a perfect reviewer, and a trained engine model; returns the Corpus."""
    from curation.engine import Engine, EngineConfig
    from curation.engine.simulate import CorpusSpec, Reviewer, build
    from curation.reviews import ReviewLog

    corpus = build(root, CorpusSpec(n=n, dim=16, categories=8, bad_categories=(1, 5), seed=5))
    log = ReviewLog(corpus.workspace, "seed-reviewer")
    reviewer = Reviewer(corpus, log, error_rate=0.0, seed=1)
    for sid in np.random.default_rng(0).choice(corpus.ids, reviewed, replace=False).tolist():
        reviewer.review(sid)
    log.close()
    Engine(corpus.workspace, EngineConfig()).train()
    return corpus


def write_generated_captions(ws: Workspace, captions: dict[str, str], model_id: str = "test-captioner") -> None:
    """scores/caption/00000.parquet as the captioning scorer writes it: a generated caption per sample_id."""
    ids = list(captions)
    values = {"generated_caption": list(captions.values()), "model_id": [model_id] * len(ids),
              "n_tokens": [len(c.split()) for c in captions.values()], "truncated": [False] * len(ids)}
    write_parquet(_score_table("caption", ids, values),
                  ws.path("scores", "caption", "00000.parquet"))
