"""`caption`: greedy CoCa captions beside the original caption; decoding checked against a step-by-step reference."""

import open_clip
import pyarrow.parquet as pq
import pytest
import torch

from curation.catalog import Catalog
from curation.errors import GristmillError
from curation.models import ClipModelSpec, load_clip, save_checkpoint
from curation.placeholders import placeholder_scorers
from curation.scorers.captioners import END_TOKEN, MIN_TOKENS, START_TOKEN, CocaCaptioner, greedy_tokens
from curation.scorers.media import decode_frames
from curation.scoring import ScoreConfig, check_model_available, score
from curation.workspace import Workspace
from gristmill.cli import main
from tests.scoring.helpers import corpus_items, decoded_like_the_job, media_row, write_shards


def _items(corpus, n_images, n_videos):
    items = corpus_items(corpus)
    return ([i for i in items if i[0]["media_type"] == "image"][:n_images]
            + [i for i in items if i[0]["media_type"] == "video"][:n_videos])


def _config(coca, **kwargs):
    kwargs = {"caption_model": coca, "caption_pretrained": None, "allow_random_weights": True, **kwargs}
    return ScoreConfig(scorers=["caption"], precision="fp32", num_workers=0, batch_size=4, **kwargs)


def _captions(ws):
    return {r["sample_id"]: r for r in pq.read_table(ws.path("scores", "caption")).to_pylist()}


def _tiny_coca_with_end_column(name: str, seed: int, end_scale: float) -> torch.nn.Module:
    """The tiny CoCa with seeded random weights and an end-token column `end_scale` times the projection's std:
    the larger, the sooner captions end (2: some rows end early, some run to the limit; 2.5: all end early)."""
    torch.manual_seed(seed)
    model = open_clip.create_model(name).eval()
    decoder = model.text_decoder
    torch.nn.init.normal_(decoder.text_projection, std=decoder.width ** -0.5)
    with torch.no_grad():
        decoder.text_projection[:, END_TOKEN] = end_scale * decoder.text_projection.std() * torch.randn(decoder.width)
    return model


@pytest.fixture(scope="module")
def short_captions_checkpoint(tiny_coca, tmp_path_factory):
    """A tiny CoCa checkpoint whose captions end after a few tokens (keeps the job tests quick)."""
    return save_checkpoint(_tiny_coca_with_end_column(tiny_coca, 5, 2.5), tmp_path_factory.mktemp("coca") / "short.pt")


@pytest.fixture(scope="module")
def captioned(corpus, tiny_coca, short_captions_checkpoint, tmp_path_factory):
    """3 images and 2 videos in shards of 3, captioned from the short-captions checkpoint: (ws, items, report)."""
    items = _items(corpus, 3, 2)
    ws = Workspace.init(tmp_path_factory.mktemp("captioned") / "ws")
    write_shards(ws, items, shard_size=3)
    return ws, items, score(ws, _config(tiny_coca, caption_pretrained=str(short_captions_checkpoint)))


