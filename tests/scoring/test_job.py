"""The batch job: failures are data, shards resume, ranks split shards, the CLI wraps it."""
import pyarrow.parquet as pq
import pytest

from curation.scorers.base import Sample
from curation.scorers.basic import BasicScorer
from curation.scorers.media import prepare_sample
from curation.scoring import ScoreConfig, score, score_parallel
from curation.workspace import Workspace
from gristmill.cli import main
from tests.scoring.helpers import corpus_items, media_row, write_shards

CHEAP = ["basic", "text"]


@pytest.fixture
def small_ws(corpus, tmp_path):
    """20 images and 1 video of the corpus in 4 shards of 6 (the last has 3)."""
    items = corpus_items(corpus)
    chosen = [i for i in items if i[0]["media_type"] == "image"][:20] + [i for i in items if i[0]["media_type"] == "video"][:1]
    ws = Workspace.init(tmp_path / "ws")
    write_shards(ws, chosen, shard_size=6)
    return ws


def _cheap(**kwargs):
    return ScoreConfig(scorers=CHEAP, num_workers=0, batch_size=4, **kwargs)


def _scored(report, name):
    return next(s for s in report.scorers if s.name == name)


def test_undecodable_samples_get_null_scores_and_an_error(corpus, tmp_path, tiny_model):
    good_row, good_bytes, ext = corpus_items(corpus)[0]
    video = next(i for i in corpus_items(corpus) if i[0]["media_type"] == "video")
    items = [
        (good_row, good_bytes, ext),
        (media_row("http://x/corrupt.jpg", "a corrupt picture"), b"\xff\xd8 definitely not a jpeg", "jpg"),
        (media_row("http://x/cut.mp4", "a truncated video", "video"), video[1][: len(video[1]) // 3], "mp4"),
        (media_row("http://x/404.jpg", "never downloaded") | {"status": "http_404"}, None, None),
    ]
    ws = Workspace.init(tmp_path / "ws")
    write_shards(ws, items, shard_size=10)
    report = score(ws, ScoreConfig(scorers=["basic", "text", "clip"], model=tiny_model, pretrained=None,
                                   allow_random_weights=True, num_workers=1, batch_size=2))
    for name in ("basic", "clip"):
        assert _scored(report, name).samples == 3
        assert _scored(report, name).error_kinds == {"undecodable": 1, "truncated": 1}
    assert _scored(report, "text").errors == 0
    for name in ("basic", "clip"):
        rows = pq.read_table(ws.path("scores", name, "00000.parquet")).to_pylist()
        assert [r["sample_id"] for r in rows] == [i[0]["sample_id"] for i in items[:3]]  # crawl failures: no row
        assert rows[0]["error"] is None
        assert rows[1]["error"].startswith("undecodable: ") and rows[2]["error"].startswith("truncated: ")
        for row in rows[1:]:
            values = {k: v for k, v in row.items() if k not in ("sample_id", "error", "scorer_version", "model_id")}
            assert set(values.values()) == {None}
    embeddings = pq.read_table(next(ws.path("embeddings").iterdir()) / "00000.parquet")
    assert embeddings.column("sample_id").to_pylist() == [good_row["sample_id"]]
    text = pq.read_table(ws.path("scores", "text", "00000.parquet")).to_pylist()
    assert text[1]["n_words"] == 3 and text[1]["error"] is None


def test_second_run_scores_nothing_and_a_deleted_file_is_rescored(small_ws):
    first = score(small_ws, _cheap())
    assert [(s.shards_scored, s.shards_skipped, s.samples) for s in first.scorers] == [(4, 0, 21)] * 2
    mtimes = {p: p.stat().st_mtime_ns for p in small_ws.path("scores").rglob("*.parquet")}

    second = score(small_ws, _cheap())
    assert [(s.shards_scored, s.shards_skipped, s.samples) for s in second.scorers] == [(0, 4, 0)] * 2
    assert {p: p.stat().st_mtime_ns for p in mtimes} == mtimes

    small_ws.path("scores", "basic", "00002.parquet").unlink()
    third = score(small_ws, _cheap())
    assert (_scored(third, "basic").shards_scored, _scored(third, "basic").samples) == (1, 6)
    assert _scored(third, "text").shards_scored == 0
    assert pq.read_table(small_ws.path("scores", "basic")).num_rows == 21


def test_new_scorer_version_rescores_and_force_rescores(small_ws, monkeypatch):
    score(small_ws, _cheap())
    monkeypatch.setattr(BasicScorer, "version", "2-test")
    report = score(small_ws, _cheap())
    assert (_scored(report, "basic").shards_scored, _scored(report, "text").shards_scored) == (4, 0)
    assert set(pq.read_table(small_ws.path("scores", "basic")).column("scorer_version").to_pylist()) == {"2-test"}
    forced = score(small_ws, _cheap(force=True))
    assert [s.shards_scored for s in forced.scorers] == [4, 4]


def test_crashed_run_is_redone_cleanly(small_ws, monkeypatch):
    calls = {"n": 0}
    original = BasicScorer._score

    def crash_on_third_batch(self, samples):
        calls["n"] += 1
        if calls["n"] == 3:
            raise RuntimeError("simulated crash")
        return original(self, samples)

    monkeypatch.setattr(BasicScorer, "_score", crash_on_third_batch)
    with pytest.raises(RuntimeError, match="simulated crash"):
        score(small_ws, _cheap())
    done = sorted(p.name for p in small_ws.path("scores", "basic").iterdir())
    assert done == ["00000.parquet"]  # batches of 4: the crash hit shard 1 before it was complete
    monkeypatch.setattr(BasicScorer, "_score", original)
    report = score(small_ws, _cheap())
    assert (_scored(report, "basic").shards_scored, _scored(report, "basic").shards_skipped) == (3, 1)
    table = pq.read_table(small_ws.path("scores", "basic"))
    assert table.num_rows == 21 and len(set(table.column("sample_id").to_pylist())) == 21


def test_ranks_split_shards_disjointly(small_ws):
    reports = [score(small_ws, _cheap(rank=r, world_size=2)) for r in (0, 1)]
    assert [_scored(r, "basic").shards_scored for r in reports] == [2, 2]
    assert pq.read_table(small_ws.path("scores", "basic")).num_rows == 21


def test_worker_processes_give_the_same_files(small_ws, tmp_path):
    score(small_ws, _cheap())
    in_process = pq.read_table(small_ws.path("scores", "basic")).to_pylist()
    score(small_ws, _cheap(force=True).model_copy(update={"num_workers": 2}))
    assert pq.read_table(small_ws.path("scores", "basic")).to_pylist() == in_process


@pytest.mark.slow  # spawns two fresh interpreters (~10 s each on 2 cores)
def test_one_process_per_device(small_ws):
    report = score_parallel(small_ws.root, _cheap(), ["cpu", "cpu"])
    assert [s.shards_scored for s in report.scorers] == [4, 4] and report.shards == 4
    assert pq.read_table(small_ws.path("scores", "text")).num_rows == 21


def test_cli_scores_and_warns_about_placeholders(small_ws, tiny_model, capsys):
    assert main(["score", str(small_ws.root), "--scorers", "basic,text,clip", "--model", tiny_model,
                 "--allow-random-weights", "--num-workers", "0"]) == 0
    out = capsys.readouterr().out
    assert "basic" in out and "PLACEHOLDER" in out and "WARNING: placeholder model scores" in out


@pytest.mark.parametrize("argv, message", [
    (["--scorers", "basic,nope"], "unknown scorer(s) 'nope'; available: aesthetic, basic, caption, clip, ocr, text, zeroshot"),
    (["--scorers", "clip", "--pretrained", "/missing.pt"], "checkpoint /missing.pt not found"),
    (["--scorers", "clip", "--device", "cuda"], "available: cpu"),
])
def test_cli_bad_setup_exits_2_with_the_message(small_ws, argv, message, capsys):
    assert main(["score", str(small_ws.root), *argv]) == 2
    assert message in capsys.readouterr().err


def test_failure_reasons_of_prepare_sample():
    def unreadable():
        raise OSError("shards/00000.tar: expected 10 bytes at offset 0, got 3 (truncated shard?)")

    def broken(sample):
        raise ValueError("boom")

    failed_read = prepare_sample(Sample("a", "cap", "image"), unreadable, {"basic": (broken, True)})
    assert failed_read.error.startswith("unreadable: ") and failed_read.prepared == {} and failed_read.errors == {}
    failed_decode = prepare_sample(Sample("b", "cap", "image"), lambda: b"nope", {"text": (lambda s: 1, False)})
    assert failed_decode.error.startswith("undecodable: ") and failed_decode.prepared == {"text": 1}
    failed_prepare = prepare_sample(Sample("c", "cap", "image"), None, {"text": (broken, False)})
    assert failed_prepare.errors == {"text": "prepare_failed: ValueError: boom"} and failed_prepare.error is None
