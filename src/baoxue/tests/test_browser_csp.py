"""The Content-Security-Policy breaks nothing (issue 22 §8): Chromium walks the main pages of
the demo as the office and the administrator, uses the dashboard's charts, the htmx search and
the confirm dialogs, and reports no CSP violation."""

from __future__ import annotations

from playwright.sync_api import expect

from baoxue.tests.test_browser import (  # noqa: F401 (fixtures)
    _login,
    _needs_chromium_libraries,
    browser,
    pytestmark,
)

PAGES = [
    "/",
    "/cases/",
    "/cases/mine/",
    "/cases/dashboard/",
    "/children/",
    "/villages/",
    "/schools/",
    "/discrepancies/",
    "/imports/",
    "/reconcile/",
    "/visits/",
    "/visits/mine/",
    "/visits/app/",
    "/accounts/password/",
]


def _watch(page) -> list[str]:
    refused: list[str] = []

    def console(message) -> None:
        if "Content Security Policy" in message.text:
            where = message.location.get("url", "")
            refused.append(f"{page.url} ({where}): {message.text[:120]}")

    page.on("console", console)
    page.on("pageerror", lambda error: refused.append(f"{page.url}: page error: {error}"))
    return refused


def test_pages_run_under_the_policy(demo_server, browser):  # noqa: F811 (browser: a fixture)
    page = _login(browser, demo_server, "office", {"width": 1366, "height": 768})
    refused = _watch(page)
    for path in PAGES:
        response = page.goto(demo_server + path)
        assert response is not None and response.ok, path
        assert "default-src 'self'" in response.headers["content-security-policy"]
    # The dashboard's charts draw (a canvas each) and show their tooltips.
    page.goto(demo_server + "/cases/dashboard/")
    page.wait_for_selector("#chart-states canvas")
    box = page.locator("#chart-states").bounding_box()
    assert box is not None
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.wait_for_timeout(300)
    # htmx: the child search narrows the list without a page load.
    page.goto(demo_server + "/children/")
    with page.expect_response(lambda r: "/children/" in r.url):
        page.fill("#id_q", "吴")
    # htmx pushes the searched address after its swap; Playwright counts that history entry as
    # a navigation, so wait for it before the language form's real one.
    page.wait_for_url("**/children/?*q=*")
    # The language menu sends its form from the static script (no onchange attribute).
    page.select_option("[data-testid=language-menu]", "en")
    expect(page.locator("html")).to_have_attribute("lang", "en")
    page.select_option("[data-testid=language-menu]", "zh-hans")
    expect(page.locator("html")).to_have_attribute("lang", "zh-hans")
    assert refused == []
    page.close()


def test_the_admin_runs_under_the_policy(demo_server, browser):  # noqa: F811 (browser: a fixture)
    page = _login(browser, demo_server, "admin", {"width": 1366, "height": 768})
    refused = _watch(page)
    for path in ["/admin/", "/admin/accounts/user/", "/admin/accounts/user/add/"]:
        response = page.goto(demo_server + path)
        assert response is not None and response.ok, path
    assert refused == []
    page.close()
