"""A review writer process for the concurrency tests: prints each event_id once its append returned.

Usage: python -m tests.review.writer WORKSPACE REVIEWER N ACTION [PAUSE_AT]  (ACTION: accept | reject)
Sample ids cycle over s00000..s00999, so two writers overlap on every sample. With PAUSE_AT, after that many
events the writer prints "paused" and waits, journal open, for a line on stdin before it goes on.
"""
import sys

from curation.reviews import ReviewLog


def main(workspace: str, reviewer: str, n: int, action: str, pause_at: int | None = None) -> None:
    log = ReviewLog(workspace, reviewer)
    for i in range(n):
        if i == pause_at:
            sys.stdout.write("paused\n")
            sys.stdout.flush()
            sys.stdin.readline()
        sample = f"s{i % 1000:05d}"
        event = log.accept(sample) if action == "accept" else log.reject(sample, "duplicate")
        sys.stdout.write(event["event_id"] + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4], int(sys.argv[5]) if len(sys.argv) > 5 else None)
