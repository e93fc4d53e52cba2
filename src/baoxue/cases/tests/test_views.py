"""The case pages through the test client, persona by persona: a village cadre works a case
from suspected to placed, the office follows it up and closes it; conflicts, double submits,
the Word files, the 辍学台账, the dashboard, bulk assignment, pinned query counts."""

from __future__ import annotations

import io
import uuid
from datetime import date, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from baoxue.cases.models import Case, CaseEvent, FollowUp, ReturnAttempt
from baoxue.cases.workflow import assign
from baoxue.core.models import AuditEvent

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


@pytest.fixture
def case(world):
    return Case.objects.create(
        child=world.child("吴俊辉"),
        kind=Case.Kind.TO_VERIFY,
        township=world.township,
        village=world.village_a,
        school=world.school_x,
    )


@pytest.fixture
def login(client, persona):
    def as_(name):
        client.force_login(persona(name))
        return client

    return as_


def post(client, case, name, data, **kwargs):
    case.refresh_from_db()
    body = {"version": case.version, **data}
    return client.post(reverse(f"cases:{name}", args=[case.public_id]), body, **kwargs)


def test_cadre_works_the_case_to_placed_and_the_office_closes_it(
    case, login, persona, world, settings, tmp_path
):
    settings.MEDIA_ROOT = tmp_path
    cadre = login("village_a")
    assign(
        actor=persona("office"),
        case=case,
        line="government",
        level=3,
        name="村干部",
        user=persona("village_a"),
    )
    mine = cadre.get(reverse("cases:mine")).content.decode()
    assert str(case.public_id) in mine and "吴俊辉" in mine
    page = cadre.get(reverse("cases:detail", args=[case.public_id]))
    assert page.status_code == 200
    assert post(cadre, case, "move", {"to": "verifying"}).status_code == 302
    response = post(
        cadre,
        case,
        "move",
        {
            "to": "confirmed",
            "kind": "dropped_out",
            "reasons": ["work", "family"],
            "began": "2026-09",
        },
    )
    assert response.status_code == 302
    case.refresh_from_db()
    assert (case.status, case.reasons, case.began_on) == (
        "confirmed",
        ["work", "family"],
        date(2026, 9, 1),
    )
    # The gate: the page names the levels still missing, and the move is refused.
    refused = post(cadre, case, "move", {"to": "persuading"})
    assert refused.status_code == 400
    assert "请先落实双线包保责任人" in refused.content.decode()
    for line in ("government", "education"):
        for level in (1, 2, 3, 4):
            response = cadre.post(
                reverse("cases:assign", args=[case.public_id]),
                {"line": line, "level": level, "name": f"{line}-{level}", "phone": "139"},
            )
            assert response.status_code == 302
    assert post(cadre, case, "move", {"to": "persuading"}).status_code == 302
    token = str(uuid.uuid4())
    attempt = {
        "token": token,
        "attempted_on": (timezone.localdate() - timedelta(days=1)).isoformat(),
        "method": "home_visit",
        "people": "村干部 13900000000",
        "said": "讲解义务教育法",
        "result": "agreed",
        "next_step": "送孩子到校",
        "next_date": (timezone.localdate() + timedelta(days=3)).isoformat(),
    }
    photo = io.BytesIO(PNG)
    photo.name = "家访.png"
    response = cadre.post(
        reverse("cases:attempt", args=[case.public_id]), {**attempt, "files": photo}
    )
    assert response.status_code == 302
    # The same form sent again (a double click, a retry on a bad connection): one record.
    cadre.post(reverse("cases:attempt", args=[case.public_id]), attempt)
    assert ReturnAttempt.objects.filter(case=case).count() == 1
    stored = case.attachments.get()
    assert stored.content_type == "image/png" and "吴俊辉" not in stored.file.name
    download = cadre.get(reverse("cases:attachment", args=[case.public_id, stored.public_id]))
    assert download.status_code == 200 and b"".join(download.streaming_content) == PNG
    response = post(
        cadre,
        case,
        "move",
        {
            "to": "placed",
            "kind": "back_in_school",
            "school_id": world.school_x.pk,
            "grade": "4",
            "placed_on": timezone.localdate().isoformat(),
        },
    )
    assert response.status_code == 302
    case.refresh_from_db()
    assert case.status == "placed"
    # The cadre may not close a case: it is proposed, then approved by someone else.
    office = login("office")
    assert post(office, case, "move", {"to": "follow_up"}).status_code == 302
    first = case.follow_ups.order_by("due_on").first()
    assert first is not None and case.follow_ups.count() >= 6
    FollowUp.objects.filter(pk=first.pk).update(due_on=timezone.localdate())
    response = office.post(
        reverse("cases:follow_up", args=[case.public_id, first.pk]),
        {"done_on": timezone.localdate().isoformat(), "attendance": "normal", "note": "正常"},
    )
    assert response.status_code == 302
    login("village_a")
    refused = post(cadre, case, "move", {"to": "closed", "approver": "我", "evidence": "出勤"})
    assert refused.status_code == 400 and "销号须先提出申请" in refused.content.decode()
    office = login("office")
    response = post(
        office, case, "move", {"to": "pending_review", "proposal": "closed", "note": "已返校"}
    )
    assert response.status_code == 302
    case.refresh_from_db()
    assert (case.status, case.proposed_by.username) == ("pending_review", "office")
    # The proposer may not approve their own closing.
    refused = post(office, case, "move", {"to": "closed", "waiver": "学期结束"})
    assert refused.status_code == 400 and "申请人以外" in refused.content.decode()
    leader = login("leader")
    response = post(leader, case, "move", {"to": "closed", "waiver": "已稳定上学，学期结束"})
    assert response.status_code == 302
    case.refresh_from_db()
    assert case.status == "closed" and case.close_approver == "leader"
    history = leader.get(reverse("cases:detail", args=[case.public_id])).content.decode()
    for text in ("已确认", "劝返中", "已安置", "跟踪中", "待审核", "已销号", "government-4"):
        assert text in history
    transitions = list(
        CaseEvent.objects.filter(case=case, kind="transition").values_list("to_status", flat=True)
    )
    assert transitions == [
        "verifying",
        "confirmed",
        "persuading",
        "placed",
        "follow_up",
        "pending_review",
        "closed",
    ]


