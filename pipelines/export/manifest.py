"""A release's manifest (written last), `verify` (re-check every file) and the parent release.

The manifest lists every shard (EXPORT_MANIFEST_SHARDS columns plus its format), the row schema, counts per
split, the decisions and options used, the recipe (name, hash and YAML text; only with --recipe, else null),
placeholder scorers, the parent release, the gristmill version and the creation time. `release_id` is the
sha256 of the shard list (file, sha256), so identical content has the identical id. The workspace keeps one
small record per release in `reports/releases/<release_id>.json` and, in `reports/releases/LAST` (replaced
atomically after the record), the release_id of the last one finished: the next export's parent.
"""
import hashlib
import json
import tarfile
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa

from curation.atomic import write_bytes, write_json
from curation.errors import GristmillError
from curation.workspace import Workspace
from pipelines.export import parquet_writer, webdataset_writer
from pipelines.export.hashing import sha256_file
from pipelines.export.journal import FOLDERS, MANIFEST, inside
from schemas import EXPORT_MANIFEST_SHARDS, conform

MANIFEST_VERSION = 1
RELEASES = ("reports", "releases")
LAST = "LAST"
"""File under reports/releases/ naming the release_id of the workspace's last finished release."""
_COUNTERS = {"parquet": parquet_writer.count_rows, "webdataset": webdataset_writer.count_rows}


def release_id(shards: list[dict]) -> str:
    """Content id of a release: sha256 over its files' names and checksums."""
    lines = "".join(f"{s['file']} {s['sha256']}\n" for s in sorted(shards, key=lambda s: s["file"]))
    return hashlib.sha256(lines.encode()).hexdigest()


def write_manifest(out: Path, manifest: dict) -> Path:
    """Check the shard list against EXPORT_MANIFEST_SHARDS and write manifest.json atomically."""
    shards = pa.Table.from_pylist(manifest["shards"], schema=EXPORT_MANIFEST_SHARDS)
    conform(shards, EXPORT_MANIFEST_SHARDS, "manifest shards")
    return write_json(manifest, Path(out) / MANIFEST)


def load_manifest(release: Path) -> dict:
    """The manifest of a complete release; a clear error for a folder that is not one."""
    path = Path(release) / MANIFEST
    if not path.is_file():
        raise GristmillError(
            f"{release} is not a complete release (no {MANIFEST}); an interrupted export finishes when rerun"
        )
    try:
        manifest = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise GristmillError(f"{path} is not valid JSON: {exc}") from exc
    if manifest.get("manifest_version") != MANIFEST_VERSION:
        raise GristmillError(f"{path}: unsupported manifest_version {manifest.get('manifest_version')!r}")
    return manifest


@dataclass
class Problem:
    """One failed check: the file (relative to the release) and a stable reason string."""

    file: str
    reason: str
    detail: str = ""


def verify(release: Path) -> list[Problem]:
    """Re-check every listed file's size, sha256 and row count, and look for files the manifest does not list."""
    release = Path(release)
    manifest = load_manifest(release)
    problems: list[Problem] = []
    listed = set()
    for shard in manifest["shards"]:
        listed.add(shard["file"])
        problems += _check_shard(release, shard)
    for folder in FOLDERS.values():
        root = release / folder
        for path in sorted(root.iterdir()) if root.is_dir() else []:
            if f"{folder}/{path.name}" not in listed:
                problems.append(Problem(f"{folder}/{path.name}", "unexpected_file", "not listed in the manifest"))
    if release_id(manifest["shards"]) != manifest["release_id"]:
        problems.append(Problem(MANIFEST, "release_id_mismatch", "the shard list does not match release_id"))
    for fmt in manifest["options"]["formats"]:
        for split, rows in manifest["counts"]["by_split"].items():
            listed_rows = sum(s["rows"] for s in manifest["shards"] if s["format"] == fmt and s["split"] == split)
            if listed_rows != rows:
                problems.append(Problem(MANIFEST, "split_count_mismatch", f"{fmt} {split}: {listed_rows} != {rows}"))
    return problems


def _check_shard(release: Path, shard: dict) -> list[Problem]:
    name = shard["file"]
    try:
        path = inside(release, name)
    except GristmillError as exc:
        return [Problem(name, "path_outside_release", str(exc))]
    if not path.is_file():
        return [Problem(name, "missing")]
    size = path.stat().st_size
    if size != shard["bytes"]:
        return [Problem(name, "size_mismatch", f"{size} bytes, manifest says {shard['bytes']}")]
    if sha256_file(path) != shard["sha256"]:
        return [Problem(name, "checksum_mismatch", "file bytes differ from the manifest's sha256")]
    try:
        rows = _COUNTERS[shard["format"]](path)
    except (OSError, pa.ArrowException, tarfile.TarError) as exc:
        return [Problem(name, "unreadable", str(exc))]
    if rows != shard["rows"]:
        return [Problem(name, "row_count_mismatch", f"{rows} rows, manifest says {shard['rows']}")]
    return []


def parent_of(workspace: Workspace, explicit: Path | None) -> dict | None:
    """The parent release: the one at `explicit`, else the workspace's last finished release (the record that
    reports/releases/LAST names; in a workspace whose records predate LAST, the latest by creation time)."""
    if explicit is not None:
        manifest = load_manifest(explicit)
        return _summary(manifest, Path(explicit))
    folder = workspace.path(*RELEASES)
    pointer = folder / LAST
    if pointer.is_file():
        record = folder / f"{pointer.read_text().strip()}.json"
        if not record.is_file():
            raise GristmillError(f"{pointer} names a release with no record {record.name}; pass --parent DIR")
        return json.loads(record.read_text())
    records = [json.loads(p.read_text()) for p in folder.glob("*.json") if not p.name.startswith(".")]
    return max(records, key=lambda r: (r["created"], r["release_id"])) if records else None


def record_release(workspace: Workspace, manifest: dict, out: Path) -> Path:
    """Remember a finished release in the workspace (reports/releases/<release_id>.json), then point
    reports/releases/LAST at it: the next export's parent, whatever the clock says."""
    record = write_json(_summary(manifest, out), workspace.path(*RELEASES, f"{manifest['release_id']}.json"))
    write_bytes(f"{manifest['release_id']}\n".encode(), workspace.path(*RELEASES, LAST))
    return record


def _summary(manifest: dict, out: Path) -> dict:
    return {
        "release_id": manifest["release_id"],
        "path": str(Path(out).resolve()),
        "created": manifest["created"],
        "decisions": manifest["decisions"]["name"],
        "recipes": manifest["decisions"]["recipes"],
        "rows": manifest["counts"]["rows"],
    }
