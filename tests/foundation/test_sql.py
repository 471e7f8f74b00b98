"""curation.sql quoting, checked by DuckDB itself: a quote inside a name or a path must survive the round trip."""
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from curation.sql import literal_list, quote_identifier, quote_literal


def test_identifier_with_double_quotes_names_the_same_column_and_view():
    con = duckdb.connect()
    view, column = 'my "view"', 'score "raw"'
    con.execute(f"CREATE TABLE {quote_identifier(view)} AS SELECT 0.5 AS {quote_identifier(column)}")
    names = [r[0] for r in con.execute("SELECT column_name FROM information_schema.columns").fetchall()]
    assert names == [column]
    assert con.execute(f"SELECT {quote_identifier(column)} FROM {quote_identifier(view)}").fetchall() == [(0.5,)]
    assert quote_identifier('a"b') == '"a""b"'


def test_literal_with_single_quotes_reads_back_verbatim():
    for value in ("it's", "''", "a'; DROP TABLE x; --"):
        assert duckdb.sql(f"SELECT {quote_literal(value)} AS v").fetchall() == [(value,)]


def test_paths_with_single_quotes_read_through_read_parquet(tmp_path):
    files = []
    for i, name in enumerate(("o'brien.parquet", "two''quotes.parquet")):
        path = tmp_path / name
        pq.write_table(pa.table({"i": [i]}), path)
        files.append(path)
    assert duckdb.sql(f"SELECT i FROM read_parquet({quote_literal(files[0])})").fetchall() == [(0,)]
    rows = duckdb.sql(f"SELECT i FROM read_parquet([{literal_list(files)}]) ORDER BY i").fetchall()
    assert rows == [(0,), (1,)]
    assert duckdb.sql(f"SELECT v FROM (VALUES ({literal_list([Path('x'), 'y'])})) AS t(v, w)").fetchall() == [("x",)]
    assert literal_list([]) == ""
