"""End to end in Debian's Chromium: the README's first command (`baoxue serve --demo`) in a
subprocess, driven by Playwright as a village cadre.

Marked `browser`; the test command runs these after the rest of the suite.
"""

from __future__ import annotations

import os
import re
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from baoxue.tests.conftest import CHROMIUM_ARGS, PASSWORD

CHROMIUM = os.environ.get("BAOXUE_CHROMIUM", "/usr/bin/chromium")
# Set to refresh the README's screenshot (docs/screenshots); otherwise it goes to a temp dir.
SCREENSHOT_DIR = os.environ.get("BAOXUE_SCREENSHOT_DIR", "")

pytestmark = [
    pytest.mark.browser,
    # Skipped on a developer's machine without Chromium; in CI (which installs it) a missing
    # browser fails the run instead of passing it silently.
    pytest.mark.skipif(
        not Path(CHROMIUM).exists() and not os.environ.get("CI"),
        reason="Chromium is not installed",
    ),
]


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=CHROMIUM_ARGS,
        )
        yield instance
        instance.close()


def _login(browser, base_url: str, username: str, viewport: dict[str, int]):
    page = browser.new_page(viewport=viewport, locale="zh-CN")
    page.goto(base_url + "/")
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(lambda url: "/accounts/login" not in url)
    return page


def _open_form(page, to: str) -> None:
    """Open a transition's form and wait until Bootstrap's collapse has finished: a box
    ticked while the form is still sliding open can miss (seen on a loaded machine)."""
    page.click(f"[data-testid=open-{to}]")
    page.wait_for_selector(f"#move-{to}.show:not(.collapsing)")


def _post(page, selector: str) -> None:
    """Click a form's submit button and wait for the page the post answers with: a selector
    waited for afterwards could otherwise match the old page (and the next form filled there
    would post a stale version)."""
    with page.expect_navigation():
        page.click(selector)


def test_village_cadre_searches_and_sees_only_their_village(demo_server, browser, tmp_path):
    page = _login(browser, demo_server, "village_a", {"width": 1366, "height": 768})
    # A village cadre's work starts from their own cases.
    assert page.url == demo_server + "/cases/mine/"
    page.goto(demo_server + "/")
    total = int(page.get_by_test_id("count-total").inner_text().replace(",", ""))
    assert total > 50
    village_rows = page.get_by_test_id("count-row")
    # Home counts: the village table has exactly one village, theirs.
    assert "乌岭村" in village_rows.first.inner_text()
    shots = Path(SCREENSHOT_DIR) if SCREENSHOT_DIR else tmp_path
    shots.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(shots / "home.png"), full_page=True)

    page.click("text=儿童名册")
    page.fill("#id_q", "w")
    page.keyboard.press("Enter")
    page.wait_for_selector("[data-testid=child-row]")
    rows = page.get_by_test_id("child-row")
    assert rows.count() > 0
    for i in range(rows.count()):
        cells = rows.nth(i).locator("td")
        assert cells.nth(4).inner_text() == "乌岭村"
        # The ID column shows masked numbers only.
        id_text = cells.nth(3).inner_text()
        assert id_text == "—" or "********" in id_text or "*" in id_text

    # Typing narrows the list through htmx without a page load.
    first_name = rows.first.locator("td").first.inner_text()
    page.fill("#id_q", first_name)
    page.wait_for_function(
        "n => [...document.querySelectorAll('[data-testid=child-row] td:first-child')]"
        ".every(td => td.innerText.startsWith(n))",
        arg=first_name,
    )
    rows.first.locator("a").click()
    page.wait_for_selector("[data-testid=child-name]")
    assert page.get_by_test_id("child-name").inner_text() == first_name
    page.close()


def test_other_village_child_is_404_for_the_cadre(demo_server, browser):
    office = _login(browser, demo_server, "office", {"width": 1366, "height": 768})
    office.goto(demo_server + "/children/?village=" + _village_id(office, "高岜村"))
    link = office.get_by_test_id("child-row").first.locator("a").get_attribute("href")
    office.close()
    cadre = _login(browser, demo_server, "village_a", {"width": 390, "height": 844})
    response = cadre.goto(demo_server + link)
    assert response is not None and response.status == 404
    cadre.close()


