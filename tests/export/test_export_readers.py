"""Every release is read back by real readers (pyarrow, DuckDB, HF datasets, webdataset) and compared,
sample by sample, with the catalog: a release of images only (media as Hugging Face Image storage) and one
that also holds videos (media as plain bytes)."""
import io
import json
import os

import duckdb
import PIL.Image
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from curation.catalog import Catalog
from curation.shards import read_media
from pipelines.export import ExportConfig, export
from pipelines.export.split import assign


@pytest.fixture(scope="module", params=["images", "mixed"])
def release(request, tmp_path_factory, corpus):
    """(workspace, export result): the fixture's decisions drop both videos ('images'), or 'mixed' keeps all."""
    from tests.export.conftest import build_workspace, write_decisions

    root = tmp_path_factory.mktemp("readers")
    ws = build_workspace(root / "ws", corpus)
    if request.param == "mixed":
        ok = Catalog(ws).query("SELECT sample_id FROM samples WHERE status = 'success'")["sample_id"].to_pylist()
        write_decisions(ws, "all.parquet", dict.fromkeys(ok, True))
    result = export(ws, ExportConfig(out=root / "out", formats=["parquet", "webdataset"], shard_size="200KB",
                                     row_group_size="64KB", splits="val=0.25"))
    media_types = {r["media_type"] for r in expected_samples(ws).values()}
    assert media_types == ({"image"} if request.param == "images" else {"image", "video"})
    return ws, result


def images_only(result) -> bool:
    """Whether the release's media column is Image storage (a struct of bytes and path), as pyarrow sees it."""
    return pa.types.is_struct(pq.read_schema(parquet_files(result)[0]).field("media").type)


def media_of(row: dict):
    """The media bytes of a row read by pyarrow: the Image struct's bytes, or the binary value itself."""
    return row["media"]["bytes"] if isinstance(row["media"], dict) else row["media"]


def expected_samples(ws) -> dict[str, dict]:
    """What the release must hold, from the catalog: kept decisions, successful crawl, media bytes."""
    catalog = Catalog(ws)
    rows = catalog.query(
        "SELECT s.* FROM samples s JOIN decisions d USING (sample_id) WHERE d.kept AND s.status = 'success'"
    ).to_pylist()
    splits = dict(zip([r["sample_id"] for r in rows], assign([r["sample_id"] for r in rows], {"val": 0.25})))
    return {
        r["sample_id"]: dict(r, split=splits[r["sample_id"]],
                             media=read_media(ws.root, r["media_path"], r["media_offset"], r["media_size"]))
        for r in rows
    }


def is_media(data: bytes) -> bool:
    """Real JPEG, PNG or MP4 bytes."""
    return data[:2] == b"\xff\xd8" or data[:8] == b"\x89PNG\r\n\x1a\n" or data[4:8] == b"ftyp"


def check_row(row: dict, want: dict) -> None:
    assert media_of(row) == want["media"] and is_media(want["media"])
    for key in ("url", "caption", "media_type", "mime_type", "width", "height", "sha256", "split"):
        assert row[key] == want[key], key
    assert row["caption_source"] == "original" and row["source_shard"] == want["shard"]


def parquet_files(result, split=None):
    return [str(result.out / s.file) for s in result.shards
            if s.format == "parquet" and (split is None or s.split == split)]


def test_pyarrow_reads_every_sample(release):
    ws, result = release
    want = expected_samples(ws)
    table = pq.ParquetDataset(parquet_files(result)).read()
    rows = table.to_pylist()
    assert sorted(r["sample_id"] for r in rows) == sorted(want) and result.rows == len(want) > 20
    for row in rows:
        check_row(row, want[row["sample_id"]])
    assert {r["split"] for r in rows} == {"train", "val"}


def test_shards_are_sorted_sized_and_zstd_except_media(release):
    _, result = release
    for path in parquet_files(result):
        meta = pq.ParquetFile(path).metadata
        ids = pq.read_table(path, columns=["sample_id"])["sample_id"].to_pylist()
        assert ids == sorted(ids)
        codecs = {meta.schema.column(i).path: meta.row_group(0).column(i).compression
                  for i in range(meta.num_columns)}
        media = {p: codecs.pop(p) for p in list(codecs) if p.split(".")[0] == "media"}
        assert list(media) == (["media.bytes", "media.path"] if images_only(result) else ["media"])
        assert set(media.values()) == {"UNCOMPRESSED"}  # JPEG/PNG/MP4 bytes: zstd would only cost CPU
        assert set(codecs.values()) == {"ZSTD"}
        assert meta.row_group(0).sorting_columns[0].column_index == 0
        assert meta.num_row_groups >= 1 and meta.row_group(0).total_byte_size < 64_000 + 300_000
    train = [s for s in result.shards if s.split == "train" and s.format == "parquet"]
    assert len(train) >= 3 and all(s.bytes < 200_000 + 300_000 for s in train)


