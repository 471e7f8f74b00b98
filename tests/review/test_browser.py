"""The review app in a real headless Chromium: keyboard review, a caption fix, a reload, and `gristmill query`.

Needs Debian's chromium (/usr/bin/chromium; as root the fixture installs it with apt-get when missing).
Screenshots of every page go to artifacts/review/ (git-ignored).
"""
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import pytest

from gristmill.cli import main
from tests.review.workspaces import small_workspace

ROOT = Path(__file__).parents[2]
ARTIFACTS = ROOT / "artifacts" / "review"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--no-first-run"]
SERVE = ("import sys, argparse; from gristmill.commands import review; p = argparse.ArgumentParser(); "
         "review.add_arguments(p); sys.exit(review.run(p.parse_args(sys.argv[1:])))")


def _chromium() -> str:
    if not Path(CHROMIUM).exists():
        if os.geteuid() != 0 or not shutil.which("apt-get"):
            pytest.fail(f"{CHROMIUM} is missing; install it with: apt-get install -y chromium")
        subprocess.run("apt-get update -q && apt-get install -y -q chromium", shell=True, check=True,
                       stdout=subprocess.DEVNULL)
    return CHROMIUM


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def serving(ws, *flags: str) -> Iterator[str]:
    """`gristmill review` of `ws` (with `flags`) on a free loopback port, until the block ends; yields its URL."""
    port = _free_port()
    server = subprocess.Popen([sys.executable, "-c", SERVE, str(ws.root), "--port", str(port), *flags], cwd=ROOT,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            urllib.request.urlopen(f"{url}/_stcore/health", timeout=1)
            break
        except OSError:
            if server.poll() is not None or time.monotonic() > deadline:
                server.kill()
                pytest.fail(f"the review app did not start:\n{server.stdout.read().decode()}")
            time.sleep(0.2)
    try:
        yield url
    finally:
        server.terminate()
        server.wait(10)


@pytest.fixture
def app(tmp_path):
    ws = small_workspace(tmp_path / "ws", n=30)
    with serving(ws, "--reviewer", "browser") as url:
        yield ws, url


def _accepted(page) -> int:
    return page.get_by_text("accepted", exact=True).count()


def test_keyboard_review_caption_fix_and_reload_persist(app, capsys):
    from playwright.sync_api import expect, sync_playwright

    ws, url = app
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=_chromium(), args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(f"{url}/review_queue")
        expect(page.get_by_role("button", name="Accept")).to_be_visible(timeout=30_000)
        page.screenshot(path=ARTIFACTS / "review_queue.png", full_page=True)
        for n in range(1, 4):
            page.get_by_role("heading", name="Review queue").click()  # keyboard focus on the page, not a field
            page.keyboard.press("a")
            expect(page.get_by_text("accepted", exact=True)).to_have_count(n, timeout=15_000)
        caption = page.get_by_label("caption", exact=True)
        expect(caption).to_have_count(1, timeout=15_000)  # the previous sample's form is gone
        caption.fill("a browser-edited caption")
        page.get_by_role("button", name="Save caption").click()
        expect(page.get_by_text("a browser-edited caption", exact=True)).to_be_visible(timeout=15_000)
        page.screenshot(path=ARTIFACTS / "review_queue_after.png", full_page=True)

        page.reload()  # a new browser session: everything shown now comes from disk
        page.goto(f"{url}/")
        expect(page.get_by_text("3 / 0")).to_be_visible(timeout=30_000)
        page.screenshot(path=ARTIFACTS / "overview.png", full_page=True)
        for path, heading in [("threshold_tuner", "Threshold tuner"), ("search", "Search"),
                              ("reviewer_stats", "Reviewer stats")]:
            page.goto(f"{url}/{path}")
            expect(page.get_by_role("heading", name=heading)).to_be_visible(timeout=30_000)
            page.wait_for_timeout(1500)  # let charts and images finish drawing
            page.screenshot(path=ARTIFACTS / f"{path}.png", full_page=True)
        browser.close()

    capsys.readouterr()
    sql = ("SELECT count(*) FILTER (WHERE decision = 'accept') AS accepted, "
           "list(final_caption) FILTER (WHERE final_caption IS NOT NULL) AS captions, "
           "list(DISTINCT decision_reviewer) FILTER (WHERE decision IS NOT NULL) AS reviewers FROM review_state")
    assert main(["query", str(ws.root), sql, "--format", "json"]) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert result == {"accepted": 3, "captions": ["a browser-edited caption"], "reviewers": ["browser"]}
    for name in ("review_queue", "overview", "threshold_tuner", "search", "reviewer_stats"):
        assert (ARTIFACTS / f"{name}.png").stat().st_size > 10_000
