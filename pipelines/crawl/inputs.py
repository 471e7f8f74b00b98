"""Reading URL lists: Parquet, CSV, TSV, JSONL and plain text, local or on any fsspec filesystem.

`plan_inputs` runs in the driver before anything is downloaded: it expands the path (a file, a folder, a glob),
checks that every file can be read, is not empty and has the URL and caption columns, and splits the work into
parts (Parquet row groups; one part per text file). A problem raises GristmillError naming the file and the
columns it found. `read_part` runs inside the pipeline and yields RawRows in input order.

Columns other than the URL and caption columns are carried through (as the sample's `extra` JSON).
Text files may be compressed (.gz, .bz2, .xz, .zst); bytes that are not UTF-8 are decoded as cp1252, so a
stray Latin-1 caption is repaired rather than fatal. A malformed JSONL line or CSV row becomes a `bad_row`
sample instead of stopping the crawl. Header-less CSV/TSV files (CC3M, CC12M) take `column_names`.
"""
import csv
import json
from dataclasses import dataclass
from typing import Iterator

import fsspec
import pyarrow.parquet as pq
from fsspec.implementations.local import LocalFileSystem

from curation.errors import GristmillError
from pipelines.crawl.records import RawRow

FORMAT_BY_SUFFIX = {
    ".parquet": "parquet", ".pq": "parquet", ".csv": "csv", ".tsv": "tsv", ".jsonl": "jsonl",
    ".ndjson": "jsonl", ".json": "jsonl", ".txt": "txt", ".lst": "txt",
}
COMPRESSION_SUFFIXES = (".gz", ".bz2", ".xz", ".zst")
TEXT_URL_COLUMN = "url"
_DELIMITER = {"csv": ",", "tsv": "\t"}


@dataclass(frozen=True)
class Columns:
    """Which input columns hold the URL and the caption, and the names of header-less CSV/TSV columns."""

    url: str
    caption: str | None
    names: tuple[str, ...] | None = None


@dataclass(frozen=True)
class InputPart:
    """A unit of reading: a whole text file or one Parquet row group, addressed by fsspec URI."""

    uri: str
    fmt: str
    file_index: int
    part_index: int
    row_group: int | None = None


def plan_inputs(spec: str, fmt: str, columns: Columns) -> list[InputPart]:
    """Expand and validate the URL list(s) at `spec`; raise GristmillError before any download when unusable."""
    parts: list[InputPart] = []
    for file_index, uri in enumerate(_expand(spec)):
        file_fmt = detect_format(uri) if fmt == "auto" else fmt
        try:
            n_parts = _validate(uri, file_fmt, columns)
        except GristmillError:
            raise
        except Exception as exc:  # any read error of a hostile file: name the file, keep the cause
            raise GristmillError(f"{uri}: cannot be read as {file_fmt}: {type(exc).__name__}: {exc}") from exc
        row_groups = range(n_parts) if file_fmt == "parquet" else [None]
        parts += [InputPart(uri, file_fmt, file_index, i, rg) for i, rg in enumerate(row_groups)]
    return parts


def count_rows(parts: list[InputPart]) -> int:
    """Rows of the planned inputs, cheaply (Parquet metadata; lines of text files, an upper bound)."""
    total = 0
    for uri in dict.fromkeys(p.uri for p in parts):
        fmt = next(p.fmt for p in parts if p.uri == uri)
        if fmt == "parquet":
            with fsspec.open(uri, "rb") as fh:
                total += pq.ParquetFile(fh).metadata.num_rows
        else:
            with fsspec.open(uri, "rb", compression="infer") as fh:
                total += sum(1 for _ in fh)
    return total


def _expand(spec: str) -> list[str]:
    try:
        fs, path = fsspec.core.url_to_fs(spec)
    except (ImportError, ValueError) as exc:
        raise GristmillError(f"{spec}: cannot open this location: {exc}") from exc
    if any(c in path for c in "*?["):
        paths = sorted(fs.glob(path))
    elif fs.isdir(path):
        paths = sorted(p for p in fs.find(path) if not p.rsplit("/", 1)[-1].startswith((".", "_")))
    elif fs.exists(path):
        paths = [path]
    else:
        raise GristmillError(f"URL list {spec} does not exist")
    paths = [p for p in paths if fs.isfile(p)]
    if not paths:
        raise GristmillError(f"URL list {spec} matches no files")
    return paths if isinstance(fs, LocalFileSystem) else [fs.unstrip_protocol(p) for p in paths]


def detect_format(uri: str) -> str:
    """Input format from the file name (compression suffixes ignored); GristmillError when unknown."""
    name = uri.lower()
    for suffix in COMPRESSION_SUFFIXES:
        name = name.removesuffix(suffix)
    for suffix, fmt in FORMAT_BY_SUFFIX.items():
        if name.endswith(suffix):
            return fmt
    raise GristmillError(f"{uri}: cannot tell the format from the name; pass --input-format "
                         f"({', '.join(sorted(set(FORMAT_BY_SUFFIX.values())))})")