def _village_id(page, name: str) -> str:
    page.goto(page.url.split("/children")[0] + "/villages/")
    href = page.locator("a", has_text=name).first.get_attribute("href")
    match = re.search(r"/villages/(\d+)/", href or "")
    assert match, href
    return match.group(1)


def test_phone_layout_has_a_menu_and_no_horizontal_scroll(demo_server, browser):
    page = _login(browser, demo_server, "teacher", {"width": 390, "height": 844})
    assert page.locator(".navbar-toggler").is_visible()
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390
    page.close()


@pytest.fixture(scope="module", autouse=True)
def _needs_chromium_libraries() -> None:
    if (
        shutil.which("chromium") is None
        and not Path(CHROMIUM).exists()
        and not os.environ.get("CI")
    ):
        pytest.skip("Chromium missing")


def test_office_runs_a_reconciliation_and_follows_up_the_list(demo_server, browser):
    page = _login(browser, demo_server, "office", {"width": 1366, "height": 768})
    page.click("text=比对")
    assert page.get_by_test_id("run-row").count() >= 1  # the demo's first run
    page.click("[data-testid=start-run]")
    # The run goes to the background worker; the page shows its progress, then the result.
    page.wait_for_selector("[data-testid=category-counts]", timeout=60_000)
    suspected = int(page.get_by_test_id("count-suspected").locator(".fs-4").inner_text())
    assert suspected >= 3
    assert "新增 0 名" in page.get_by_test_id("run-changes").inner_text()  # same data as before
    page.get_by_test_id("count-suspected").click()
    rows = page.get_by_test_id("result-row")
    assert rows.count() == min(suspected, 50)
    assert "*" in rows.first.locator(".id-masked").inner_text()  # masked in lists
    with page.expect_download() as download:
        page.click("[data-testid=ledger-suspected]")
    assert download.value.suggested_filename.startswith("suspected-")
    page.close()


def test_office_imports_a_roster_with_progress_and_preview(demo_server, browser, tmp_path):
    from datetime import date, timedelta

    from baoxue.core.idnumbers import check_character
    from baoxue.imports.tests.helpers import ROSTER_HEADER, write_xlsx

    rows: list[list[object]] = [ROSTER_HEADER]
    for i in range(3000):
        birth = date(2012, 1, 1) + timedelta(days=i % 2000)
        first17 = f"450226{birth:%Y%m%d}{(i // 2000) * 2 + 1:03d}"
        rows.append(
            [
                f"龙{i}",
                "男",
                first17 + check_character(first17),
                birth.isoformat(),
                "苗族",
                "乌岭村",
                "上寨屯",
                "",
                "",
                "",
                "",
                "非留守",
            ]
        )
    rows.append(["坏行", "男", 4.5e17, "2015-01-01", "苗族", "乌岭村", "", "", "", "", "", ""])
    path = write_xlsx(tmp_path / "乌岭村户籍名册.xlsx", rows, title="乌岭村适龄儿童名册")

    page = _login(browser, demo_server, "office", {"width": 1366, "height": 768})
    page.click("text=数据导入")
    page.select_option("#id_source", "roster")
    page.set_input_files("#id_file", str(path))
    page.click("[data-testid=upload-form] button[type=submit]")
    page.wait_for_selector("[data-testid=mapping-form]")
    assert page.locator("#id_col_0").input_value() == "name"  # recognised automatically
    page.click("[data-testid=validate]")
    # The validation runs in the background worker; the page shows its progress bar.
    page.wait_for_selector("[data-testid=progress]", timeout=15_000)
    page.wait_for_selector("[data-testid=preview-counts]", timeout=60_000)
    assert page.get_by_test_id("count-created").inner_text() == "3000"
    assert page.get_by_test_id("count-rejected").inner_text() == "1"
    assert "文本" in page.locator("[data-testid=issue-row]").first.inner_text()
    with page.expect_download() as download:
        page.click("[data-testid=download-errors]")
    assert download.value.suggested_filename.endswith(".xlsx")
    page.click("[data-testid=commit]")
    page.wait_for_selector("text=已于", timeout=60_000)
    assert page.get_by_test_id("count-created").inner_text() == "3000"

    page.goto(demo_server + "/children/?q=龙2999")
    assert page.get_by_test_id("child-row").count() == 1
    page.close()

    # The history on a phone: the batch is listed, and its long file name wraps instead of
    # pushing the table off the screen.
    phone = _login(browser, demo_server, "office", {"width": 390, "height": 844})
    phone.goto(demo_server + "/imports/")
    assert "乌岭村户籍名册.xlsx" in phone.get_by_test_id("batch-row").first.inner_text()
    table = phone.locator(".table-responsive").first
    assert table.evaluate("t => t.scrollWidth <= t.clientWidth")
    phone.close()


