"""Quoting for SQL that gristmill builds itself: the one place identifiers and literals are escaped."""
from pathlib import PurePath

import pyarrow as pa


def quote_identifier(name: str) -> str:
    """`name` as a DuckDB identifier in double quotes, inner quotes doubled (any view or column name)."""
    return '"' + name.replace('"', '""') + '"'


def quote_literal(value: str | PurePath) -> str:
    """`value` as a DuckDB string literal in single quotes, inner quotes doubled (paths, ids)."""
    return "'" + str(value).replace("'", "''") + "'"


def literal_list(values) -> str:
    """Values as a comma-separated list of string literals, e.g. for `read_parquet([...])` or `IN (...)`."""
    return ", ".join(quote_literal(v) for v in values)


def duckdb_type(t: pa.DataType) -> str:
    """The DuckDB type that reading an Arrow/Parquet column of type `t` produces."""
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        return "VARCHAR"
    if pa.types.is_boolean(t):
        return "BOOLEAN"
    if pa.types.is_int32(t):
        return "INTEGER"
    if pa.types.is_int64(t):
        return "BIGINT"
    if pa.types.is_float64(t):
        return "DOUBLE"
    if pa.types.is_float16(t) or pa.types.is_float32(t):
        return "FLOAT"
    if pa.types.is_timestamp(t):
        return "TIMESTAMPTZ" if t.tz else "TIMESTAMP"
    if pa.types.is_list(t) or pa.types.is_fixed_size_list(t):
        return duckdb_type(t.value_type) + "[]"
    raise TypeError(f"no DuckDB type mapping for Arrow type {t}")


def empty_select(schema: pa.Schema) -> str:
    """SQL for an empty relation with `schema`'s columns and types."""
    cols = ", ".join(f"CAST(NULL AS {duckdb_type(f.type)}) AS {quote_identifier(f.name)}" for f in schema)
    return f"SELECT {cols} WHERE false"


def files_select(files) -> str:
    """SQL reading every column of Parquet `files` (at least one), columns matched by name."""
    return f"SELECT * FROM read_parquet([{literal_list(files)}], union_by_name = true)"


def glob_select(pattern: str) -> str:
    """SQL reading every column of the Parquet files matching `pattern` (a glob) when the query runs.

    The first matching file gives the columns and the other files must have them (DuckDB says which file
    lacks one): binding reads one footer, not one per file, so a view over 10,000 files opens at once.
    Writers conform every file of a table to one schema (`schemas`), which makes this safe."""
    return f"SELECT * FROM read_parquet({quote_literal(pattern)})"
