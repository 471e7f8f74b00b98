"""Two reviewers signed in by a proxy header work one queue in a real headless Chromium (two browser contexts,
one `gristmill review --auth-header` server): their samples are disjoint and the log names who clicked."""
import subprocess
import sys
import time
import urllib.request

import pytest

from curation.catalog import Catalog
from curation.reviews import read_events
from labeling_ui import queues
from labeling_ui.queues import QueueSpec
from tests.review.test_browser import CHROMIUM_ARGS, ROOT, SERVE, _chromium, _free_port
from tests.review.workspaces import small_workspace

HEADER = "X-Forwarded-User"


@pytest.fixture
def app(tmp_path):
    ws = small_workspace(tmp_path / "ws", n=30)
    port = _free_port()
    server = subprocess.Popen([sys.executable, "-c", SERVE, str(ws.root), "--port", str(port), "--auth-header",
                               HEADER, "--admins", "alice"], cwd=ROOT, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    while True:
        try:
            urllib.request.urlopen(f"{url}/_stcore/health", timeout=1)
            break
        except OSError:
            if server.poll() is not None:
                pytest.fail(f"the review app did not start:\n{server.stdout.read().decode()}")
            time.sleep(0.2)
    yield ws, url
    server.terminate()
    server.wait(10)


def _wait_for_accepts(ws, reviewer: str, n: int) -> None:
    """Wait until the review log holds `n` accepts by `reviewer` (the page may also show others' decisions)."""
    deadline = time.monotonic() + 30
    while True:
        events = read_events(ws).table.to_pylist()
        if sum(e["reviewer"] == reviewer and e["action"] == "accept" for e in events) >= n:
            return
        assert time.monotonic() < deadline, f"{reviewer}'s accept number {n} never reached the log"
        time.sleep(0.2)


def test_two_reviewers_signed_in_by_the_proxy_get_disjoint_samples(app):
    from playwright.sync_api import expect, sync_playwright

    ws, url = app
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=_chromium(), args=CHROMIUM_ARGS)
        pages = {}
        for name, role in (("alice", "admin"), ("bob", "reviewer")):
            context = browser.new_context(extra_http_headers={HEADER: name}, viewport={"width": 1400, "height": 1000})
            page = context.new_page()
            page.goto(f"{url}/review_queue")
            expect(page.get_by_role("button", name="Accept")).to_be_visible(timeout=30_000)
            expect(page.get_by_text(f"signed in as {name} ({role})")).to_be_visible(timeout=15_000)
            pages[name] = page
        for n in range(1, 3):
            for name, page in pages.items():
                page.get_by_role("heading", name="Review queue").click()
                page.keyboard.press("a")
                _wait_for_accepts(ws, name, n)
        anonymous = browser.new_page()  # no header: nobody is signed in
        anonymous.goto(f"{url}/review_queue")
        expect(anonymous.get_by_text(f"did not name a reviewer in the {HEADER} header")).to_be_visible(timeout=30_000)
        browser.close()

    catalog = Catalog(ws)
    decided = catalog.query("SELECT reviewer, list(sample_id) AS ids FROM reviews WHERE action = 'accept' "
                            "GROUP BY 1 ORDER BY 1").to_pylist()
    assert [(r["reviewer"], len(r["ids"])) for r in decided] == [("alice", 2), ("bob", 2)]
    queues.build(catalog, QueueSpec("audit"), reviewer="nobody")
    rows = catalog.con.execute("SELECT sample_id FROM ui.queue WHERE reviews_wanted = 2").fetchall()
    twice = {sid for (sid,) in rows}
    shared = set(decided[0]["ids"]) & set(decided[1]["ids"])
    assert shared <= twice, "a sample outside the double-reviewed share went to both reviewers"
