"""The visit app on a phone with no network, in Debian's Chromium against `baoxue serve --demo`:
the village cadre loads her households, the network goes, she records two visits with a photo
each, the phone is closed and opened again (still offline: both visits and their photos are
still there, not yet sent), her session lapses meanwhile, the network comes back, she is asked
to log in again, does, and the server then holds exactly two more visits of hers. Logging out
wipes what the phone kept.

Marked `browser`; the test command runs these after the rest of the suite.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from baoxue.tests.conftest import CHROMIUM_ARGS, PASSWORD
from baoxue.tests.test_browser import CHROMIUM

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not Path(CHROMIUM).exists() and not __import__("os").environ.get("CI"),
        reason="Chromium is not installed",
    ),
]
PHONE = {"width": 390, "height": 844}


def _photo(colour: str) -> dict[str, Any]:
    out = io.BytesIO()
    Image.new("RGB", (2400, 1800), colour).save(out, "JPEG", quality=95)
    return {"name": "IMG_2041.jpg", "mimeType": "image/jpeg", "buffer": out.getvalue()}


@pytest.fixture
def phone(tmp_path: Path) -> Iterator[Any]:
    """A phone's browser whose profile (IndexedDB, the service worker, cookies) outlives a
    restart: `phone.restart()` closes it and opens it again on the same profile."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:

        class Phone:
            context: Any = None

            def start(self) -> Any:
                self.context = playwright.chromium.launch_persistent_context(
                    str(tmp_path / "profile"),
                    executable_path=CHROMIUM,
                    args=CHROMIUM_ARGS,
                    viewport=PHONE,
                    locale="zh-CN",
                    is_mobile=True,
                    has_touch=True,
                )
                return self.context

            def restart(self) -> Any:
                self.context.close()
                return self.start()

        device = Phone()
        device.start()
        yield device
        device.context.close()


def _login(page: Any, base: str, next_url: str) -> None:
    page.goto(f"{base}/accounts/login/?next={next_url}")
    page.fill("#id_username", "village_a")
    page.fill("#id_password", PASSWORD)
    with page.expect_navigation():
        page.click("button[type=submit]")


def _visited(page: Any, base: str) -> int:
    page.goto(f"{base}/visits/mine/?status=visited")
    return int(page.get_by_test_id("result-count").get_attribute("data-total"))


def _record(page: Any, n: int) -> None:
    """Open the n-th household not yet visited and record a visit with one photo."""
    page.locator("[data-testid=offline-target]", has_text="未走访").nth(n).click()
    page.wait_for_selector("[data-testid=offline-form]:not(.d-none)")
    page.get_by_test_id("offline-photos").set_input_files(files=[_photo(["red", "blue"][n])])
    page.wait_for_selector("#photo-previews img")
    page.fill("#f_people_met", "孩子的奶奶")
    page.fill("#f_problems", "父母外出务工，孩子由奶奶照看")
    page.get_by_test_id("offline-save").click()
    page.wait_for_selector("[data-testid=offline-form].d-none", state="attached")


def test_visits_recorded_offline_survive_a_restart_and_a_lapsed_session_and_arrive_once(
    demo_server, phone
):
    base = demo_server
    page = phone.context.new_page()
    _login(page, base, "/visits/mine/")
    before = _visited(page, base)
    page.goto(f"{base}/visits/app/")
    page.wait_for_selector("[data-testid=offline-target]")
    # The service worker is in charge of the app page before the network goes.
    page.evaluate("() => navigator.serviceWorker.ready.then(() => true)")
    page.reload()
    page.wait_for_function("() => navigator.serviceWorker.controller !== null")
    page.wait_for_selector("[data-testid=offline-target]")

    phone.context.set_offline(True)
    page.reload()  # from the phone's cache
    page.wait_for_selector("[data-testid=offline-target]")
    assert page.get_by_test_id("net-state").inner_text() == "离线"
    _record(page, 0)
    _record(page, 0)  # the first one is now 未发送; the next household not yet visited
    assert page.get_by_test_id("outbox-count").inner_text() == "2"

    # The phone is switched off and on again, still without a network.
    context = phone.restart()
    context.set_offline(True)
    page = context.new_page()
    page.goto(f"{base}/visits/app/")
    page.wait_for_selector("[data-testid=outbox-item]")
    assert page.get_by_test_id("outbox-count").inner_text() == "2"
    assert page.locator("[data-testid=outbox-item]", has_text="1 张照片").count() == 2

    # The session lapsed meanwhile; the network comes back.
    context.clear_cookies()
    context.set_offline(False)
    page.get_by_test_id("sync").click()
    page.wait_for_selector("[data-testid=app-message] a")
    assert "登录已过期" in page.get_by_test_id("app-message").inner_text()
    assert page.get_by_test_id("outbox-count").inner_text() == "2"

    # She logs in again and the app sends what it kept: exactly two visits more.
    page.get_by_test_id("app-message").locator("a").click()
    page.fill("#id_username", "village_a")
    page.fill("#id_password", PASSWORD)
    with page.expect_navigation():
        page.click("button[type=submit]")
    page.wait_for_selector("#visit-app[data-synced]", state="attached", timeout=30000)
    assert page.get_by_test_id("outbox-count").inner_text() == "0"
    page.evaluate("() => document.getElementById('visit-app').removeAttribute('data-synced')")
    page.get_by_test_id("sync").click()  # a second sync sends nothing again
    page.wait_for_selector("#visit-app[data-synced]", state="attached", timeout=30000)
    assert _visited(page, base) == before + 2

    # Logging out wipes what the phone kept.
    page.goto(f"{base}/visits/app/")
    page.wait_for_selector("#visit-app[data-synced]", state="attached", timeout=30000)
    with page.expect_navigation():
        # The menu is folded on a phone: the form is sent as its button would send it.
        page.evaluate("() => document.querySelector('[data-wipe-offline]').requestSubmit()")
    kept = page.evaluate(
        "() => new Promise(r => { const q = indexedDB.open('baoxue-visits'); "
        "q.onupgradeneeded = () => { q.transaction.abort(); r('none'); }; "
        "q.onsuccess = () => { const n = q.result.objectStoreNames.length; "
        "q.result.close(); r(n ? 'kept' : 'none'); }; "
        "q.onerror = () => r('none'); })"
    )
    assert kept == "none"
