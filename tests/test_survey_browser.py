"""The survey page in a real headless Chromium (Debian's, driven by Playwright; nothing is downloaded).

The browser is looked for at $SURVEY_CHROMIUM or /usr/bin/chromium (scripts/install_browser.sh installs
it). Without it these tests are skipped, unless SURVEY_REQUIRE_BROWSER=1 (set by CI) makes that a failure.
"""
from __future__ import annotations

import json
import os
import shutil
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from survey_support import ServerProcess, labels, log_lines, make_survey

CHROMIUM = os.environ.get("SURVEY_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
# What a root process in a closed network needs: no sandbox (root), no GPU, no calls home.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-sync",
                 "--disable-background-networking", "--disable-component-update", "--disable-dev-shm-usage"]
N = 8


def _missing() -> str | None:
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "playwright is not installed (pip install playwright)"
    if not os.access(CHROMIUM, os.X_OK):
        return f"no Chromium at {CHROMIUM} (bash scripts/install_browser.sh, or set SURVEY_CHROMIUM)"
    return None


@pytest.fixture(scope="module")
def browser():
    reason = _missing()
    if reason:
        if os.environ.get("SURVEY_REQUIRE_BROWSER") == "1":
            pytest.fail(f"SURVEY_REQUIRE_BROWSER=1 but {reason}")
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield b
        b.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 900, "height": 820})
    page = context.new_page()
    problems: list[str] = []
    page.on("pageerror", lambda err: problems.append(str(err)))
    page.on("console", lambda msg: problems.append(msg.text) if msg.type == "error" else None)
    page.problems = problems
    yield page
    context.close()


def current_image(page) -> str:
    """The id of the photo on screen, once it has loaded and the buttons are live."""
    page.wait_for_selector("#real:enabled")
    src = page.eval_on_selector("#photo", "img => img.complete && img.naturalWidth ? img.src : ''")
    return src.rsplit("/", 1)[1][:16]


def log_of(folder: Path) -> list[dict]:
    return [json.loads(line) for line in log_lines(folder)]


def test_a_whole_survey_by_mouse(tmp_path: Path, page):
    survey = make_survey(tmp_path, n=N, size=64)
    key = labels(survey)
    with ServerProcess(survey) as server:
        page.goto(server.url)
        assert page.inner_text("#count") == str(N) and page.is_visible("#start")
        assert page.is_hidden("#question")
        page.click("#start")
        shown, expected_score = [], 0
        for i in range(N):
            image = current_image(page)
            assert page.inner_text("#progress") == f"Photo {i + 1} of {N}"
            assert page.eval_on_selector("#photo", "img => img.naturalWidth") == 64
            answer = key[image] if i % 3 else ("fake" if key[image] == "real" else "real")  # every third wrong
            expected_score += answer == key[image]
            shown.append((image, answer))
            page.click(f"#{answer}")
            if i < N - 1:
                page.wait_for_selector(f"#progress:text-is('Photo {i + 2} of {N}')")
        page.wait_for_selector("#done:not([hidden])")
        assert page.inner_text("#score") == f"{expected_score} / {N}"
        page.screenshot(path=str(tmp_path / "done.png"))
        server.stop()

    records = log_of(survey)
    start, answers = records[0], records[1:]
    assert [image for image, _ in shown] == start["order"]  # the page showed the server's order, one by one
    assert [(r["image"], r["answer"]) for r in answers] == shown
    assert all(isinstance(r["ms"], int) and r["ms"] >= 0 for r in answers)
    assert page.problems == []


def test_keys_double_presses_reload_and_a_server_restart(tmp_path: Path, page):
    survey = make_survey(tmp_path, n=N)
    with ServerProcess(survey) as server:
        page.goto(server.url)
        page.click("#start")
        first = current_image(page)
        page.keyboard.press("r")
        second = current_image(page)
        assert second != first
        # two key presses in one instant (a double click): one answer, the second press is ignored
        page.evaluate("() => { for (const k of ['f', 'f']) "
                      "document.dispatchEvent(new KeyboardEvent('keydown', {key: k})); }")
        third = current_image(page)
        assert [(r["image"], r["answer"]) for r in log_of(survey)[1:]] == [(first, "real"), (second, "fake")]

        page.reload()  # the respondent comes back: same photo, same place
        assert current_image(page) == third and page.inner_text("#progress") == f"Photo 3 of {N}"

        port = server.port
        server.kill()  # the server dies mid-survey
        page.click("#real")
        page.wait_for_selector("#error:not([hidden])")
        assert "cannot be reached" in page.inner_text("#error")
        with ServerProcess(survey, port=port) as again:
            page.reload()
            assert current_image(page) == third  # nothing was stored for the failed click
            page.click("#fake")
            assert current_image(page) != third
            again.stop()
    records = log_of(survey)
    assert len(records) == 4 and records[-1]["image"] == third and records[-1]["answer"] == "fake"
    assert [p for p in page.problems if "ERR_CONNECTION_REFUSED" not in p] == []


def test_next_respondent_and_separate_orders(tmp_path: Path, browser, page):
    survey = make_survey(tmp_path, n=N)
    with ServerProcess(survey) as server:
        page.goto(server.url)
        page.click("#start")
        for _ in range(N):
            current_image(page)
            page.keyboard.press("f")
            page.wait_for_selector("#real:enabled, #done:not([hidden])")
        page.wait_for_selector("#done:not([hidden])")
        page.reload()  # a finished respondent sees their score again, not a new survey
        page.wait_for_selector("#done:not([hidden])")
        page.click("#again")
        page.click("#start")
        shown = [current_image(page)]
        other = browser.new_context()  # someone else, at the same time
        other_page = other.new_page()
        other_page.goto(server.url)
        other_page.click("#start")
        shown.append(current_image(other_page))
        other.close()
        server.stop()
    starts = [r for r in log_of(survey) if r["event"] == "start"]
    assert len(starts) == 3 and len({r["respondent"] for r in starts}) == 3
    # Each page follows its own respondent's order. (The server draws the orders from the system's entropy;
    # two of 8! alike happen by chance, once in some 13,000 runs: test_survey_server checks the draws, seeded.)
    images = sorted(json.loads((survey / "survey.json").read_text())["images"])
    assert all(sorted(r["order"]) == images for r in starts)
    assert shown == [starts[1]["order"][0], starts[2]["order"][0]]


def test_exposure_time_hides_the_photo(tmp_path: Path, page):
    survey = make_survey(tmp_path, n=4, exposure_ms=300)
    # The page's timers run on a clock that only this test moves: the photo's 0.3 s do not pass while a
    # busy machine is slow to answer the checks below.
    start = datetime(2024, 1, 1)
    page.clock.install(time=start)
    page.clock.pause_at(start + timedelta(seconds=1))
    with ServerProcess(survey) as server:
        page.goto(server.url)
        assert "shown for 0.3 s" in page.inner_text("#intro")
        page.click("#start")
        current_image(page)
        page.clock.run_for(299)
        assert page.is_visible("#photo")
        page.clock.run_for(1)
        assert not page.is_visible("#photo") and page.is_enabled("#real")  # gone, and still to be answered
        page.click("#real")
        current_image(page)
        assert page.is_visible("#photo")
        server.stop()
