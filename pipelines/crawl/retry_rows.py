"""What a retry round does to one committed shard's rows and marker (the fetching is the crawl's own).

The samples whose status is one of the round's kinds are fetched again; each gets its new row in place of the
old one (a success with its media in the round's tar, a failure with the new attempt's status and an error
prefixed `round K:`), every other row stays as it was, bytes and media included, in the shard's order.
"""
from collections import Counter
from dataclasses import dataclass

from pipelines.crawl import status


@dataclass(frozen=True)
class RetryRound:
    """Retry round `round` (1, 2, ...) of a workspace: the failure kinds it fetches again."""

    round: int
    kinds: tuple[str, ...]


def failed_ids(rows: list[dict], kinds: tuple[str, ...]) -> set[str]:
    """The sample ids of `rows` whose status is one of `kinds`."""
    wanted = set(kinds)
    return {r["sample_id"] for r in rows if r["status"] in wanted}


def merge_rows(old: list[dict], new: list[dict], round_: int) -> list[dict]:
    """The shard's rows after round `round_`: each re-fetched sample's `new` row in place of its `old` one."""
    fresh = {r["sample_id"]: r for r in new}
    return [_attempt(fresh[r["sample_id"]], round_) if r["sample_id"] in fresh else r for r in old]


def _attempt(row: dict, round_: int) -> dict:
    return row if row["status"] == status.SUCCESS else dict(row, error=f"round {round_}: {row['error']}")


def retried_marker(marker: dict, rows: list[dict], attempt: dict, retry: RetryRound) -> dict:
    """The shard's marker after the round: counts of its merged `rows`, the bytes of this `attempt` (the retried
    samples' tally) added, and the attempt itself under `retry`."""
    statuses = Counter(r["status"] for r in rows)
    by_type = Counter(r["media_type"] for r in rows if r["status"] == status.SUCCESS)
    return dict(marker, status_counts=dict(sorted(statuses.items())), successes_by_type=dict(sorted(by_type.items())),
                bytes_downloaded=marker["bytes_downloaded"] + attempt["bytes_downloaded"],
                retry=dict(attempt, round=retry.round, kinds=list(retry.kinds)))


def retry_round_of(marker: dict) -> int:
    """The last retry round that rewrote the shard of `marker` (0: none)."""
    return marker.get("retry", {}).get("round", 0)
