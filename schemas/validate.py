"""Check a table against a gristmill schema, with errors that name the column and the types."""
import pyarrow as pa


class SchemaError(ValueError):
    """A table does not match the schema it is written or read as."""


def validate(table: pa.Table, schema: pa.Schema, name: str = "table", allow_extra: bool = False) -> None:
    """Raise SchemaError naming the first missing, mistyped, null-in-required or unexpected column."""
    have = {f.name: f for f in table.schema}
    for field in schema:
        if field.name not in have:
            raise SchemaError(
                f"{name}: missing column {field.name!r} (expected {field.type}); "
                f"columns found: {', '.join(have) or 'none'}"
            )
        got = have[field.name].type
        if not got.equals(field.type):
            raise SchemaError(f"{name}: column {field.name!r} has type {got}, expected {field.type}")
        if not field.nullable and table.column(field.name).null_count:
            raise SchemaError(
                f"{name}: column {field.name!r} has {table.column(field.name).null_count} null value(s) "
                "but may not be null"
            )
    if not allow_extra:
        extra = [n for n in have if n not in schema.names]
        if extra:
            raise SchemaError(f"{name}: unexpected column(s) {', '.join(map(repr, extra))}; expected {schema.names}")


def conform(table: pa.Table, schema: pa.Schema, name: str = "table") -> pa.Table:
    """Reorder and safely cast `table` to `schema` (int64 -> int32 etc.), then validate it.

    Casting is safe: a value that does not fit raises SchemaError instead of being truncated.
    """
    missing = [f.name for f in schema if f.name not in table.column_names]
    if missing:
        raise SchemaError(
            f"{name}: missing column(s) {', '.join(map(repr, missing))}; columns found: {', '.join(table.column_names)}"
        )
    columns = []
    for field in schema:
        col = table.column(field.name)
        if not col.type.equals(field.type):
            try:
                col = col.cast(field.type, safe=True)
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
                raise SchemaError(
                    f"{name}: column {field.name!r} of type {col.type} cannot be read as {field.type}: {exc}"
                ) from exc
        columns.append(col)
    out = pa.Table.from_arrays(columns, schema=schema)
    validate(out, schema, name)
    return out