def test_duckdb_reads_every_sample(release):
    ws, result = release
    want = expected_samples(ws)
    con = duckdb.connect()
    media = "media.bytes" if images_only(result) else "media"
    rows = con.sql(
        f"SELECT sample_id, split, {media} AS media, caption, url, scores.clip.clip_score AS clip_score, "
        "scores.clip.model_id AS clip_model FROM read_parquet($files) ORDER BY sample_id",
        params={"files": parquet_files(result)},
    ).to_arrow_table().to_pylist()
    assert [r["sample_id"] for r in rows] == sorted(want)
    clip = {r["sample_id"]: r["clip_score"] for r in Catalog(ws).query("SELECT * FROM clip").to_pylist()}
    for row in rows:
        w = want[row["sample_id"]]
        for key in ("media", "caption", "url", "split"):
            assert row[key] == w[key], key
        assert row["clip_score"] == clip[row["sample_id"]] and "PLACEHOLDER" in row["clip_model"]


def test_hf_datasets_reads_every_sample(release, tmp_path, monkeypatch):
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    from datasets import Image, Value, load_dataset

    ws, result = release
    want = expected_samples(ws)
    ds = load_dataset("parquet", data_files={"train": parquet_files(result, "train"),
                                             "val": parquet_files(result, "val")}, cache_dir=str(tmp_path / "cache"))
    seen = set()
    for split in ("train", "val"):
        for row in ds[split]:
            w = want[row["sample_id"]]
            assert row["split"] == split
            if images_only(result):  # an Image feature: rows decode to PIL images
                image = row.pop("media")
                assert isinstance(image, PIL.Image.Image) and image.size == (w["width"], w["height"])
                assert image.tobytes() == PIL.Image.open(io.BytesIO(w["media"])).tobytes()
                row["media"] = {"bytes": w["media"]}
            check_row(row, w)
            seen.add(row["sample_id"])
    assert seen == set(want)
    features = ds["train"].features
    assert features["media"] == (Image() if images_only(result) else Value("binary"))
    assert features["scores"]["clip"]["clip_score"].dtype == "float64" and features["width"] == Value("int32")
    if not images_only(result):  # as the README says: the images of a release with videos, as an Image feature
        images = ds["train"].filter(lambda r: r["media_type"] == "image").cast_column("media", Image())
        assert isinstance(images[0]["media"], PIL.Image.Image)
    # the release folder itself is a Hugging Face dataset: splits come from the file names
    auto = load_dataset(str(result.out), cache_dir=str(tmp_path / "cache2"))
    assert (auto["train"].num_rows, auto["validation"].num_rows) == (result.rows_by_split["train"],
                                                                     result.rows_by_split["val"])
    assert auto["train"].features["media"] == features["media"]


def test_webdataset_reads_every_sample(release):
    import webdataset as wds

    ws, result = release
    want = expected_samples(ws)
    urls = [str(result.out / s.file) for s in result.shards if s.format == "webdataset"]
    seen = set()
    for sample in wds.WebDataset(urls, shardshuffle=False, empty_check=False):
        meta = json.loads(sample["json"])
        w = want[sample["__key__"]]
        ext = {"image/jpeg": "jpg", "image/png": "png", "video/mp4": "mp4"}[w["mime_type"]]
        assert sample[ext] == w["media"]
        assert sample["txt"].decode() == w["caption"] == meta["caption"]
        assert meta["url"] == w["url"] and meta["split"] == w["split"] and "media" not in meta
        assert meta["scores"]["basic"]["scorer_version"] == "basic-1"
        seen.add(sample["__key__"])
    assert seen == set(want)


def test_webdataset_decodes_images(release):
    import webdataset as wds

    _, result = release
    urls = [str(result.out / s.file) for s in result.shards if s.format == "webdataset"]
    images = [s["jpg"] for s in wds.WebDataset(urls, shardshuffle=False, empty_check=False).decode("pil")
              if "jpg" in s]
    assert images and all(img.size[0] > 0 for img in images)


def test_references_release_has_no_bytes_but_reads_back(release, tmp_path):
    ws, _ = release
    result = export(ws, ExportConfig(out=tmp_path / "refs", media="references", formats=["parquet", "webdataset"]))
    table = pq.read_table([str(tmp_path / "refs" / s.file) for s in result.shards if s.format == "parquet"][0])
    assert table["media"].null_count == table.num_rows
    for row in table.to_pylist():
        assert is_media(read_media(ws.root, row["media_path"], row["media_offset"], row["media_size"]))
    assert os.path.getsize(tmp_path / "refs" / "data" / "train-00000.parquet") < 100_000


def test_declared_features_are_what_datasets_infers_with_media_as_image(release):
    from datasets import Features

    _, result = release
    schema = pq.read_schema(parquet_files(result)[0])
    declared = json.loads(schema.metadata[b"huggingface"])
    inferred = Features.from_arrow_schema(schema.remove_metadata()).to_dict()
    if images_only(result):
        inferred["media"] = {"_type": "Image"}
    assert declared == {"info": {"features": inferred}}


def test_columns_of_other_types_are_left_to_datasets():
    from datasets import Features, List, Value

    from pipelines.export.huggingface import with_features

    schema = with_features(pa.schema([("tags", pa.list_(pa.string())), ("n", pa.int64()),
                                      ("s", pa.struct([("xs", pa.list_(pa.float32())), ("y", pa.float32())]))]), None)
    assert json.loads(schema.metadata[b"huggingface"]) == {"info": {"features": {
        "n": {"dtype": "int64", "_type": "Value"}}}}
    features = Features.from_arrow_schema(schema)
    assert features["tags"] == List(Value("string")) and features["s"]["y"] == Value("float32")
