"""Run one export: check the inputs (recipe, parent, output folder), curate first with --recipe, select the
kept samples, cut them into shards, write (or reuse) each shard, write the manifest last, and remember the
release in the workspace."""
import time
from contextlib import ExitStack
from datetime import datetime, timezone
from pathlib import Path

import pyarrow as pa

from curation import __version__
from curation.catalog import Catalog
from curation.placeholders import placeholder_scorers
from curation.sql import quote_identifier
from curation.workspace import Workspace
from pipelines.export import manifest as manifest_mod
from pipelines.export import recipe as recipe_mod
from pipelines.export.config import ExportConfig, ExportResult
from pipelines.export.hashing import sha256_file
from pipelines.export.journal import output_mode, prepare
from pipelines.export.plan import plan_shards
from pipelines.export.schema import describe, release_schema
from pipelines.export.select import PLAN_BYTES, Selection, build_selection, left_out, resolve_decisions
from pipelines.export.select import review_counts, stream
from pipelines.export.writer import OnShard, ReleaseWriter


def export(workspace: Workspace | Path, config: ExportConfig, on_shard: OnShard | None = None) -> ExportResult:
    """Export the workspace's kept samples to `config.out`; `on_shard(record, reused)` is called per shard file."""
    started = time.perf_counter()
    ws = workspace if isinstance(workspace, Workspace) else Workspace.open(workspace)
    recipe = recipe_mod.load(config.recipe) if config.recipe else None
    parent = manifest_mod.parent_of(ws, config.parent)
    output_mode(config.out, config.overwrite)  # refuse a busy output folder before curating
    decisions = recipe_mod.decide(ws, recipe) if recipe else resolve_decisions(ws, config.decisions)
    with ExitStack() as stack:
        catalog = Catalog(ws)
        stack.callback(catalog.close)
        selection = build_selection(catalog, decisions, config.media)
        mode = prepare(config.out, config.overwrite)
        images_only = _images_only(catalog, selection)  # before the stream: DuckDB runs one query at a time
        reader = stream(catalog, selection)
        schema = release_schema(pa.schema([f for f in reader.schema if f.name != PLAN_BYTES]), images_only,
                                selection.labels)
        writer = ReleaseWriter(ws.root, config, schema, on_shard)
        stack.callback(writer.close)
        for plan in plan_shards(reader, schema, config.splits, config.shard_size, config.row_group_size,
                                config.row_group_rows):
            writer.write(plan)
        writer.finish()
        writer.journal.prune({record.file for record, _ in writer.shards})
        manifest = _manifest(ws, config, catalog, selection, decisions, recipe, schema, writer, parent)
        manifest_mod.write_manifest(config.out, manifest)
        manifest_mod.record_release(ws, manifest, config.out)
    records = writer.records()
    return ExportResult(
        out=config.out,
        mode=mode,
        release_id=manifest["release_id"],
        decisions=decisions.name,
        rows=manifest["counts"]["rows"],
        rows_by_split=manifest["counts"]["by_split"],
        shards=records,
        written=sum(1 for _, reused in writer.shards if not reused),
        reused=sum(1 for _, reused in writer.shards if reused),
        bytes=sum(r.bytes for r in records),
        seconds=time.perf_counter() - started,
        not_exported=manifest["counts"]["not_exported"],
        placeholder_scorers=manifest["placeholder_scorers"],
        parent=parent["release_id"] if parent else None,
    )


def _manifest(ws: Workspace, config: ExportConfig, catalog: Catalog, selection: Selection, decisions: Path,
              recipe: recipe_mod.RecipeSource | None, schema: pa.Schema, writer: ReleaseWriter,
              parent: dict | None) -> dict:
    records = [record.model_dump() for record in writer.records()]
    return {
        "manifest_version": manifest_mod.MANIFEST_VERSION,
        "release_id": manifest_mod.release_id(records),
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "gristmill_version": __version__,
        "writer": {"pyarrow": pa.__version__, "parquet_compression": "zstd",
                   "media_compression": "none"},
        "workspace": {"name": ws.config.name, "path": str(ws.root.resolve())},
        "decisions": _decisions_info(catalog, decisions),
        "recipe": recipe.describe() if recipe else None,
        "reviews": review_counts(catalog, selection),
        "options": config.model_dump(mode="json", include={
            "formats", "media", "shard_size", "row_group_size", "row_group_rows", "splits"}),
        "counts": {
            "rows": sum(writer.rows_by_split.values()),
            "by_split": dict(sorted(writer.rows_by_split.items())),
            "not_exported": left_out(catalog, selection),
        },
        "placeholder_scorers": placeholder_scorers(catalog),
        "scorers": _scorer_versions(catalog, selection),
        "labels": {columns.field: columns.describe(catalog) for columns in selection.labels},
        "schema": describe(schema),
        "shards": records,
        "parent": parent,
    }


def _images_only(catalog: Catalog, selection: Selection) -> bool:
    """Whether every sample the release holds is an image (no video, no clip): its media column is then typed
    as Hugging Face Image storage (see pipelines.export.schema)."""
    row = catalog.query(
        f"{selection.ctes} SELECT count(*) FILTER (WHERE media_type IS DISTINCT FROM 'image') AS n FROM chosen",
        selection.params,
    ).to_pylist()[0]
    return row["n"] == 0


def _decisions_info(catalog: Catalog, decisions: Path) -> dict:
    recipes = catalog.query(
        "SELECT DISTINCT recipe_name AS name, recipe_hash AS hash FROM read_parquet($p) ORDER BY ALL",
        {"p": str(decisions)},
    ).to_pylist()
    return {"name": decisions.name, "sha256": sha256_file(decisions), "recipes": recipes}


def _scorer_versions(catalog: Catalog, selection: Selection) -> dict[str, list[dict]]:
    """Each exported scorer's distinct (scorer_version, model_id) pairs."""
    return {
        view: catalog.query(
            f"SELECT DISTINCT scorer_version, model_id FROM {quote_identifier(view)} ORDER BY ALL").to_pylist()
        for view in selection.scorers
    }
