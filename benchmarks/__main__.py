"""`python -m benchmarks`: run every benchmark script with --json and print one table of ratios vs targets.

    python -m benchmarks [--only crawl,video] [--readme]

`--readme` also writes the table, with machine and date, into README.md between its benchmark markers.
"""
import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

HERE = Path(__file__).parent
README = HERE.parent / "README.md"
TABLE_BEGIN = "<!-- bench-table: written by `python -m benchmarks --readme`, do not edit -->"
TABLE_END = "<!-- bench-table end -->"
COLUMNS = ("benchmark", "measure", "gristmill", "baseline", "ratio", "target", "verdict")


def run_one(script: Path) -> list[dict]:
    """Run a benchmark script with --json; it prints one JSON object (or a list of them) on its last line."""
    proc = subprocess.run([sys.executable, str(script), "--json"], capture_output=True, text=True)
    if proc.returncode != 0:
        return [{"name": script.stem, "error": (proc.stderr or proc.stdout).strip().splitlines()[-1:]}]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    return out if isinstance(out, list) else [out]


def verdict(row: dict) -> str:
    if "error" in row:
        return f"ERROR {row['error']}"
    ok = row["ratio"] >= row["target"] if row["higher_is_better"] else row["ratio"] <= row["target"]
    return "meets target" if ok else "BELOW TARGET"


def cells(row: dict) -> tuple[str, ...]:
    """One table row as text, in COLUMNS order."""
    if "error" in row:
        return (row["name"], "", "", "", "", "", verdict(row))
    unit = row.get("unit", "")
    arrow = "≥" if row["higher_is_better"] else "≤"
    return (row["name"], row.get("measure", ""), f"{row['gristmill']:.4g} {unit}", f"{row['baseline']:.4g} {unit}",
            f"{row['ratio']:.3f}", f"{arrow} {row['target']:.3g}", verdict(row))


def machine() -> str:
    """Where and when the table was measured."""
    return (f"{platform.node()}, {os.cpu_count()} cores, {platform.processor() or platform.machine()}, "
            f"Python {platform.python_version()}, {time.strftime('%Y-%m-%d %H:%M %Z')}, "
            f"load average {os.getloadavg()[0]:.1f} at the end")


def markdown(rows: list[tuple[str, ...]], where: str) -> str:
    """The README block: machine line and a Markdown table, between the markers."""
    lines = [TABLE_BEGIN, f"Measured on {where} (`make bench`).", "", "| " + " | ".join(COLUMNS) + " |",
             "|" + "---|" * len(COLUMNS)]
    lines += ["| " + " | ".join(c.replace("|", "\\|") for c in row) + " |" for row in rows]
    return "\n".join([*lines, TABLE_END])


def write_readme(block: str) -> None:
    text = README.read_text()
    if TABLE_BEGIN not in text or TABLE_END not in text:
        raise SystemExit(f"README.md lacks the benchmark table markers {TABLE_BEGIN!r} … {TABLE_END!r}")
    head, rest = text.split(TABLE_BEGIN, 1)
    README.write_text(head + block + rest.split(TABLE_END, 1)[1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default="", help="comma-separated script names (default: all)")
    parser.add_argument("--readme", action="store_true", help="also write the table into README.md")
    args = parser.parse_args()
    wanted = {name for name in args.only.split(",") if name}
    scripts = sorted(p for p in HERE.glob("*.py") if not p.name.startswith("_") and (not wanted or p.stem in wanted))
    rows = [cells(row) for script in scripts for row in run_one(script)]
    where = machine()
    table = Table(title=f"gristmill benchmarks — {where}", title_justify="left")
    for col in COLUMNS:
        table.add_column(col)
    for row in rows:
        table.add_row(*row)
    Console().print(table)
    if args.readme:
        write_readme(markdown(rows, where))
    return 1 if any(row[-1].startswith("ERROR") for row in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
