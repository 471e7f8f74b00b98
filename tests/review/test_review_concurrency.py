"""Concurrent reviewers, compaction while they write, and a SIGKILL mid-stream: no acknowledged event is lost."""
import signal
import subprocess
import sys
import time
from pathlib import Path

from curation.catalog import Catalog
from curation.reviews import compact, read_events
from curation.workspace import Workspace

ROOT = Path(__file__).parents[2]


def _writer(ws: Workspace, reviewer: str, n: int, action: str, pause_at: int | None = None) -> subprocess.Popen:
    pause = [str(pause_at)] if pause_at is not None else []
    return subprocess.Popen(
        [sys.executable, "-m", "tests.review.writer", str(ws.root), reviewer, str(n), action, *pause],
        cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )


def _until_paused(process: subprocess.Popen) -> list[str]:
    """The event ids a writer acknowledged before it paused."""
    lines = []
    while (line := process.stdout.readline().strip()) != "paused":
        assert line, "the writer ended before its pause"
        lines.append(line)
    return lines


def test_two_writers_a_killed_writer_and_compaction_lose_nothing(tmp_path):
    ws = Workspace.init(tmp_path / "ws")
    alice = _writer(ws, "alice", 1000, "accept", pause_at=500)
    bob = _writer(ws, "bob", 1000, "reject", pause_at=500)
    victim = _writer(ws, "victim", 100_000, "accept")
    acknowledged_by_victim = [victim.stdout.readline().strip() for _ in range(300)]
    victim.send_signal(signal.SIGKILL)  # mid-stream: it is appending as fast as it can
    victim.wait()
    acknowledged = set(acknowledged_by_victim) | set(_until_paused(alice)) | set(_until_paused(bob))
    compact(ws)  # with both writers mid-stream, journals open: removes the victim's dead journal
    compactions = 1
    for process in (alice, bob):
        process.stdin.write("go on\n")
        process.stdin.flush()
    while True:  # and again while they write, at least once more
        compact(ws)
        compactions += 1
        if alice.poll() is not None and bob.poll() is not None:
            break
        time.sleep(0.05)
    for name, process in (("alice", alice), ("bob", bob)):
        out, err = process.communicate()
        assert process.returncode == 0, f"writer {name} failed:\n{err}"
        acknowledged |= set(out.split())
    assert len(acknowledged) == 2300 and compactions > 1

    before = read_events(ws)
    ids = before.table["event_id"].to_pylist()
    assert len(ids) == len(set(ids)), "an event was duplicated"
    assert acknowledged <= set(ids), f"{len(acknowledged - set(ids))} acknowledged event(s) lost"
    for reviewer in ("alice", "bob", "victim"):
        seqs = [e["seq"] for e in before.table.to_pylist() if e["reviewer"] == reviewer]
        assert seqs == list(range(len(seqs))), f"{reviewer}: seq has gaps or is out of order"

    compact(ws)
    after = Catalog(ws)
    n = after.query("SELECT count(*) AS n, count(DISTINCT event_id) AS d FROM reviews").to_pylist()[0]
    assert n["n"] == n["d"] == len(ids)
    assert not list(ws.path("reviews", "journal").glob("*.jsonl")), "dead journals were not compacted away"
    state = after.query("SELECT count(*) AS n, count_if(conflicting) AS c FROM review_state "
                        "WHERE sample_id < 's01000'").to_pylist()[0]
    assert state == {"n": 1000, "c": 1000}  # alice accepted and bob rejected every sample