def test_job_writes_the_captioner_caption_of_each_image_and_middle_keyframe(captioned, tiny_coca,
                                                                           short_captions_checkpoint):
    ws, items, report = captioned
    assert (report.scorers[0].samples, report.scorers[0].errors) == (len(items), 0)
    rows = _captions(ws)
    captioner = CocaCaptioner(ClipModelSpec(model=tiny_coca, pretrained=str(short_captions_checkpoint)), "fp32")
    captioner.load()
    prepare = captioner.preparer()
    for row, data, _ in items:  # one at a time here, in batches of 4 in the job
        frames = ([decoded_like_the_job(data, captioner.coca.input_side)] if row["media_type"] == "image"
                  else decode_frames(data, "video", 3))
        expected = captioner.caption([prepare(frames[len(frames) // 2])])[0]
        got = rows[row["sample_id"]]
        assert (got["generated_caption"], got["n_tokens"], got["truncated"]) == (
            expected.text, expected.n_tokens, expected.truncated)
        assert got["generated_caption"] and got["error"] is None


def test_original_captions_are_untouched(captioned):
    ws, items, _ = captioned
    catalog = Catalog(ws)
    samples = catalog.query("SELECT sample_id, caption FROM samples").to_pylist()
    assert {r["sample_id"]: r["caption"] for r in samples} == {row["sample_id"]: row["caption"] for row, _, _ in items}
    generated = catalog.query("SELECT generated_caption FROM caption").column("generated_caption").to_pylist()
    assert len(generated) == len(items) and not set(generated) & {row["caption"] for row, _, _ in items}


def test_saved_checkpoint_reproduces_the_captions(corpus, tiny_coca, tmp_path):
    ws = Workspace.init(tmp_path / "ws")
    write_shards(ws, _items(corpus, 1, 0), shard_size=3)
    first = score(ws, _config(tiny_coca))
    assert first.scorers[0].model_id == f"{tiny_coca}/random-init-PLACEHOLDER"
    assert placeholder_scorers(Catalog(ws)) == ["caption"]
    placeholder = _captions(ws)
    loaded = load_clip(ClipModelSpec(model=tiny_coca, pretrained=None, allow_random_weights=True))
    checkpoint = save_checkpoint(loaded.model, tmp_path / "coca.pt")
    second = score(ws, _config(tiny_coca, caption_pretrained=str(checkpoint), allow_random_weights=False))
    assert second.scorers[0].model_id.startswith(f"{tiny_coca}/coca.pt@") and second.scorers[0].shards_scored == 1
    reloaded = _captions(ws)
    assert {k: r["generated_caption"] for k, r in reloaded.items()} == {
        k: r["generated_caption"] for k, r in placeholder.items()}
    assert placeholder_scorers(Catalog(ws)) == []


def _reference_tokens(model, image: torch.Tensor, max_tokens: int, min_tokens: int) -> tuple[list[int], bool]:
    """Greedy decoding of one image, the plain way: every step runs the whole model (image encoder included)
    on the tokens so far and reads the full logits."""
    tokens, truncated = [START_TOKEN], False
    while True:
        logits = model(image[None], torch.tensor([tokens]), output_labels=False)["logits"][0, -1].clone()
        if len(tokens) < min_tokens:
            logits[END_TOKEN] = float("-inf")
        token = int(logits.argmax())
        if len(tokens) + 1 == max_tokens:
            truncated = token != END_TOKEN
            break
        if token in (END_TOKEN, model.pad_id):
            break
        tokens.append(token)
    return tokens[1:], truncated


def test_batched_greedy_decoding_equals_one_image_at_a_time(tiny_coca):
    model = _tiny_coca_with_end_column(tiny_coca, 5, 2.0)  # rows end after different numbers of tokens
    images = torch.randn(4, 3, 32, 32)
    limits = {"max_tokens": 12, "min_tokens": 4}  # shorter than the defaults: a quicker reference
    with torch.inference_mode():
        tokens, truncated = greedy_tokens(model, images, **limits)
        reference = [_reference_tokens(model, image, **limits) for image in images]
    assert list(zip(tokens, truncated)) == reference
    lengths = [len(t) for t in tokens]
    assert len(set(lengths)) > 1 and min(lengths) >= 3 and max(lengths) == 10
    assert any(truncated) and not all(truncated)


def test_minimum_length_holds_back_the_end_token(tiny_coca):
    torch.manual_seed(6)
    model = open_clip.create_model(tiny_coca).eval()
    word = open_clip.get_tokenizer(tiny_coca).encoder["cat</w>"]
    with torch.no_grad():  # constant logits: the end token first, then "cat", then the rest
        model.text_decoder.ln_final.weight.fill_(0.0)
        model.text_decoder.ln_final.bias.fill_(1.0)
        model.text_decoder.text_projection.zero_()
        model.text_decoder.text_projection[:, END_TOKEN] = 1.0
        model.text_decoder.text_projection[:, word] = 0.5
    with torch.inference_mode():
        tokens, truncated = greedy_tokens(model, torch.randn(3, 3, 32, 32))
    assert tokens == [[word] * (MIN_TOKENS - 1)] * 3 and truncated == [False] * 3


def test_undecodable_sample_gets_a_null_caption_and_an_error(corpus, tiny_coca, short_captions_checkpoint, tmp_path):
    good_row, good_bytes, ext = corpus_items(corpus)[0]
    items = [(good_row, good_bytes, ext),
             (media_row("http://x/corrupt.jpg", "a corrupt picture"), b"\xff\xd8 not a jpeg", "jpg")]
    ws = Workspace.init(tmp_path / "ws")
    write_shards(ws, items, shard_size=10)
    report = score(ws, _config(tiny_coca, caption_pretrained=str(short_captions_checkpoint)))
    assert report.scorers[0].error_kinds == {"undecodable": 1}
    good, bad = pq.read_table(ws.path("scores", "caption", "00000.parquet")).to_pylist()
    assert good["generated_caption"] and good["error"] is None
    assert bad["error"].startswith("undecodable: ")
    assert (bad["generated_caption"], bad["n_tokens"], bad["truncated"]) == (None, None, None)


def test_cli_caption_model_flags(corpus, tiny_coca, short_captions_checkpoint, tmp_path, capsys):
    ws = Workspace.init(tmp_path / "ws")
    write_shards(ws, _items(corpus, 2, 0), shard_size=10)
    assert main(["score", str(ws.root), "--scorers", "caption", "--caption-model", tiny_coca, "--caption-pretrained",
                 str(short_captions_checkpoint), "--num-workers", "0", "--precision", "fp32"]) == 0
    assert "WARNING" not in capsys.readouterr().out
    model_ids = pq.read_table(ws.path("scores", "caption")).column("model_id").to_pylist()
    assert len(model_ids) == 2 and all(m.startswith(f"{tiny_coca}/short.pt@") for m in model_ids)
    assert main(["score", str(ws.root), "--scorers", "caption"]) == 2  # default CoCa: no weights here
    assert "mscoco_finetuned_laion2b_s13b_b90k" in capsys.readouterr().err


@pytest.mark.parametrize("overrides, message", [
    ({"caption_model": "ViT-B-32"}, r"caption model 'ViT-B-32' is not an open_clip CoCa model; CoCa models: .*coca_ViT-L-14"),
    ({"caption_model": "coca_Nope"}, r"unknown open_clip model 'coca_Nope'"),
    ({"allow_random_weights": False}, r"no weights given for .*--allow-random-weights"),
    ({"caption_pretrained": "/no/such/coca.pt"}, r"checkpoint /no/such/coca.pt not found"),
])
def test_bad_caption_model_fails_at_start(tiny_coca, overrides, message):
    with pytest.raises(GristmillError, match=message):
        check_model_available(_config(tiny_coca, **overrides))
