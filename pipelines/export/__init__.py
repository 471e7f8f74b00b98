"""Export: turn a workspace's kept samples into a versioned, checksummed release.

    export(workspace, ExportConfig(out=...))   Parquet shards (and/or WebDataset tars) + manifest.json
    verify(release)                            re-check every file's checksum and row count
    diff(a, b)                                 samples added and removed between releases; captions, splits,
                                               media and scores changed

Modules: select (the SQL), split, plan (shards and row groups), media (reading bytes), parquet_writer,
webdataset_writer, huggingface (features metadata of the Parquet shards), journal (output folder, resume),
manifest (manifest, verify, parent), diff, release (the run).
"""
from pipelines.export.config import ExportConfig, ExportResult, ShardRecord
from pipelines.export.diff import Diff, diff
from pipelines.export.manifest import Problem, load_manifest, verify
from pipelines.export.release import export

__all__ = ["Diff", "ExportConfig", "ExportResult", "Problem", "ShardRecord", "diff", "export", "load_manifest",
           "verify"]
