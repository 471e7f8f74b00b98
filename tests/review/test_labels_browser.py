"""The Labels page in a real headless Chromium: a number key labels the focused sample, for the reviewer of the
session (needs /usr/bin/chromium, as tests/review/test_browser.py). A screenshot goes to artifacts/review/."""
import time

from curation.labels import queues
from curation.reviews import read_events
from tests.review.label_workspace import VOCABULARY, labelled_workspace
from tests.review.test_browser import ARTIFACTS, CHROMIUM_ARGS, _chromium, serving


def _label_events(ws) -> list[dict]:
    """Wait (up to 30 s) for a label event of the browser's reviewer in the log; its label events."""
    deadline = time.monotonic() + 30
    while not (found := [e for e in read_events(ws).table.to_pylist()
                         if e["action"] == "label" and e["reviewer"] == "browser"]):
        assert time.monotonic() < deadline, "no label event reached the log"
        time.sleep(0.2)
    return found


def test_a_number_key_labels_the_focused_sample(tmp_path):
    from playwright.sync_api import expect, sync_playwright

    ws = labelled_workspace(tmp_path / "ws", n=30)
    first = queues.uncertain(ws, "animal", 1)[0].sample_id  # the page opens focused on the queue's first sample
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with serving(ws, "--reviewer", "browser") as url, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=_chromium(), args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(f"{url}/labels")
        expect(page.get_by_role("button", name="Accept proposal")).to_be_visible(timeout=30_000)
        page.get_by_role("heading", name="Labels").click()  # keyboard focus on the page, not a field
        page.keyboard.press("2")
        events = _label_events(ws)
        expect(page.get_by_text("human label:", exact=False).first).to_be_visible(timeout=15_000)
        page.screenshot(path=ARTIFACTS / "labels.png", full_page=True)
        browser.close()
    assert [(e["sample_id"], e["label_field"], e["label_value"]) for e in events] == \
        [(first, "animal", VOCABULARY.field("animal").class_names[1])]
