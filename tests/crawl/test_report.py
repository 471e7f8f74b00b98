"""Progress lines from marker and progress files, and the one-screen summary."""
import json

from rich.console import Console

from pipelines.crawl.report import ProgressMonitor, build_report, summary


def marker(statuses: dict, input_rows: int) -> dict:
    return {"total": sum(statuses.values()), "done": sum(statuses.values()), "input_rows": input_rows,
            "status_counts": statuses, "successes_by_type": {"image": statuses.get("success", 0)},
            "bytes_downloaded": 1000, "elapsed_s": 1.0}


def test_progress_line_counts_committed_and_running_shards(tmp_path):
    shards = tmp_path / "shards"
    shards.mkdir()
    (shards / "00000.done").write_text(json.dumps(marker({"success": 5}, 5)))  # committed before this run
    (shards / "00001.done").write_text(json.dumps(marker({"success": 3, "http_404": 1}, 4)))
    (shards / ".00002.progress.json").write_text(json.dumps(marker({"success": 1, "timeout": 1}, 2)))
    line = ProgressMonitor(shards, done_before={"00000"}, console=None).line()
    assert line.startswith("crawl: 6 samples, 1 shards committed")
    assert "66.7% ok" in line and "http_404 1" in line and "timeout 1" in line


def test_report_and_summary(tmp_path):
    shards = tmp_path / "shards"
    shards.mkdir()
    (shards / "00000.done").write_text(json.dumps(marker({"success": 5}, 6)))
    (shards / "00001.done").write_text(json.dumps(marker({"success": 3, "http_404": 1}, 4)))
    report = build_report(tmp_path, "list.csv", "DirectRunner", started=0.0, done_before={"00000"})
    assert (report.samples, report.input_rows, report.successes, report.shards) == (9, 10, 8, 2)
    assert report.status_counts == {"success": 8, "http_404": 1}
    assert (report.shards_this_run, report.samples_this_run) == (1, 4)
    console = Console(record=True, width=100)
    console.print(summary(report, tmp_path / "reports" / "crawl.json"))
    text = console.export_text()
    assert "9 from 10 input rows in 2 shards" in text and "http_404" in text
