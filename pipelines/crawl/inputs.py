"""Reading URL lists: Parquet, CSV, TSV, JSON, JSONL and plain text, local or on any fsspec filesystem.

`plan_inputs` runs in the driver before anything is downloaded: it expands the path (a file, a folder, a glob),
checks that every file can be read, is not empty and has the URL and caption columns, and splits the work into
parts (Parquet row groups; byte ranges of about TEXT_PART_BYTES of an uncompressed txt or JSONL file, each
read by whoever reads that part: a line belongs to the range it starts in; one part per other text file, since
a CSV field may hold a line break and a compressed stream cannot be entered midway). A problem raises
GristmillError naming the file and the columns it found. `read_batches` feeds the planner (`plan.py`): a
part's rows in input order as Arrow columns (Parquet: only the URL, caption and carried columns, never whole
rows as Python dicts); `read_part` parses the rows of a text part.

Columns other than the URL and caption columns are carried through (as the sample's `extra` JSON), except an
index column as pandas writes one (CSV `Unnamed: 0` or an empty name, Parquet `__index_level_0__`).
A `.json` file is pandas' `to_json()` output (a column-oriented object `{"url": {"0": ...}, ...}`), a JSON array
of records (`to_json(orient="records")`) or, when its first line is one record, JSONL. The two whole-document
forms are parsed whole: files over MAX_JSON_DOCUMENT_BYTES (decompressed) are refused; use JSONL or Parquet.
Text files may be compressed (.gz, .bz2, .xz, .zst; .zst needs the `zstandard` package); bytes that are not
UTF-8 are decoded as cp1252, so a stray Latin-1 caption is repaired rather than fatal. A malformed JSONL line
or CSV row becomes a `bad_row` sample instead of stopping the crawl. Header-less CSV/TSV files (CC3M, CC12M)
take `column_names`.
"""
import csv
import itertools
import json
import re
from dataclasses import dataclass
from typing import Iterator

import fsspec
import pyarrow as pa
import pyarrow.parquet as pq
from fsspec.implementations.local import LocalFileSystem

from curation.errors import GristmillError
from pipelines.crawl.records import RawRow, extra_json, extra_json_column

FORMAT_BY_SUFFIX = {
    ".parquet": "parquet", ".pq": "parquet", ".csv": "csv", ".tsv": "tsv", ".jsonl": "jsonl",
    ".ndjson": "jsonl", ".json": "json", ".txt": "txt", ".lst": "txt",
}
COMPRESSION_SUFFIXES = (".gz", ".bz2", ".xz", ".zst")
TEXT_URL_COLUMN = "url"
BATCH_ROWS = 65536  # rows per batch read for planning
TEXT_PART_BYTES = 64 * 2**20  # byte range of one part of an uncompressed txt or JSONL file
MAX_JSON_DOCUMENT_BYTES = 2**30  # a whole-document .json is parsed in memory (several times its size)
PANDAS_INDEX_COLUMN = re.compile(r"|Unnamed: \d+|__index_level_\d+__")  # CSV "" / re-saved CSV / Parquet
_DELIMITER = {"csv": ",", "tsv": "\t"}


@dataclass(frozen=True)
class Columns:
    """Which input columns hold the URL and the caption, and the names of header-less CSV/TSV columns."""

    url: str
    caption: str | None
    names: tuple[str, ...] | None = None


@dataclass(frozen=True)
class InputPart:
    """A unit of reading: one Parquet row group, a byte range [start, end) of a txt/JSONL file or a whole text file."""

    uri: str
    fmt: str
    file_index: int
    part_index: int
    row_group: int | None = None
    byte_range: tuple[int, int] | None = None


@dataclass(frozen=True)
class RowBatch:
    """Consecutive rows of one part as columns; `rows` holds the parsed rows of a text part (None for Parquet)."""

    part: InputPart
    row_start: int
    urls: pa.Array
    captions: pa.Array | None
    extras: list[str | None]
    rows: list[RawRow] | None


def plan_inputs(spec: str, fmt: str, columns: Columns) -> list[InputPart]:
    """Expand and validate the URL list(s) at `spec`; raise GristmillError before any download when unusable."""
    parts: list[InputPart] = []
    for file_index, uri in enumerate(_expand(spec)):
        file_fmt = detect_format(uri) if fmt == "auto" else fmt
        _require_decompressor(uri)
        try:
            n_parts = _validate(uri, file_fmt, columns)
        except GristmillError:
            raise
        except Exception as exc:  # any read error of a hostile file: name the file, keep the cause
            raise GristmillError(f"{uri}: cannot be read as {file_fmt}: {type(exc).__name__}: {exc}") from exc
        if file_fmt == "parquet":
            parts += [InputPart(uri, file_fmt, file_index, i, i) for i in range(n_parts)]
        else:
            ranges = _byte_ranges(uri, file_fmt)
            parts += [InputPart(uri, file_fmt, file_index, i, None, r) for i, r in enumerate(ranges)]
    return parts


