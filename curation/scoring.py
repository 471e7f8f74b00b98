"""The local scoring job: run scorers over a workspace's committed shards, one output file per shard.

    score(workspace, ScoreConfig(scorers=["basic", "text", "clip"])) -> ScoreReport

The units of work are the committed shards of every sample source (`curation.sample_sources`: crawl shards
`NNNNN`, clip shards `clips-NNNNN`), read as rows of the catalog's `samples` view; only rows with status
'success' are scored. A sample with stored keyframes (clips store theirs) is scored from those JPEGs.

Every scorer loads before any work starts, so a bad device, model name or checkpoint fails at once. A torch
DataLoader reads and decodes media in worker processes (JPEGs draft-reduced as far as the scorers allow, see
`curation.scorers.media`), where each scorer's preparer also runs (image statistics, caption rules, the model's
input transform) and each model's inputs are stacked into one tensor per batch (`Batch`); batches come back to
this process, pinned when the model is on CUDA. There the loop is one batch deep: each model's image forward
of batch k is launched (`ImageEmbedder.start`: non-blocking copies both ways) and the CPU-only scorers of
batch k start in threads beside the loop (one thread per scorer, so a scorer sees its batches in order), then
batch k-1 is finished: its embeddings handed over, the device scorers run (text forwards, heads), the CPU
scorers' rows collected, and completed units written. Each (scorer, unit) becomes `scores/<scorer>/<unit>.parquet` (plus
`embeddings/<model-slug>/<unit>.parquet` for clip), written atomically once the unit's last sample is scored,
with rows in the order of the unit's table.

Resume is a file rule: a shard whose score file exists with the same scorer version and model id, written from
the shard's current version (a crawl retry commits new versions: `curation.shard_versions`), is skipped;
a crashed shard left no file (only an ignored temporary) and is scored again from scratch. `rank` and
`world_size` split shards disjointly, for one process per GPU (see `score_parallel`).
"""
import multiprocessing
import os
import time
from collections import Counter
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Callable, Iterator

import pyarrow as pa
import pyarrow.parquet as pq
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from torch.utils.data import DataLoader, IterableDataset, get_worker_info

from curation.atomic import write_parquet
from curation.models import DEFAULT_MODEL, DEFAULT_PRETRAINED, ClipModelSpec, WeightDtype
from curation.sample_sources import committed_units, unit_rows, unit_version
from curation.scorers.base import Output, PictureNeed, Sample, Scorer, combined_need, frame_needs, sample_preparers
from curation.scorers.embedding import ImageEmbedder, ModelInput, PendingEmbeddings
from curation.scorers.media import DEFAULT_VIDEO_FRAMES, prepare_sample
from curation.scorers.registry import (DEFAULT_CAPTION_MODEL, DEFAULT_CAPTION_PRETRAINED, ScorerOptions, build_scorers,
                                       random_weight_models)
from curation.shards import read_media
from curation.workspace import Workspace
from schemas import conform

VERSION_KEY = b"gristmill.scorer_version"
MODEL_KEY = b"gristmill.model_id"
SOURCE_VERSION_KEY = b"gristmill.source_version"  # the version of the unit's Parquet that the scores describe
_SAMPLE_COLUMNS = ["sample_id", "caption", "media_type", "status", "media_path", "media_offset", "media_size",
                   "original_width", "original_height", "keyframe_offsets", "keyframe_sizes"]


