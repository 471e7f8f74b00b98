import tarfile

import pyarrow as pa
import pytest

from curation.atomic import write_parquet
from curation.catalog import Catalog
from curation.errors import GristmillError
from curation.identity import sample_id
from curation.shards import ShardWriter, is_shard_done, read_media
from curation.workspace import Workspace
from schemas import DECISIONS, REVIEW_EVENTS, SAMPLES_VIEW, SCORERS, score_schema


def _row(i, status="success"):
    url = f"http://127.0.0.1/{i}.jpg"
    return dict(sample_id=sample_id(url, f"caption {i}"), url=url, caption=f"caption {i}", media_type="image",
                status=status, width=10 + i, height=20)


@pytest.fixture
def ws(tmp_path):
    ws = Workspace.init(tmp_path / "ws")
    writer = ShardWriter(ws.root, "00000")
    for i in range(4):
        writer.add(_row(i), media=bytes([i]) * (100 + 600 * i), ext="jpg")
    writer.add(_row(9, status="http_404"))
    writer.commit({"downloaded": 4})
    return ws


def test_shard_commit_writes_tar_parquet_and_marker(ws):
    assert is_shard_done(ws.path("shards"), "00000")
    names = tarfile.open(ws.path("shards", "00000.tar")).getnames()
    assert len(names) == 12 and names[0].endswith(".jpg") and names[1].endswith(".txt")
    assert not list(ws.path("shards").glob(".*"))


def test_media_is_readable_by_offset(ws):
    rows = Catalog(ws).query("SELECT * FROM samples WHERE status = 'success' ORDER BY width").to_pylist()
    for i, row in enumerate(rows):
        assert read_media(ws.root, row["media_path"], row["media_offset"], row["media_size"]) == bytes([i]) * (100 + 600 * i)


def test_failed_sample_has_no_media(ws):
    row = Catalog(ws).query("SELECT * FROM samples WHERE status <> 'success'").to_pylist()[0]
    assert row["status"] == "http_404" and row["media_path"] is None


def test_abort_leaves_nothing(tmp_path):
    ws = Workspace.init(tmp_path)
    writer = ShardWriter(ws.root, "00001")
    writer.add(_row(1), media=b"abc", ext="jpg")
    writer.abort()
    assert list(ws.path("shards").iterdir()) == []


def test_every_view_exists_and_is_empty_on_a_new_workspace(tmp_path):
    catalog = Catalog(Workspace.init(tmp_path))
    views = catalog.views()
    for name in ["samples", "clips", "embeddings", "decisions", "reviews", *SCORERS]:
        assert name in views
        assert catalog.query(f'SELECT count(*) AS n FROM "{name}"').column("n")[0].as_py() == 0
    assert views["samples"] == SAMPLES_VIEW.names
    assert views["decisions"] == DECISIONS.names
    assert views["reviews"] == REVIEW_EVENTS.names
    assert views["basic"] == score_schema("basic").names


def test_views_join_on_sample_id(ws):
    ids = Catalog(ws).query("SELECT sample_id FROM samples WHERE status = 'success' ORDER BY sample_id")
    schema = score_schema("basic")
    cols = {f.name: pa.nulls(ids.num_rows, f.type) for f in schema}
    cols.update(sample_id=ids.column("sample_id"), scorer_version=pa.array(["1"] * ids.num_rows),
                is_blank=pa.array([True, False, False, False]))
    write_parquet(pa.table(cols, schema=schema), ws.path("scores", "basic", "00000.parquet"))
    catalog = Catalog(ws)
    n = catalog.query("SELECT count(*) AS n FROM samples JOIN basic USING (sample_id) WHERE basic.is_blank")
    assert n.column("n")[0].as_py() == 1


def test_decisions_view_follows_current_pointer(ws):
    catalog = Catalog(ws)
    ids = catalog.query("SELECT sample_id FROM samples").column("sample_id").to_pylist()
    table = pa.table({"sample_id": ids, "kept": [True] * len(ids), "reason": [None] * len(ids),
                      "reasons": [[]] * len(ids), "duplicate_of": [None] * len(ids), "source": ["recipe"] * len(ids),
                      "recipe_name": ["t"] * len(ids), "recipe_hash": ["h"] * len(ids), "versions": ["{}"] * len(ids)},
                     schema=DECISIONS)
    write_parquet(table, ws.path("decisions", "t-h.parquet"))
    catalog.refresh()
    assert catalog.query("SELECT count(*) AS n FROM decisions").column("n")[0].as_py() == 0
    ws.path("decisions", "CURRENT").write_text("t-h.parquet\n")
    catalog.refresh()
    assert catalog.query("SELECT count(*) AS n FROM decisions").column("n")[0].as_py() == len(ids)


