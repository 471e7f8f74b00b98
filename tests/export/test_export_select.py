"""What a release holds: kept samples, human verdicts and caption edits (latest wins, undo), and which
decisions file is used."""
import pyarrow.parquet as pq
import pytest

from curation.catalog import Catalog
from curation.errors import GristmillError
from curation.reviews import ReviewLog
from pipelines.export import ExportConfig, export, load_manifest
from tests.export.conftest import write_decisions


def rows(result) -> dict[str, dict]:
    files = [str(result.out / s.file) for s in result.shards if s.format == "parquet"]
    return {r["sample_id"]: r for r in pq.read_table(files).drop_columns(["media"]).to_pylist()}


def decisions(ws) -> dict[str, bool]:
    """Decided samples that crawled successfully: kept or not."""
    return {r["sample_id"]: r["kept"] for r in Catalog(ws).query(
        "SELECT d.* FROM decisions d JOIN samples s USING (sample_id) WHERE s.status = 'success'").to_pylist()}


def test_only_kept_successful_samples_are_exported(ws, tmp_path):
    result = export(ws, ExportConfig(out=tmp_path / "out"))
    assert set(rows(result)) == {sid for sid, kept in decisions(ws).items() if kept}
    assert result.not_exported == {"crawl_failed": 1}


def test_human_verdicts_override_decisions_and_latest_event_wins(ws, tmp_path):
    kept = sorted(sid for sid, k in decisions(ws).items() if k)
    dropped = sorted(sid for sid, k in decisions(ws).items() if not k)
    ann, bob = ReviewLog(ws, "ann"), ReviewLog(ws, "bob")
    ann.accept(dropped[0])                                    # dropped by the recipe, accepted by a human
    ann.reject(kept[0], "low_quality")                        # kept by the recipe, rejected
    ann.reject(kept[1], "low_quality")
    bob.accept(kept[1])                                       # a later verdict wins
    bob.accept(dropped[1])
    ann.reject(dropped[1], "duplicate")
    ann.undo(ann.reject(kept[2], "other")["event_id"])        # an undone reject does not count
    out = rows(export(ws, ExportConfig(out=tmp_path / "out")))
    assert dropped[0] in out and out[dropped[0]]["decision_source"] == "human"
    assert kept[0] not in out
    assert kept[1] in out and out[kept[1]]["decision_source"] == "human"
    assert dropped[1] not in out
    assert kept[2] in out and out[kept[2]]["decision_source"] == "recipe"
    ann.close()
    bob.close()


def test_latest_caption_edit_is_the_final_caption(ws, tmp_path):
    sid = sorted(sid for sid, k in decisions(ws).items() if k)[0]
    original = Catalog(ws).query("SELECT caption FROM samples WHERE sample_id = ?", [sid]).to_pylist()[0]["caption"]
    log = ReviewLog(ws, "ann")
    log.edit_caption(sid, "first edit", original)
    log.edit_caption(sid, "second edit", "first edit")
    log.undo(log.edit_caption(sid, "third edit, undone", "second edit")["event_id"])
    log.close()
    result = export(ws, ExportConfig(out=tmp_path / "out", formats=["parquet", "webdataset"]))
    row = rows(result)[sid]
    assert (row["caption"], row["caption_source"], row["original_caption"]) == ("second edit", "human", original)
    assert load_manifest(result.out)["reviews"] == {"accepted": 0, "rejected": 0, "captions_edited": 1}


def test_generated_captions_get_their_own_column(ws, tmp_path):
    out = rows(export(ws, ExportConfig(out=tmp_path / "out")))
    generated = {sid: r["generated_caption_caption"] for sid, r in out.items() if r["generated_caption_caption"]}
    assert generated and all(v.startswith("generated ") for v in generated.values())
    assert all(r["scores"]["caption"]["caption"] == r["generated_caption_caption"] for r in out.values()
               if r["scores"]["caption"])


def test_named_decisions_file_is_used(ws, tmp_path):
    every = {r["sample_id"]: True for r in Catalog(ws).query("SELECT sample_id FROM decisions").to_pylist()}
    current = ws.path("decisions", "CURRENT").read_text()
    write_decisions(ws, "all-kept.parquet", every)
    ws.path("decisions", "CURRENT").write_text(current)
    default = export(ws, ExportConfig(out=tmp_path / "a"))
    named = export(ws, ExportConfig(out=tmp_path / "b", decisions="all-kept.parquet"))
    assert named.rows == len(every) - 1 > default.rows


@pytest.mark.parametrize("name", ["../gristmill.yaml", "/etc/passwd", "nope.parquet"])
def test_bad_decisions_name_is_refused(ws, tmp_path, name):
    with pytest.raises(GristmillError):
        export(ws, ExportConfig(out=tmp_path / "out", decisions=name))
    assert not (tmp_path / "out").exists()


def test_no_decisions_says_curate_first(ws, tmp_path):
    ws.path("decisions", "CURRENT").unlink()
    with pytest.raises(GristmillError, match="curate first"):
        export(ws, ExportConfig(out=tmp_path / "out"))


def test_duplicate_decisions_are_refused(ws, tmp_path):
    sid = next(iter(decisions(ws)))
    import pyarrow as pa

    from curation.atomic import write_parquet
    from schemas import DECISIONS

    table = Catalog(ws).query("SELECT * FROM decisions").cast(DECISIONS)
    write_parquet(pa.concat_tables([table, table.filter(pa.compute.equal(table["sample_id"], sid))]),
                  ws.path("decisions", "demo-aaaa.parquet"))
    with pytest.raises(GristmillError, match="times"):
        export(ws, ExportConfig(out=tmp_path / "out"))


def test_nothing_kept_gives_an_empty_but_complete_release(ws, tmp_path):
    write_decisions(ws, "none.parquet", {sid: False for sid in decisions(ws)})
    result = export(ws, ExportConfig(out=tmp_path / "out"))
    assert (result.rows, result.shards) == (0, [])
    from pipelines.export import verify

    assert verify(result.out) == [] and load_manifest(result.out)["counts"]["rows"] == 0
