"""`python -m benchmarks`: run every benchmark script with --json and print one table of ratios vs targets.

    python -m benchmarks [--only crawl,video] [--readme]

`--readme` also writes the table into README.md between its benchmark markers: the rows just measured replace
the rows of the same name, the others stay, and each row says where and when it was measured.
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
MEASURED = "measured"  # the README table's last column: machine, date and load of the row's run


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
            ratio_text(row), f"{arrow} {row['target']:.3g}", verdict(row))


def ratio_text(row: dict) -> str:
    """The median ratio, with its min-max over rounds where the script ran several."""
    spread = row.get("ratio_min_max")
    return f"{row['ratio']:.3f} ({spread[0]:.3f}-{spread[1]:.3f})" if spread else f"{row['ratio']:.3f}"


def machine() -> str:
    """Where and when the rows were measured."""
    return (f"{platform.node()}, {os.cpu_count()} cores, {platform.processor() or platform.machine()}, "
            f"Python {platform.python_version()}, {time.strftime('%Y-%m-%d %H:%M %Z')}, "
            f"load average {os.getloadavg()[0]:.1f} at the end")


def markdown(rows: list[tuple[str, ...]]) -> str:
    """The README block: a Markdown table of rows (COLUMNS + MEASURED), between the markers."""
    lines = [TABLE_BEGIN, "", "| " + " | ".join((*COLUMNS, MEASURED)) + " |", "|" + "---|" * (len(COLUMNS) + 1)]
    lines += ["| " + " | ".join(c.replace("|", "\\|") for c in row) + " |" for row in rows]
    return "\n".join([*lines, TABLE_END])


def readme_rows(text: str) -> list[tuple[str, ...]]:
    """The rows of the README's table (COLUMNS + MEASURED); a table written before rows carried their own
    MEASURED cell gets its 'Measured on ...' line's."""
    block = text.split(TABLE_BEGIN, 1)[1].split(TABLE_END, 1)[0]
    where = next((line[len("Measured on "):].rstrip(".") for line in block.splitlines()
                  if line.startswith("Measured on ")), "")
    rows = []
    for line in block.splitlines():
        if not line.startswith("| ") or line.startswith("| benchmark |"):
            continue
        cells_ = [c.strip().replace("\\|", "|") for c in line.strip()[2:-2].split(" | ")]
        rows.append(tuple(cells_ if len(cells_) > len(COLUMNS) else [*cells_, where]))
    return rows


def merged(old: list[tuple[str, ...]], new: list[tuple[str, ...]]) -> list[tuple[str, ...]]:
    """`old` rows with those of a name in `new` replaced by it, new names appended; in name order."""
    by_name = {row[0]: row for row in old}
    by_name.update({row[0]: row for row in new})
    return [by_name[name] for name in sorted(by_name)]


def write_readme(new_rows: list[tuple[str, ...]]) -> None:
    text = README.read_text()
    if TABLE_BEGIN not in text or TABLE_END not in text:
        raise SystemExit(f"README.md lacks the benchmark table markers {TABLE_BEGIN!r} … {TABLE_END!r}")
    head, rest = text.split(TABLE_BEGIN, 1)
    block = markdown(merged(readme_rows(text), new_rows))
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
        write_readme([(*row, where) for row in rows if not row[-1].startswith("ERROR")])
    return 1 if any(row[-1].startswith("ERROR") for row in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
