"""`gristmill score DIR`: run scorers over the workspace's shards (resumable; see curation.scoring).

torch, open_clip and the scorers load in `run`, so building this command's --help stays light.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import TYPE_CHECKING

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from curation.errors import GristmillError
from curation.models import DEFAULT_MODEL, DEFAULT_PRETRAINED, PRECISIONS, WEIGHT_DTYPES
from curation.scorers.registry import (AESTHETIC_CLIP_MODEL, AESTHETIC_CLIP_PRETRAINED, DEFAULT_CAPTION_MODEL,
                                       DEFAULT_CAPTION_PRETRAINED, RANDOM_WEIGHT_MODELS, available_scorers)
from curation.workspace import Workspace
from gristmill.console import console, warn_placeholders

if TYPE_CHECKING:
    from curation.scoring import ScoreConfig, ScoreReport



def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("workspace", help="workspace folder")
    parser.add_argument("--scorers", default="basic,text,clip",
                        help=f"comma-separated scorers to run (available: {', '.join(available_scorers())})")
    parser.add_argument("--model", default=DEFAULT_MODEL, help="open_clip model name (default: %(default)s)")
    parser.add_argument("--pretrained", default=None,
                        help=f"open_clip pretrained tag or a local checkpoint path (default: {DEFAULT_PRETRAINED} "
                             f"for {DEFAULT_MODEL}, none for other models)")
    parser.add_argument("--device", default="cpu",
                        help="cpu, cuda, cuda:N, or a comma-separated list (one process per device over disjoint "
                             "shards, e.g. cuda:0,cuda:1)")
    parser.add_argument("--precision", default="auto", choices=list(PRECISIONS),
                        help="autocast precision: auto = fp16 on CUDA, bf16 on CPUs with AMX, else fp32")
    parser.add_argument("--weights", default="fp32", choices=list(WEIGHT_DTYPES),
                        help="dtype the models' weights are held in (fp16: CUDA only; default: %(default)s)")
    parser.add_argument("--channels-last", action="store_true",
                        help="channels_last memory format for the models' convolutions and image inputs")
    parser.add_argument("--compile", action="store_true",
                        help="run the image towers through torch.compile (first batches are slower)")
    parser.add_argument("--decode-on-device", action="store_true",
                        help="decode JPEGs on the device (nvjpeg on CUDA) and run the model transform there; applies "
                             "when every frame scorer reads CLIP embeddings (clip, zeroshot, aesthetic)")
    parser.add_argument("--batch-size", type=int, default=64, help="samples per model batch (default: %(default)s)")
    parser.add_argument("--num-workers", type=int, default=None,
                        help="decode worker processes (default: one per spare CPU core, at most 8)")
    parser.add_argument("--rank", type=int, default=0, help="this process's rank when launched once per node")
    parser.add_argument("--world-size", type=int, default=1, help="number of ranks sharing the shards")
    parser.add_argument("--allow-random-weights", nargs="?", const="all", default=None, metavar="MODELS",
                        help="score with random weights the named models that have no real weights, "
                             "comma-separated: " + "; ".join(f"{k} = {v}" for k, v in RANDOM_WEIGHT_MODELS.items())
                             + "; the flag alone means all (scores are marked PLACEHOLDER and carry no meaning)")
    parser.add_argument("--force", action="store_true", help="rescore shards that are already scored")
    parser.add_argument("--zeroshot-prompts", default=None, metavar="FILE.json",
                        help='zeroshot prompt pairs, JSON {"watermark": [yes, no], "nsfw": [...], "text": [...]} '
                             "(default: the built-in pairs)")
    parser.add_argument("--aesthetic-checkpoint", default=None, metavar="PATH",
                        help="LAION aesthetic predictor head (sac+logos+ava1-l14-linearMSE.pth) for the aesthetic "
                             "scorer; use with --model ViT-L-14 --pretrained openai, or --aesthetic-model")
    parser.add_argument("--aesthetic-model", default=None,
                        help="open_clip model under the aesthetic head when it is not --model (e.g. ViT-L-14 beside "
                             "a ViT-B-32 clip scorer; each model's image forward runs once per sample)")
    parser.add_argument("--aesthetic-pretrained", default=None,
                        help=f"its pretrained tag or a local checkpoint path (default: {AESTHETIC_CLIP_PRETRAINED} "
                             f"for {AESTHETIC_CLIP_MODEL}, none for other models)")
    parser.add_argument("--caption-model", default=DEFAULT_CAPTION_MODEL,
                        help="open_clip CoCa model of the caption scorer (default: %(default)s)")
    parser.add_argument("--caption-pretrained", default=None,
                        help=f"its pretrained tag or a local checkpoint path (default: {DEFAULT_CAPTION_PRETRAINED} "
                             f"for {DEFAULT_CAPTION_MODEL}, none for other models)")


def run(args: argparse.Namespace) -> int:
    from curation.catalog import Catalog
    from curation.scoring import ScoreConfig, score_parallel

    ws = Workspace.open(args.workspace)
    devices = [d.strip() for d in args.device.split(",") if d.strip()]
    config = ScoreConfig(
        scorers=[s.strip() for s in args.scorers.split(",") if s.strip()],
        model=args.model, pretrained=_default_weights(args.pretrained, args.model, DEFAULT_MODEL, DEFAULT_PRETRAINED),
        device=devices[0], allow_random_weights=args.allow_random_weights,
        precision=args.precision, weights=args.weights, channels_last=args.channels_last, compile=args.compile,
        decode_on_device=args.decode_on_device,
        batch_size=args.batch_size, num_workers=args.num_workers,
        rank=args.rank, world_size=args.world_size, force=args.force,
        zeroshot_prompts=_zeroshot_prompts(args.zeroshot_prompts), aesthetic_checkpoint=args.aesthetic_checkpoint,
        aesthetic_model=args.aesthetic_model, aesthetic_pretrained=_aesthetic_weights(args),
        caption_model=args.caption_model,
        caption_pretrained=_default_weights(args.caption_pretrained, args.caption_model, DEFAULT_CAPTION_MODEL,
                                            DEFAULT_CAPTION_PRETRAINED),
    )
    if len(devices) > 1:
        console.print(f"scoring with {len(devices)} processes: {', '.join(devices)}")
        report = score_parallel(ws.root, config, devices)
    else:
        report = _score_with_progress(ws, config)
    print_report(report)
    warn_placeholders(Catalog(ws))
    return 0


def _default_weights(given: str | None, model: str, default_model: str, default_weights: str) -> str | None:
    """The weights asked for; else the default weights for the default model and none for other models."""
    if given is not None:
        return given
    return default_weights if model == default_model else None


def _aesthetic_weights(args: argparse.Namespace) -> str | None:
    """The weights of the aesthetic scorer's own CLIP model (None without --aesthetic-model)."""
    if args.aesthetic_model is None:
        if args.aesthetic_pretrained is not None:
            raise GristmillError("--aesthetic-pretrained needs --aesthetic-model (without it the aesthetic scorer "
                                 "reads --model and --pretrained)")
        return None
    return _default_weights(args.aesthetic_pretrained, args.aesthetic_model, AESTHETIC_CLIP_MODEL,
                            AESTHETIC_CLIP_PRETRAINED)


