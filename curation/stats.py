"""Workspace statistics from the catalog: sample counts, status breakdown, score and decision summaries."""
import pyarrow as pa

from curation.catalog import Catalog
from curation.sql import quote_identifier

_KEY_COLUMNS = {"sample_id", "error", "scorer_version", "model_id"}


def _rows(catalog: Catalog, sql: str, params=None) -> list[dict]:
    return catalog.query(sql, params).to_pylist()


def _summarise_scorer(catalog: Catalog, view: str) -> dict:
    schema = catalog.query(f"SELECT * FROM {quote_identifier(view)} LIMIT 0").schema
    parts = ["count(*) AS rows", "count(error) AS errors"]
    columns = []
    for field in schema:
        if field.name in _KEY_COLUMNS:
            continue
        q = quote_identifier(field.name)
        if pa.types.is_boolean(field.type):
            parts.append(f"count_if({q}) AS {quote_identifier(field.name + ':true')}")
            columns.append((field.name, "bool"))
        elif pa.types.is_integer(field.type) or pa.types.is_floating(field.type):
            parts += [f"{fn}({q}) AS {quote_identifier(field.name + ':' + stat)}"
                      for fn, stat in (("min", "min"), ("avg", "mean"), ("max", "max"))]
            columns.append((field.name, "num"))
    row = _rows(catalog, f"SELECT {', '.join(parts)} FROM {quote_identifier(view)}")[0]
    summary = {"rows": row["rows"], "errors": row["errors"], "columns": {}}
    for name, kind in columns:
        if kind == "bool":
            summary["columns"][name] = {"true": row[f"{name}:true"]}
        else:
            summary["columns"][name] = {s: row[f"{name}:{s}"] for s in ("min", "mean", "max")}
    return summary


def workspace_stats(catalog: Catalog) -> dict:
    """Counts by kind, media type and status, per-scorer summaries and the current decisions' outcome."""
    total = _rows(catalog, "SELECT count(*) AS n FROM samples")[0]["n"]
    by_kind = _rows(catalog, "SELECT kind, count(*) AS n FROM samples GROUP BY 1 ORDER BY 1")
    by_type = _rows(catalog, "SELECT media_type, count(*) AS n FROM samples GROUP BY 1 ORDER BY 2 DESC, 1")
    by_status = _rows(catalog, "SELECT status, count(*) AS n FROM samples GROUP BY 1 ORDER BY 2 DESC, 1")
    decisions = _rows(
        catalog,
        "SELECT coalesce(reason, 'kept') AS outcome, count(*) AS n FROM decisions GROUP BY 1 ORDER BY 2 DESC, 1",
    )
    return {
        "samples": total,
        "by_kind": {r["kind"]: r["n"] for r in by_kind},
        "by_media_type": {r["media_type"]: r["n"] for r in by_type},
        "by_status": {r["status"]: r["n"] for r in by_status},
        "scores": {v: _summarise_scorer(catalog, v) for v in catalog.score_views()},
        "decisions": {r["outcome"]: r["n"] for r in decisions},
        "reviews": _rows(catalog, "SELECT count(*) AS n FROM reviews")[0]["n"],
    }
