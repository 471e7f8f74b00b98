"""One crawl at a time per workspace (a flock, released even by SIGKILL), and one set of output settings."""
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from curation.errors import GristmillError
from curation.workspace import Workspace
from tests.crawl.conftest import read_samples, run_crawl, write_list

HOLD_LOCK = textwrap.dedent("""
    import sys, time
    from pipelines.crawl.lock import crawl_lock
    with crawl_lock(sys.argv[1]):
        print("held", flush=True)
        time.sleep(600)
""")


@pytest.fixture
def url_list(corpus, server, tmp_path) -> str:
    images = [i for i in corpus.items if i.media_type == "image"][:3]
    return write_list(tmp_path / "list.parquet", [server.url(i.relpath) for i in images])


def test_second_crawl_is_refused_naming_the_holder_until_it_is_killed(tmp_path, url_list):
    ws = tmp_path / "ws"
    Workspace.init(ws)
    root = Path(__file__).resolve().parents[2]
    holder = subprocess.Popen([sys.executable, "-c", HOLD_LOCK, str(ws)], stdout=subprocess.PIPE, text=True,
                              cwd=root, env={**os.environ, "PYTHONPATH": str(root)})
    try:
        assert holder.stdout.readline() == "held\n"
        with pytest.raises(GristmillError, match=rf"already being crawled \(pid {holder.pid} on host .+, started "):
            run_crawl(ws, url_list)
    finally:
        os.kill(holder.pid, signal.SIGKILL)
        holder.wait()
    report = run_crawl(ws, url_list)
    assert report.samples == 3 and read_samples(ws).num_rows == 3


def test_other_output_settings_are_refused_listing_the_differences(tmp_path, url_list):
    ws = tmp_path / "ws"
    run_crawl(ws, url_list, image_size=64, encode_quality=90)
    with pytest.raises(GristmillError) as info:
        run_crawl(ws, url_list, image_size=128, encode_quality=80)
    message = str(info.value)
    assert "--image-size 64 (pinned) vs 128 (now)" in message and "--encode-quality 90 (pinned) vs 80 (now)" in message
    assert "encode-format" not in message and "new workspace" in message
    assert run_crawl(ws, url_list, image_size=64, encode_quality=90).samples == 3  # the pinned settings resume
