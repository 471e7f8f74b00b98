"""The numbers the app's pages show, as SQL over the catalog: funnel, histograms, progress, reviewer stats."""
from __future__ import annotations

from curation.catalog import Catalog
from curation.sql import quote_identifier
from labeling_ui.queues import column_sql, score_columns


def _one(catalog: Catalog, sql: str, params=None) -> dict:
    return catalog.query(sql, params).to_pylist()[0]


def funnel(catalog: Catalog) -> list[tuple[str, int]]:
    """(step, samples left): input pairs, crawled successfully, kept by the current decisions (if any)."""
    row = _one(catalog, "SELECT count(*) AS input, count(*) FILTER (WHERE status = 'success') AS crawled "
                        "FROM samples WHERE kind = 'crawled'")
    steps = [("input pairs", row["input"]), ("crawled", row["crawled"])]
    decided = _one(catalog, "SELECT count(*) AS n, count(*) FILTER (WHERE kept) AS kept FROM decisions")
    if decided["n"]:
        steps.append(("kept by the recipe", decided["kept"]))
    return steps


def status_counts(catalog: Catalog) -> list[dict]:
    """Samples per kind and status (crawl status, or why a clip was dropped), most frequent first."""
    return catalog.query("SELECT kind, status, count(*) AS samples FROM samples GROUP BY 1, 2 "
                         "ORDER BY 3 DESC, 1, 2").to_pylist()


def drop_counts(catalog: Catalog) -> list[dict]:
    """Samples dropped per reason by the current decisions, most frequent first."""
    return catalog.query("SELECT reason, count(*) AS samples FROM decisions WHERE NOT kept "
                         "GROUP BY 1 ORDER BY 2 DESC, 1").to_pylist()


def histogram(catalog: Catalog, column: str, bins: int = 40) -> list[dict]:
    """Equal-width histogram of a "view.column" score: rows of bin_start, bin_end, samples."""
    col = column_sql(column, score_columns(catalog))
    view = quote_identifier(column.split(".", 1)[0])
    return catalog.query(
        f"WITH r AS (SELECT min({col}) AS lo, greatest(max({col}) - min({col}), 1e-12) / {int(bins)} AS w "
        f"FROM {view}) "
        f"SELECT lo + w * b AS bin_start, lo + w * (b + 1) AS bin_end, count(*) AS samples FROM ("
        f"SELECT least(floor(({col} - lo) / w), {int(bins) - 1}) AS b, lo, w FROM {view}, r "
        f"WHERE {col} IS NOT NULL) GROUP BY b, lo, w ORDER BY b"
    ).to_pylist()


def review_progress(catalog: Catalog) -> dict:
    """Reviewed samples by outcome (accepted, rejected, conflicting, edited captions, tagged) and events."""
    return _one(catalog, "SELECT count(*) AS touched, "
                         "count(*) FILTER (WHERE decision = 'accept') AS accepted, "
                         "count(*) FILTER (WHERE decision = 'reject') AS rejected, "
                         "count(*) FILTER (WHERE conflicting) AS conflicting, "
                         "count(final_caption) AS captions_edited, count(*) FILTER (WHERE len(tags) > 0) AS tagged, "
                         "coalesce(sum(n_events), 0) AS events FROM review_state")


def per_reviewer(catalog: Catalog) -> list[dict]:
    """Per reviewer: events, samples touched, decisions, first and last event, decisions per active hour.

    Active hours count the distinct clock hours with at least one event, so breaks do not dilute the rate.
    """
    return catalog.query(
        "SELECT reviewer, count(*) AS events, count(DISTINCT sample_id) AS samples, "
        "count(*) FILTER (WHERE action IN ('accept', 'reject')) AS decisions, min(ts) AS first, max(ts) AS last, "
        "count(DISTINCT date_trunc('hour', ts)) AS active_hours, "
        "round(count(*) FILTER (WHERE action IN ('accept', 'reject')) / count(DISTINCT date_trunc('hour', ts)), 1) "
        "AS decisions_per_hour FROM reviews GROUP BY reviewer ORDER BY reviewer"
    ).to_pylist()


def decisions_by_hour(catalog: Catalog) -> list[dict]:
    """Decisions per reviewer and clock hour (UTC)."""
    return catalog.query(
        "SELECT date_trunc('hour', ts) AS hour, reviewer, count(*) AS decisions FROM reviews "
        "WHERE action IN ('accept', 'reject') GROUP BY 1, 2 ORDER BY 1, 2"
    ).to_pylist()


_LATEST_DECISIONS = (
    "WITH undone AS (SELECT undo_of FROM reviews WHERE action = 'undo'), "
    "latest AS (SELECT sample_id, reviewer, arg_max(action, (ts, session, seq)) AS decision FROM reviews "
    "WHERE action IN ('accept', 'reject') AND event_id NOT IN (SELECT undo_of FROM undone) "
    "GROUP BY sample_id, reviewer) "
)


def agreement(catalog: Catalog) -> list[dict]:
    """Per pair of reviewers: samples both decided, how many they agreed on, and Cohen's kappa."""
    return catalog.query(
        _LATEST_DECISIONS +
        ", pairs AS (SELECT a.reviewer AS reviewer_a, b.reviewer AS reviewer_b, "
        "a.decision = 'accept' AS a_acc, b.decision = 'accept' AS b_acc "
        "FROM latest a JOIN latest b ON a.sample_id = b.sample_id AND a.reviewer < b.reviewer), "
        "stats AS (SELECT reviewer_a, reviewer_b, count(*) AS overlap, "
        "count(*) FILTER (WHERE a_acc = b_acc) AS agreed, "
        "avg(a_acc::INT) AS pa, avg(b_acc::INT) AS pb FROM pairs GROUP BY 1, 2) "
        "SELECT reviewer_a, reviewer_b, overlap, agreed, round(agreed / overlap, 3) AS agreement, "
        "round(CASE WHEN pa * pb + (1 - pa) * (1 - pb) = 1 THEN NULL ELSE "
        "(agreed / overlap - (pa * pb + (1 - pa) * (1 - pb))) / (1 - (pa * pb + (1 - pa) * (1 - pb))) END, 3) "
        "AS kappa FROM stats ORDER BY 1, 2"
    ).to_pylist()