def test_cadre_takes_a_case_to_placed_and_the_office_follows_it_up(demo_server, browser):
    page = _login(browser, demo_server, "village_a", {"width": 1366, "height": 768})
    assert page.url == demo_server + "/cases/mine/"  # 我的案件 first
    rows = page.get_by_test_id("case-row")
    assert rows.count() >= 1
    rows.first.locator("a").first.click()
    page.wait_for_selector("[data-testid=case-status]")
    case_url = page.url
    assert page.get_by_test_id("case-status").inner_text() == "疑似"

    _post(page, "[data-testid=move-verifying]")
    page.wait_for_selector("[data-testid=case-status]:has-text('核实中')")
    page.click("[data-testid=open-confirmed] summary")
    page.check("#r-work")
    page.check("#r-learning")
    page.fill("#c-began", "2026-09")
    _post(page, "[data-testid=submit-confirmed]")
    page.wait_for_selector("[data-testid=case-status]:has-text('已确认')")
    # 双线四包: the page names the levels still missing; the cadre fills them in.
    missing = page.get_by_test_id("missing-levels").inner_text()
    assert "组长或帮扶人包户" in missing
    for line, level in (("government", "4"), ("education", "3"), ("education", "4")):
        if page.locator("[data-testid=missing-levels]").count() == 0:
            break
        page.select_option("#a-line", line)
        page.select_option("#a-level", level)
        page.fill("#a-name", f"责任人{line[0]}{level}")
        page.fill("#a-phone", "13900000000")
        _post(page, "[data-testid=submit-assign]")
    assert page.locator("[data-testid=missing-levels]").count() == 0
    _post(page, "[data-testid=move-persuading]")
    page.wait_for_selector("[data-testid=case-status]:has-text('劝返中')")

    # 劝返中: the 劝返 form is the next step, open at the top.
    page.fill("#t-people", "村干部 13900000000；班主任")
    page.fill("#t-said", "讲解义务教育法，孩子答应回校")
    page.select_option("#t-result", "agreed")
    _post(page, "[data-testid=submit-attempt]")
    page.wait_for_selector("[data-testid=attempt]")
    assert "同意返校" in page.get_by_test_id("attempt").first.inner_text()

    _open_form(page, "placed")
    page.select_option("#p-kind", "back_in_school")
    page.select_option("#p-school", index=1)
    page.fill("#p-grade", "7")
    _post(page, "[data-testid=submit-placed]")
    page.wait_for_selector("[data-testid=case-status]:has-text('已安置')")
    # The cadre cannot close a case: no 销号 button for them.
    assert page.locator("[data-testid=open-closed]").count() == 0
    page.close()

    office = _login(browser, demo_server, "office", {"width": 1366, "height": 768})
    office.goto(case_url)
    _post(office, "[data-testid=move-follow_up]")
    office.wait_for_selector("[data-testid=case-status]:has-text('跟踪中')")
    assert office.get_by_test_id("follow-up").count() >= 6
    # The next step is the due follow-up, empty (not today and 正常出勤 pre-filled); 销号 is
    # proposed only once the child is back in a local 学籍, and says so.
    due = office.get_by_test_id("due-follow-up")
    assert due.locator("input[name=done_on]").input_value() == ""
    assert due.locator("select[name=attendance]").input_value() == ""
    office.click("[data-testid=propose-close] summary")
    assert "本地在读学籍" in office.get_by_test_id("propose-close").inner_text()
    history = office.get_by_test_id("history").inner_text()
    for step in ("核实中", "已确认", "劝返中", "已安置", "跟踪中"):
        assert step in history
    with office.expect_download() as download:
        office.click("[data-testid=case-file]")
    assert download.value.suggested_filename.endswith(".docx")
    office.goto(demo_server + "/cases/dashboard/")
    assert int(office.get_by_test_id("card-open").locator(".display-6").inner_text()) >= 1
    # The 辍学台账 is made by the background worker; the page shows its progress, then the file.
    office.click("[data-testid=card-open]")
    office.click("[data-testid=ledger-export]")
    office.wait_for_selector("[data-testid=export-download]", timeout=60_000)
    with office.expect_download() as download:
        office.click("[data-testid=export-download]")
    assert download.value.suggested_filename.endswith(".xlsx")
    office.close()


