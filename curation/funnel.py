"""The curation funnel: rows in/out per step, reason counts and overlaps, score histograms with thresholds.

`build` counts a curate run's outcomes and bins the values in its `_base` table (see
curation/recipes/compile.py); `save` writes `funnel.json` and one PNG histogram per thresholded numeric
column into `reports/funnel/<recipe>-<hash12>/` (the stem of the decisions file, so the review UI finds
the funnel of the current decisions through `decisions/CURRENT`); `table` renders the funnel for the
terminal. Each histogram shows the values of the rows alive before its step, with the step's thresholds drawn.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

import pyarrow as pa
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from rich.table import Table

from curation.atomic import write_json
from curation.recipes.model import FilterStep, Recipe, TopFractionStep, TopKStep

BINS = 40


@dataclass
class FunnelStep:
    """One recipe step: rows alive before it, dropped first by it, alive after it, and every row it objects to."""

    step: int
    kind: str
    name: str  # the step's reason string, e.g. "filter:clip.clip_score"
    rows_in: int
    dropped: int
    rows_out: int
    would_drop: int  # rows listing this step among their reasons, whether or not an earlier step dropped them
    reasons: dict[str, int]  # reason string (incl. missing:<column>) -> rows


@dataclass
class Histogram:
    """Binned values of one thresholded column over the rows alive before its step."""

    step: int
    name: str
    column: str
    rows: int
    per_group: str | None  # the `by` column when the cutoff is computed per group (no line drawn)
    edges: list[float]
    counts: list[int]
    thresholds: dict[str, float]  # min / max / cutoff
    png: str


@dataclass
class Funnel:
    """Rows in, out and dropped per step, reason counts and overlaps, human overrides, histograms."""

    recipe_name: str
    recipe_hash: str
    rows_in: int
    crawl_dropped: int
    crawl_reasons: dict[str, int]
    steps: list[FunnelStep]
    recipe_kept: int  # kept by the recipe, before human decisions
    human: dict[str, int]  # accepted_dropped, rejected_kept, agreed
    kept: int
    dropped: int
    reasons: dict[str, int]  # rows listing each reason
    overlaps: list[dict] = field(default_factory=list)  # {"a", "b", "rows"}: rows listing both reasons
    histograms: list[Histogram] = field(default_factory=list)


def build(con, recipe: Recipe, columns: dict, reasons, outcomes: pa.Table) -> Funnel:
    """The funnel of a run: counts from its `outcomes` (see curate.outcomes), histograms from the `_base`
    table in `con` (see curation/recipes/compile.py)."""
    groups = outcomes.select(["status", "mask", "human", "rows"]).to_pylist()
    total = sum(g["rows"] for g in groups)
    crawl: dict[str, int] = {}
    masks: dict[int, int] = {}
    human: dict[tuple[str, bool], int] = {}
    for g in groups:
        if g["status"] != "success":
            crawl[f"crawl:{g['status']}"] = crawl.get(f"crawl:{g['status']}", 0) + g["rows"]
        elif g["mask"]:
            masks[g["mask"]] = masks.get(g["mask"], 0) + g["rows"]
        if g["human"] is not None:
            key = (g["human"], g["status"] == "success" and not g["mask"])
            human[key] = human.get(key, 0) + g["rows"]
    by_mask = sorted(masks.items())
    n_reasons = len(reasons.names)
    rows_with = [sum(n for m, n in by_mask if m >> b & 1) for b in range(n_reasons)]
    first_step = [reasons.steps[(m & -m).bit_length() - 1] for m, _ in by_mask]  # lowest bit = first reason
    alive = total - sum(crawl.values())
    steps = []
    for i, step in enumerate(recipe.steps, 1):
        bits = [b for b in range(n_reasons) if reasons.steps[b] == i or reasons.names[b] in
                (step.reason, f"missing:{step.column}")]
        dropped = sum(n for (m, n), f in zip(by_mask, first_step) if f == i)
        would = sum(n for m, n in by_mask if any(m >> b & 1 for b in bits))
        steps.append(FunnelStep(i, step.kind, step.reason, alive, dropped, alive - dropped, would,
                                {reasons.names[b]: rows_with[b] for b in bits if rows_with[b]}))
        alive -= dropped
    overrides = {"accepted_dropped": human.get(("accept", False), 0),
                 "rejected_kept": human.get(("reject", True), 0),
                 "agreed": human.get(("accept", True), 0) + human.get(("reject", False), 0)}
    kept = alive + overrides["accepted_dropped"] - overrides["rejected_kept"]
    overlaps = []
    for a in range(n_reasons):
        for b in range(a + 1, n_reasons):
            both = sum(n for m, n in by_mask if m >> a & 1 and m >> b & 1)
            if both:
                overlaps.append({"a": reasons.names[a], "b": reasons.names[b], "rows": both})
    histograms = [h for i, step in enumerate(recipe.steps, 1) if (h := _histogram(con, i, step, columns, reasons))]
    return Funnel(recipe.name, recipe.hash, total, sum(crawl.values()), crawl, steps, alive, overrides, kept,
                  total - kept, {**crawl, **{reasons.names[b]: rows_with[b] for b in range(n_reasons) if rows_with[b]}},
                  overlaps, histograms)


def _histogram(con, i: int, step, columns: dict, reasons) -> Histogram | None:
    """Histogram of a thresholded numeric column over the rows alive before step `i`, with its thresholds."""
    if not isinstance(step, (FilterStep, TopFractionStep, TopKStep)) or not columns[step.column].numeric:
        return None
    if isinstance(step, FilterStep) and step.min is None and step.max is None:
        return None
    c = columns[step.column].alias
    before = sum(1 << b for b, s in enumerate(reasons.steps) if s < i)
    mine = sum(1 << reasons.id(r) for r in (step.reason, f"missing:{step.column}"))
    alive = (f"SELECT CAST({c} AS DOUBLE) AS v, mask FROM _base "
             f"WHERE ok AND {c} IS NOT NULL AND (mask & CAST({before} AS UBIGINT)) = 0")
    lo, hi, n = con.execute(f"SELECT min(v), max(v), count(*) FROM ({alive})").fetchall()[0]
    if not n:
        return None
    width = (hi - lo) / BINS or 1.0
    counts = [0] * BINS
    for b, k in con.execute(f"SELECT least(CAST(floor((v - {lo!r}) / {width!r}) AS INTEGER), {BINS - 1}), count(*) "
                            f"FROM ({alive}) GROUP BY 1").fetchall():
        counts[b] = k
    thresholds = {}
    if isinstance(step, FilterStep):
        thresholds = {k: v for k, v in (("min", step.min), ("max", step.max)) if v is not None}
    elif step.by is None:
        agg = "min" if step.order == "desc" else "max"
        cutoff = con.execute(f"SELECT {agg}(v) FROM ({alive}) WHERE (mask & CAST({mine} AS UBIGINT)) = 0"
                             ).fetchall()[0][0]
        if cutoff is not None:
            thresholds = {"cutoff": cutoff}
    return Histogram(i, step.reason, step.column, n, getattr(step, "by", None),
                     [lo + width * k for k in range(BINS + 1)], counts, thresholds, f"step-{i:02d}-{step.column}.png")


def save(funnel: Funnel, folder: Path) -> Path:
    """Write funnel.json and the histogram PNGs into `folder`; return the JSON path."""
    folder.mkdir(parents=True, exist_ok=True)
    for hist in funnel.histograms:
        _plot(hist, folder / hist.png)
    return write_json(asdict(funnel), folder / "funnel.json")


def _plot(hist: Histogram, path: Path) -> None:
    fig = Figure(figsize=(6, 3.2), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    ax.stairs(hist.counts, hist.edges, fill=True, alpha=0.6)
    for label, x in hist.thresholds.items():
        ax.axvline(x, color="crimson", linestyle="--", linewidth=1.2)
        ax.annotate(f"{label} {x:.3g}", (x, 1), xycoords=("data", "axes fraction"), rotation=90, va="top",
                    ha="right", fontsize=8, color="crimson")
    title = f"step {hist.step}: {hist.name} ({hist.rows} rows in)"
    if hist.per_group:
        title += f", cutoff per {hist.per_group}"
    ax.set_title(title, fontsize=9)
    ax.set_xlabel(hist.column)
    ax.set_ylabel("samples")
    fig.tight_layout()
    fig.savefig(path)


def table(funnel: Funnel) -> Table:
    """The funnel as a rich table: crawl, one row per step, then human overrides and the final count."""
    t = Table(title=f"funnel: {funnel.recipe_name} ({funnel.recipe_hash[:12]})", title_justify="left")
    t.add_column("step", no_wrap=True)
    for name in ("in", "dropped", "out", "would drop", "missing"):
        t.add_column(name, justify="right")
    t.add_row("crawl", str(funnel.rows_in), str(funnel.crawl_dropped), str(funnel.rows_in - funnel.crawl_dropped),
              str(funnel.crawl_dropped), "")
    for s in funnel.steps:
        missing = sum(n for r, n in s.reasons.items() if r.startswith("missing:"))
        t.add_row(f"{s.step} {s.name}", str(s.rows_in), str(s.dropped), str(s.rows_out), str(s.would_drop),
                  str(missing) if missing else "")
    h = funnel.human
    t.add_row("human review", str(funnel.recipe_kept), f"+{h['accepted_dropped']} / -{h['rejected_kept']}",
              str(funnel.kept), "", "")
    return t
