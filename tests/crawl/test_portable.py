"""The crawl under Beam's PortableRunner with a separate worker pool (job service + EXTERNAL environment)."""
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.crawl.conftest import read_samples, run_crawl

VENV_BIN = str(Path(sys.executable).parent)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port: int, proc: subprocess.Popen, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, f"service exited: {proc.communicate()}"
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.2)
    raise TimeoutError(f"nothing listening on port {port}")


@pytest.fixture
def portable_services(tmp_path):
    """A local job service and a worker pool, as subprocesses; the pool starts `python` from PATH."""
    env = dict(os.environ, PATH=f"{VENV_BIN}:{os.environ['PATH']}",
               PYTHONPATH=str(Path(__file__).resolve().parents[2]))
    job_port, pool_port = free_port(), free_port()
    commands = [
        [sys.executable, "-m", "apache_beam.runners.portability.local_job_service_main", "--port", str(job_port)],
        [sys.executable, "-m", "apache_beam.runners.worker.worker_pool_main", "--service_port", str(pool_port)],
    ]
    procs = [subprocess.Popen(c, env=env, stdout=subprocess.DEVNULL, stderr=(tmp_path / f"svc{i}.log").open("w"))
             for i, c in enumerate(commands)]
    try:
        for port, proc in zip((job_port, pool_port), procs):
            wait_for_port(port, proc)
        yield [f"--job_endpoint=localhost:{job_port}", "--environment_type=EXTERNAL",
               f"--environment_config=localhost:{pool_port}"]
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.wait(timeout=30)


def test_portable_runner_crawls_end_to_end(corpus, server, tmp_path, portable_services):
    url_list = str(corpus.write_url_list(server.base_url, tmp_path / "list.tsv", "tsv"))
    report = run_crawl(tmp_path / "portable", url_list, runner="PortableRunner", beam_args=portable_services)
    assert report.samples == len(corpus.items) and report.successes == len(corpus.items)
    run_crawl(tmp_path / "direct", url_list)
    cols = ["sample_id", "status", "sha256", "width", "height", "shard", "media_size"]
    assert read_samples(tmp_path / "portable").select(cols) == read_samples(tmp_path / "direct").select(cols)