def test_a_principal_settles_a_discrepancy_on_a_phone(demo_server, browser):
    """The central primary school's principal opens 信息不一致, takes the 学籍's value for the
    first row, and the child's record follows; the row leaves the open list."""
    page = _login(browser, demo_server, "principal", {"width": 390, "height": 844})
    page.goto(demo_server + "/discrepancies/")
    rows = page.locator("[data-testid=discrepancy-row]")
    before = rows.count()
    assert before >= 1
    first = rows.first
    name = first.locator("td").first.inner_text().strip()
    listed_value = first.locator("td").nth(4).inner_text().strip()  # the 学籍 column
    first.locator("[data-testid=choice]").select_option("source")
    with page.expect_navigation():
        first.locator("[data-testid=resolve]").click()
    assert "已按您的选择更正" in page.content()
    assert page.locator("[data-testid=discrepancy-row]").count() == before - 1
    # Settled: listed under 已处理 with the value chosen.
    page.goto(demo_server + "/discrepancies/?status=resolved")
    assert listed_value in page.locator("[data-testid=discrepancies]").inner_text()
    # Nothing scrolls sideways on the phone but the table's own scroller.
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")
    assert name


def test_a_file_with_headers_it_does_not_know_is_mapped_on_the_page(demo_server, browser, tmp_path):
    """The office uploads a school's 学籍 list whose 证号 and 在读年级 columns the import does
    not know: before anything is tried, the mapping page says the 年级 is missing and names
    the two columns; mapped by hand, the file is checked and imported."""
    from datetime import date

    from baoxue.imports.tests.helpers import write_xlsx
    from baoxue.registry.tests.factories import make_id_number

    rows: list[list[object]] = [["序号", "学生姓名", "证号", "学校标识码", "在读年级", "户口地址"]]
    for i in range(5):
        number = make_id_number(date(2016, 2, 10 + i), "F")
        rows.append([i + 1, f"韦映{i}", number, "2145993101", "四年级", "培秀乡乌岭村上寨屯"])
    path = write_xlsx(tmp_path / "四年级名单.xlsx", rows)
    page = _login(browser, demo_server, "office", {"width": 1366, "height": 768})
    page.goto(demo_server + "/imports/")
    page.select_option("#id_source", "enrollment")
    page.set_input_files("#id_file", str(path))
    page.click("[data-testid=upload-form] button[type=submit]")
    page.wait_for_selector("[data-testid=mapping-form]")
    missing = page.get_by_test_id("mapping-missing").inner_text()
    assert "还缺必填项：年级" in missing and "证号、在读年级" in missing
    page.select_option("#id_col_2", "id_info")
    page.select_option("#id_col_4", "grade")
    page.uncheck("[data-testid=complete-list]")  # one grade's list, not the school's whole
    page.click("[data-testid=validate]")
    page.wait_for_selector("[data-testid=preview-counts]", timeout=60_000)
    assert page.get_by_test_id("count-created").inner_text() == "5"
    page.click("[data-testid=commit]")
    page.wait_for_selector("text=已于", timeout=60_000)
    page.goto(demo_server + "/children/?q=韦映4")
    assert page.get_by_test_id("child-row").count() == 1
    page.close()


