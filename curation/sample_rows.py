"""Which row of a sample counts when the `samples` view lists its sample_id more than once.

A sample crawled twice (the same (URL, caption) in two shards, e.g. two crawl runs over overlapping URL
lists) has one `samples` row per shard. Curation decides it once and export ships it once, from the same
row: a successful crawl before a failed one, then the latest shard. `COUNTED_ORDER` is that rule as SQL, and
both readers apply it through this module: export selects `COUNTED_SAMPLES`; curate, which builds its
table from every row so that a corpus without repeats costs no ranking, deletes `uncounted_rows_sql`.
"""

COUNTED_ORDER = "status = 'success' DESC, shard DESC"
"""The window order of a sample's rows, best first: a successful crawl, then the latest shard."""

COUNTED_SAMPLES = f"""
    WITH _repeated AS (SELECT sample_id FROM samples GROUP BY sample_id HAVING count(*) > 1)
    SELECT * FROM samples ANTI JOIN _repeated USING (sample_id)
    UNION ALL
    SELECT * FROM samples SEMI JOIN _repeated USING (sample_id)
    QUALIFY row_number() OVER (PARTITION BY sample_id ORDER BY {COUNTED_ORDER}) = 1"""
"""SELECT every column of `samples`, one row per sample_id: the row that counts. Only sample_ids listed more than
once are ranked; the others pass through a hash anti-join."""


def uncounted_rows_sql(table: str) -> str:
    """SELECT the rowid of every row of `table` (a table with sample_id, status and shard) that does not count."""
    return (f"SELECT rowid FROM {table} "
            f"QUALIFY row_number() OVER (PARTITION BY sample_id ORDER BY {COUNTED_ORDER}) > 1")
