"""A release's manifest (written last), `verify` (re-check every file) and `diff` (compare two releases).

The manifest lists every shard (EXPORT_MANIFEST_SHARDS columns plus its format), the row schema, counts per
split, the decisions and options used, the recipe (name, hash and YAML text; only with --recipe, else null),
placeholder scorers, the parent release, the gristmill version and the creation time. `release_id` is the
sha256 of the shard list (file, sha256), so identical content has the identical id. The workspace keeps one
small record per release in `reports/releases/`, from which the next export finds its parent.
"""
import hashlib
import json
import tarfile
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from curation.atomic import write_json
from curation.errors import GristmillError
from curation.workspace import Workspace
from pipelines.export import parquet_writer, webdataset_writer
from pipelines.export.hashing import sha256_file
from pipelines.export.journal import FOLDERS, MANIFEST, inside
from schemas import EXPORT_MANIFEST_SHARDS, conform

MANIFEST_VERSION = 1
RELEASES = ("reports", "releases")
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


@dataclass
class Diff:
    """How release B differs from release A."""

    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    changed_captions: list[dict] = field(default_factory=list)
    """{'sample_id', 'old', 'new'} for samples in both whose final caption changed."""


def captions(release: Path) -> pa.Table:
    """(sample_id, caption) of every sample of a release, from its Parquet shards or else its WebDataset tars."""
    manifest = load_manifest(release)
    fmt = "parquet" if "parquet" in manifest["options"]["formats"] else "webdataset"
    files = [inside(release, s["file"]) for s in manifest["shards"] if s["format"] == fmt]
    if fmt == "parquet":
        tables = [pq.read_table(f, columns=["sample_id", "caption"]) for f in files]
    else:
        tables = [pa.Table.from_pylist(_tar_captions(f)) for f in files]
    schema = pa.schema([("sample_id", pa.string()), ("caption", pa.string())])
    return pa.concat_tables([t.cast(schema) for t in tables if t.num_rows] or [schema.empty_table()])


def _tar_captions(path: Path) -> list[dict]:
    rows = []
    with tarfile.open(path) as tar:
        for member in tar:
            if member.name.endswith(".json"):
                meta = json.load(tar.extractfile(member))
                rows.append({"sample_id": meta["sample_id"], "caption": meta["caption"]})
    return rows


def diff(a: Path, b: Path) -> Diff:
    """Samples added to and removed from release `a` to make `b`, and captions that changed, sorted by id."""
    old, new = captions(a), captions(b)
    added = new.filter(pc.invert(pc.is_in(new["sample_id"], old["sample_id"])))
    removed = old.filter(pc.invert(pc.is_in(old["sample_id"], new["sample_id"])))
    both = old.join(new, "sample_id", join_type="inner", left_suffix="_old", right_suffix="_new")
    a_caption, b_caption = both["caption_old"], both["caption_new"]
    distinct = pc.or_(pc.fill_null(pc.not_equal(a_caption, b_caption), False),
                      pc.xor(pc.is_null(a_caption), pc.is_null(b_caption)))
    changed = both.filter(distinct)
    changed = changed.sort_by("sample_id")
    return Diff(
        added=sorted(added["sample_id"].to_pylist()),
        removed=sorted(removed["sample_id"].to_pylist()),
        changed_captions=[
            {"sample_id": r["sample_id"], "old": r["caption_old"], "new": r["caption_new"]} for r in changed.to_pylist()
        ],
    )


def parent_of(workspace: Workspace, explicit: Path | None) -> dict | None:
    """The parent release: the one at `explicit`, else the workspace's most recently recorded release."""
    if explicit is not None:
        manifest = load_manifest(explicit)
        return _summary(manifest, Path(explicit))
    folder = workspace.path(*RELEASES)
    records = [json.loads(p.read_text()) for p in folder.glob("*.json") if not p.name.startswith(".")]
    return max(records, key=lambda r: (r["created"], r["release_id"])) if records else None


def record_release(workspace: Workspace, manifest: dict, out: Path) -> Path:
    """Remember a finished release in the workspace (reports/releases/<release_id>.json)."""
    record = _summary(manifest, out)
    return write_json(record, workspace.path(*RELEASES, f"{manifest['release_id']}.json"))


def _summary(manifest: dict, out: Path) -> dict:
    return {
        "release_id": manifest["release_id"],
        "path": str(Path(out).resolve()),
        "created": manifest["created"],
        "decisions": manifest["decisions"]["name"],
        "recipes": manifest["decisions"]["recipes"],
        "rows": manifest["counts"]["rows"],
    }