def test_two_people_on_the_same_case_the_second_is_told_and_keeps_their_text(case, login):
    office = login("office")
    case.refresh_from_db()
    stale = case.version
    office.post(
        reverse("cases:plan", args=[case.public_id]),
        {"version": stale, "measures": ["subsidy"], "plan_note": "第一位的方案"},
    )
    response = office.post(
        reverse("cases:plan", args=[case.public_id]),
        {"version": stale, "measures": ["fees"], "plan_note": "第二位的方案"},
    )
    assert response.status_code == 409
    html = response.content.decode()
    assert "刚被别人修改过" in html and "第二位的方案" in html  # their text is still in the form
    case.refresh_from_db()
    assert case.measures == ["subsidy"] and case.plan_note == "第一位的方案"


def test_a_double_submitted_move_changes_the_case_once(case, login):
    office = login("office")
    case.refresh_from_db()
    body = {"version": case.version, "to": "verifying"}
    first = office.post(reverse("cases:move", args=[case.public_id]), body)
    second = office.post(reverse("cases:move", args=[case.public_id]), body)
    assert (first.status_code, second.status_code) == (302, 409)
    assert CaseEvent.objects.filter(case=case, kind="transition").count() == 1


def test_notice_and_case_file_are_word_documents_and_are_logged(case, login):
    from docx import Document

    office = login("office")
    response = office.get(reverse("cases:notice", args=[case.public_id, "return_notice"]))
    assert response.status_code == 200
    text = "\n".join(p.text for p in Document(io.BytesIO(response.content)).paragraphs)
    assert "吴俊辉" in text and "吴老大" in text
    response = office.get(reverse("cases:file", args=[case.public_id]))
    assert response.status_code == 200
    assert response["Content-Type"].endswith("wordprocessingml.document")
    body = Document(io.BytesIO(response.content))
    assert any("吴俊辉" in cell.text for t in body.tables for row in t.rows for cell in row.cells)
    actions = set(AuditEvent.objects.values_list("action", flat=True))
    assert {"case.notice_exported", "case.file_exported"} <= actions


def test_the_ledger_is_exported_in_the_background_masked_for_the_county(
    case, login, world, settings, tmp_path, django_capture_on_commit_callbacks
):
    from python_calamine import CalamineWorkbook

    from baoxue.cases.models import LedgerExport

    settings.MEDIA_ROOT = tmp_path

    def rows(name, query="status=open"):
        client = login(name)
        with django_capture_on_commit_callbacks(execute=True):
            response = client.post(reverse("cases:export"), {"query": query})
        assert response.status_code == 302
        export = LedgerExport.objects.filter(requested_by__username=name).first()
        page = client.get(response["Location"]).content.decode()
        assert 'data-testid="export-download"' in page
        download = client.get(reverse("cases:export_download", args=[export.public_id]))
        assert download.status_code == 200
        content = b"".join(download.streaming_content)
        book = CalamineWorkbook.from_filelike(io.BytesIO(content))
        return export, book.get_sheet_by_index(0).to_python()

    child = world.child("吴俊辉")
    export, office_rows = rows("office")
    assert office_rows[1][1] == "姓名" and len(office_rows) == 3 and export.rows == 1
    assert office_rows[2][1] == "吴俊辉" and office_rows[2][4] == child.id_number
    _, county_rows = rows("county")
    assert county_rows[2][4] == child.id_number_masked and "*" in county_rows[2][4]
    assert rows("outsider")[1][2:] == []
    assert rows("office", "status=finished")[1][2:] == []
    # Only the one who asked may see or download an export.
    outsider = login("outsider")
    assert outsider.get(reverse("cases:export_detail", args=[export.public_id])).status_code == 404
    assert AuditEvent.objects.filter(action="case.ledger_exported").count() == 4


