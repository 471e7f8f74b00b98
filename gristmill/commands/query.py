"""`gristmill query DIR "SQL"`: run SQL against the workspace catalog."""
import argparse
import json
import sys

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
from rich.table import Table

from curation.catalog import Catalog
from curation.errors import GristmillError
from curation.workspace import Workspace
from gristmill.console import console


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("workspace", help="workspace folder")
    parser.add_argument("sql", help='SQL, e.g. "SELECT status, count(*) FROM samples GROUP BY 1"')
    parser.add_argument("--format", choices=["table", "csv", "json", "parquet"], default="table")
    parser.add_argument("--out", help="write the result to this file instead of stdout (required for parquet)")
    parser.add_argument("--limit", type=int, default=50, help="rows shown in table format (default 50)")


def run(args: argparse.Namespace) -> int:
    import duckdb

    catalog = Catalog(Workspace.open(args.workspace))
    try:
        result = catalog.query(args.sql)
    except duckdb.Error as exc:
        raise GristmillError(f"query failed: {exc}") from exc
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