class ScoreConfig(BaseModel):
    """What to score and how; the fields mirror `gristmill score`'s options.

    `model`/`pretrained`/`device` pick the CLIP model for model scorers (see `curation.models`), and
    `weights`/`channels_last`/`compile`/`decode_on_device` how every model of the job is held and fed (see
    `ClipModelSpec`, `curation.scorers.device_decode`);
    `allow_random_weights` names the models that may run with random weights when no real ones are found
    (`curation.scorers.registry.RANDOM_WEIGHT_MODELS`: clip, aesthetic, caption; True = all, False = none), so
    a random aesthetic head never makes the CLIP model random as well; `num_workers=None` means one decode
    worker per spare CPU core (at most 8);
    `rank`/`world_size` select every world_size-th shard starting at rank; `zeroshot_prompts` replaces the
    zeroshot scorer's prompt pairs (see `curation.scorers.zeroshot`); `aesthetic_checkpoint` is the local
    LAION aesthetic head (see `curation.scorers.aesthetic`) and `aesthetic_model`/`aesthetic_pretrained` the CLIP
    model under it when it is not `model` (e.g. ViT-L-14/openai beside a ViT-B-32 clip scorer: each model's
    image forward runs once per sample, see `curation.scorers.embedding`); `caption_model`/`caption_pretrained` pick the
    caption scorer's CoCa model (see `curation.scorers.caption`).
    """

    model_config = ConfigDict(extra="forbid")
    scorers: list[str] = ["basic", "text", "clip"]
    model: str = DEFAULT_MODEL
    pretrained: str | None = DEFAULT_PRETRAINED
    device: str = "cpu"
    allow_random_weights: tuple[str, ...] = ()
    precision: str = "auto"
    weights: WeightDtype = "fp32"
    channels_last: bool = False
    compile: bool = False
    decode_on_device: bool = False
    batch_size: int = Field(64, ge=1)
    num_workers: int | None = Field(None, ge=0)
    video_frames: int = Field(DEFAULT_VIDEO_FRAMES, ge=1)
    force: bool = False
    rank: int = Field(0, ge=0)
    world_size: int = Field(1, ge=1)
    zeroshot_prompts: dict[str, list[str]] | None = None  # checked by the zeroshot scorer
    aesthetic_checkpoint: str | None = None
    aesthetic_model: str | None = None
    aesthetic_pretrained: str | None = None
    caption_model: str = DEFAULT_CAPTION_MODEL
    caption_pretrained: str | None = DEFAULT_CAPTION_PRETRAINED

    @field_validator("allow_random_weights", mode="before")
    @classmethod
    def _random_weight_models(cls, value):
        return random_weight_models(value)

    @model_validator(mode="after")
    def _rank_in_world(self):
        if self.rank >= self.world_size:
            raise ValueError(f"rank {self.rank} must be below world_size {self.world_size}")
        return self

    @model_validator(mode="after")
    def _aesthetic_weights_need_a_model(self):
        if self.aesthetic_pretrained is not None and self.aesthetic_model is None:
            raise ValueError("aesthetic_pretrained needs aesthetic_model (without it the aesthetic scorer reads "
                             "the job's model and pretrained)")
        return self

    def model_spec(self) -> ClipModelSpec:
        """The model part of this config."""
        return ClipModelSpec(model=self.model, pretrained=self.pretrained, device=self.device,
                             allow_random_weights="clip" in self.allow_random_weights, weights=self.weights,
                             channels_last=self.channels_last, compile=self.compile,
                             decode_on_device=self.decode_on_device)

    def scorer_options(self) -> ScorerOptions:
        """The per-scorer settings of this config."""
        return ScorerOptions(zeroshot_prompts=self.zeroshot_prompts, aesthetic_checkpoint=self.aesthetic_checkpoint,
                             aesthetic_model=self.aesthetic_model, aesthetic_pretrained=self.aesthetic_pretrained,
                             caption_model=self.caption_model, caption_pretrained=self.caption_pretrained,
                             random_weights=self.allow_random_weights)

    def workers(self) -> int:
        """The number of decode worker processes to use."""
        if self.num_workers is not None:
            return self.num_workers
        return max(0, min(8, (os.cpu_count() or 1) - 1))


def check_model_available(config: ScoreConfig) -> None:
    """Fail now, without loading anything, if a scorer name, the device, the model or its weights is unusable."""
    for scorer in build_scorers(config.scorers, config.model_spec(), config.precision, config.scorer_options()):
        scorer.check()


