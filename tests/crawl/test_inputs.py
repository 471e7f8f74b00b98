"""URL lists: every format, carried columns, header-less lists, and clear errors before any download."""
import gzip
import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from curation.errors import GristmillError
from pipelines.crawl import inputs
from pipelines.crawl.inputs import Columns, plan_inputs
from tests.crawl.conftest import read_rows

COLUMNS = Columns("url", "caption")


def read_all(spec: str, columns: Columns = COLUMNS, fmt: str = "auto"):
    return read_rows(spec, columns, fmt)


@pytest.mark.parametrize("fmt", ["parquet", "csv", "tsv", "jsonl", "txt"])
def test_every_format_reads_the_corpus_list(corpus, tmp_path, fmt):
    path = corpus.write_url_list("http://example.com", tmp_path / f"list.{fmt}", fmt)
    columns = Columns("url", None) if fmt == "txt" else COLUMNS
    rows = read_all(str(path), columns)
    assert [r.url for r in rows] == [f"http://example.com/{i.relpath}" for i in corpus.items]
    if fmt != "txt":
        assert [r.caption for r in rows] == [i.caption for i in corpus.items]
        assert rows[0].extra == {"source": corpus.items[0].source, "license": corpus.items[0].license}
    assert [r.position for r in rows] == [(0, 0, i) for i in range(len(corpus.items))]


def test_laion_style_parquet_with_renamed_columns_and_row_groups(tmp_path):
    table = pa.table({"URL": [f"http://h/{i}.jpg" for i in range(10)], "TEXT": [f"t{i}" for i in range(10)],
                      "WIDTH": list(range(10)), "similarity": [0.3] * 10})
    pq.write_table(table, tmp_path / "part-0.parquet", row_group_size=4)
    columns = Columns("URL", "TEXT")
    parts = plan_inputs(str(tmp_path), "auto", columns)
    assert [p.row_group for p in parts] == [0, 1, 2]
    rows = read_all(str(tmp_path), columns)
    assert [r.caption for r in rows] == [f"t{i}" for i in range(10)]
    assert rows[5].extra == {"WIDTH": 5, "similarity": 0.3}
    assert [r.position for r in rows][4:6] == [(0, 1, 0), (0, 1, 1)]


def test_cc3m_style_headerless_tsv_with_column_names(tmp_path):
    path = tmp_path / "Train_GCC-training.tsv"
    path.write_text("a dog on a beach\thttp://h/1.jpg\nsome \"quoted\" text\thttp://h/2.jpg\n")
    with pytest.raises(GristmillError, match="--column-names"):
        plan_inputs(str(path), "auto", COLUMNS)
    columns = Columns("url", "caption", ("caption", "url"))
    rows = read_all(str(path), columns)
    assert [(r.url, r.caption) for r in rows] == [("http://h/1.jpg", "a dog on a beach"),
                                                   ("http://h/2.jpg", 'some "quoted" text')]


def test_webvid_style_csv_and_gzip(tmp_path):
    path = tmp_path / "results_2M_val.csv.gz"
    with gzip.open(path, "wt") as fh:
        fh.write("videoid,contentUrl,duration,page_dir,name\n1,http://h/v.mp4,PT00H00M10S,dir,A clip\n")
    columns = Columns("contentUrl", "name")
    (row,) = read_all(str(path), columns)
    assert (row.url, row.caption) == ("http://h/v.mp4", "A clip")
    assert row.extra == {"videoid": "1", "duration": "PT00H00M10S", "page_dir": "dir"}


def test_glob_reads_files_in_order(tmp_path):
    for i in range(3):
        (tmp_path / f"l{i}.txt").write_text(f"http://h/{i}.jpg\n\n")
    rows = read_all(str(tmp_path / "l*.txt"), Columns("url", None))
    assert [(r.url, r.position) for r in rows] == [(f"http://h/{i}.jpg", (i, 0, 0)) for i in range(3)]


def test_missing_column_names_file_and_columns_found(tmp_path):
    path = tmp_path / "list.csv"
    path.write_text("link,text\nhttp://h/1.jpg,x\n")
    with pytest.raises(GristmillError) as info:
        plan_inputs(str(path), "auto", COLUMNS)
    assert str(path) in str(info.value) and "'url'" in str(info.value) and "link, text" in str(info.value)
    pq.write_table(pa.table({"url": ["http://h/1.jpg"], "TEXT": ["x"]}), tmp_path / "l.parquet")
    with pytest.raises(GristmillError, match=r"caption column \(--caption-col\) 'caption'; columns found: url, TEXT"):
        plan_inputs(str(tmp_path / "l.parquet"), "auto", COLUMNS)


@pytest.mark.parametrize("name, content", [("empty.csv", b""), ("header.csv", b"url,caption\n"),
                                           ("empty.jsonl", b"\n\n"), ("empty.txt", b"")])