def _to_verify(page, base_url: str) -> int:
    """The 待核实 figure of the latest 比对 on the home page."""
    page.goto(base_url + "/")
    link = page.locator("[data-testid=latest-run] a[href$='category=to_verify']").first
    return int(link.get_attribute("data-count"))


def test_a_cadre_proposes_a_dismissal_with_a_photo_and_the_office_approves_it(
    demo_server, browser, tmp_path
):
    phone = {"width": 390, "height": 844}
    cadre = _login(browser, demo_server, "village_a", phone)
    before = _to_verify(cadre, demo_server)
    cadre.goto(demo_server + "/cases/?status=suspected&kind=to_verify")
    rows = cadre.get_by_test_id("case-row")
    assert rows.count() >= 1
    rows.last.locator("a").first.click()
    cadre.wait_for_selector("[data-testid=case-status]:has-text('疑似')")
    case_url = cadre.url
    # On a phone the family comes first, then the next step; 双线四包 is folded below.
    head = cadre.get_by_test_id("case-head").bounding_box()
    step = cadre.get_by_test_id("next-step").bounding_box()
    people = cadre.get_by_test_id("people").bounding_box()
    assert head["y"] < step["y"] < people["y"]
    assert cadre.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")
    shots = Path(SCREENSHOT_DIR) if SCREENSHOT_DIR else tmp_path
    cadre.screenshot(path=str(shots / "case-phone.png"))

    cadre.click("[data-testid=dismiss-details] summary")
    cadre.select_option("#d-reason", "enrolled_elsewhere")
    # Only the reason's own fields show.
    assert cadre.locator("#d-wrong").is_hidden() and cadre.locator("#d-school").is_visible()
    cadre.fill("#d-school", "广东省东莞市某某小学")
    cadre.fill("#d-by", "乌岭村干部")
    cadre.select_option("#d-how", "certificate")
    cadre.fill("#d-on", time.strftime("%Y-%m-%d"))
    # Without the 学籍号 and without the certificate the service refuses and says why.
    _post(cadre, "[data-testid=submit-dismiss]")
    assert "学籍号或就读证明" in cadre.locator(".alert").first.inner_text()
    # The form comes back open, with the reason and what was typed.
    assert cadre.locator("#d-school").is_visible()
    assert cadre.input_value("#d-reason") == "enrolled_elsewhere"
    assert cadre.input_value("#d-school") == "广东省东莞市某某小学"  # what was typed stays
    cadre.set_input_files(
        "#d-proof",
        files=[
            {
                "name": "就读证明.jpg",
                "mimeType": "image/jpeg",
                "buffer": b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + b"\x00" * 200,
            }
        ],
    )
    _post(cadre, "[data-testid=submit-dismiss]")
    cadre.wait_for_selector("[data-testid=case-status]:has-text('待审核')")
    # Still on the list until the office decides.
    assert _to_verify(cadre, demo_server) == before
    cadre.close()

    office = _login(browser, demo_server, "office", phone)
    office.goto(case_url)
    evidence = office.get_by_test_id("proposal-evidence").inner_text()
    assert "广东省东莞市某某小学" in evidence and "就读证明.jpg" in evidence
    _post(office, "[data-testid=submit-approve]")
    office.wait_for_selector("[data-testid=case-status]:has-text('已排除')")
    office.close()

    cadre = _login(browser, demo_server, "village_a", phone)
    assert _to_verify(cadre, demo_server) == before - 1
    cadre.close()
