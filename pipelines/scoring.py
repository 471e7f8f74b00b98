"""Scoring as an Apache Beam pipeline: the same scorers behind a RunInference ModelHandler.

    score_with_beam(workspace, ScoreConfig(...), ["--runner=DirectRunner"]) -> ScoreReport

The launcher loads the scorers once to fail early and to learn their outputs (version, model id, embedding
size), then plans the units exactly like the local job (`curation.scoring.plan_units`). The graph:

    units ─► rows (unit, index, row) ─► Reshuffle ─► RunInference(ScorersModelHandler) ─► (unit, results)
          └────────────────────────────── (unit, None) ───────────────┴─► GroupByKey ─► write_unit per unit

Each worker loads the scorers once (`load_model`); a batch is read, decoded and prepared in the worker, then
scored. Files, names, row order and resume rule are those of the local job, so either can finish the other's
work. Undecodable samples are rows with an `error`, as in the local job: nothing goes to a dead-letter queue.
"""
import time
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, Iterable, Sequence

import apache_beam as beam
import pyarrow.parquet as pq
from apache_beam.ml.inference.base import ModelHandler, RunInference
from apache_beam.options.pipeline_options import PipelineOptions

from curation.scorers.base import Scorer, combined_need, frame_needs, sample_preparers
from curation.scorers.embedding import ModelInput
from curation.scorers.media import prepare_sample
from curation.scorers.registry import build_scorers
from curation.sample_sources import committed_units, unit_version
from curation.scoring import (ScoreConfig, ScorerOutputs, ScoreReport, count_errors, new_reports, plan_units,
                              read_row_media, sample_from_row, scorable_rows, write_unit)
from curation.workspace import Workspace

Element = tuple[str, int, dict]  # (unit, index among the unit's scorable rows, `samples` row)
Result = tuple[str, int, dict[str, dict]]  # (unit, index, scorer name -> score row)


@dataclass
class LoadedScorers:
    """The handler's "model": the loaded scorers (a class, since Beam keeps a weak reference to it)."""

    scorers: list[Scorer]


class ScorersModelHandler(ModelHandler[Element, Result, LoadedScorers]):
    """RunInference handler: loads the configured scorers once per worker and scores a batch with them.

    `plan` maps a unit to the scorers it still needs; a sample is read and decoded only when one of its
    scorers needs frames.
    """

    def __init__(self, root: str, config: ScoreConfig, plan: dict[str, list[str]]):
        super().__init__(min_batch_size=1, max_batch_size=config.batch_size)
        self.root = root
        self.config = config
        self.plan = plan

    def load_model(self) -> LoadedScorers:
        scorers = build_scorers(self.config.scorers, self.config.model_spec(), self.config.precision,
                                 self.config.scorer_options())
        for scorer in scorers:
            scorer.load()
        return LoadedScorers(scorers)

    def run_inference(self, batch: Sequence[Element], model: LoadedScorers,
                      inference_args: dict[str, Any] | None = None) -> Iterable[Result]:
        samples = [self._prepare(element, model.scorers) for element in batch]
        for embedder in {s.embedder.key: s.embedder for s in model.scorers if s.embedder is not None}.values():
            inputs = ModelInput.take(samples, embedder.key)  # each model's image forward once, as in the job
            if inputs is not None:
                embedder.start(inputs).wait()
        results: list[dict[str, dict]] = [{} for _ in samples]
        for scorer in model.scorers:
            mine = [i for i, s in enumerate(samples) if scorer.name in self.plan[s.shard]]
            if mine:
                for i, row in zip(mine, scorer.score_batch([samples[i] for i in mine])):
                    results[i][scorer.name] = row
        return [(s.shard, s.index, r) for s, r in zip(samples, results)]

    def _prepare(self, element: Element, scorers: list[Scorer]):
        unit, index, row = element
        names = self.plan[unit]
        mine = [s for s in scorers if s.name in names]
        preparers = sample_preparers(mine)
        needs = frame_needs(mine)
        read = partial(read_row_media, self.root, row) if needs else None
        return prepare_sample(sample_from_row(row, unit, index), read, preparers, self.config.video_frames,
                              combined_need(list(needs.values())))

    def get_metrics_namespace(self) -> str:
        return "gristmill_scoring"


def score_with_beam(workspace: Workspace | Path, config: ScoreConfig, beam_args: list[str] | None = None) -> ScoreReport:
    """Score the workspace's pending units with Beam (DirectRunner unless `beam_args` choose another runner)."""
    started = time.perf_counter()
    ws = workspace if isinstance(workspace, Workspace) else Workspace.open(Path(workspace))
    scorers = build_scorers(config.scorers, config.model_spec(), config.precision, config.scorer_options())
    for scorer in scorers:
        scorer.load()
    specs = {s.name: ScorerOutputs.of(s) for s in scorers}
    reports = new_reports(scorers)
    plan = plan_units(ws, list(specs.values()), config, reports)
    if plan:
        with beam.Pipeline(options=PipelineOptions(beam_args or ["--runner=DirectRunner"])) as pipeline:
            build_pipeline(pipeline, str(ws.root), config, plan, specs)
        _count_written(ws, plan, reports)
    units = len(committed_units(ws)[config.rank :: config.world_size])
    return ScoreReport(scorers=list(reports.values()), shards=units, seconds=time.perf_counter() - started)


def build_pipeline(pipeline: beam.Pipeline, root: str, config: ScoreConfig, plan: dict[str, list[str]],
                   specs: dict[str, ScorerOutputs]) -> None:
    """Add the scoring graph (see the module docstring) to `pipeline`."""
    versions = {unit: unit_version(Path(root), unit) for unit in plan}  # before any row is read
    units = pipeline | "Units" >> beam.Create(sorted(plan))
    results = (
        units
        | "Rows" >> beam.FlatMap(lambda unit: [(unit, i, row) for i, row in enumerate(scorable_rows(root, unit))])
        | "Spread" >> beam.Reshuffle()
        | "Score" >> RunInference(ScorersModelHandler(root, config, plan))
        | "ByUnit" >> beam.Map(lambda result: (result[0], (result[1], result[2])))
    )
    empty = units | "EveryUnit" >> beam.Map(lambda unit: (unit, None))
    (
        (results, empty)
        | "Merge" >> beam.Flatten()
        | "Group" >> beam.GroupByKey()
        | "Write" >> beam.Map(_write, root=root, plan=plan, specs=specs, versions=versions)
    )


def _write(group: tuple[str, Iterable], root: str, plan: dict[str, list[str]], specs: dict[str, ScorerOutputs],
           versions: dict[str, int]) -> None:
    unit, values = group
    rows_by_scorer: dict[str, list] = {name: [] for name in plan[unit]}
    for value in values:
        if value is not None:
            index, rows = value
            for name, row in rows.items():
                rows_by_scorer[name].append((index, row))
    write_unit(Path(root), unit, rows_by_scorer, specs, versions[unit])


def _count_written(ws: Workspace, plan: dict[str, list[str]], reports: dict) -> None:
    """Fill samples and errors of the reports from the score files the pipeline wrote."""
    for unit, names in plan.items():
        for name in names:
            rows = pq.read_table(ws.path("scores", name, f"{unit}.parquet"), columns=["error"]).to_pylist()
            reports[name].samples += len(rows)
            count_errors(reports[name], rows)
