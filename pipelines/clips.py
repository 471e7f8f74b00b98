"""The clips stage as a Beam pipeline: one element per video, one committed clips shard per crawl shard.

    pending shards ─ListVideos─> (shard, video row) ─Reshuffle─> ProcessVideo ─> (shard, VideoResult)
                   ─GroupByKey shard─> WriteShard: clips/NNNNN.{tar,parquet}, scores/motion/NNNNN.parquet, .done

The per-video work and the shard layout are exactly the local batch job's (`curation.clips`); only the
scheduling differs. Resumption is per shard: shards whose `clips/NNNNN.done` exists are not read, and a
shard is written only once all its videos are processed. `ProcessVideo` loads the flow model once per worker
in `setup()` and receives the workspace and config as strings, so it pickles to any worker that can read the
workspace. A video that fails is a recorded result (see `curation.video.process`), never a failed bundle.
"""
import json
import logging
import time
from pathlib import Path
import apache_beam as beam
from apache_beam.options.pipeline_options import PipelineOptions

from curation.clips import ClipsConfig, ClipsReport, clips_done, pending_shards, process_row, video_rows, write_clip_shard
from curation.video.process import VideoProcessor
from curation.workspace import Workspace


def list_videos(shard, workspace):
    """(shard, video row) for each video of the shard, plus one (shard, None) so every shard gets written.

    This and the other element functions carry no annotations: Beam turns annotations into type checks, and
    its conversion of `tuple[str, X | None]` hints failed intermittently.
    """
    yield shard, None
    for row in video_rows(Workspace.open(workspace), shard):
        yield shard, row


class ProcessVideo(beam.DoFn):
    """Clips, keyframes and motion of one video, with the flow model loaded once per worker."""

    def __init__(self, workspace: str, config_json: str):
        self.workspace = workspace
        self.config_json = config_json

    def setup(self):
        self.processor = VideoProcessor(ClipsConfig.model_validate_json(self.config_json))
        self.processor.load()

    def process(self, element):
        shard, row = element
        yield shard, (None if row is None else process_row(self.processor, Path(self.workspace), row))


def write_shard(element, workspace, versions):
    """Commit one shard's clips from all its video results, for the crawl shard version planned (idempotent:
    clips committed for that version are left alone)."""
    shard, results = element
    if not clips_done(Path(workspace), shard, versions[shard]):
        write_clip_shard(Path(workspace), shard, [r for r in results if r is not None], versions[shard])
    return shard


def build_pipeline(p: beam.Pipeline, workspace: str, shards: dict[str, int], config: ClipsConfig) -> beam.PCollection:
    """Add the clips stage for `shards` (crawl shard → its version, read before its rows) to `p`; the result
    holds the names of the shards written."""
    return (
        p
        | "Shards" >> beam.Create(sorted(shards))
        | "ListVideos" >> beam.FlatMap(list_videos, workspace)
        | "Spread" >> beam.Reshuffle()
        | "ProcessVideo" >> beam.ParDo(ProcessVideo(workspace, config.model_dump_json()))
        | "GroupByShard" >> beam.GroupByKey()
        | "WriteShard" >> beam.Map(write_shard, workspace, shards)
    )


def run_clips_pipeline(workspace: Workspace | Path, config: ClipsConfig = ClipsConfig(),
                       beam_args: list[str] | None = None) -> ClipsReport:
    """Run the clips pipeline over the pending shards (DirectRunner unless `beam_args` say otherwise).

    The flow model is loaded here first, so missing weights stop the run before any worker starts.
    """
    started = time.perf_counter()
    ws = workspace if isinstance(workspace, Workspace) else Workspace.open(workspace)
    checker = VideoProcessor(config)
    checker.load()
    pending, done = pending_shards(ws)
    report = ClipsReport(shards_skipped=done, model_id=checker.model_id)
    if pending:
        logging.getLogger("apache_beam").setLevel(logging.ERROR)
        options = PipelineOptions(["--runner=DirectRunner", *(beam_args or [])])
        with beam.Pipeline(options=options) as p:
            build_pipeline(p, str(ws.root), pending, config)
    for shard in pending:
        report.add(json.loads(ws.path("clips", f"{shard}.done").read_text()))
    report.seconds = time.perf_counter() - started
    return report