def test_dashboard_counts_in_scope_and_each_number_opens_its_list(case, login, world):
    Case.objects.create(
        child=world.child("石丽"),
        kind=Case.Kind.TO_VERIFY,
        township=world.township,
        village=world.village_b,
        next_due=timezone.localdate() - timedelta(days=2),
    )
    html = login("office").get(reverse("cases:dashboard")).content.decode()
    assert 'data-testid="card-open"' in html
    office = login("office").get(reverse("cases:dashboard")).context
    assert office["f"]["open_total"] == 2 and office["f"]["overdue"] == 1
    assert office["f"]["weeks"][-1]["open"] == 2
    assert "?overdue=1" in html and f"?village={world.village_b.pk}" in html
    village = login("village_a").get(reverse("cases:dashboard")).context
    assert village["f"]["open_total"] == 1 and village["f"]["overdue"] == 0
    overdue = login("office").get(reverse("cases:list") + "?overdue=1").content.decode()
    assert "石丽" in overdue and "吴俊辉" not in overdue


def test_bulk_assignment_of_the_filtered_cases_with_a_summary(case, login, world, settings):
    other = Case.objects.create(
        child=world.child("石丽"),
        kind=Case.Kind.TO_VERIFY,
        township=world.township,
        village=world.village_b,
    )
    office = login("office")
    body = {"line": "government", "level": "2", "name": "潘干部", "phone": "139"}
    response = office.post(
        reverse("cases:bulk_assign"),
        {**body, "case": [str(case.public_id), str(other.public_id)]},
        follow=True,
    )
    assert "已分配 2 个案件" in response.content.decode()
    response = office.post(
        reverse("cases:bulk_assign"),
        {**body, "all_filtered": "1", "back": "status=open"},
        follow=True,
    )
    assert "已分配 0 个案件；2 个已有该层级责任人未改动" in response.content.decode()
    settings.BAOXUE_BULK_ASSIGN_CAP = 1
    response = office.post(
        reverse("cases:bulk_assign"),
        {**body, "all_filtered": "1", "replace": "1", "back": ""},
        follow=True,
    )
    assert "一次最多分配 1 个案件" in response.content.decode()
    assert case.responsibilities.filter(ended_at=None).count() == 1


def test_the_case_list_query_count_does_not_grow_with_the_rows(login, world, persona):
    office = login("office")
    names = ["吴俊辉", "龙雨欣", "杨光明", "伍军辉", "石丽"]

    def count() -> int:
        with CaptureQueriesContext(connection) as queries:
            assert office.get(reverse("cases:list")).status_code == 200
        return len(queries)

    Case.objects.create(child=world.child(names[0]), kind="to_verify", township=world.township)
    count()  # the first request fills per-process caches (content types, sessions)
    few = count()
    for name in names[1:]:
        made = Case.objects.create(
            child=world.child(name), kind="to_verify", township=world.township
        )
        assign(actor=persona("office"), case=made, line="government", level=1, name="乡长")
    assert count() == few


def test_login_lands_a_cadre_on_their_cases_and_the_office_on_home(client, persona):
    from baoxue.conftest import PASSWORD

    response = client.post(
        reverse("accounts:login") + "?next=/",
        {"username": "village_a", "password": PASSWORD},
        follow=True,
    )
    assert response.redirect_chain[-1][0] == reverse("cases:mine")
    client.logout()
    response = client.post(
        reverse("accounts:login") + "?next=/",
        {"username": "office", "password": PASSWORD},
        follow=True,
    )
    assert response.redirect_chain[-1][0] == reverse("registry:home")


def test_a_teacher_opens_a_case_from_the_child_page_once(login, world):
    teacher = login("teacher_x")
    child = world.child("吴俊辉")
    url = reverse("cases:open", args=[child.public_id])
    first = teacher.post(url, {"note": "连续一周没来上课"})
    second = teacher.post(url, {"note": "连续一周没来上课"})
    assert first.status_code == second.status_code == 302
    assert first["Location"] == second["Location"]
    case = Case.objects.get(child=child)
    assert case.source == "person" and case.school == world.school_x


