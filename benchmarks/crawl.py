"""Crawl throughput: `gristmill crawl` vs plain `img2dataset` on the same list, same processes and threads.

Multi-threaded loopback fixture servers (in their own process), one on each of --hosts loopback addresses
(127.0.0.1, 127.0.0.2, ...; default 100), serve --n distinct URLs (default 5,000) dealt round-robin over the hosts,
backed by --pool distinct JPEGs (640x480 photos-like noise, about 60 KB each; the query string makes every URL
distinct).
Both tools run as their own CLI commands, wall-clock timed from start to exit (imports and worker start-up
included), resize to 256 px with the `border` mode and write WebDataset tars:
- baseline: `img2dataset --processes_count P --thread_count T --output_format webdataset --retries 0`;
- gristmill: `gristmill crawl --threads T`, in-process for P=1, else `--direct-running-mode multi_processing
  --direct-num-workers P` (P local worker processes, each running the Beam pipeline in memory over its own shards)
  (it additionally verifies every image, checks every address, de-duplicates and writes per-shard Parquet), with
  its per-host politeness at the defaults (4 connections and 5 requests/s per host and process, backoff, breaker),
  which img2dataset does not have.
Reports images/s for both, their ratio (target >= 1.0) and images/s per core, end to end; and, to separate fixed
start-up cost from per-image cost, the download phase alone (first shard start to last shard end, from
img2dataset's *_stats.json and gristmill's .done markers), and the CPU seconds each command used in all its
processes (less sensitive than wall time to other jobs on a shared machine). `--json` prints one JSON object.
"""
import argparse
import io
import json
import multiprocessing
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

TARGET = 1.0  # issue 16: politeness on at its defaults must not cost throughput against many hosts
BIN = Path(sys.executable).parent


