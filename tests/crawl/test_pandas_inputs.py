"""URL lists as pandas writes them: every format and compression gives the same rows; malformed ones are refused."""
import json

import pandas as pd
import pytest

from curation.errors import GristmillError
from pipelines.crawl import inputs
from pipelines.crawl.inputs import Columns, plan_inputs
from tests.crawl.conftest import read_rows, read_samples, run_crawl

COLUMNS = Columns("url", "caption")
# filtered, so the index is not a plain range: pandas then writes it (CSV "" column, Parquet __index_level_0__)
FRAME = pd.DataFrame({"url": [f"http://h/{i}.jpg" for i in range(4)], "caption": ["a", "b, \"c\"", "d\ne", "f"],
                      "license": ["cc-by", "cc0", "cc-by", "cc0"]}).iloc[1:]
EXPECTED = [(u, c, {"license": lic}) for u, c, lic in FRAME.itertuples(index=False)]
WRITERS = {
    "csv": lambda df, p: df.to_csv(p),
    "tsv": lambda df, p: df.to_csv(p, sep="\t"),
    "json": lambda df, p: df.to_json(p),
    "records.json": lambda df, p: df.to_json(p, orient="records"),
    "pretty.json": lambda df, p: df.to_json(p, indent=2),
    "lines.json": lambda df, p: df.to_json(p, orient="records", lines=True),
    "jsonl": lambda df, p: df.to_json(p, orient="records", lines=True),
}


def read_all(spec: str, columns: Columns = COLUMNS):
    return read_rows(spec, columns)


def rows_of(path) -> list[tuple]:
    return [(r.url, r.caption, r.extra) for r in read_all(str(path))]


@pytest.mark.parametrize("compression", ["", ".gz", ".bz2", ".xz", ".zst"])
@pytest.mark.parametrize("kind", sorted(WRITERS))
def test_pandas_text_formats_read_the_same_rows(tmp_path, kind, compression):
    path = tmp_path / f"list.{kind}{compression}"
    WRITERS[kind](FRAME, path)
    assert rows_of(path) == EXPECTED


@pytest.mark.parametrize("index", [True, False])
def test_pandas_parquet_index_is_not_carried(tmp_path, index):
    path = tmp_path / "list.parquet"
    FRAME.to_parquet(path, index=index)
    assert rows_of(path) == EXPECTED


def test_csv_read_back_by_pandas_drops_unnamed_index(tmp_path):
    FRAME.to_csv(tmp_path / "a.csv")
    pd.read_csv(tmp_path / "a.csv").to_csv(tmp_path / "b.csv")  # the old index becomes "Unnamed: 0"
    assert rows_of(tmp_path / "b.csv") == EXPECTED


def test_txt_with_compression(tmp_path):
    path = tmp_path / "list.txt.xz"
    FRAME[["url"]].to_csv(path, header=False, index=False)
    assert [r.url for r in read_all(str(path), Columns("url", None))] == list(FRAME.url)


def test_column_json_keeps_types_and_nulls(tmp_path):
    path = tmp_path / "list.json"
    pd.DataFrame({"url": ["http://h/1.jpg", "http://h/2.jpg"], "caption": ["x", None], "w": [3, 4]}).to_json(path)
    assert rows_of(path) == [("http://h/1.jpg", "x", {"w": 3}), ("http://h/2.jpg", None, {"w": 4})]


@pytest.mark.parametrize("content, error", [
    ('{"url": {"0": "http://h/1.jpg"}, "caption": {"0": "x"', "invalid JSON"),
    ('[{"url": "http://h/1.jpg", "caption": "x"}, 3]', "item 1 of the JSON array is not an object"),
    ('{"url": {"0": "http://h/1.jpg"}, "caption": ["x"]}', "holds dict, not text"),
    ('{"0": {"url": "http://h/1.jpg", "caption": "x"}}', "no URL column"),
    ('{"url": {"0": "http://h/1.jpg"}, "caption": 3}\n', "holds dict, not text"),
    ('{"columns": ["url", "caption"], "index": [0], "data": [["http://h/1.jpg", "x"]]}', "no URL column"),
    (FRAME.to_json(orient="split", indent=2), "not a JSON form that can be read"),
    ("[]", "empty file"),
    ('{"url": {}, "caption": {}}', "empty file"),
])
def test_malformed_json_is_refused(tmp_path, content, error):
    path = tmp_path / "list.json"
    path.write_text(content)
    with pytest.raises(GristmillError, match=error):
        read_all(str(path))


def test_oversized_json_document_is_refused(tmp_path, monkeypatch):
    path = tmp_path / "list.json"
    path.write_text(json.dumps([{"url": f"http://h/{i}.jpg", "caption": "x"} for i in range(100)]))
    monkeypatch.setattr(inputs, "MAX_JSON_DOCUMENT_BYTES", 1000)
    with pytest.raises(GristmillError, match="over 1000 bytes .* convert it to JSONL"):
        read_all(str(path))


def test_zst_without_zstandard_names_the_package(tmp_path, monkeypatch):
    path = tmp_path / "list.csv.zst"
    FRAME.to_csv(path)
    monkeypatch.setattr(inputs.fsspec, "available_compressions", lambda: [None, "gzip", "bz2", "xz"])
    with pytest.raises(GristmillError, match="needs the 'zstandard' package"):
        plan_inputs(str(path), "auto", COLUMNS)


def test_crawl_of_a_pandas_json_list_downloads_every_row(corpus, server, tmp_path):
    images = [i for i in corpus.items if i.media_type == "image"][:3]
    path = tmp_path / "list.json"
    pd.DataFrame({"url": [server.url(i.relpath) for i in images], "caption": [i.caption for i in images]}).to_json(path)
    report = run_crawl(tmp_path / "ws", str(path))
    assert report.samples == 3 and read_samples(tmp_path / "ws")["status"].to_pylist() == ["success"] * 3