def test_query_parameters_are_bound(ws):
    catalog = Catalog(ws)
    hostile = "x' OR 1=1 --"
    assert catalog.query("SELECT count(*) AS n FROM samples WHERE caption = ?", [hostile]).column("n")[0].as_py() == 0


def test_views_read_only_committed_files(ws):
    """A crashed writer leaves at most a temporary file; no view lists it, and the catalog still opens."""
    (ws.path("shards") / ".00001.parquet.tmp-0123456789ab").write_bytes(b"half a parquet file")
    ws.path("scores", "basic").mkdir(parents=True, exist_ok=True)
    (ws.path("scores", "basic") / ".00000.parquet.tmp-0123456789ab").write_bytes(b"PAR1")
    catalog = Catalog(ws)
    assert catalog.query("SELECT count(*) AS n FROM samples").column("n")[0].as_py() == 5
    assert catalog.query("SELECT count(*) AS n FROM basic").column("n")[0].as_py() == 0


def test_new_shards_are_seen_after_a_refresh_and_kinds_are_set(ws):
    catalog = Catalog(ws)
    writer = ShardWriter(ws.root, "00001")
    writer.add(_row(20), media=b"x", ext="jpg")
    writer.commit({"downloaded": 1})
    catalog.refresh()
    rows = catalog.query("SELECT shard, kind, count(*) AS n FROM samples GROUP BY ALL ORDER BY ALL").to_pylist()
    assert rows == [{"shard": "00000", "kind": "crawled", "n": 5}, {"shard": "00001", "kind": "crawled", "n": 1}]


def write_model_embeddings(ws, model: str, dim: int, ids=("a",)) -> None:
    from schemas import embedding_schema

    vec = pa.FixedSizeListArray.from_arrays(pa.array([0.5] * dim * len(ids), pa.float16()), dim)
    table = pa.table({"sample_id": list(ids), "image_embedding": vec, "text_embedding": vec,
                      "model_id": [model] * len(ids)}, schema=embedding_schema(dim))
    write_parquet(table, ws.path("embeddings", model, "00000.parquet"))


def test_embeddings_of_one_model_at_a_time(ws):
    write_model_embeddings(ws, "small", 4, ("a", "b"))
    catalog = Catalog(ws)
    assert catalog.embedding_model() == "small"
    assert catalog.query("SELECT count(*) AS n FROM embeddings").column("n")[0].as_py() == 2
    write_model_embeddings(ws, "large", 8)  # re-scored with another model: the old vectors stay on disk
    catalog.refresh()
    rows = catalog.query("SELECT model_id, len(image_embedding) AS d FROM embeddings_all ORDER BY 1").to_pylist()
    assert rows == [{"model_id": "large", "d": 8}, {"model_id": "small", "d": 4}, {"model_id": "small", "d": 4}]
    with pytest.raises(Exception, match=r"several embedding models in this workspace \(large, small\), and their "
                                        r"vectors do not mix; set embedding_model in .*gristmill.yaml"):
        catalog.query("SELECT * FROM embeddings")
    assert catalog.embedding_model("large") == "large"
    with pytest.raises(GristmillError, match="no embeddings of model 'huge'; models present: large, small"):
        catalog.embedding_model("huge")
    config = ws.path("gristmill.yaml")
    config.write_text(config.read_text() + "embedding_model: large\n")
    catalog = Catalog(Workspace.open(ws.root))
    assert catalog.query("SELECT model_id, count(*) AS n FROM embeddings GROUP BY 1").to_pylist() == [
        {"model_id": "large", "n": 1}]
    assert "embeddings_all" not in catalog.score_views()


def test_catalog_spills_into_the_workspace_under_a_memory_limit(ws, monkeypatch):
    monkeypatch.setenv("GRISTMILL_MEMORY_LIMIT", "64MB")
    catalog = Catalog(ws)
    (limit, spill), = catalog.con.execute(
        "SELECT current_setting('memory_limit'), current_setting('temp_directory')").fetchall()
    assert limit == "61.0 MiB" and spill == str(ws.root / ".duckdb-spill")
    catalog.con.execute("CREATE TEMP TABLE big AS SELECT i, md5(i::VARCHAR) AS h FROM range(3000000) t(i)")
    (first,), = catalog.con.execute("SELECT h FROM big ORDER BY h LIMIT 1 OFFSET 1500000").fetchall()
    assert len(first) == 32  # a 3M-row sort of ~200 MB finished within 64 MB by spilling


def test_a_bad_memory_limit_names_the_variable(ws, monkeypatch):
    monkeypatch.setenv("GRISTMILL_MEMORY_LIMIT", "lots")
    with pytest.raises(GristmillError, match="GRISTMILL_MEMORY_LIMIT is read from the environment"):
        Catalog(ws)
