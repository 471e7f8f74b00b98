"""A small real workspace for export tests: synthetic JPEGs, PNGs and MP4s crawled into two shards, scores
(one of them a placeholder model, one a generated caption) and decisions. Tests add reviews with ReviewLog."""
from pathlib import Path

import pyarrow as pa
import pytest

from curation.atomic import write_parquet
from curation.identity import sample_id
from curation.shards import ShardWriter
from curation.synthetic.corpus import CorpusSpec, generate_corpus
from curation.workspace import Workspace
from schemas import DECISIONS, score_schema

MIME = {"jpg": "image/jpeg", "png": "image/png", "mp4": "video/mp4"}
CAPTION_SCORER = pa.schema([("sample_id", pa.string()), ("error", pa.string()), ("caption", pa.string()),
                            ("scorer_version", pa.string()), ("model_id", pa.string())])


@pytest.fixture(scope="session")
def corpus(tmp_path_factory):
    return generate_corpus(tmp_path_factory.mktemp("corpus"), CorpusSpec(seed=7, n_images=36, n_videos=2))


def build_workspace(root: Path, corpus) -> Workspace:
    """Crawl the corpus into two shards (plus two failed rows), score it and write decisions (every 5th dropped)."""
    ws = Workspace.init(root)
    rows = []
    for shard, items in (("00000", corpus.items[::2]), ("00001", corpus.items[1::2])):
        writer = ShardWriter(ws.root, shard)
        for item in items:
            url = f"http://example.test/{item.relpath}"
            ext = item.relpath.rsplit(".", 1)[1]
            row = dict(sample_id=sample_id(url, item.caption), url=url, caption=item.caption,
                       media_type=item.media_type, status="success", width=item.width, height=item.height,
                       sha256=item.sha256, mime_type=MIME[ext], duration_s=item.duration_s,
                       extra='{"license": "%s"}' % item.license)
            writer.add(row, media=corpus.path(item.item_id).read_bytes(), ext=ext)
            rows.append(row)
        failed_url = f"http://example.test/missing-{shard}.jpg"
        writer.add(dict(sample_id=sample_id(failed_url, "gone"), url=failed_url, caption="gone", media_type="image",
                        status="http_404", error="404"))
        writer.commit()
    ids = sorted(r["sample_id"] for r in rows)
    write_scores(ws, "basic", {sid: {"width": 1, "height": 2} for sid in ids}, "basic-1", None)
    write_scores(ws, "clip", {sid: {"clip_score": i / 100} for i, sid in enumerate(ids)}, "clip-1",
                 "ViT-B-32/PLACEHOLDER-random")
    captions = {sid: {"caption": f"generated {i}"} for i, sid in enumerate(ids[:10])}
    write_table(ws, ("scores", "caption", "00000.parquet"), captions, CAPTION_SCORER,
                {"scorer_version": "cap-1", "model_id": "coca"})
    failed = [sample_id(f"http://example.test/missing-{s}.jpg", "gone") for s in ("00000", "00001")]
    write_decisions(ws, "demo-aaaa.parquet", {sid: i % 5 != 0 for i, sid in enumerate(ids)} | {failed[0]: True})
    return ws


def write_table(ws: Workspace, parts: tuple, values: dict, schema: pa.Schema, constants: dict) -> None:
    rows = [{f.name: None for f in schema} | constants | {"sample_id": sid} | v for sid, v in values.items()]
    write_parquet(pa.Table.from_pylist(rows, schema=schema), ws.path(*parts))


def write_scores(ws: Workspace, scorer: str, values: dict, version: str, model_id: str | None) -> None:
    write_table(ws, ("scores", scorer, "00000.parquet"), values, score_schema(scorer),
                {"scorer_version": version, "model_id": model_id})


def write_decisions(ws: Workspace, name: str, kept: dict[str, bool], recipe_hash: str = "aaaa") -> None:
    """Write decisions/<name> and point decisions/CURRENT at it."""
    rows = [dict(sample_id=sid, kept=k, reason=None if k else "too_dull", reasons=[] if k else ["too_dull"],
                 source="recipe", recipe_name="demo", recipe_hash=recipe_hash, versions='{"clip": "clip-1"}')
            for sid, k in sorted(kept.items())]
    write_parquet(pa.Table.from_pylist(rows, schema=DECISIONS), ws.path("decisions", name))
    ws.path("decisions", "CURRENT").write_text(name + "\n")


@pytest.fixture
def ws(tmp_path, corpus):
    return build_workspace(tmp_path / "ws", corpus)
