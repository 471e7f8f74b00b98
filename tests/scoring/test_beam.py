"""The Beam RunInference handler (DirectRunner) writes exactly the local job's files and resumes like it."""
import shutil

import pyarrow.parquet as pq
import pytest

from curation.scoring import ScoreConfig, score
from curation.workspace import Workspace
from pipelines.scoring import score_with_beam
from tests.scoring.helpers import corpus_items, media_row, write_shards


@pytest.fixture
def twin_workspaces(corpus, tmp_path):
    items = corpus_items(corpus)
    chosen = [i for i in items if i[0]["media_type"] == "image"][:9] + [i for i in items if i[0]["media_type"] == "video"][:1]
    chosen.insert(3, (media_row("http://x/bad.jpg", "not a picture"), b"garbage", "jpg"))
    ws = Workspace.init(tmp_path / "local")
    write_shards(ws, chosen, shard_size=4)
    shutil.copytree(ws.root, tmp_path / "beam")
    return ws, Workspace.open(tmp_path / "beam")


def _tables(ws):
    return {p.relative_to(ws.root): pq.read_table(p).to_pylist()
            for folder in ("scores", "embeddings") for p in sorted(ws.path(folder).rglob("*.parquet"))}


def test_beam_matches_the_local_job(twin_workspaces, tiny_model):
    local, beam_ws = twin_workspaces
    config = ScoreConfig(scorers=["basic", "text", "clip"], model=tiny_model, pretrained=None,
                         allow_random_weights=True, precision="fp32", num_workers=0, batch_size=4)
    local_report = score(local, config)
    beam_report = score_with_beam(beam_ws, config)
    assert [(s.shards_scored, s.samples, s.errors, s.error_kinds) for s in beam_report.scorers] == [
        (s.shards_scored, s.samples, s.errors, s.error_kinds) for s in local_report.scorers]
    local_tables, beam_tables = _tables(local), _tables(beam_ws)
    assert local_tables.keys() == beam_tables.keys() and len(local_tables) == 3 * 3 + 3
    for path, rows in local_tables.items():
        other = beam_tables[path]
        assert [r["sample_id"] for r in other] == [r["sample_id"] for r in rows], path
        for mine, theirs in zip(rows, other):
            for key, value in mine.items():
                if isinstance(value, float):
                    assert theirs[key] == pytest.approx(value, abs=1e-5), (path, key)
                elif key.endswith("_embedding"):  # float16: Beam's threads may run forwards at once (1 ulp apart)
                    assert theirs[key] == pytest.approx(value, abs=1e-3), (path, key)
                else:
                    assert theirs[key] == value, (path, key)
    again = score_with_beam(beam_ws, config)
    assert [(s.shards_scored, s.shards_skipped) for s in again.scorers] == [(0, 3)] * 3
