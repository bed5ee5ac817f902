"""`koodari serve` in a real browser: Debian's chromium driven by Playwright against a server in a subprocess."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import pytest

from tests.webserver import CHROMIUM, CHROMIUM_ARGS, Server, copy_study, make_study

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(not Path(CHROMIUM).exists(), reason=f"{CHROMIUM} is not installed")]


@pytest.fixture(scope="module")
def template(tmp_path_factory) -> Path:
    return make_study(tmp_path_factory.mktemp("web-browser"))


@pytest.fixture
def study(template, tmp_path) -> Path:
    return copy_study(template, tmp_path / "web.koodari")


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture(scope="module")
def shots(tmp_path_factory) -> Path:
    """Screenshots of each page: $KOODARI_SCREENSHOTS, or a folder under pytest's tmp."""
    folder = Path(os.environ.get("KOODARI_SCREENSHOTS") or tmp_path_factory.mktemp("screenshots"))
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def shown(page) -> str:
    return page.get_attribute("#panel", "data-unit")


def next_unit(page, before: str) -> str:
    page.wait_for_function("u => document.querySelector('#panel')?.dataset.unit !== u", arg=before)
    return shown(page)


def decisions(study: Path, coder: str = "anna") -> list[tuple]:
    conn = sqlite3.connect(study)
    rows = conn.execute("SELECT segment_id, action, suggestion_rank FROM decisions WHERE coder = ? ORDER BY id",
                        (coder,)).fetchall()
    conn.close()
    return rows


def active_codes(study: Path, coder: str = "anna") -> list[tuple]:
    conn = sqlite3.connect(study)
    rows = conn.execute("SELECT segment_id FROM reductions WHERE coder = ? AND retracted_by IS NULL ORDER BY id",
                        (coder,)).fetchall()
    conn.close()
    return [r[0] for r in rows]


def test_review_keys_transcript_and_pages_in_chromium(study, browser, shots):
    server = Server(study, "anna")
    try:
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        requests: list[str] = []
        page.on("request", lambda request: requests.append(request.url))
        page.goto(server.url)
        first = shown(page)
        assert first.isdigit()
        page.keyboard.press("Enter")  # accept suggestion 1
        second = next_unit(page, first)
        assert decisions(study) == [(int(first), "accept", 1)]  # committed as made
        page.keyboard.press("2")  # pick suggestion 2
        third = next_unit(page, second)
        assert decisions(study)[-1] == (int(second), "pick", 2)
        page.keyboard.press("u")  # undo: back to the unit it was about
        assert next_unit(page, third) == second
        page.wait_for_function("n => window.koodariTimings.length >= n", arg=3)  # two frames after the swap
        timings = page.evaluate("window.koodariTimings")
        assert [t["key"] for t in timings] == ["Enter", "2", "u"] and all(t["ms"] > 0 for t in timings)
        assert page.evaluate("performance.getEntriesByName('koodari-key').length") == 3
        page.reload()
        assert shown(page) == second  # the page shows what the study says, after a reload too
        assert decisions(study) == [(int(first), "accept", 1), (int(second), "pick", 2), (int(second), "undo", None)]
        assert active_codes(study) == [int(first)]  # the undone coding is retracted, not deleted
        page.screenshot(path=shots / "review.png", full_page=True)

        page.keyboard.press("?")
        assert page.is_visible("#help")
        page.keyboard.press("?")
        page.keyboard.press("/")  # search the tree by an inflected form, Enter, then a digit picks
        page.wait_for_selector("#dialog input[name=q]:focus")
        page.keyboard.type("työkavereilta")
        page.keyboard.press("Enter")
        page.wait_for_selector("#hits li")
        assert "työkavereiden tuki" in page.inner_text("#hits li >> nth=0")
        page.keyboard.press("1")
        fourth = next_unit(page, second)
        assert decisions(study)[-1] == (int(second), "search", None)

        page.goto(server.base + "/transcript")
        coded = page.locator(f"#u{first}")
        assert "coded" in coded.get_attribute("class")
        colour = coded.evaluate("e => getComputedStyle(e).backgroundColor")
        assert colour not in ("rgba(0, 0, 0, 0)", "transparent")
        assert "coder: anna" in coded.get_attribute("title") and "model v" in coded.get_attribute("title")
        assert "coded" not in page.locator(f"#u{fourth}").get_attribute("class")
        page.screenshot(path=shots / "transcript.png", full_page=True)
        coded.click()  # click to recode
        page.wait_for_selector(f"#panel[data-unit='{first}']")
        assert "recoding" in page.inner_text("#panel")

        from koodari.nlp.pipeline import FinnishPipeline
        from koodari.review import ReviewSession
        from koodari.store import Study

        with Study.open(study) as s:  # a second coder, so that the agreement page has something to draw
            ben = ReviewSession(s, "ben", FinnishPipeline(), background=False)
            for rank in (2, 1):
                ben.accept(ben.next_unit(), rank)
        for name, path in (("tree", "/tree"), ("agreement", "/agreement?reveal=1&coder=anna&coder=ben"),
                           ("model", "/model")):
            page.goto(server.base + path)
            page.screenshot(path=shots / f"{name}.png", full_page=True)

        page.goto(server.base + "/tree")  # a tree change by clicking: rename a subcategory
        page.click("a.cat:text-is('kiire')")
        page.fill("#editor form[data-op=rename] input[name=name]", "kiireen tuntu")
        page.screenshot(path=shots / "tree-edit.png", full_page=True)
        with page.expect_navigation():
            page.click("#editor form[data-op=rename] button")
        assert "change 1: renamed" in page.inner_text("#tree-message")
        assert page.locator("a.cat:text-is('kiireen tuntu')").count() == 1
        conn = sqlite3.connect(study)
        assert conn.execute("SELECT name FROM categories c JOIN tree_events e ON e.action = 'rename'"
                            " AND e.who = 'anna' WHERE c.id IN (SELECT category_id FROM reductions"
                            " WHERE reduction = 'kiire kuormittaa')").fetchall() == [("kiireen tuntu",)]
        conn.close()
        assert all(url.startswith(server.base) for url in requests)  # offline: nothing leaves the machine
        assert {p.name for p in shots.glob("*.png")} >= {"review.png", "transcript.png", "tree.png",
                                                          "agreement.png", "model.png"}
    finally:
        output = server.stop()
    assert "Traceback" not in output
