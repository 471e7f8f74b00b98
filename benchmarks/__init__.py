"""Benchmarks: each `benchmarks/<name>.py` measures gristmill and its baseline in the same run.

Run one with `python benchmarks/<name>.py` (a readable table) or `--json` (one JSON object with at least
`name`, `measure`, `gristmill`, `baseline`, `unit`, `ratio`, `target`, `higher_is_better`). `make bench`
runs them all through `python -m benchmarks` and prints one table. They are never part of `make test`.
"""
