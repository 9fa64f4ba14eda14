"""The page in a real browser: Debian's headless Chromium driven by Playwright, against a running server.

A person types a question, sees the answer with its sentence marked, follows the link into the document
(scrolled to the marked span), meets the declined state, and does all of it with JavaScript off and on a
phone's width too. Screenshots go to the test's folder (``SPASMQA_SCREENSHOTS`` keeps them elsewhere).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import spasmqa
from tests.conftest import serving

pytest.importorskip("fastapi", reason="the page tests need `pip install 'spasmqa[serve]'`")
playwright = pytest.importorskip("playwright.sync_api", reason="the page tests need `pip install playwright`")

from spasmqa.server.app import create_app  # noqa: E402

CHROMIUM = Path(os.environ.get("SPASMQA_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_FLAGS = ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync"]
QUESTION = "why do my legs cramp at night"
UNCOVERED = "zqxv blorft wibbleton"


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not CHROMIUM.exists():
        pytest.fail(f"no Chromium at {CHROMIUM}: run `make browser` (apt-get install chromium) or set SPASMQA_CHROMIUM")
    with playwright.sync_playwright() as driver:
        launched = driver.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_FLAGS)
        yield launched
        launched.close()


@pytest.fixture(scope="module")
def url(index: spasmqa.Index) -> Iterator[str]:
    with serving(create_app(index)) as base:
        yield base


@pytest.fixture
def shots(tmp_path: Path) -> Path:
    folder = Path(os.environ.get("SPASMQA_SCREENSHOTS", tmp_path))
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def new_page(browser: Any, **options: Any) -> tuple[Any, list[str]]:
    """A page in a fresh context, and the script errors and dialogs (an alert() would be one) it meets."""
    page = browser.new_context(**options).new_page()
    page.set_default_timeout(120_000)  # a bound against a hang: the first reranked answer on a busy CI machine
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("dialog", lambda dialog: errors.append(f"dialog: {dialog.message}"))
    return page, errors


def test_a_typed_question_is_answered_in_place_with_its_sentence_marked(browser: Any, url: str, index: spasmqa.Index, shots: Path) -> None:
    page, errors = new_page(browser, viewport={"width": 1000, "height": 900})
    page.goto(url)
    page.get_by_label("Your question").fill(QUESTION)  # the box is found by its label, as a screen reader finds it
    page.keyboard.press("Enter")
    page.wait_for_selector(".passage mark")
    expected = index.ask(QUESTION, k=5)
    assert page.locator(".passage").count() == len(expected)
    assert page.locator(".passage h3").first.inner_text() == f"1. {expected[0].title} › {expected[0].section}"
    assert page.locator(".passage mark").first.inner_text().split() == expected[0].highlights[0].text.split()
    assert page.url == f"{url}/?q={QUESTION.replace(' ', '+')}"  # answered by script, the address still says what
    assert page.evaluate("document.activeElement.id") == "results"  # focus moves to the answers for a screen reader
    page.screenshot(path=str(shots / "answer.png"), full_page=True)
    assert errors == []


def test_the_link_opens_the_document_scrolled_to_the_marked_passage(browser: Any, url: str, index: spasmqa.Index, shots: Path) -> None:
    page, errors = new_page(browser, viewport={"width": 1000, "height": 700})
    page.goto(f"{url}/?q={QUESTION}")
    top = index.ask(QUESTION, k=5)[0]
    page.locator("a.in-document").first.click()
    page.wait_for_url("**/view/**#passage")
    marked = page.locator("mark#passage")
    assert marked.inner_text().split() == index.get_document(top.doc_id).text[top.start : top.end].split()
    assert page.locator("h1").inner_text() == top.title
    box, height = marked.bounding_box(), page.viewport_size["height"]
    assert box is not None and 0 <= box["y"] < height  # the marked passage is on screen, not below the fold
    page.screenshot(path=str(shots / "document.png"))
    page.get_by_text("Back to the answers").click()
    page.wait_for_selector(".passage")
    assert page.get_by_label("Your question").input_value() == QUESTION
    assert errors == []


def test_a_question_the_documents_do_not_cover_is_declined(browser: Any, url: str, shots: Path) -> None:
    page, errors = new_page(browser)
    page.goto(url)
    page.get_by_label("Your question").fill(UNCOVERED)
    page.get_by_role("button", name="Ask").click()
    page.wait_for_selector(".declined")
    assert page.locator(".declined h1").inner_text() == "These documents do not cover that"
    assert page.get_by_text("The closest passages, which are not answers").is_visible()
    assert page.locator(".passage mark").count() == 0
    page.screenshot(path=str(shots / "declined.png"), full_page=True)
    assert errors == []


def test_with_javascript_off_the_form_posts_and_the_answer_comes_back(browser: Any, url: str) -> None:
    page, errors = new_page(browser, java_script_enabled=False)
    page.goto(url)
    page.get_by_label("Your question").fill(QUESTION)
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert page.url == f"{url}/"  # a plain POST to /, no script involved
    assert page.locator(".passage mark").count() >= 1
    assert page.locator(".notice").first.is_visible()


def test_on_a_phone_nothing_scrolls_sideways_and_the_keyboard_reaches_everything(browser: Any, url: str, shots: Path) -> None:
    page, errors = new_page(browser, viewport={"width": 360, "height": 740}, is_mobile=True, has_touch=True)
    page.goto(f"{url}/?q={QUESTION}")
    assert page.evaluate("document.documentElement.scrollWidth") <= 360
    page.screenshot(path=str(shots / "phone.png"), full_page=True)
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "Skip to the answers"
    visited = set()
    for _ in range(12):
        page.keyboard.press("Tab")
        visited.add(page.evaluate("document.activeElement.id || document.activeElement.className || document.activeElement.tagName"))
    assert {"q", "in-document"} <= visited and "BUTTON" in visited
    assert errors == []