class ScorerReport(BaseModel):
    """What one scorer did in one run; shards count the units of every sample source alike.

    `seconds` is time in `score_batch`, in the main process or, for CPU-only scorers, their thread beside it
    (decoding runs in the workers).
    """

    name: str
    version: str
    model_id: str | None
    shards_scored: int = 0
    shards_skipped: int = 0
    samples: int = 0
    errors: int = 0
    error_kinds: dict[str, int] = {}
    seconds: float = 0.0


class ScoreReport(BaseModel):
    """Per-scorer counts, errors and timing of one run (`seconds` is wall time)."""

    scorers: list[ScorerReport]
    shards: int
    seconds: float

    def merge(self, other: "ScoreReport") -> "ScoreReport":
        """Sum two reports of the same scorers (runs over disjoint shards); wall time is the longest."""
        merged = []
        for a, b in zip(self.scorers, other.scorers):
            kinds = Counter(a.error_kinds) + Counter(b.error_kinds)
            merged.append(a.model_copy(update={
                "shards_scored": a.shards_scored + b.shards_scored, "shards_skipped": a.shards_skipped + b.shards_skipped,
                "samples": a.samples + b.samples, "errors": a.errors + b.errors, "error_kinds": dict(kinds),
                "seconds": a.seconds + b.seconds,
            }))
        return ScoreReport(scorers=merged, shards=self.shards + other.shards, seconds=max(self.seconds, other.seconds))


def score(
    workspace: Workspace | Path, config: ScoreConfig = ScoreConfig(), progress: Callable[[int, int], None] | None = None
) -> ScoreReport:
    """Score every committed shard of this rank that is not scored yet; `progress(done, total)` gets samples."""
    started = time.perf_counter()
    ws = workspace if isinstance(workspace, Workspace) else Workspace.open(Path(workspace))
    scorers = build_scorers(config.scorers, config.model_spec(), config.precision, config.scorer_options())
    for scorer in scorers:
        scorer.load()
    reports = new_reports(scorers)
    plan = plan_units(ws, [ScorerOutputs.of(s) for s in scorers], config, reports)
    if plan:
        _run(ws, scorers, plan, config, reports, progress)
    units = len(committed_units(ws)[config.rank :: config.world_size])
    return ScoreReport(scorers=list(reports.values()), shards=units, seconds=time.perf_counter() - started)


def new_reports(scorers: list[Scorer]) -> dict[str, ScorerReport]:
    """An empty report per scorer, by name."""
    return {s.name: ScorerReport(name=s.name, version=s.version, model_id=s.model_id) for s in scorers}


@dataclass(frozen=True)
class ScorerOutputs:
    """What a loaded scorer writes, as plain picklable data: enough to check and write its files anywhere."""

    name: str
    version: str
    model_id: str | None
    outputs: tuple[Output, ...]

    @classmethod
    def of(cls, scorer: Scorer) -> "ScorerOutputs":
        """The outputs of a loaded scorer."""
        return cls(scorer.name, scorer.version, scorer.model_id, tuple(scorer.outputs()))

    def metadata(self, source_version: int) -> dict[bytes, bytes]:
        """Parquet schema metadata identifying the scorer version and model that wrote a file, and the version
        of the unit it scored."""
        return {VERSION_KEY: self.version.encode(), MODEL_KEY: (self.model_id or "").encode(),
                SOURCE_VERSION_KEY: str(source_version).encode()}


def is_scored(ws: Workspace, spec: ScorerOutputs, unit: str) -> bool:
    """True when every output of a scorer exists for `unit`, written by the same scorer version and model from the
    unit's current version (a file written before versions were recorded describes version 0)."""
    paths = [ws.path(*out.folder, f"{unit}.parquet") for out in spec.outputs]
    if not all(p.is_file() for p in paths):
        return False
    meta = {SOURCE_VERSION_KEY: b"0", **(pq.read_schema(paths[0]).metadata or {})}
    return all(meta.get(k) == v for k, v in spec.metadata(unit_version(ws.root, unit)).items())


