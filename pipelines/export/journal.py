"""The output folder of an export: refusing to clobber it, resuming into it, and the per-shard journal.

Layout of a release folder:
    manifest.json                   written last: its presence marks a complete release
    data/<split>-NNNNN.parquet      Parquet shards
    webdataset/<split>-NNNNN.tar    WebDataset shards
    .export/journal/<file>.json     one sidecar per finished shard: checksum, size, rows, digest of its plan
A shard is written under a hidden temporary name, fsynced and renamed, then its sidecar is written. A rerun
reuses a shard whose sidecar matches the planned content (digest) and whose file still has the recorded
checksum. The journal stays after the release is complete, so `--overwrite` rewrites only what changed.
"""
import json
import os
import shutil
from pathlib import Path

from curation.atomic import fsync_path, write_json
from curation.errors import GristmillError
from pipelines.export.hashing import sha256_file

MANIFEST = "manifest.json"
JOURNAL = ".export"
FOLDERS = {"parquet": "data", "webdataset": "webdataset"}
RELEASE_KEYS = {"manifest_version", "release_id", "gristmill_version", "shards"}
"""Keys every gristmill manifest has: a manifest.json without them belongs to someone else."""


def inside(root: Path, relative: str) -> Path:
    """`root / relative`, refusing names that are absolute or lead outside `root`."""
    root = Path(root).resolve()
    path = (root / relative).resolve()
    if Path(relative).is_absolute() or not path.is_relative_to(root) or path == root:
        raise GristmillError(f"file name {relative!r} leads outside the release folder {root}")
    return path


def output_mode(out: Path, overwrite: bool) -> str:
    """What exporting to `out` would do, changing nothing: 'new', 'resume' or 'overwrite'.

    An unfinished export (journal, no manifest) is resumed. A complete release (a gristmill manifest.json) is
    replaced only with `overwrite`. Any other folder with files in it is refused even with `overwrite`: the
    export prunes `data/` and `webdataset/` to the release's own shards, which must never delete a user's files.
    """
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise GristmillError(f"{out} exists and is not a folder")
    if (out / MANIFEST).exists():
        _check_release_manifest(out / MANIFEST)
        if not overwrite:
            raise GristmillError(
                f"{out} already holds a release ({MANIFEST}); export to a new folder, or pass --overwrite to replace it"
            )
        return "overwrite"
    if (out / JOURNAL / "journal").is_dir():
        return "resume"
    if out.is_dir() and any(out.iterdir()):
        raise GristmillError(
            f"{out} is not empty and holds no gristmill release (no {MANIFEST}, no {JOURNAL}/journal); "
            "--overwrite replaces only a release, so export to a new or empty folder"
        )
    return "new"


def _check_release_manifest(path: Path) -> None:
    """Raise unless `path` is the manifest of a gristmill release (any manifest version)."""
    try:
        manifest = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        manifest = None
    if not isinstance(manifest, dict) or not RELEASE_KEYS <= manifest.keys():
        raise GristmillError(
            f"{path.parent} holds a {MANIFEST} that is not a gristmill release manifest; refusing to export "
            "into it (--overwrite replaces only a release): export to a new or empty folder"
        )


def prepare(out: Path, overwrite: bool) -> str:
    """Make `out` ready for an export (see `output_mode`, whose answer it returns): drop an old manifest first."""
    mode = output_mode(out, overwrite)
    (Path(out) / MANIFEST).unlink(missing_ok=True)
    (Path(out) / JOURNAL / "journal").mkdir(parents=True, exist_ok=True)
    return mode


class Journal:
    """Sidecars of finished shards in `<out>/.export/journal/`."""

    def __init__(self, out: Path):
        self.out = Path(out)
        self.folder = self.out / JOURNAL / "journal"

    def _sidecar(self, file: str) -> Path:
        return self.folder / (file.replace("/", "__") + ".json")

    def reusable(self, file: str, digest: str) -> dict | None:
        """The recorded shard when `file` was finished from the same plan and its bytes are intact, else None."""
        sidecar = self._sidecar(file)
        if not sidecar.is_file():
            return None
        record = json.loads(sidecar.read_text())
        path = inside(self.out, file)
        if (
            record.get("digest") != digest
            or not path.is_file()
            or path.stat().st_size != record["bytes"]
            or sha256_file(path) != record["sha256"]
        ):
            return None
        return {k: v for k, v in record.items() if k != "digest"}

    def commit(self, tmp: Path, record: dict, digest: str) -> None:
        """Make a written shard durable under its final name (fsync, rename, fsync the folder), then record it."""
        final = inside(self.out, record["file"])
        fsync_path(tmp)
        os.replace(tmp, final)
        fsync_path(final.parent)
        write_json(dict(record, digest=digest), self._sidecar(record["file"]))

    def prune(self, keep: set[str]) -> None:
        """Delete sidecars and shard files (and leftover temporaries) that are not in `keep`."""
        for sidecar in self.folder.iterdir():
            if sidecar.name.startswith(".") or json.loads(sidecar.read_text()).get("file") not in keep:
                sidecar.unlink()
        for folder in FOLDERS.values():
            root = self.out / folder
            if not root.is_dir():
                continue
            for path in root.iterdir():
                if f"{folder}/{path.name}" not in keep:
                    shutil.rmtree(path) if path.is_dir() else path.unlink()
            if not any(root.iterdir()):
                root.rmdir()
