"""The manifest, `verify` (names the damaged file), `diff` between releases and the parent release."""
import json
import os
from datetime import datetime

import pytest

from curation.catalog import Catalog
from curation.errors import GristmillError
from curation.reviews import ReviewLog
from pipelines.export import ExportConfig, diff, export, load_manifest, verify
from pipelines.export import release as release_mod
from pipelines.export.diff import MEDIA_BYTES, SHA256_COLUMN
from pipelines.export.split import assign
from schemas import EXPORT_MANIFEST_SHARDS
from tests.export.conftest import write_decisions, write_scores


@pytest.fixture
def release(ws, tmp_path):
    return export(ws, ExportConfig(out=tmp_path / "r1", formats=["parquet", "webdataset"], shard_size="100KB"))


def test_manifest_records_counts_schema_checksums_decisions_and_versions(ws, release):
    m = load_manifest(release.out)
    assert m["gristmill_version"] and m["created"] and m["release_id"] == release.release_id
    assert m["counts"]["rows"] == release.rows == sum(m["counts"]["by_split"].values())
    assert m["counts"]["not_exported"] == {"crawl_failed": 1}
    assert m["decisions"]["name"] == "demo-aaaa.parquet"
    assert m["decisions"]["recipes"] == [{"name": "demo", "hash": "aaaa"}]
    assert m["placeholder_scorers"] == ["clip"]
    assert m["scorers"]["clip"] == [{"scorer_version": "clip-1", "model_id": "ViT-B-32/PLACEHOLDER-random"}]
    names = [c["name"] for c in m["schema"]]
    assert names[:3] == ["sample_id", "split", "media"] and "generated_caption_caption" in names and "scores" in names
    for shard in m["shards"]:
        assert set(EXPORT_MANIFEST_SHARDS.names) <= set(shard) and len(shard["sha256"]) == 64
    assert {s["format"] for s in m["shards"]} == {"parquet", "webdataset"}
    assert m["options"]["shard_size"] == 100_000 and m["parent"] is None