def test_follow_up_overdue_is_flagged_in_the_list(case, login):
    Case.objects.filter(pk=case.pk).update(status="follow_up")
    FollowUp.objects.create(case=case, due_on=timezone.localdate() - timedelta(days=1))
    from baoxue.cases.workflow import refresh_due

    refresh_due(case)
    html = login("village_a").get(reverse("cases:list")).content.decode()
    assert 'data-testid="overdue"' in html


def test_a_refused_photo_refuses_the_attempt_and_keeps_the_typed_text(
    case, login, settings, tmp_path
):
    settings.MEDIA_ROOT = tmp_path
    Case.objects.filter(pk=case.pk).update(status="persuading")
    fake = io.BytesIO(b"MZ\x90\x00 not a photo")
    fake.name = "photo.jpg"
    response = login("village_a").post(
        reverse("cases:attempt", args=[case.public_id]),
        {
            "token": str(uuid.uuid4()),
            "attempted_on": timezone.localdate().isoformat(),
            "method": "phone",
            "people": "村干部甲 13900000001",
            "said": "电话里说好下周一送回学校",
            "result": "agreed",
            "files": fake,
        },
    )
    assert response.status_code == 400
    html = response.content.decode()
    assert "只能上传照片" in html and "电话里说好下周一送回学校" in html
    assert not ReturnAttempt.objects.filter(case=case).exists()
    assert not case.attachments.exists() and not list(tmp_path.rglob("*.*"))


def test_the_dashboard_counts_cases_without_a_school_and_opens_them(login, world):
    Case.objects.create(
        child=world.child("石丽"),
        kind=Case.Kind.NEVER_ENROLLED,
        township=world.township,
        village=world.village_b,
    )
    office = login("office")
    figures = office.get(reverse("cases:dashboard")).context["f"]
    assert figures["by_school"] == [(None, "无学籍", 1)]
    listed = office.get(reverse("cases:list") + "?school=none").content.decode()
    assert "石丽" in listed
    assert (
        "石丽"
        not in office.get(reverse("cases:list") + f"?school={world.school_x.pk}").content.decode()
    )


def test_a_users_old_exports_are_removed_with_their_files(login, persona, settings, tmp_path):
    from datetime import timedelta as td

    from baoxue.cases import exports
    from baoxue.cases.models import LedgerExport

    settings.MEDIA_ROOT = tmp_path
    office = persona("office")
    old = exports.export_run(exports.export_create(actor=office, query="").pk)
    path = tmp_path / old.file.name
    assert path.exists()
    LedgerExport.objects.filter(pk=old.pk).update(
        created_at=timezone.now() - td(days=exports.KEEP_DAYS + 1)
    )
    exports.export_create(actor=office, query="")
    assert not LedgerExport.objects.filter(pk=old.pk).exists() and not path.exists()


def test_an_attachment_lost_from_storage_is_404_not_an_error(case, login, settings, tmp_path):
    from django.core.files.base import ContentFile

    from baoxue.cases.models import Attachment

    settings.MEDIA_ROOT = tmp_path
    item = Attachment(case=case, name="scan.pdf", content_type="application/pdf", size=9)
    item.file.save("upload.pdf", ContentFile(b"%PDF-1.4\n"), save=True)
    (tmp_path / item.file.name).unlink()
    url = reverse("cases:attachment", args=[case.public_id, item.public_id])
    assert login("office").get(url).status_code == 404


def test_an_export_whose_worker_is_gone_fails_with_the_reason_instead_of_waiting(
    login, persona, settings, tmp_path
):
    import time as clock

    from django.core.cache import cache

    from baoxue.cases import exports
    from baoxue.cases.models import LedgerExport
    from baoxue.core.progress import STALE_SECONDS

    settings.MEDIA_ROOT = tmp_path
    office = persona("office")
    item = LedgerExport.objects.create(requested_by=office, status=LedgerExport.Status.RUNNING)
    client = login("office")
    url = reverse("cases:export_detail", args=[item.public_id])
    beat = f"{item.progress_key}:alive"
    cache.set(beat, clock.time() - 30, 3600)  # beating: a long county ledger
    assert 'data-testid="export-message"' not in client.get(url).content.decode()
    item.refresh_from_db()
    assert item.status == LedgerExport.Status.RUNNING

    cache.set(beat, clock.time() - STALE_SECONDS - 5, 3600)
    page = client.get(url).content.decode()
    item.refresh_from_db()
    assert item.status == LedgerExport.Status.FAILED and "导出中断" in page
    # A finished export beats no more; a real run leaves no beat behind.
    done = exports.export_run(exports.export_create(actor=office, query="").pk)
    assert done.status == LedgerExport.Status.DONE
    assert cache.get(f"{done.progress_key}:alive") is None
