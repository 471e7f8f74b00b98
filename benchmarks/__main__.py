"""`python -m benchmarks`: run every benchmark script with --json and print one table of ratios vs targets."""
import json
import platform
import subprocess
import sys
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

HERE = Path(__file__).parent


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


def main() -> int:
    scripts = sorted(p for p in HERE.glob("*.py") if not p.name.startswith("_"))
    table = Table(title=f"gristmill benchmarks — {platform.node()}, {time.strftime('%Y-%m-%d')}, "
                        f"{__import__('os').cpu_count()} cores", title_justify="left")
    for col in ("benchmark", "measure", "gristmill", "baseline", "ratio", "target", "verdict"):
        table.add_column(col)
    failed = False
    for script in scripts:
        for row in run_one(script):
            failed |= "error" in row
            if "error" in row:
                table.add_row(row["name"], "", "", "", "", "", verdict(row))
                continue
            arrow = "≥" if row["higher_is_better"] else "≤"
            table.add_row(row["name"], row.get("measure", ""), f"{row['gristmill']:.4g} {row.get('unit', '')}",
                          f"{row['baseline']:.4g} {row.get('unit', '')}", f"{row['ratio']:.3f}",
                          f"{arrow} {row['target']}", verdict(row))
    Console().print(table)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