def test_verify_passes_then_names_a_corrupted_shard(release):
    assert verify(release.out) == []
    victim = release.out / release.shards[2].file
    data = bytearray(victim.read_bytes())
    data[len(data) // 2] ^= 0xFF
    victim.write_bytes(bytes(data))
    problems = verify(release.out)
    assert [(p.file, p.reason) for p in problems] == [(release.shards[2].file, "checksum_mismatch")]


def test_verify_names_missing_truncated_and_unexpected_files(release):
    (release.out / release.shards[0].file).unlink()
    truncated = release.out / release.shards[1].file
    truncated.write_bytes(truncated.read_bytes()[:100])
    (release.out / "data" / "extra.parquet").write_bytes(b"x")
    reasons = {(p.file, p.reason) for p in verify(release.out)}
    assert reasons == {(release.shards[0].file, "missing"), (release.shards[1].file, "size_mismatch"),
                       ("data/extra.parquet", "unexpected_file")}


def test_verify_refuses_manifest_paths_outside_the_release(release, tmp_path):
    manifest = json.loads((release.out / "manifest.json").read_text())
    outside = tmp_path / "secret.parquet"
    outside.write_bytes(b"x")
    manifest["shards"][0]["file"] = "../secret.parquet"
    (release.out / "manifest.json").write_text(json.dumps(manifest))
    problems = {(p.file, p.reason) for p in verify(release.out)}
    assert ("../secret.parquet", "path_outside_release") in problems
    assert "release_id_mismatch" in {p.reason for p in verify(release.out)}


def test_verify_of_an_unfinished_release_says_so(tmp_path):
    with pytest.raises(GristmillError, match="not a complete release"):
        verify(tmp_path)


def test_diff_lists_added_removed_and_changed_captions(ws, release, tmp_path):
    ids = sorted(r["sample_id"] for r in load_rows(release))
    from curation.catalog import Catalog

    all_ok = [r["sample_id"] for r in Catalog(ws).query(
        "SELECT sample_id FROM samples WHERE status = 'success' ORDER BY sample_id").to_pylist()]
    newly_kept = sorted(set(all_ok) - set(ids))[:2]
    write_decisions(ws, "demo-bbbb.parquet",
                    {sid: sid not in ids[:3] for sid in ids} | {sid: True for sid in newly_kept}, recipe_hash="bbbb")
    old_caption = next(r["caption"] for r in load_rows(release) if r["sample_id"] == ids[5])
    log = ReviewLog(ws, "ann")
    log.edit_caption(ids[5], "a better caption", old_caption)
    log.close()
    second = export(ws, ExportConfig(out=tmp_path / "r2"))
    d = diff(release.out, second.out)
    assert d.added == newly_kept and d.removed == ids[:3]
    assert [c["sample_id"] for c in d.changed_captions] == [ids[5]]
    assert d.changed_captions[0]["new"] == "a better caption"
    # the new release remembers where it came from
    manifest = load_manifest(second.out)
    assert manifest["parent"]["release_id"] == release.release_id == second.parent
    assert manifest["parent"]["recipes"] == [{"name": "demo", "hash": "aaaa"}]
    assert manifest["decisions"]["recipes"] == [{"name": "demo", "hash": "bbbb"}]


def test_diff_reads_webdataset_only_releases(ws, release, tmp_path):
    wds_only = export(ws, ExportConfig(out=tmp_path / "w", formats=["webdataset"]))
    d = diff(release.out, wds_only.out)
    assert (d.added, d.removed, d.changed_captions) == ([], [], [])


def test_diff_sees_changed_media_splits_and_scores(ws, release, tmp_path, capsys):
    ids = sorted(r["sample_id"] for r in load_rows(release))
    catalog = Catalog(ws)
    row = catalog.query("SELECT media_path, media_offset, media_size FROM samples WHERE sample_id = ?",
                        [ids[4]]).to_pylist()[0]
    with open(ws.root / row["media_path"], "r+b") as tar:  # other media bytes, the same crawled sha256
        tar.seek(row["media_offset"] + row["media_size"] // 2)
        byte = tar.read(1)
        tar.seek(-1, os.SEEK_CUR)
        tar.write(bytes([byte[0] ^ 0xFF]))
    scores = catalog.query("SELECT sample_id, clip_score FROM clip").to_pylist()
    clip = {r["sample_id"]: r["clip_score"] for r in scores}
    rescored = ids[6:9]
    write_scores(ws, "clip", {sid: {"clip_score": v + (1 if sid in rescored else 0)} for sid, v in clip.items()},
                 "clip-1", "ViT-B-32/PLACEHOLDER-random")
    catalog.close()
    second = export(ws, ExportConfig(out=tmp_path / "r2", splits="val=0.5"))
    moved = [{"sample_id": sid, "old": old, "new": new}
             for sid, old, new in zip(ids, assign(ids, {}), assign(ids, {"val": 0.5})) if old != new]

    d = diff(release.out, second.out)
    assert (d.added, d.removed, d.changed_captions, d.in_both) == ([], [], [], len(ids))
    assert d.changed_media == [ids[4]] and d.media_basis == MEDIA_BYTES
    assert d.changed_splits == moved and moved
    assert d.changed_scores["clip"] == rescored
    assert {"basic", "caption"} <= set(d.changed_scores) and not d.changed_scores["basic"] + d.changed_scores["caption"]
    # the same answer from WebDataset tars, and from a release of references (which has no bytes to compare)
    tars = export(ws, ExportConfig(out=tmp_path / "r2-wds", splits="val=0.5", formats=["webdataset"]))
    assert diff(release.out, tars.out) == d
    refs = export(ws, ExportConfig(out=tmp_path / "r2-refs", splits="val=0.5", media="references"))
    by_reference = diff(release.out, refs.out)
    assert by_reference.media_basis == SHA256_COLUMN and by_reference.changed_media == []
    assert by_reference.changed_scores == d.changed_scores and by_reference.changed_splits == moved

    from tests.export.test_export_cli import cli

    capsys.readouterr()
    assert cli("diff", release.out, second.out) == 0
    out = capsys.readouterr().out
    assert f"media (by {MEDIA_BYTES}): 1: {ids[4]}" in out and f"split: {len(moved)}: " in out
    assert f"scores.clip: 3: {', '.join(rescored)}\n" in out and "scores.basic" not in out
    assert len(out.splitlines()) < 15


def test_quick_exports_chain_their_parents(ws, tmp_path, monkeypatch):
    """Exports within one second (here, on a stopped clock) each take the one finished before as parent."""
    class StoppedClock(datetime):
        @classmethod
        def now(cls, tz=None):
            return datetime(2025, 1, 1, tzinfo=tz)

    monkeypatch.setattr(release_mod, "datetime", StoppedClock)
    results = [export(ws, ExportConfig(out=tmp_path / f"r{i}", shard_size=size))
               for i, size in enumerate(["40KB", "100KB", "200KB", "10MB"])]
    assert len({r.release_id for r in results}) == 4
    assert len({load_manifest(r.out)["created"] for r in results}) == 1
    assert [r.parent for r in results] == [None] + [r.release_id for r in results[:-1]]
    assert [(load_manifest(r.out)["parent"] or {}).get("release_id") for r in results] == [r.parent for r in results]
    assert ws.path("reports", "releases", "LAST").read_text() == results[-1].release_id + "\n"


def test_parent_of_a_workspace_from_before_last(ws, release, tmp_path):
    """Records written before reports/releases/LAST existed: the parent is the latest by creation time."""
    other = export(ws, ExportConfig(out=tmp_path / "other", shard_size="1MB"))
    ws.path("reports", "releases", "LAST").unlink()
    record = ws.path("reports", "releases", f"{release.release_id}.json")
    record.write_text(json.dumps(json.loads(record.read_text()) | {"created": "2999-01-01T00:00:00+00:00"}))
    assert export(ws, ExportConfig(out=tmp_path / "child")).parent == release.release_id != other.release_id


def test_last_naming_a_missing_record_says_so(ws, release, tmp_path):
    ws.path("reports", "releases", f"{release.release_id}.json").unlink()
    with pytest.raises(GristmillError, match="no record"):
        export(ws, ExportConfig(out=tmp_path / "child"))


def test_explicit_parent(ws, release, tmp_path):
    other = export(ws, ExportConfig(out=tmp_path / "other", shard_size="1MB"))
    child = export(ws, ExportConfig(out=tmp_path / "child", parent=release.out))
    assert child.parent == release.release_id != other.release_id


def load_rows(result):
    import pyarrow.parquet as pq

    return pq.read_table([str(result.out / s.file) for s in result.shards if s.format == "parquet"],
                         columns=["sample_id", "caption"]).to_pylist()
