"""The manifest, `verify` (names the damaged file), `diff` between releases and the parent release."""
import json

import pytest

from curation.errors import GristmillError
from curation.reviews import ReviewLog
from pipelines.export import ExportConfig, diff, export, load_manifest, verify
from schemas import EXPORT_MANIFEST_SHARDS
from tests.export.conftest import write_decisions


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


def test_explicit_parent(ws, release, tmp_path):
    other = export(ws, ExportConfig(out=tmp_path / "other", shard_size="1MB"))
    child = export(ws, ExportConfig(out=tmp_path / "child", parent=release.out))
    assert child.parent == release.release_id != other.release_id


def load_rows(result):
    import pyarrow.parquet as pq

    return pq.read_table([str(result.out / s.file) for s in result.shards if s.format == "parquet"],
                         columns=["sample_id", "caption"]).to_pylist()
