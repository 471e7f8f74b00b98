"""The end-to-end demo: a synthetic web served on 127.0.0.1 → crawl → score → curate → export.

It uses only the public Python APIs of each stage, exactly as the CLI commands do, and ends with a
one-screen funnel: how many samples each step kept and why the rest were dropped.
"""
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from rich.table import Table

from curation.catalog import Catalog
from curation.errors import GristmillError
from curation.workspace import Workspace
from gristmill.console import console, warn_placeholders

DEMO_MARKER = ".gristmill-demo"
SCORERS = ("basic", "text", "clip")

# Broken URLs mixed into the list so the crawl funnel shows real failure handling: (mode, params).
HOSTILE = [
    ("status", {"code": 404}),
    ("status", {"code": 410}),
    ("status", {"code": 500}),
    ("html", {}),
    ("truncated", {"fraction": 0.5}),
    ("corrupt", {}),
    ("429", {"retry_after": 1, "n": 1}),
    ("redirect", {"n": 2}),
    ("redirect-loop", {}),
    ("noai", {}),
    ("bomb", {}),
]


@dataclass
class DemoConfig:
    """Where the demo writes and how big its synthetic corpus is."""

    workspace: Path
    out: Path
    seed: int = 0
    n_images: int = 300
    n_videos: int = 12
    allow_random_weights: bool = False


@dataclass
class DemoResult:
    """What the demo produced: counts per funnel row, timings per stage (s), the release folder."""

    funnel: list[tuple[str, int, str]] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    samples: int = 0
    release: Path | None = None


def prepare_workspace(path: Path) -> Workspace:
    """Create a fresh demo workspace, replacing an earlier demo's but never any other folder."""
    path = Path(path)
    if path.exists() and any(path.iterdir()):
        if not (path / DEMO_MARKER).is_file():
            raise GristmillError(f"{path} exists and was not made by `gristmill demo`; choose another folder")
        shutil.rmtree(path)
    ws = Workspace.init(path, name="demo")
    (path / DEMO_MARKER).write_text("created by gristmill demo; safe to delete\n")
    return ws


def write_url_list(corpus, server, path: Path) -> Path:
    """The corpus's (url, caption) list plus the hostile URLs, as Parquet."""
    corpus.write_url_list(server.base_url, path, fmt="parquet")
    table = pq.read_table(path)
    relpath = next(item.relpath for item in corpus.items if item.media_type == "image")
    hostile = [server.url(relpath, mode, **params) for mode, params in HOSTILE]
    extra = {name: [None] * len(hostile) for name in table.column_names}
    extra.update(url=hostile, caption=[f"broken link ({mode})" for mode, _ in HOSTILE],
                 source=["hostile"] * len(hostile))
    table = pa.concat_tables([table, pa.table(extra, schema=table.schema)])
    pq.write_table(table, path)
    return path


def run_demo(cfg: DemoConfig) -> DemoResult:
    """Run every stage and print the funnel; raises GristmillError on a bad setup (e.g. no weights)."""
    from curation.curate import curate, load_recipe
    from curation.scoring import ScoreConfig, check_model_available, score
    from curation.synthetic.corpus import CorpusSpec, generate_corpus
    from curation.synthetic.server import FixtureServer
    from pipelines.crawl import CrawlConfig, crawl
    from pipelines.export import ExportConfig, export

    result = DemoResult()
    score_config = ScoreConfig(scorers=list(SCORERS), allow_random_weights=cfg.allow_random_weights)
    check_model_available(score_config)  # fail before crawling, not after
    ws = prepare_workspace(cfg.workspace)
    web = ws.path("reports", "demo-web")

    with _stage(result, "generate"):
        corpus = generate_corpus(web, CorpusSpec(seed=cfg.seed, n_images=cfg.n_images, n_videos=cfg.n_videos))
    with FixtureServer(web / "media") as server:
        urls = write_url_list(corpus, server, ws.path("reports", "demo-urls.parquet"))
        with _stage(result, "crawl"):
            # one host, our own server: no per-host politeness cap
            crawl(ws.root, CrawlConfig(urls=str(urls), allow_private_network=True, retries=1, backoff=0.2,
                                       host_connections=32, host_rps=1000.0), console)
    with _stage(result, "score"):
        score(ws, score_config)
    with _stage(result, "curate"):
        curated = curate(ws, load_recipe("demo"))
    if cfg.out.exists():
        shutil.rmtree(cfg.out)
    with _stage(result, "export"):
        exported = export(ws, ExportConfig(out=cfg.out, splits={"val": 0.05}))

    catalog = Catalog(ws)
    result.samples = catalog.query("SELECT count(*) AS n FROM samples").column("n")[0].as_py()
    result.release = cfg.out
    result.funnel = _funnel_rows(catalog, curated, exported)
    _print_summary(result, ws)
    warn_placeholders(catalog)
    return result


class _stage:
    def __init__(self, result: DemoResult, name: str):
        self.result, self.name = result, name

    def __enter__(self):
        console.print(f"[bold cyan]── {self.name}[/]")
        self.t0 = time.perf_counter()

    def __exit__(self, *exc):
        self.result.timings[self.name] = time.perf_counter() - self.t0


def _funnel_rows(catalog: Catalog, curated, exported) -> list[tuple[str, int, str]]:
    total = catalog.query("SELECT count(*) AS n FROM samples").column("n")[0].as_py()
    funnel = curated.funnel
    crawl_failures = ", ".join(f"{k.removeprefix('crawl:')} {v}" for k, v in sorted(
        funnel.crawl_reasons.items(), key=lambda kv: (-kv[1], kv[0])))
    rows = [("input pairs", total, ""), ("crawled", total - funnel.crawl_dropped, crawl_failures)]
    for step in funnel.steps:
        rows.append((step.name, step.rows_out, f"dropped {step.dropped}" if step.dropped else ""))
    rows.append(("kept by recipe", funnel.kept, f"human overrides: {funnel.human}" if any(funnel.human.values()) else ""))
    rows.append(("exported", exported.rows, ", ".join(f"{k} {v}" for k, v in sorted(exported.rows_by_split.items()))))
    return rows


def _print_summary(result: DemoResult, ws: Workspace) -> None:
    table = Table(title="gristmill demo funnel", title_justify="left")
    table.add_column("step")
    table.add_column("samples", justify="right")
    table.add_column("dropped / notes")
    for step, n, note in result.funnel:
        table.add_row(step, str(n), note)
    console.print(table)
    console.print("stage times: " + ", ".join(f"{k} {v:.1f}s" for k, v in result.timings.items()))
    console.print(f"workspace: {ws.root}   release: [bold]{result.release}[/]")
    console.print(f"try: gristmill query {ws.root} \"SELECT count(*) FROM samples\"  (→ {result.samples})")
