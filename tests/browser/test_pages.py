"""The status pages in headless Chromium: screenshots of every page type at 375 and 1280
px in light and dark, no console errors, no sideways scrolling on a phone, live updates
without a reload, keyboard tooltips, and axe-core's serious/critical rules."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.browser.conftest import LiveServer
from upstate.domain.enums import Status

PAGES = {
    "page": "/s/main",
    "history": "/s/main/history",
    "incident": "/s/main/incidents/inc-open",
    "heatmap": "/s/main/heatmap",
    "login": "/s/team/login",
    "french": "/s/docs",
}
WIDTHS = (375, 1280)
SCHEMES = ("light", "dark")


@pytest.fixture
def open_page(browser: Any, live_server: LiveServer) -> Iterator[Any]:
    """A function opening a path in a fresh context; console errors are collected."""
    contexts = []

    def open_(path: str, width: int = 1280, scheme: str = "light") -> tuple[Any, list[str]]:
        context = browser.new_context(viewport={"width": width, "height": 900}, color_scheme=scheme)
        contexts.append(context)
        page = context.new_page()
        errors: list[str] = []
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.on(
            "response",
            lambda r: errors.append(f"{r.status} {r.url}") if r.status >= 400 else None,
        )
        page.goto(live_server.url + path)
        return page, errors

    yield open_
    for context in contexts:
        context.close()


@pytest.mark.parametrize("scheme", SCHEMES)
@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("name", list(PAGES))
def test_it_looks_right(open_page: Any, shots: Path, name: str, width: int, scheme: str) -> None:
    page, errors = open_page(PAGES[name], width, scheme)
    page.wait_for_timeout(150)
    shot = shots / f"{name}-{width}-{scheme}.png"
    page.screenshot(path=str(shot), full_page=True)
    print(f"screenshot: {shot}")
    assert errors == []
    assert page.evaluate("document.documentElement.scrollWidth") <= width  # no sideways scroll
    background = page.evaluate("getComputedStyle(document.body).backgroundColor")
    dark = scheme == "dark" or name == "french"  # the docs page forces its dark theme
    assert (background == "rgb(13, 17, 23)") is dark


def test_it_updates_live_without_a_reload(open_page: Any, live_server: LiveServer) -> None:
    page, errors = open_page("/s/main")
    status = "document.getElementById('c-main.search').querySelector('.st').textContent"
    assert "Operational" in page.evaluate(status)
    page.evaluate("window.__notReloaded = true")
    page.wait_for_timeout(1500)  # the stream is open and the watch has seen the page
    live_server.set_status("search", Status.DOWN)
    try:
        page.wait_for_function(f"{status}.includes('Major outage')", timeout=10_000)
        assert page.evaluate("window.__notReloaded") is True
    finally:
        live_server.set_status("search", Status.UP)
    assert errors == []


def test_it_shows_a_day_on_keyboard_focus(open_page: Any) -> None:
    page, _ = open_page("/s/main")
    page.focus("#c-main\\.database .bars")
    tip = page.locator(".tip")
    assert "100%" in tip.inner_text()  # today, a quiet day
    for _ in range(20):  # back to 22 Feb, the failover: two hours down
        page.keyboard.press("ArrowLeft")
    # The script moves the tip on its next frame: wait for it rather than race it.
    page.wait_for_function(
        "document.querySelector('.tip').innerText.includes('22 Feb 2026')", timeout=5000
    )
    text = tip.inner_text()
    assert "22 Feb 2026" in text
    assert "2 h 0 min down" in text
    assert "Database failover" in text
    page.keyboard.press("Escape")
    assert not tip.is_visible()


@pytest.mark.parametrize("scheme", SCHEMES)
@pytest.mark.parametrize("name", list(PAGES))
def test_it_has_no_serious_accessibility_violations(
    open_page: Any, axe_script: str, name: str, scheme: str
) -> None:
    page, _ = open_page(PAGES[name], 1280, scheme)
    page.add_script_tag(content=axe_script)
    result = page.evaluate("axe.run(document, {resultTypes: ['violations']})")
    serious = [
        f"{v['id']} ({v['impact']}): {v['help']} at {[n['target'] for n in v['nodes'][:3]]}"
        for v in result["violations"]
        if v["impact"] in ("serious", "critical")
    ]
    assert serious == []
