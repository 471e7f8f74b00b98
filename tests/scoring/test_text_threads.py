"""Text encoding and captioning read the shared model and never change it: exact, and safe from many threads."""
import copy
from concurrent.futures import ThreadPoolExecutor

import open_clip
import torch

from curation.models import ClipModelSpec, load_clip
from curation.scorers.captioners import greedy_tokens, next_token_logits
from curation.scorers.clip import ClipScorer, encode_text_trimmed

THREADS = 8


def _captions(seed: int) -> list[str]:
    """Captions of lengths that differ from one list to the next, so each is trimmed to another length."""
    return [" ".join(["word"] * ((seed * 5 + i * 3) % 30 + 1)) for i in range(6)]


def _in_threads(fn, args: list) -> list:
    """`fn(arg)` for every arg, each list of calls run twice over from THREADS threads at once."""
    with ThreadPoolExecutor(THREADS) as pool:
        return list(pool.map(fn, args * 2))


def test_trimmed_encoding_equals_the_model_with_its_context_cut(tiny_model):
    model = load_clip(ClipModelSpec(model=tiny_model, pretrained=None, allow_random_weights=True)).model
    tokens = open_clip.get_tokenizer(tiny_model)(_captions(3))
    length = int(tokens.argmax(dim=-1).max()) + 1
    cut = copy.deepcopy(model)  # what encoding did before: the model's own context cut to `length`
    cut.positional_embedding = torch.nn.Parameter(model.positional_embedding[:length], requires_grad=False)
    cut.attn_mask = model.attn_mask[:length, :length]
    with torch.inference_mode():
        assert torch.equal(encode_text_trimmed(model, tokens), cut.encode_text(tokens[:, :length]))
        torch.testing.assert_close(encode_text_trimmed(model, tokens), model.encode_text(tokens), atol=1e-5, rtol=0)
    assert model.positional_embedding.shape[0] == model.attn_mask.shape[0] == 77


def test_concurrent_clip_encodes_equal_the_sequential_ones(tiny_model):
    scorer = ClipScorer(ClipModelSpec(model=tiny_model, pretrained=None, allow_random_weights=True), "fp32")
    scorer.load()
    images = torch.randn(6, 3, 32, 32)
    seeds = list(range(THREADS * 2))
    sequential = [scorer.encode(images, _captions(seed)) for seed in seeds]
    concurrent = _in_threads(lambda seed: scorer.encode(images, _captions(seed)), seeds)
    for (image, text), (want_image, want_text) in zip(concurrent, sequential * 2):
        assert torch.equal(image, want_image) and torch.equal(text, want_text)


def _tiny_coca(name: str, seed: int) -> torch.nn.Module:
    """The tiny CoCa with seeded random weights (its decoder projection is left uninitialised by open_clip)."""
    torch.manual_seed(seed)
    model = open_clip.create_model(name).eval()
    torch.nn.init.normal_(model.text_decoder.text_projection, std=model.text_decoder.width ** -0.5)
    return model


def test_next_token_logits_are_the_models_last_position(tiny_coca):
    model = _tiny_coca(tiny_coca, 8)
    images, tokens = torch.randn(3, 3, 32, 32), torch.randint(1, 49000, (3, 7))
    with torch.inference_mode():
        latent, embs = model._encode_image(images)
        full = model(images, tokens, image_latent=latent, image_embs=embs, output_labels=False)["logits"][:, -1]
        torch.testing.assert_close(next_token_logits(model, tokens, embs), full, atol=1e-6, rtol=0)


def test_concurrent_captions_equal_the_sequential_ones(tiny_coca):
    model = _tiny_coca(tiny_coca, 9)
    batches = [torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(s)) for s in range(THREADS)]

    def caption(images):
        with torch.inference_mode():
            return greedy_tokens(model, images, max_tokens=8, min_tokens=3)

    sequential = [caption(images) for images in batches]
    assert _in_threads(caption, batches) == sequential * 2