def _validate(uri: str, fmt: str, columns: Columns) -> int:
    """Check one file; return its number of parts (row groups for Parquet, else 1)."""
    if fmt == "parquet":
        with fsspec.open(uri, "rb") as fh:
            meta = pq.ParquetFile(fh).metadata
            names = meta.schema.to_arrow_schema().names
        if meta.num_rows == 0:
            raise GristmillError(f"{uri}: empty file (no rows; columns: {', '.join(names)})")
        _require_columns(uri, names, columns)
        return meta.num_row_groups
    if fmt in ("csv", "tsv"):
        header = _csv_header(uri, fmt, columns.names)
        if not header:
            raise GristmillError(f"{uri}: empty file (no header, no rows)")
        _require_columns(uri, header, columns)
    first = next(iter(_text_records(uri, fmt, columns)), None)
    if first is None:
        found = f"; columns: {', '.join(header)}" if fmt in ("csv", "tsv") and header else ""
        raise GristmillError(f"{uri}: empty file (no rows{found})")
    if fmt == "jsonl":
        if not isinstance(first[1], dict):
            raise GristmillError(f"{uri}: the first line is not a JSON object ({first[0]})")
        _require_columns(uri, list(first[0]), columns)
    return 1


def _require_columns(uri: str, found: list[str], columns: Columns) -> None:
    wanted = {"URL column (--url-col)": columns.url, "caption column (--caption-col)": columns.caption}
    for what, name in wanted.items():
        if name is not None and name not in found:
            raise GristmillError(
                f"{uri}: no {what} {name!r}; columns found: {', '.join(map(str, found)) or '(none)'}"
                + _hint(found)
            )


def _hint(found: list[str]) -> str:
    if any(str(c).lower().startswith(("http://", "https://")) for c in found):
        return ". The first line looks like data, not a header: name the columns with --column-names"
    return ""


def read_part(part: InputPart, columns: Columns) -> Iterator[RawRow]:
    """Yield the rows of one part in input order."""
    if part.fmt == "parquet":
        yield from _read_parquet(part, columns)
        return
    for row_index, (header, record) in enumerate(_text_records(part.uri, part.fmt, columns)):
        position = (part.file_index, part.part_index, row_index)
        if isinstance(record, str):  # a line that could not be parsed
            yield RawRow(position, record, None, {}, bad=header)
        elif part.fmt == "txt":
            yield RawRow(position, record[TEXT_URL_COLUMN], None, {})
        else:
            yield _split(position, record, columns)


def _read_parquet(part: InputPart, columns: Columns) -> Iterator[RawRow]:
    with fsspec.open(part.uri, "rb") as fh:
        table = pq.ParquetFile(fh).read_row_group(part.row_group)
    for row_index, record in enumerate(table.to_pylist()):
        yield _split((part.file_index, part.part_index, row_index), record, columns)


def _split(position: tuple[int, int, int], record: dict, columns: Columns) -> RawRow:
    url = _text(record.get(columns.url))
    caption = _text(record.get(columns.caption)) if columns.caption is not None else None
    extra = {k: v for k, v in record.items() if k not in (columns.url, columns.caption)}
    return RawRow(position, url, caption, extra)


def _text(value: object) -> object:
    return _decode(value) if isinstance(value, bytes) else value


def _decode(raw: bytes) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("cp1252", errors="replace")


def _lines(uri: str) -> Iterator[str]:
    with fsspec.open(uri, "rb", compression="infer") as fh:
        for i, raw in enumerate(fh):
            line = _decode(raw)
            yield line.removeprefix("\ufeff") if i == 0 else line


def _text_records(uri: str, fmt: str, columns: Columns) -> Iterator[tuple[object, dict | str]]:
    """(header, record dict) per row; for an unparseable row (error message, raw text) instead."""
    if fmt == "txt":
        for line in _lines(uri):
            if line.strip():
                yield (TEXT_URL_COLUMN,), {TEXT_URL_COLUMN: line.strip()}
    elif fmt == "jsonl":
        yield from _jsonl_records(uri)
    elif fmt in ("csv", "tsv"):
        yield from _csv_records(uri, fmt, columns.names)
    else:
        raise GristmillError(f"{uri}: unknown input format {fmt!r}")


def _jsonl_records(uri: str) -> Iterator[tuple[object, dict | str]]:
    for line_no, line in enumerate(_lines(uri), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            yield f"line {line_no}: invalid JSON: {exc}", line.strip()
            continue
        if not isinstance(record, dict):
            yield f"line {line_no}: not a JSON object", line.strip()
            continue
        yield tuple(record), record


def _csv_records(uri: str, fmt: str, names: tuple[str, ...] | None) -> Iterator[tuple[object, dict | str]]:
    reader = _csv_reader(uri, fmt)
    header = tuple(names) if names else None
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            yield f"line {reader.line_num}: unreadable CSV: {exc}", f"<unreadable line {reader.line_num} of {uri}>"
            continue
        if not cells or cells == [""]:
            continue
        if header is None:
            header = tuple(cells)
        elif len(cells) != len(header):
            yield f"line {reader.line_num}: {len(cells)} fields, expected {len(header)}", _DELIMITER[fmt].join(cells)
        else:
            yield header, dict(zip(header, cells))


def _csv_reader(uri: str, fmt: str):
    return csv.reader(_lines(uri), delimiter=_DELIMITER[fmt])


def _csv_header(uri: str, fmt: str, names: tuple[str, ...] | None) -> list[str]:
    if names:
        return list(names)
    for cells in _csv_reader(uri, fmt):
        if cells and cells != [""]:
            return cells
    return []
