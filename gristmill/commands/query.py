"""`gristmill query DIR "SQL"`: run SQL against the workspace catalog, read-only unless --allow-writes.

Read-only is enforced twice. Every statement is classified by DuckDB's own parser before anything runs and
the input is refused, whole, when one of them is not a read (`refusal`): reads are SELECT (WITH, VALUES,
FROM-first, DESCRIBE, SHOW, SUMMARIZE and PIVOT with its values listed parse as SELECT), the reading PRAGMAs and
an EXPLAIN of a read (EXPLAIN ANALYZE runs what it explains). Then, once the views exist, the connection may read
files only inside the workspace and change no setting (`lock_down`): that also stops writes a SELECT can make,
such as `enable_logging(storage = 'file')`. `--out` files are written by gristmill, not by DuckDB.
"""
import argparse
import json
import sys

import duckdb
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
from rich.table import Table

from curation.catalog import Catalog
from curation.errors import GristmillError
from curation.sql import quote_literal
from curation.workspace import Workspace
from gristmill.console import console

ALLOW_WRITES = "--allow-writes"
READING_PRAGMAS = frozenset({
    "collations", "database_list", "database_size", "extension_versions", "functions", "metadata_info",
    "platform", "show", "show_databases", "show_tables", "show_tables_expanded", "storage_info", "table_info",
    "user_agent", "version",
})
"""PRAGMAs that only report; the others change settings or write (enable_profiling, copy_database)."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("workspace", help="workspace folder")
    parser.add_argument("sql", help='SQL, e.g. "SELECT status, count(*) FROM samples GROUP BY 1"; read-only: '
                                    "SELECT, WITH, DESCRIBE, SHOW, SUMMARIZE, EXPLAIN and reporting PRAGMAs")
    parser.add_argument("--format", choices=["table", "csv", "json", "parquet"], default="table")
    parser.add_argument("--out", help="write the result to this file instead of stdout (required for parquet)")
    parser.add_argument("--limit", type=int, default=50, help="rows shown in table format (default 50)")
    parser.add_argument(ALLOW_WRITES, action="store_true",
                        help="run any SQL: COPY, CREATE, INSERT, ATTACH, EXPORT, INSTALL/LOAD, SET, and files "
                             "outside the workspace")


def run(args: argparse.Namespace) -> int:
    if not args.allow_writes:
        reason = _parsed(refusal, args.sql)
        if reason:
            raise GristmillError(reason)
    catalog = Catalog(Workspace.open(args.workspace))
    if not args.allow_writes:
        lock_down(catalog)
    result = _parsed(catalog.query, args.sql)
    if args.format == "parquet":
        if not args.out:
            raise GristmillError("--format parquet needs --out FILE")
        pq.write_table(result, args.out)
    elif args.format == "csv":
        _write_text(lambda fh: pacsv.write_csv(result, fh), args.out)
    elif args.format == "json":
        _write_text(lambda fh: fh.write(_to_json(result).encode()), args.out)
    else:
        print_table(result, args.limit)
    return 0


def _parsed(call, sql: str):
    """`call(sql)`, a DuckDB error becoming a one-line GristmillError (with a hint when access was denied)."""
    try:
        return call(sql)
    except duckdb.PermissionException as exc:
        raise GristmillError(f"query failed: {exc} (read-only queries read only the workspace's files; "
                             f"{ALLOW_WRITES} lifts this)") from exc
    except duckdb.Error as exc:
        raise GristmillError(f"query failed: {exc}") from exc


def refusal(sql: str) -> str | None:
    """Why read-only mode refuses `sql` (its first statement that is not a read), or None when it only reads."""
    for statement in duckdb.extract_statements(sql):
        what = _not_a_read(statement)
        if what:
            return f"{what} is not a read and gristmill query is read-only; rerun with {ALLOW_WRITES} to allow it"
    return None


def _not_a_read(statement: duckdb.Statement) -> str | None:
    """What makes a statement more than a read ('COPY', 'PRAGMA enable_profiling'), or None for a read."""
    words = _words(statement.query)
    if statement.type == duckdb.StatementType.SELECT:
        return None
    if statement.type == duckdb.StatementType.PRAGMA:
        name = words[1] if len(words) > 1 else ""
        return None if name in READING_PRAGMAS else f"PRAGMA {name}".strip()
    if statement.type == duckdb.StatementType.EXPLAIN:
        explained = _explained(statement.query)
        return "EXPLAIN of an unrecognised statement" if explained is None else _not_a_read(explained)
    return words[0].upper()


def _words(query: str) -> list[str]:
    """The statement's tokens (DuckDB's tokenizer), lower-cased, comments left out."""
    tokens = duckdb.tokenize(query)
    ends = [start for start, _ in tokens[1:]] + [len(query)]
    return [query[start:end].strip().lower() for (start, kind), end in zip(tokens, ends)
            if kind != duckdb.token_type.comment]


def _explained(query: str) -> duckdb.Statement | None:
    """The statement an EXPLAIN explains: the first that DuckDB parses from a token after EXPLAIN on (EXPLAIN's
    options, ANALYZE or `(FORMAT json)`, do not parse as a statement)."""
    starts = [start for start, kind in duckdb.tokenize(query) if kind != duckdb.token_type.comment]
    for start in starts[1:]:
        try:
            statements = duckdb.extract_statements(query[start:])
        except duckdb.ParserException:
            continue
        if statements:
            return statements[0]
    return None


def lock_down(catalog: Catalog) -> None:
    """Let the catalog's connection read files only inside the workspace and change no setting from now on.

    The views read their Parquet through globs when a query runs, so the workspace folder stays readable;
    DuckDB then refuses COPY, ATTACH, INSTALL and file-writing functions outside it, and SET and the
    setting-changing functions everywhere.
    """
    root = quote_literal(catalog.workspace.root)
    catalog.con.execute(f"SET allowed_directories = [{root}]")
    catalog.con.execute("SET enable_external_access = false")
    catalog.con.execute("SET lock_configuration = true")


def _to_json(table: pa.Table) -> str:
    return "".join(json.dumps(row, default=str) + "\n" for row in table.to_pylist())


def _write_text(write, out: str | None) -> None:
    if out:
        with open(out, "wb") as fh:
            write(fh)
    else:
        write(sys.stdout.buffer)
        sys.stdout.buffer.flush()


def print_table(table: pa.Table, limit: int = 50) -> None:
    """Print an Arrow table as a rich table, at most `limit` rows."""
    view = Table(show_lines=False)
    for name in table.column_names:
        view.add_column(name, overflow="fold")
    for row in table.slice(0, limit).to_pylist():
        view.add_row(*("" if v is None else str(v) for v in row.values()))
    console.print(view)
    if table.num_rows > limit:
        console.print(f"({table.num_rows} rows, {limit} shown; use --limit or --format csv)")
    else:
        console.print(f"({table.num_rows} rows)")