def _byte_ranges(uri: str, fmt: str) -> list[tuple[int, int] | None]:
    """Byte ranges of an uncompressed txt/JSONL file; [None] (the whole file) for any other text file."""
    lines_are_rows = fmt in ("txt", "jsonl") or fmt == "json" and not _is_json_document(uri)
    if not lines_are_rows or uri.lower().endswith(COMPRESSION_SUFFIXES):
        return [None]
    size = fsspec.core.url_to_fs(uri)[0].size(uri)
    return [(start, min(start + TEXT_PART_BYTES, size)) for start in range(0, size, TEXT_PART_BYTES)]


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


def _require_decompressor(uri: str) -> None:
    """Refuse a .zst file when `zstandard` is missing (fsspec would then hand back the compressed bytes)."""
    if uri.lower().endswith(".zst") and "zstd" not in fsspec.available_compressions():
        raise GristmillError(f"{uri}: reading .zst files needs the 'zstandard' package, which is not installed "
                             "(pip install zstandard), or decompress the file first")


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
    if fmt in ("json", "jsonl"):
        if not isinstance(first[1], dict):
            raise GristmillError(f"{uri}: the first line is not a JSON object ({first[0]})")
        _require_columns(uri, list(first[0]), columns)
        _require_text_url(uri, first[1], columns)
    return 1


def _require_columns(uri: str, found: list[str], columns: Columns) -> None:
    wanted = {"URL column (--url-col)": columns.url, "caption column (--caption-col)": columns.caption}
    for what, name in wanted.items():
        if name is not None and name not in found:
            raise GristmillError(
                f"{uri}: no {what} {name!r}; columns found: {', '.join(map(str, found)) or '(none)'}"
                + _hint(found)
            )


def _require_text_url(uri: str, first: dict, columns: Columns) -> None:
    """Refuse a JSON list whose first URL is not text: a layout read wrongly, not one bad row."""
    url = first[columns.url]
    if url is not None and not isinstance(url, str):
        raise GristmillError(
            f"{uri}: the URL column {columns.url!r} of the first row holds {type(url).__name__}, not text; "
            "expected JSONL, a records array (to_json(orient='records')) or a column-oriented object (to_json())"
        )


def _hint(found: list[str]) -> str:
    if any(str(c).lower().startswith(("http://", "https://")) for c in found):
        return ". The first line looks like data, not a header: name the columns with --column-names"
    return ""


def read_part(part: InputPart, columns: Columns) -> Iterator[RawRow]:
    """Yield the rows of one text part in input order (Parquet parts are read by `read_batches`)."""
    for row_index, (header, record) in enumerate(_text_records(part.uri, part.fmt, columns, part.byte_range)):
        position = (part.file_index, part.part_index, row_index)
        if isinstance(record, str):  # a line that could not be parsed
            yield RawRow(position, record, None, {}, bad=header)
        elif part.fmt == "txt":
            yield RawRow(position, record[TEXT_URL_COLUMN], None, {})
        else:
            yield _split(position, record, columns)


def read_batches(part: InputPart, columns: Columns, batch_rows: int = BATCH_ROWS) -> Iterator[RowBatch]:
    """The rows of one part in input order, `batch_rows` at a time, as columns (Parquet: only the needed ones)."""
    if part.fmt == "parquet":
        yield from _parquet_batches(part, columns, batch_rows)
        return
    rows = iter(read_part(part, columns))
    row_start = 0
    while chunk := list(itertools.islice(rows, batch_rows)):
        urls = pa.array([r.url if isinstance(r.url, str) else None for r in chunk], pa.string())
        captions = (pa.array([r.caption if isinstance(r.caption, str) else None for r in chunk], pa.string())
                    if columns.caption is not None else None)
        yield RowBatch(part, row_start, urls, captions, [extra_json(r.extra) for r in chunk], chunk)
        row_start += len(chunk)


def _parquet_batches(part: InputPart, columns: Columns, batch_rows: int) -> Iterator[RowBatch]:
    with fsspec.open(part.uri, "rb") as fh:
        file = pq.ParquetFile(fh)
        names = [n for n in file.schema_arrow.names if not PANDAS_INDEX_COLUMN.fullmatch(n)]
        carried = [n for n in names if n not in (columns.url, columns.caption)]
        row_start = 0
        for batch in file.iter_batches(batch_rows, row_groups=[part.row_group], columns=names, use_threads=False):
            captions = batch.column(columns.caption) if columns.caption is not None else None
            extras = (extra_json_column({n: batch.column(n) for n in carried}) if carried
                      else [None] * batch.num_rows)
            yield RowBatch(part, row_start, batch.column(columns.url), captions, extras, None)
            row_start += batch.num_rows


def _split(position: tuple[int, int, int], record: dict, columns: Columns) -> RawRow:
    url = text_value(record.get(columns.url))
    caption = text_value(record.get(columns.caption)) if columns.caption is not None else None
    extra = {k: v for k, v in record.items()
             if k not in (columns.url, columns.caption) and not PANDAS_INDEX_COLUMN.fullmatch(str(k))}
    return RawRow(position, url, caption, extra)


