"""`gristmill query` is read-only by default: only reads run, and nothing it runs writes a file; --allow-writes
lifts both. Files land in the current folder (the test's tmp_path), so "writes no file" is checked there."""
import json

import pyarrow.parquet as pq
import pytest

from gristmill.cli import main
from gristmill.commands.query import refusal


@pytest.fixture
def ws(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["init", "ws"]) == 0
    return "ws"


def _refused(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "--allow-writes" in err, err
    return err


def test_copy_is_refused_and_writes_no_file(ws, tmp_path, capsys):
    assert main(["query", ws, "COPY (SELECT 1) TO 'x.csv'"]) == 2
    assert "COPY is not a read" in _refused(capsys)
    assert not (tmp_path / "x.csv").exists()


def test_a_write_anywhere_in_a_multi_statement_input_refuses_it_all(ws, tmp_path, capsys):
    assert main(["query", ws, "SELECT 1; COPY (SELECT 1) TO 'x.csv'"]) == 2
    _refused(capsys)
    assert not (tmp_path / "x.csv").exists()


def test_select_works(ws, capsys):
    assert main(["query", ws, "SELECT count(*) AS n FROM samples", "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1]) == {"n": 0}


def test_with_the_flag_copy_works(ws, tmp_path, capsys):
    assert main(["query", ws, "COPY (SELECT 42 AS answer) TO 'x.csv'", "--allow-writes"]) == 0
    assert (tmp_path / "x.csv").read_text().split() == ["answer", "42"]


def test_out_parquet_is_the_commands_own_write(ws, tmp_path):
    assert main(["query", ws, "SELECT 7 AS n", "--format", "parquet", "--out", "r.parquet"]) == 0
    assert pq.read_table(tmp_path / "r.parquet").to_pylist() == [{"n": 7}]


@pytest.mark.parametrize("sql", [
    "SELECT 1", "WITH a AS (SELECT 1 AS x) SELECT * FROM a", "FROM samples", "VALUES (1)", "DESCRIBE samples",
    "SHOW TABLES", "SUMMARIZE SELECT 1 AS x", "EXPLAIN SELECT 1", "EXPLAIN ANALYZE SELECT 1",
    "EXPLAIN (FORMAT json) SELECT 1", "PRAGMA table_info('samples')", "PRAGMA version", "-- note\nSELECT 1",
])
def test_reads_run(ws, sql, capsys):
    assert refusal(sql) is None
    assert main(["query", ws, sql, "--format", "json"]) == 0, capsys.readouterr().err


@pytest.mark.parametrize("sql, what", [
    ("CREATE TABLE t AS SELECT 1", "CREATE"), ("INSERT INTO t VALUES (1)", "INSERT"),
    ("ATTACH 'x.db' AS x", "ATTACH"), ("EXPORT DATABASE 'x'", "EXPORT"), ("INSTALL httpfs", "INSTALL"),
    ("LOAD httpfs", "LOAD"), ("SET threads = 1", "SET"), ("CALL checkpoint()", "CALL"),
    ("PRAGMA enable_profiling", "PRAGMA enable_profiling"), ("EXPLAIN ANALYZE COPY (SELECT 1) TO 'x.csv'", "COPY"),
    ("EXPLAIN (ANALYZE) COPY (SELECT 1) TO 'x.csv'", "COPY"), ("/* c */ COPY (SELECT 1) TO 'x.csv'", "COPY"),
])
def test_statements_that_are_not_reads_are_refused(ws, tmp_path, sql, what, capsys):
    assert refusal(sql).startswith(f"{what} is not a read")
    assert main(["query", ws, sql]) == 2
    _refused(capsys)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ws"]


def test_a_select_cannot_write_files_or_change_settings(ws, tmp_path, capsys):
    """Some table functions write or reconfigure from inside a SELECT; the locked-down connection refuses them."""
    sql = "SELECT * FROM enable_logging(storage = 'file', storage_path = 'logs')"
    assert main(["query", ws, sql]) == 2
    assert "query failed" in capsys.readouterr().err
    assert not (tmp_path / "logs").exists()


def test_files_outside_the_workspace_need_the_flag(ws, tmp_path, capsys):
    (tmp_path / "ids.csv").write_text("id\n1\n")
    assert main(["query", ws, "SELECT count(*) AS n FROM 'ids.csv'", "--format", "json"]) == 2
    _refused(capsys)
    assert main(["query", ws, "SELECT count(*) AS n FROM 'ids.csv'", "--format", "json", "--allow-writes"]) == 0
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1]) == {"n": 1}