def plan_units(ws: Workspace, specs: list[ScorerOutputs], config: "ScoreConfig", reports: dict) -> dict[str, list[str]]:
    """unit -> names of the scorers that still have to score it (all with `force`), for this rank's units;
    counts scored and skipped shards into `reports`."""
    plan: dict[str, list[str]] = {}
    for unit in committed_units(ws)[config.rank :: config.world_size]:
        for spec in specs:
            if config.force or not is_scored(ws, spec, unit):
                plan.setdefault(unit, []).append(spec.name)
                reports[spec.name].shards_scored += 1
            else:
                reports[spec.name].shards_skipped += 1
    return plan


def _run(ws, scorers, plan, config, reports, progress) -> None:
    versions = {unit: unit_version(ws.root, unit) for unit in plan}  # before any row is read
    expected = {shard: _count_scorable(ws, shard) for shard in plan}
    buffers = {shard: {name: [] for name in names} for shard, names in plan.items()}
    specs = {s.name: ScorerOutputs.of(s) for s in scorers}
    for unit in [u for u, n in expected.items() if n == 0]:
        write_unit(ws.root, unit, buffers.pop(unit), specs, versions[unit])
    total, done, seen = sum(expected.values()), 0, Counter()
    embedders = {s.embedder.key: s.embedder for s in scorers if s.embedder is not None}
    beside = {s.name: ThreadPoolExecutor(1, thread_name_prefix=f"score-{s.name}") for s in scorers
              if not s.runs_on_device}

    def finish(started: "_Started") -> None:
        nonlocal done
        for pending in started.embeddings:
            pending.wait()
        for scorer in sorted(scorers, key=lambda s: s.name in beside):  # device work first, then collect
            mine = started.mine[scorer.name]
            if not mine:
                continue
            rows = started.cpu_rows[scorer.name].result() if scorer.name in beside else _timed_rows(
                scorer, mine, reports[scorer.name])
            _buffer(mine, rows, scorer.name, buffers, reports[scorer.name])
        batch = started.samples
        seen.update(s.shard for s in batch)
        for shard in {s.shard for s in batch}:
            if seen[shard] == expected[shard]:
                write_unit(ws.root, shard, buffers.pop(shard), specs, versions[shard])
        done += len(batch)
        if progress:
            progress(done, total)

    try:
        previous = None
        for batch in _loader(ws, scorers, plan, config):
            current = _start(batch, scorers, plan, embedders, beside, reports)
            if previous is not None:
                finish(previous)
            previous = current
        if previous is not None:
            finish(previous)
    finally:
        for pool in beside.values():
            pool.shutdown(wait=True, cancel_futures=True)
    if buffers:
        raise RuntimeError(f"scoring ended with shards not fully seen: {sorted(buffers)}")


@dataclass
class _Started:
    """A batch whose model forwards are launched and whose CPU-only scorers run in their threads."""

    samples: list[Sample]
    mine: dict[str, list[Sample]]  # scorer name -> its samples of the batch
    embeddings: list[PendingEmbeddings]
    cpu_rows: dict[str, Future]


def _start(batch: "Batch", scorers: list[Scorer], plan: dict, embedders: dict[str, ImageEmbedder],
           beside: dict[str, ThreadPoolExecutor], reports: dict) -> _Started:
    mine = {s.name: [x for x in batch.samples if s.name in plan[x.shard]] for s in scorers}
    pending = [embedders[key].start(inputs) for key, inputs in batch.inputs.items()]
    cpu_rows = {s.name: beside[s.name].submit(_timed_rows, s, mine[s.name], reports[s.name])
                for s in scorers if s.name in beside and mine[s.name]}
    return _Started(batch.samples, mine, pending, cpu_rows)