def text_value(value: object) -> object:
    """A cell as the crawl reads it: bytes decoded (UTF-8, else cp1252), anything else unchanged."""
    return _decode(value) if isinstance(value, bytes) else value


def _decode(raw: bytes) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("cp1252", errors="replace")


def _lines(uri: str, byte_range: tuple[int, int] | None = None) -> Iterator[str]:
    if byte_range is not None:
        yield from _range_lines(uri, *byte_range)
        return
    with fsspec.open(uri, "rb", compression="infer") as fh:
        for i, raw in enumerate(fh):
            line = _decode(raw)
            yield line.removeprefix("\ufeff") if i == 0 else line


def _range_lines(uri: str, start: int, end: int) -> Iterator[str]:
    """The lines of an uncompressed file that start in [start, end): the bytes before are skipped, not read."""
    with fsspec.open(uri, "rb") as fh:
        if start:
            fh.seek(start - 1)
            fh.readline()  # the rest of the line that starts before `start` (just its b"\n" if one ends there)
        pos = fh.tell()
        while pos < end:
            raw = fh.readline()
            if not raw:
                return
            line = _decode(raw)
            yield line.removeprefix("\ufeff") if pos == 0 else line
            pos += len(raw)


def _text_records(uri: str, fmt: str, columns: Columns,
                  byte_range: tuple[int, int] | None = None) -> Iterator[tuple[object, dict | str]]:
    """(header, record dict) per row; for an unparseable row (error message, raw text) instead."""
    if fmt == "txt":
        for line in _lines(uri, byte_range):
            if line.strip():
                yield (TEXT_URL_COLUMN,), {TEXT_URL_COLUMN: line.strip()}
    elif fmt == "jsonl" or fmt == "json" and not _is_json_document(uri):
        yield from _jsonl_records(uri, byte_range)
    elif fmt == "json":
        for record in _json_document_rows(uri):
            yield tuple(record), record
    elif fmt in ("csv", "tsv"):
        yield from _csv_records(uri, fmt, columns.names)
    else:
        raise GristmillError(f"{uri}: unknown input format {fmt!r}")


def _jsonl_records(uri: str, byte_range: tuple[int, int] | None = None) -> Iterator[tuple[object, dict | str]]:
    after = f" after byte {byte_range[0]}" if byte_range and byte_range[0] else ""
    for line_no, line in enumerate(_lines(uri, byte_range), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            yield f"line {line_no}{after}: invalid JSON: {exc}", line.strip()
            continue
        if not isinstance(record, dict):
            yield f"line {line_no}{after}: not a JSON object", line.strip()
            continue
        yield tuple(record), record


def _is_json_document(uri: str) -> bool:
    """Whether a .json file is one JSON document (pandas' column-oriented object, a records array), not JSONL.

    Only the first non-blank line is read: an array, an incomplete object (pretty-printed) or an object of
    objects (`{"url": {"0": ...}}`) is a document; a complete flat object is the first line of JSONL.
    """
    first = next((line.strip() for line in _lines(uri) if line.strip()), "")
    if first.startswith("["):
        return True
    try:
        record = json.loads(first)
    except json.JSONDecodeError:
        return first.startswith("{")
    return isinstance(record, dict) and bool(record) and all(isinstance(v, dict) for v in record.values())


def _json_document_rows(uri: str) -> list[dict]:
    """The rows of a whole-document .json file, parsed in memory (hence MAX_JSON_DOCUMENT_BYTES)."""
    with fsspec.open(uri, "rb", compression="infer") as fh:
        raw = fh.read(MAX_JSON_DOCUMENT_BYTES + 1)
    if len(raw) > MAX_JSON_DOCUMENT_BYTES:
        raise GristmillError(f"{uri}: a JSON document over {MAX_JSON_DOCUMENT_BYTES} bytes is parsed whole and "
                             "is refused; convert it to JSONL (to_json(orient='records', lines=True)) or Parquet")
    try:
        document = json.loads(_decode(raw).removeprefix("\ufeff"))
    except json.JSONDecodeError as exc:
        raise GristmillError(f"{uri}: invalid JSON: {exc}") from exc
    return _records_of_array(uri, document) if isinstance(document, list) else _records_of_columns(uri, document)


def _records_of_array(uri: str, document: list) -> list[dict]:
    for i, record in enumerate(document):
        if not isinstance(record, dict):
            raise GristmillError(f"{uri}: item {i} of the JSON array is not an object (a record) but "
                                 f"{type(record).__name__}")
    return document


def _records_of_columns(uri: str, document: object) -> list[dict]:
    """Rows of pandas' column-oriented object `{column: {index: value}}`, in the index order of the file."""
    if not isinstance(document, dict) or not all(isinstance(v, dict) for v in document.values()):
        raise GristmillError(f"{uri}: not a JSON form that can be read: expected a records array "
                             "(to_json(orient='records')), a column-oriented object (to_json()) or JSONL")
    index = dict.fromkeys(key for values in document.values() for key in values)
    return [{column: values.get(key) for column, values in document.items()} for key in index]


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
