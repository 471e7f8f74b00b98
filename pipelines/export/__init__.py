"""Export: turn a workspace's kept samples into a versioned, checksummed release.

    export(workspace, ExportConfig(out=...))   Parquet shards (and/or WebDataset tars) + manifest.json
    verify(release)                            re-check every file's checksum and row count
    diff(a, b)                                 samples added, removed and re-captioned between releases

Modules: select (the SQL), split, plan (shards and row groups), media (reading bytes), parquet_writer,
webdataset_writer, journal (output folder, resume), manifest (manifest, verify, diff, parent), release (the run).
"""
from pipelines.export.config import ExportConfig, ExportResult, ShardRecord
from pipelines.export.manifest import Diff, Problem, diff, load_manifest, verify
from pipelines.export.release import export

__all__ = ["Diff", "ExportConfig", "ExportResult", "Problem", "ShardRecord", "diff", "export", "load_manifest",
           "verify"]