def _zeroshot_prompts(path: str | None) -> dict | None:
    if path is None:
        return None
    try:
        return json.loads(Path(path).read_text())
    except (OSError, ValueError) as exc:
        raise GristmillError(f"cannot read zeroshot prompts {path}: {exc}") from exc


def _score_with_progress(ws: Workspace, config: ScoreConfig) -> ScoreReport:
    columns = [TextColumn("scoring"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn()]
    with Progress(*columns, console=console, transient=True) as progress:
        task = progress.add_task("score", total=None)

        def update(done: int, total: int) -> None:
            progress.update(task, completed=done, total=total)

        from curation.scoring import score

        return score(ws, config, progress=update)


def print_report(report: ScoreReport) -> None:
    """One row per scorer: shards scored/skipped, samples, errors by kind, model time and rate."""
    table = Table(title=f"scored {report.shards} shard(s) in {report.seconds:.1f}s", title_justify="left")
    for name in ("scorer", "version", "model", "shards scored / skipped", "samples", "errors", "model time"):
        table.add_column(name, justify="right" if name in ("samples", "model time") else "left")
    for s in report.scorers:
        kinds = ", ".join(f"{k} {n}" for k, n in sorted(s.error_kinds.items()))
        rate = f" ({s.samples / s.seconds:.1f}/s)" if s.seconds > 0.5 else ""
        table.add_row(s.name, s.version, s.model_id or "-", f"{s.shards_scored} / {s.shards_skipped}", str(s.samples),
                      f"{s.errors}" + (f" ({kinds})" if kinds else ""), f"{s.seconds:.1f}s{rate}")
    console.print(table)