def _timed_rows(scorer: Scorer, samples: list[Sample], report: ScorerReport) -> list[dict]:
    t0 = time.perf_counter()
    rows = scorer.score_batch(samples)
    report.seconds += time.perf_counter() - t0
    return rows


def _buffer(samples: list[Sample], rows: list[dict], name: str, buffers: dict, report: ScorerReport) -> None:
    report.samples += len(rows)
    for sample, row in zip(samples, rows):
        buffers[sample.shard][name].append((sample.index, row))
    count_errors(report, rows)


def count_errors(report: ScorerReport, rows: list[dict]) -> None:
    """Add rows' errors to a report, by kind (the reason before the first colon)."""
    for row in rows:
        if row["error"]:
            report.errors += 1
            kind = row["error"].split(":", 1)[0]
            report.error_kinds[kind] = report.error_kinds.get(kind, 0) + 1


def write_unit(root: Path, unit: str, rows_by_scorer: dict[str, list[tuple[int, dict]]],
               specs: dict[str, ScorerOutputs], source_version: int) -> None:
    """Write one unit's outputs per scorer from (index, row) pairs, the score file last (resume checks it);
    `source_version`: the unit's version when its rows were read."""
    for name, indexed in rows_by_scorer.items():
        spec = specs[name]
        rows = [row for _, row in sorted(indexed, key=lambda pair: pair[0])]
        for output in reversed(spec.outputs):
            path = Path(root).joinpath(*output.folder, f"{unit}.parquet")
            write_parquet(output_table(rows, output).replace_schema_metadata(spec.metadata(source_version)), path)


def output_table(rows: list[dict], output: Output) -> pa.Table:
    """An output's table from scorer rows (missing columns are null), checked against its schema."""
    if not output.keep_failed:
        rows = [r for r in rows if r["error"] is None]
    arrays = [pa.array([r.get(f.name) for r in rows], type=f.type) for f in output.schema]
    return conform(pa.Table.from_arrays(arrays, schema=output.schema), output.schema, "/".join(output.folder))


def _count_scorable(ws: Workspace, unit: str) -> int:
    status = unit_rows(ws.root, unit, ["status"]).column("status")
    return sum(1 for s in status.to_pylist() if s == "success")


def _loader(ws: Workspace, scorers: list[Scorer], plan: dict, config: ScoreConfig) -> DataLoader:
    inputs = {s.name: s.input_key for s in scorers}
    dataset = ShardStream(ws.root, plan, sample_preparers(scorers), inputs, frame_needs(scorers), config.video_frames)
    workers = config.workers()
    stacked = {s.embedder.key for s in scorers if s.embedder is not None}
    return DataLoader(
        dataset, batch_size=config.batch_size, num_workers=workers, collate_fn=partial(Batch.collate, keys=stacked),
        pin_memory=config.device.startswith("cuda"),
        prefetch_factor=2 if workers else None,
    )


@dataclass
class Batch:
    """A batch of prepared samples with each model's inputs stacked (built by `collate` in the worker).

    `inputs` maps an embedder key to the samples' inputs of that model (`ModelInput`: frames concatenated in
    order, and undecoded JPEGs when decoding on the device); the samples no longer hold them, so they travel
    and are pinned once.
    """

    samples: list[Sample]
    inputs: dict[str, ModelInput]

    @classmethod
    def collate(cls, samples: list[Sample], keys: set[str]) -> "Batch":
        """The batch of `samples` with the inputs under `keys` stacked."""
        inputs = {key: ModelInput.take(samples, key) for key in keys}
        return cls(samples, {key: value for key, value in inputs.items() if value is not None})

    def pin_memory(self) -> "Batch":
        """Pinned copies of the stacked inputs and of the samples' other tensors (the DataLoader calls this)."""
        self.inputs = {key: value.pin_memory() for key, value in self.inputs.items()}
        self.samples = [s.pin_memory() for s in self.samples]
        return self