def test_empty_files_are_refused(tmp_path, name, content):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(GristmillError, match=f"{path}: empty file"):
        plan_inputs(str(path), "auto", Columns("url", None if name.endswith(".txt") else "caption"))


def test_empty_parquet_is_refused_with_its_columns(tmp_path):
    path = tmp_path / "e.parquet"
    pq.write_table(pa.table({"url": pa.array([], pa.string()), "caption": pa.array([], pa.string())}), path)
    with pytest.raises(GristmillError, match="empty file .*columns: url, caption"):
        plan_inputs(str(path), "auto", COLUMNS)


def test_unreadable_and_missing_files_are_refused(tmp_path):
    bad = tmp_path / "garbage.parquet"
    bad.write_bytes(b"\x00\x01not parquet at all" * 10)
    with pytest.raises(GristmillError, match=f"{bad}: cannot be read as parquet"):
        plan_inputs(str(bad), "auto", COLUMNS)
    with pytest.raises(GristmillError, match="does not exist"):
        plan_inputs(str(tmp_path / "nope.csv"), "auto", COLUMNS)
    (tmp_path / "list.xlsx").write_bytes(b"x")
    with pytest.raises(GristmillError, match="--input-format"):
        plan_inputs(str(tmp_path / "list.xlsx"), "auto", COLUMNS)


def test_non_utf8_and_malformed_rows_do_not_crash(tmp_path):
    path = tmp_path / "mixed.jsonl"
    good = json.dumps({"url": "http://h/1.jpg", "caption": "caf\u00e9"}).encode()
    latin1 = '{"url": "http://h/2.jpg", "caption": "na\u00efve"}'.encode("latin-1")
    path.write_bytes(good + b"\n" + latin1 + b"\n{broken json\n[1, 2]\n")
    rows = read_all(str(path))
    assert [r.caption for r in rows[:2]] == ["caf\u00e9", "na\u00efve"]
    assert rows[2].bad.startswith("line 3: invalid JSON") and rows[2].url == "{broken json"
    assert rows[3].bad == "line 4: not a JSON object"


def test_csv_rows_with_wrong_field_count_are_bad_rows(tmp_path):
    path = tmp_path / "l.csv"
    path.write_text('url,caption\nhttp://h/1.jpg,"multi\nline"\nhttp://h/2.jpg,a,b\n')
    rows = read_all(str(path))
    assert rows[0].caption == "multi\nline" and rows[0].bad is None
    assert rows[1].bad == "line 4: 3 fields, expected 2"


@pytest.mark.parametrize("name", ["list.jsonl", "list.txt"])
def test_uncompressed_line_lists_are_split_into_byte_ranges(tmp_path, monkeypatch, name):
    lines = [json.dumps({"url": f"http://h/{i}.jpg", "caption": "x" * (i % 13)}) for i in range(60)]
    lines[7] = "{broken"
    if name.endswith(".txt"):
        lines = [f"http://h/{i}.jpg" + "/x" * (i % 13) for i in range(60)]
    data = "\ufeff" + "\n".join(lines) + "\n"
    (tmp_path / name).write_text(data)
    columns = Columns("url", None if name.endswith(".txt") else "caption")
    whole = read_all(str(tmp_path / name), columns)
    monkeypatch.setattr(inputs, "TEXT_PART_BYTES", 97)
    parts = plan_inputs(str(tmp_path / name), "auto", columns)
    raw = data.encode()
    assert [p.byte_range for p in parts] == [(s, min(s + 97, len(raw))) for s in range(0, len(raw), 97)]
    starts = [0] + [i + 1 for i, b in enumerate(raw) if b == ord("\n")][:-1]  # byte where each line starts
    for part in parts:  # a line belongs to the range it starts in
        rows = [r for batch in inputs.read_batches(part, columns) for r in batch.rows]
        lo, hi = part.byte_range
        assert [r.url for r in rows] == [whole[i].url for i, s in enumerate(starts) if lo <= s < hi]
    split = read_all(str(tmp_path / name), columns)
    assert [(r.url, r.caption, r.extra) for r in split] == [(r.url, r.caption, r.extra) for r in whole]
    assert [r.position for r in split] == sorted(r.position for r in split)
    if name.endswith(".jsonl"):
        bad = next(r for r in split if r.bad)
        assert bad.url == "{broken" and "invalid JSON" in bad.bad


def test_compressed_and_csv_lists_stay_one_part(tmp_path, monkeypatch):
    monkeypatch.setattr(inputs, "TEXT_PART_BYTES", 10)
    (tmp_path / "a.csv").write_text('url,caption\nhttp://h/1.jpg,"multi\nline"\nhttp://h/2.jpg,y\n')
    with gzip.open(tmp_path / "b.jsonl.gz", "wt") as fh:
        fh.write('{"url": "http://h/3.jpg", "caption": "z"}\n' * 5)
    assert [p.byte_range for p in plan_inputs(str(tmp_path), "auto", COLUMNS)] == [None, None]
