"""One image forward per (model, sample): clip, zeroshot and aesthetic share it, and two models run once each."""
import shutil

import open_clip
import pyarrow.parquet as pq
import pytest

from curation.scoring import ScoreConfig, score
from curation.workspace import Workspace
from gristmill.cli import main
from tests.scoring.helpers import corpus_items, media_row, write_shards

SHARED = ["clip", "zeroshot", "aesthetic"]


@pytest.fixture
def ws_and_frames(corpus, tmp_path):
    """9 images, 1 video (3 keyframes) and one undecodable image in shards of 4: (workspace, frames to embed)."""
    items = corpus_items(corpus)
    chosen = [i for i in items if i[0]["media_type"] == "image"][:9] + [i for i in items if i[0]["media_type"] == "video"][:1]
    chosen.insert(2, (media_row("http://x/bad.jpg", "not a picture"), b"garbage", "jpg"))
    ws = Workspace.init(tmp_path / "ws")
    write_shards(ws, chosen, shard_size=4)
    return ws, 9 + 3


@pytest.fixture
def forwards(monkeypatch):
    """(embedding size, images) of every `encode_image` call, in order."""
    calls = []
    original = open_clip.CLIP.encode_image

    def counting(self, image, normalize: bool = False):
        out = original(self, image, normalize)
        calls.append((out.shape[-1], image.shape[0]))
        return out

    monkeypatch.setattr(open_clip.CLIP, "encode_image", counting)
    return calls


def _config(scorers, **kwargs):
    return ScoreConfig(scorers=scorers, precision="fp32", num_workers=0, batch_size=4, force=True,
                       allow_random_weights="aesthetic", **kwargs)


def _rows(ws: Workspace, name: str) -> dict[str, dict]:
    return {r["sample_id"]: r for r in pq.read_table(ws.path("scores", name)).to_pylist()}


def _assert_same_rows(got: dict[str, dict], expected: dict[str, dict]) -> None:
    assert got.keys() == expected.keys()
    for sample_id, row in expected.items():
        for key, value in row.items():
            if isinstance(value, float):
                assert got[sample_id][key] == pytest.approx(value, abs=1e-6), key
            else:
                assert got[sample_id][key] == value, key


def _separate(ws: Workspace, tmp_path, **kwargs) -> dict[str, dict[str, dict]]:
    """Each scorer's rows from a job of its own (its own image forward), in a copy of `ws`."""
    alone = Workspace.open(shutil.copytree(ws.root, tmp_path / "alone"))
    rows = {}
    for name in SHARED:
        score(alone, _config([name], **kwargs))
        rows[name] = _rows(alone, name)
    return rows


def test_one_forward_per_sample_gives_the_separate_forwards_values(ws_and_frames, tiny_model, tiny_checkpoint,
                                                                   tmp_path, forwards):
    ws, frames = ws_and_frames
    report = score(ws, _config(SHARED, model=tiny_model, pretrained=str(tiny_checkpoint)))
    assert [(s.samples, s.errors) for s in report.scorers] == [(11, 1)] * 3
    assert sum(n for _, n in forwards) == frames  # every good frame once, not once per scorer
    shared = {name: _rows(ws, name) for name in SHARED}
    separate = _separate(ws, tmp_path, model=tiny_model, pretrained=str(tiny_checkpoint))
    for name in SHARED:
        _assert_same_rows(shared[name], separate[name])
    assert len(pq.read_table(next(ws.path("embeddings").iterdir())).to_pylist()) == 10


def test_two_clip_models_in_one_job_each_run_once(ws_and_frames, tiny_model, tiny_checkpoint, tiny_model_b,
                                                  tiny_checkpoint_b, tmp_path, forwards):
    ws, frames = ws_and_frames
    models = dict(model=tiny_model, pretrained=str(tiny_checkpoint), aesthetic_model=tiny_model_b,
                  aesthetic_pretrained=str(tiny_checkpoint_b))
    report = score(ws, _config(SHARED, **models))
    ids = {s.name: s.model_id for s in report.scorers}
    assert ids["clip"].startswith(f"{tiny_model}/tiny.pt@") and ids["zeroshot"].startswith(ids["clip"] + "#")
    assert ids["aesthetic"].startswith(f"{tiny_model_b}/tiny-b.pt@")
    by_model = {dim: sum(n for d, n in forwards if d == dim) for dim, _ in forwards}
    assert by_model == {32: frames, 48: frames}
    shared = {name: _rows(ws, name) for name in SHARED}

    alone = Workspace.open(shutil.copytree(ws.root, tmp_path / "alone"))
    score(alone, _config(["aesthetic"], model=tiny_model_b, pretrained=str(tiny_checkpoint_b)))
    _assert_same_rows(shared["aesthetic"], _rows(alone, "aesthetic"))
    score(alone, _config(["clip", "zeroshot"], model=tiny_model, pretrained=str(tiny_checkpoint)))
    for name in ("clip", "zeroshot"):
        _assert_same_rows(shared[name], _rows(alone, name))


def test_aesthetic_weights_without_an_aesthetic_model_are_refused():
    with pytest.raises(ValueError, match="aesthetic_pretrained needs aesthetic_model"):
        ScoreConfig(aesthetic_pretrained="openai")


def test_cli_aesthetic_model_flags(ws_and_frames, tiny_model, tiny_checkpoint, tiny_model_b, tiny_checkpoint_b, capsys):
    ws, _ = ws_and_frames
    base = ["score", str(ws.root), "--scorers", "clip,aesthetic", "--model", tiny_model, "--pretrained",
            str(tiny_checkpoint), "--allow-random-weights", "aesthetic", "--num-workers", "0", "--precision", "fp32"]
    assert main(base + ["--aesthetic-pretrained", str(tiny_checkpoint_b)]) == 2
    assert "--aesthetic-pretrained needs --aesthetic-model" in capsys.readouterr().err
    assert main(base + ["--aesthetic-model", tiny_model_b, "--aesthetic-pretrained", str(tiny_checkpoint_b)]) == 0
    ids = {name: set(pq.read_table(ws.path("scores", name)).column("model_id").to_pylist()) for name in ("clip", "aesthetic")}
    assert [i.split("/")[0] for i in ids["clip"]] == [tiny_model]
    assert [i.split("/")[0] for i in ids["aesthetic"]] == [tiny_model_b]