class ShardStream(IterableDataset):
    """Samples of the planned units, read, decoded and prepared; worker k of n takes every n-th sample from k.

    `preparers` maps input keys to (preparer, needs_frames) (`sample_preparers`), `inputs` a scorer name to
    its input key: a unit runs the preparers of its planned scorers, each shared key once. `needs` maps the
    scorers that read frames to their picture need (`frame_needs`): a unit's media is read only when one of its
    planned scorers reads frames, and its JPEGs decode as reduced as all of them allow.
    """

    def __init__(self, root: Path, plan: dict[str, list[str]], preparers: dict, inputs: dict[str, str],
                 needs: dict[str, PictureNeed | None], video_frames: int):
        self.root = Path(root)
        self.plan = plan
        self.preparers = preparers
        self.inputs = inputs
        self.needs = needs
        self.video_frames = video_frames

    def __iter__(self) -> Iterator[Sample]:
        info = get_worker_info()
        worker, workers = (info.id, info.num_workers) if info else (0, 1)
        position = 0
        for shard, names in self.plan.items():
            keys = {self.inputs[n] for n in names}
            preparers = {k: p for k, p in self.preparers.items() if k in keys}
            framed = [self.needs[n] for n in names if n in self.needs]
            need = combined_need(framed)
            for index, row in enumerate(scorable_rows(self.root, shard)):
                if position % workers == worker:
                    yield self._prepare(shard, index, row, preparers, bool(framed), need)
                position += 1

    def _prepare(self, unit: str, index: int, row: dict, preparers: dict, decode: bool,
                 need: PictureNeed | None) -> Sample:
        sample = sample_from_row(row, unit, index)
        read = partial(read_row_media, self.root, row) if decode else None
        return prepare_sample(sample, read, preparers, self.video_frames, need)


def read_row_media(root: Path, row: dict) -> bytes | list[bytes]:
    """A row's stored media: the bytes of its stored keyframe JPEGs when it has them, else its media bytes."""
    if row.get("keyframe_offsets"):
        return [read_media(root, row["media_path"], offset, size)
                for offset, size in zip(row["keyframe_offsets"], row["keyframe_sizes"])]
    return read_media(root, row["media_path"], row["media_offset"], row["media_size"])


def scorable_rows(root: Path, unit: str) -> list[dict]:
    """The unit's rows with status 'success' (the `samples` columns scoring reads), in table order."""
    return [row for row in unit_rows(root, unit, _SAMPLE_COLUMNS).to_pylist() if row["status"] == "success"]


def sample_from_row(row: dict, unit: str, index: int) -> Sample:
    """A Sample from a row of the `samples` view (no media read yet)."""
    original = None
    if row.get("original_width") and row.get("original_height"):
        original = (row["original_width"], row["original_height"])
    return Sample(sample_id=row["sample_id"], caption=row["caption"], media_type=row["media_type"], shard=unit,
                  index=index, file_bytes=row["media_size"], original_size=original)


def score_parallel(workspace: Path, config: ScoreConfig, devices: list[str]) -> ScoreReport:
    """One process per device over disjoint shards (rank i runs on devices[i]); the merged report."""
    if len(devices) == 1:
        return score(workspace, config.model_copy(update={"device": devices[0]}))
    check_model_available(config)
    configs = [config.model_copy(update={"rank": i, "world_size": len(devices), "device": d})
               for i, d in enumerate(devices)]
    with multiprocessing.get_context("spawn").Pool(len(devices)) as pool:
        results = pool.starmap(_score_rank, [(str(workspace), c.model_dump()) for c in configs])
    reports = [ScoreReport.model_validate(r) for r in results]
    merged = reports[0]
    for report in reports[1:]:
        merged = merged.merge(report)
    return merged


def _score_rank(workspace: str, config: dict) -> dict:
    return score(Path(workspace), ScoreConfig.model_validate(config)).model_dump()
