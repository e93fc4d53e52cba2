"""The reconciliation pages, the ledgers and `baoxue reconcile`."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
from django.urls import reverse
from python_calamine import CalamineWorkbook

from baoxue.core.models import AuditEvent
from baoxue.imports.tests.helpers import ENROLLMENT_HEADER, write_xlsx
from baoxue.imports.tests.test_cli_import import baoxue, instance, roster_rows  # noqa: F401
from baoxue.reconcile.models import MatchReview, ReconciliationRun
from baoxue.reconcile.services import run_create, run_execute


@pytest.fixture
def run(world, persona):
    return run_execute(run_create(actor=persona("office")))


def test_office_starts_a_run_and_reads_the_result(
    world, persona, client, django_capture_on_commit_callbacks
):
    client.force_login(persona("office"))
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("reconcile:run_list"), {"area": world.township.pk})
    run = ReconciliationRun.objects.get()
    assert response.url == reverse("reconcile:run_detail", args=[run.public_id])
    assert run.status == ReconciliationRun.Status.DONE  # the task ran (immediate backend)
    page = client.get(response.url).content.decode()
    assert "石丽" in page and "杨光明" in page and "吴俊辉" not in page  # the follow-up list
    assert "户籍在本地但无本地学籍" in page
    listed = client.get(response.url, {"category": "in_school"}).content.decode()
    assert "吴俊辉" in listed and "石丽" not in listed


def test_a_double_click_starts_one_run(world, persona, client):
    client.force_login(persona("office"))
    client.post(reverse("reconcile:run_list"))
    client.post(reverse("reconcile:run_list"))
    assert ReconciliationRun.objects.count() == 1


def test_a_village_sees_only_its_own_children_in_the_result(run, persona, client):
    client.force_login(persona("village_a"))
    page = client.get(reverse("reconcile:run_detail", args=[run.public_id])).content.decode()
    assert "杨光明" in page and "石丽" not in page  # 石丽 lives in 高岜村


def test_progress_poll_refreshes_the_page_when_done(run, persona, client):
    client.force_login(persona("office"))
    response = client.get(
        reverse("reconcile:run_detail", args=[run.public_id]),
        headers={"HX-Request": "true", "HX-Target": "run-status"},
    )
    assert response["HX-Refresh"] == "true"


def _sheet(content: bytes) -> list[list[str]]:
    book = CalamineWorkbook.from_filelike(io.BytesIO(content))
    return [[str(c) for c in row] for row in book.get_sheet_by_index(0).to_python()]


def test_ledgers_have_whole_ids_for_the_office_and_masked_for_the_county(run, persona, client):
    url = reverse("reconcile:ledger", args=[run.public_id, "children"])
    client.force_login(persona("office"))
    rows = _sheet(client.get(url).content)
    assert rows[1][:5] == ["序号", "姓名", "性别", "出生日期", "身份证号"]
    by_name = {r[1]: r for r in rows[2:]}
    assert set(by_name) == {"吴俊辉", "龙雨欣", "伍军辉", "杨光明", "石丽"}
    assert "*" not in by_name["吴俊辉"][4] and len(by_name["吴俊辉"][4]) == 18
    assert by_name["石丽"][9] == "待核实"
    assert AuditEvent.objects.filter(action="reconcile.ledger_exported").count() == 1
    client.force_login(persona("county"))
    masked = {r[1]: r for r in _sheet(client.get(url).content)[2:]}
    assert "*" in masked["吴俊辉"][4]
    suspected = _sheet(
        client.get(reverse("reconcile:ledger", args=[run.public_id, "suspected"])).content
    )
    assert {r[1] for r in suspected[2:]} == {"杨光明", "石丽"}
    dropouts = _sheet(
        client.get(reverse("reconcile:ledger", args=[run.public_id, "dropouts"])).content
    )
    assert dropouts[1][1] == "姓名" and len(dropouts) == 2  # none confirmed yet


def test_review_decision_once_and_only_by_the_office(world, persona, client):
    item = MatchReview.objects.create(
        left=world.child("石丽"), right=world.child("吴俊辉"), method="name", score=0.8
    )
    url = reverse("reconcile:review_decide", args=[item.pk])
    client.force_login(persona("outsider"))
    assert client.post(url, {"decision": "confirm"}).status_code == 404
    client.force_login(persona("office"))
    listing = client.get(reverse("reconcile:review_list")).content.decode()
    assert "石丽" in listing and 'data-testid="confirm"' in listing
    client.post(url, {"decision": "reject"})
    client.post(url, {"decision": "confirm"})  # too late: the first decision stands
    item.refresh_from_db()
    assert item.status == MatchReview.Status.REJECTED and item.decided_by.username == "office"


@pytest.mark.slow
def test_cli_reconcile_exports_the_ledger(instance: Path, tmp_path: Path):  # noqa: F811
    rows = roster_rows(3)
    path = write_xlsx(tmp_path / "roster.xlsx", rows)
    assert baoxue("import", "roster", str(path), data_dir=instance).returncode == 0
    out = tmp_path / "ledger.csv"
    result = baoxue("reconcile", "--export", str(out), data_dir=instance)
    assert result.returncode == 0, result.stderr
    assert "待核实 to_verify: 3" in result.stdout and "cases opened 3" in result.stdout
    with out.open(encoding="utf-8-sig") as handle:
        table = list(csv.reader(handle))
    header = table[0]
    for column in ("姓名", "身份证号", "村", "学校", "类别", "依据"):
        assert column in header
    assert len(table) == 4 and {r[header.index("类别")] for r in table[1:]} == {"待核实"}
    again = baoxue("reconcile", data_dir=instance)
    assert "0 new, 0 resolved; cases opened 0" in again.stdout
    # The cases those runs opened, counted and written as the 辍学台账 with a progress line.
    ledger = tmp_path / "cases.xlsx"
    cases = baoxue("cases", "--export", str(ledger), data_dir=instance)
    assert cases.returncode == 0, cases.stderr
    assert "3 cases (open)" in cases.stdout and "疑似 suspected: 3" in cases.stdout
    assert "辍学台账 ledger [" in cases.stderr and "3/3" in cases.stderr
    assert len(_sheet(ledger.read_bytes())) == 5  # title, header, three cases


def test_the_child_page_shows_the_latest_category_and_the_case(run, persona, client, world):
    client.force_login(persona("office"))
    shili = world.child("石丽")
    page = client.get(reverse("registry:child_detail", args=[shili.public_id])).content.decode()
    assert 'data-testid="reconciliation"' in page and "待核实" in page
    assert 'data-testid="case"' in page and "疑似" in page


def test_cli_reconcile_writes_the_discrepancy_list(instance: Path, tmp_path: Path):  # noqa: F811
    """A roster, then a 学籍 that writes 吴0 as 伍0 (the same sound) and 吴1 born a month
    later: both rows imported, and the list says what differs, with whole ID numbers."""
    rows = roster_rows(3)
    assert baoxue("import", "roster", str(write_xlsx(tmp_path / "r.xlsx", rows)),
                  data_dir=instance).returncode == 0  # fmt: skip
    first, second = rows[1], rows[2]
    school = ["", "", "", "", "", "", "培秀苗族乡中心小学", "三年级", "1班", "", "在读", "", ""]
    wu0 = list(school)
    wu0[0], wu0[1], wu0[2], wu0[4] = "伍0", "男", first[2], first[3]
    wu1 = list(school)
    birth = str(second[3])
    wu1[0], wu1[1], wu1[2], wu1[4] = "吴1", "男", second[2], birth[:5] + "12" + birth[7:]
    path = write_xlsx(tmp_path / "x.xlsx", [ENROLLMENT_HEADER, wu0, wu1])
    result = baoxue("import", "enrollment", str(path), data_dir=instance)
    assert result.returncode == 0, result.stderr
    out = tmp_path / "discrepancies.csv"
    result = baoxue("reconcile", "--discrepancies", str(out), data_dir=instance)
    assert result.returncode == 0, result.stderr
    assert "discrepancies: wrote 2 rows" in result.stdout
    with out.open(encoding="utf-8-sig") as handle:
        header, *table = list(csv.reader(handle))
    at = {name: header.index(name) for name in ("姓名", "身份证号", "项目", "户籍", "学籍")}
    found = sorted(tuple(r[at[k]] for k in at) for r in table)
    assert found == [
        ("吴0", str(first[2]), "姓名", "吴0", "伍0"),
        ("吴1", str(second[2]), "出生日期", birth, birth[:5] + "12" + birth[7:]),
    ]
    # The same files checked as of a day of an earlier school year: a report, no cases.
    earlier = baoxue("reconcile", "--as-of", "2024-10-01", data_dir=instance)
    assert earlier.returncode == 0, earlier.stderr
    assert "as of 2024-10-01 (cut-off 2024-08-31); an earlier school year" in earlier.stdout
    assert "cases opened 0" in earlier.stdout
    wrong = baoxue("reconcile", "--as-of", "2024-13-01", data_dir=instance)
    assert wrong.returncode == 2 and "--as-of" in wrong.stderr