def make_images(folder: Path, n: int) -> list[str]:
    """`n` distinct 640x480 JPEGs: smooth gradients plus noise, like small photos."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    names = []
    yy, xx = np.mgrid[0:480, 0:640]
    for i in range(n):
        base = (np.stack([xx * rng.uniform(0.1, 0.4), yy * rng.uniform(0.1, 0.5), (xx + yy) * 0.2], -1) % 256)
        img = np.clip(base + rng.normal(0, 12, base.shape), 0, 255).astype(np.uint8)
        buf = io.BytesIO()
        Image.fromarray(img).save(buf, "JPEG", quality=85)
        names.append(f"img_{i:04d}.jpg")
        (folder / names[-1]).write_bytes(buf.getvalue())
    return names


def serve(folder: str, hosts: int, ready, stop) -> None:
    """One fixture server per loopback address 127.0.0.1 .. 127.0.0.`hosts`; puts their base URLs on `ready`."""
    from contextlib import ExitStack

    from curation.synthetic.server import FixtureServer

    with ExitStack() as stack:
        servers = [stack.enter_context(FixtureServer(folder, host=f"127.0.0.{i + 1}")) for i in range(hosts)]
        ready.put([srv.base_url for srv in servers])
        stop.wait()


def write_list(path: Path, base_urls: list[str], names: list[str], n: int) -> None:
    rows = ["url,caption"] + [f"{base_urls[i % len(base_urls)]}/{names[i % len(names)]}?i={i},picture number {i}"
                              for i in range(n)]
    path.write_text("\n".join(rows) + "\n")


def timed(cmd: list[str], env: dict) -> tuple[float, float]:
    """Run `cmd`; (wall seconds, CPU seconds of it and every process it waited for)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise SystemExit(f"{cmd[0]} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    return elapsed, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def img2dataset_cmd(url_list: Path, out: Path, processes: int, threads: int) -> list[str]:
    return [str(BIN / "img2dataset"), "--url_list", str(url_list), "--input_format", "csv", "--url_col", "url",
            "--caption_col", "caption", "--output_format", "webdataset", "--output_folder", str(out),
            "--processes_count", str(processes), "--thread_count", str(threads), "--image_size", "256",
            "--resize_mode", "border", "--number_sample_per_shard", "1000", "--retries", "0", "--timeout", "10",
            "--disallowed_header_directives", '["noai","noimageai"]', "--enable_wandb", "False"]


def gristmill_cmd(url_list: Path, out: Path, processes: int, threads: int) -> list[str]:
    runner = ["--direct-running-mode", "multi_processing", "--direct-num-workers", str(processes)] if processes > 1 \
        else ["--direct-running-mode", "in_memory"]
    return [str(BIN / "gristmill"), "crawl", str(out), "--urls", str(url_list), "--allow-private-network", *runner,
            "--threads", str(threads), "--image-size", "256", "--resize-mode", "border", "--shard-size", "1000",
            "--retries", "0", "--timeout", "10", "--no-progress"]


def count_successes(tool: str, out: Path) -> int:
    if tool == "img2dataset":
        return sum(json.loads(p.read_text())["successes"] for p in out.glob("*_stats.json"))
    return json.loads((out / "reports" / "crawl.json").read_text())["successes"]


def download_phase_s(tool: str, out: Path) -> float:
    """Seconds from the first shard's start to the last shard's end (start-up and planning excluded)."""
    if tool == "img2dataset":
        stats = [json.loads(p.read_text()) for p in out.glob("*_stats.json")]
        return max(s["end_time"] for s in stats) - min(s["start_time"] for s in stats)
    stats = [json.loads(p.read_text()) for p in (out / "shards").glob("*.done")]
    return max(s["started_at"] + s["elapsed_s"] for s in stats) - min(s["started_at"] for s in stats)


def run(args) -> list[dict]:
    work = Path(tempfile.mkdtemp(prefix="gristmill-bench-crawl-"))
    env = dict(os.environ, NO_ALBUMENTATIONS_UPDATE="1", PYTHONPATH=str(ROOT))
    ctx = multiprocessing.get_context("spawn")
    ready, stop = ctx.Queue(), ctx.Event()
    names = make_images(work / "media", args.pool)
    server = ctx.Process(target=serve, args=(str(work / "media"), args.hosts, ready, stop), daemon=True)
    server.start()
    try:
        base_urls = ready.get(timeout=60)
        write_list(work / "list.csv", base_urls, names, args.n)
        return [compare(work, env, processes, args) for processes in args.processes]
    finally:
        stop.set()
        server.join(10)
        shutil.rmtree(work, ignore_errors=True)


def compare(work: Path, env: dict, processes: int, args) -> dict:
    """Both tools with `processes` processes, best of `args.repeats` runs each."""
    results, phases, cpu = {}, {}, {}
    for rep in range(args.repeats):
        for tool, build in (("img2dataset", img2dataset_cmd), ("gristmill", gristmill_cmd)):
            out = work / f"{tool}-{processes}-{rep}"
            seconds, cpu_s = timed(build(work / "list.csv", out, processes, args.threads), env)
            ok = count_successes(tool, out)
            if ok != args.n:
                raise SystemExit(f"{tool} downloaded {ok} of {args.n} images")
            results.setdefault(tool, []).append(args.n / seconds)
            phases.setdefault(tool, []).append(args.n / download_phase_s(tool, out))
            cpu.setdefault(tool, []).append(cpu_s)
            shutil.rmtree(out)
    ours, base = max(results["gristmill"]), max(results["img2dataset"])
    cores = os.cpu_count()
    return {"name": f"crawl ({processes} proc)",
            "measure": f"images/s, {args.n} images on {args.hosts} hosts, {processes} proc x {args.threads} threads",
            "unit": "img/s", "gristmill": ours, "baseline": base, "ratio": ours / base, "target": TARGET,
            "higher_is_better": True, "cores": cores, "gristmill_per_core": ours / cores,
            "baseline_per_core": base / cores, "runs": results,
            "download_phase": {"gristmill": max(phases["gristmill"]), "baseline": max(phases["img2dataset"]),
                               "ratio": max(phases["gristmill"]) / max(phases["img2dataset"])},
            "cpu_s": {"gristmill": min(cpu["gristmill"]), "baseline": min(cpu["img2dataset"])}}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=5000, help="URLs to crawl (default 5000)")
    parser.add_argument("--pool", type=int, default=200, help="distinct images behind them (default 200)")
    parser.add_argument("--hosts", type=int, default=100, choices=range(1, 255), metavar="1-254",
                        help="loopback hosts serving them, URLs dealt round-robin (default 100)")
    parser.add_argument("--processes", type=lambda t: [int(x) for x in t.split(",")], default=[1, os.cpu_count()],
                        help="comma-separated process counts, each run with both tools (default: 1,cores)")
    parser.add_argument("--threads", type=int, default=32, help="download threads per process (default 32)")
    parser.add_argument("--repeats", type=int, default=1, help="runs per tool, best kept (default 1)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    results = run(args)
    if args.json:
        print(json.dumps(results))
        return 0
    for result in results:
        print(f"{result['measure']}, {result['cores']} cores")
        print(f"  {'tool':<12}{'images/s':>10}{'per core':>10}")
        print(f"  {'img2dataset':<12}{result['baseline']:>10.1f}{result['baseline_per_core']:>10.1f}")
        print(f"  {'gristmill':<12}{result['gristmill']:>10.1f}{result['gristmill_per_core']:>10.1f}")
        verdict = "meets" if result["ratio"] >= TARGET else "BELOW"
        print(f"  ratio {result['ratio']:.3f} ({verdict} target >= {TARGET}), end to end")
        phase = result["download_phase"]
        print(f"  download phase only (start-up excluded): gristmill {phase['gristmill']:.1f} img/s, "
              f"img2dataset {phase['baseline']:.1f} img/s, ratio {phase['ratio']:.3f}")
        cpu = result["cpu_s"]
        print(f"  CPU time, all processes: gristmill {cpu['gristmill']:.1f} s, img2dataset {cpu['baseline']:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
