"""The case services besides transitions (劝返 attempts, legal documents, attachments, the plan,
follow-ups, opening by hand, bulk assignment), closing, and the reads: who sees which case, the
list filters and the dashboard figures.

Refusals also check that nothing was written: the case row, its history and its audit rows.
"""

from __future__ import annotations

import uuid
from datetime import date, timedelta
from typing import Any

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.http import Http404
from django.utils import timezone

from baoxue.cases import selectors, services
from baoxue.cases.models import (
    Attachment,
    Case,
    CaseEvent,
    EscalationDocument,
    FollowUp,
    Responsibility,
    ReturnAttempt,
)
from baoxue.cases.workflow import Conflict, assign, follow_up_schedule, transition
from baoxue.core.models import AuditEvent

PAST = date(2025, 9, 10)  # a day safely before "today" whenever the suite runs
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + b"\x00" * 200
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 200
PDF = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n" + b"0" * 200
HEIC = b"\x00\x00\x00\x18ftypheic" + b"\x00" * 200


# -- helpers ---------------------------------------------------------------------------------


def make_case(world: Any, name: str, **fields: Any) -> Case:
    """A case with its place columns copied from the child, as the reconciliation does."""
    child = world.child(name)
    fields.setdefault("kind", Case.Kind.TO_VERIFY)
    return Case.objects.create(
        child=child,
        township_id=child.township_id,
        village_id=child.village_id,
        school_id=child.current_school_id,
        **fields,
    )


def assign_all(persona: Any, case: Case) -> None:
    """双线四包: a named person at every level on both lines."""
    for line in ("government", "education"):
        for level in (1, 2, 3, 4):
            assign(
                actor=persona("office"), case=case, line=line, level=level, name=f"{line}{level}"
            )


def move(persona: Any, case: Case, to: str, *, actor: str = "office", **data: Any) -> Case:
    case.refresh_from_db()
    return transition(actor=persona(actor), case=case, to=to, version=case.version, data=data)


def persuading(world: Any, persona: Any, name: str = "吴俊辉") -> Case:
    case = make_case(world, name)
    move(persona, case, "confirmed", kind="dropped_out", reasons=["work"])
    assign_all(persona, case)
    return move(persona, case, "persuading")


def in_follow_up(world: Any, persona: Any, name: str = "吴俊辉") -> Case:
    case = persuading(world, persona, name)
    move(
        persona,
        case,
        "placed",
        placement={
            "kind": "back_in_school",
            "school_id": world.school_x.pk,
            "grade": 3,
            "placed_on": str(PAST),
        },
    )
    return move(persona, case, "follow_up")


DATA_ERROR = {"wrong_record": "花名册重复登记", "correction": "已删除重复记录"}


def dismissed(world: Any, persona: Any, name: str = "吴俊辉") -> Case:
    case = make_case(world, name)
    return move(persona, case, "dismissed", reason="data_error", evidence=DATA_ERROR)


def closed(world: Any, persona: Any, name: str = "吴俊辉") -> Case:
    """Proposed by the office, approved by a leader who worked nothing on it (the follow-ups
    of the intensive period lie ahead: the leader writes why not)."""
    case = in_follow_up(world, persona, name)
    move(persona, case, "pending_review", proposal="closed", note="返校后正常上课")
    return move(persona, case, "closed", actor="leader", waiver="已转入外县就读，不再跟踪")


def audit(case: Case, action: str) -> list[tuple[str | None, str]]:
    rows = AuditEvent.objects.filter(object_id=str(case.public_id), action=action).order_by("id")
    return [(row.actor.username if row.actor else None, row.action) for row in rows]


def written(case: Case) -> dict[str, Any]:
    """Everything a case service may write, to compare before and after a refusal."""
    row = Case.objects.get(pk=case.pk)
    return {
        "case": (
            row.status,
            row.version,
            row.next_due,
            row.measures,
            row.plan_note,
            row.closed_at,
            row.close_approver,
        ),
        "attempts": ReturnAttempt.objects.filter(case=case).count(),
        "documents": EscalationDocument.objects.filter(case=case).count(),
        "attachments": Attachment.objects.filter(case=case).count(),
        "follow_ups": list(
            FollowUp.objects.filter(case=case).values_list("due_on", "done_on", "attendance")
        ),
        "responsibilities": list(
            Responsibility.objects.filter(case=case).values_list("name", "ended_at")
        ),
        "events": CaseEvent.objects.filter(case=case).count(),
        "audit": AuditEvent.objects.filter(object_id=str(case.public_id)).count(),
    }


def attempt_data(**changes: Any) -> dict[str, Any]:
    data = {
        "method": "home_visit",
        "result": "considering",
        "people": "村干部 吴海 13800000002；班主任 龙老师 13800000003",
        "met": "吴老大",
        "said": "家长同意下周送回学校",
        "attempted_on": str(PAST),
    }
    return data | changes


def document_data(kind: str, **changes: Any) -> dict[str, Any]:
    data = {"kind": kind, "issuer": "培秀苗族乡人民政府", "issued_on": str(PAST)}
    return data | changes


def messages(error: pytest.ExceptionInfo[ValidationError]) -> list[str]:
    return [str(m) for m in error.value.messages]


# -- 劝返 attempts ----------------------------------------------------------------------------


def test_an_attempt_is_saved_with_history_and_audit(world, persona):
    case = persuading(world, persona)
    attempt = services.attempt_record(
        actor=persona("village_a"), case=case, data=attempt_data(next_step="再次家访")
    )
    attempt.refresh_from_db()
    assert (
        attempt.case_id,
        attempt.attempted_on,
        attempt.method,
        attempt.result,
        attempt.people,
        attempt.met,
        attempt.next_step,
        attempt.next_date,
        attempt.created_by.username,
    ) == (
        case.pk,
        PAST,
        "home_visit",
        "considering",
        "村干部 吴海 13800000002；班主任 龙老师 13800000003",
        "吴老大",
        "再次家访",
        None,
        "village_a",
    )
    event = CaseEvent.objects.filter(case=case, kind="attempt").get()
    assert event.actor.username == "village_a"
    assert event.data == {"on": "2025-09-10", "method": "home_visit", "result": "considering"}
    assert audit(case, "case.attempt_recorded") == [("village_a", "case.attempt_recorded")]


def test_the_same_token_twice_writes_one_attempt(world, persona):
    case = persuading(world, persona)
    token = str(uuid.uuid4())
    first = services.attempt_record(
        actor=persona("village_a"), case=case, data=attempt_data(token=token)
    )
    again = services.attempt_record(
        actor=persona("village_a"), case=case, data=attempt_data(token=token, result="refused")
    )
    assert again.pk == first.pk and again.result == "considering"
    assert ReturnAttempt.objects.filter(case=case).count() == 1
    assert CaseEvent.objects.filter(case=case, kind="attempt").count() == 1
    assert len(audit(case, "case.attempt_recorded")) == 1


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"method": ""}, "请选择劝返方式。"),
        ({"method": "letter"}, "请选择劝返方式。"),
        ({"result": None}, "请选择劝返结果。"),
        ({"people": "   "}, "请填写参与劝返的人员及电话。"),
        ({"attempted_on": ""}, "请填写劝返日期。"),
        ({"attempted_on": "10/08/2025"}, "劝返日期格式不对（例如 2026-10-08）。"),
        ({"next_date": "下周"}, "下一步日期格式不对（例如 2026-10-08）。"),
    ],
)
def test_an_incomplete_attempt_is_refused_and_nothing_written(world, persona, changes, message):
    case = persuading(world, persona)
    before = written(case)
    with pytest.raises(ValidationError) as error:
        services.attempt_record(actor=persona("village_a"), case=case, data=attempt_data(**changes))
    assert messages(error) == [message]
    assert written(case) == before


def test_an_attempt_in_the_future_is_refused(world, persona):
    case = persuading(world, persona)
    before = written(case)
    tomorrow = timezone.localdate() + timedelta(days=1)
    with pytest.raises(ValidationError) as error:
        services.attempt_record(
            actor=persona("village_a"), case=case, data=attempt_data(attempted_on=tomorrow)
        )
    assert messages(error) == ["劝返日期不能晚于今天。"]
    assert written(case) == before


def test_an_attempt_today_is_accepted(world, persona):
    case = persuading(world, persona)
    today = timezone.localdate()
    attempt = services.attempt_record(
        actor=persona("office"), case=case, data=attempt_data(attempted_on=today.isoformat())
    )
    assert attempt.attempted_on == today


def test_the_next_date_of_the_latest_attempt_is_the_case_due_date(world, persona):
    case = persuading(world, persona)
    assert Case.objects.get(pk=case.pk).next_due is None
    services.attempt_record(
        actor=persona("village_a"),
        case=case,
        data=attempt_data(attempted_on="2025-09-01", next_date="2025-09-08"),
    )
    case.refresh_from_db()
    assert case.next_due == date(2025, 9, 8)
    # A later attempt decides; its own next step replaces the earlier one.
    services.attempt_record(
        actor=persona("village_a"),
        case=case,
        data=attempt_data(attempted_on="2025-09-10", next_date="2025-09-24"),
    )
    case.refresh_from_db()
    assert case.next_due == date(2025, 9, 24)


@pytest.mark.parametrize("finish", [dismissed, closed])
def test_a_finished_case_takes_no_attempt(world, persona, finish):
    case = finish(world, persona)
    before = written(case)
    with pytest.raises(ValidationError) as error:
        services.attempt_record(actor=persona("office"), case=case, data=attempt_data())
    assert messages(error) == ["案件已结束，不能再记录。如孩子再次辍学，请先重新立案。"]
    assert written(case) == before


@pytest.mark.parametrize("username", ["leader", "county", "canlian", "nobody"])
def test_readers_may_not_record_an_attempt(world, persona, username):
    case = persuading(world, persona)
    before = written(case)
    with pytest.raises(PermissionDenied, match="您没有办理这个案件的权限。"):
        services.attempt_record(actor=persona(username), case=case, data=attempt_data())
    assert written(case) == before


def test_a_leader_named_on_the_case_may_record(world, persona):
    case = persuading(world, persona)
    assign(
        actor=persona("office"),
        case=case,
        line="government",
        level=2,
        name="乡长",
        user=persona("leader"),
    )
    attempt = services.attempt_record(actor=persona("leader"), case=case, data=attempt_data())
    assert attempt.created_by.username == "leader"


def test_outsider_may_not_record_on_a_case_of_another_village(world, persona):
    case = persuading(world, persona)  # 吴俊辉, village A
    before = written(case)
    with pytest.raises(PermissionDenied):
        services.attempt_record(actor=persona("outsider"), case=case, data=attempt_data())
    assert written(case) == before


def test_a_token_used_on_another_case_makes_a_new_record_there(world, persona):
    """A form copied from another case's page: its own record, not the other case's."""
    first = persuading(world, persona, "吴俊辉")
    other = persuading(world, persona, "龙雨欣")
    token = str(uuid.uuid4())
    made = services.attempt_record(
        actor=persona("office"), case=first, data=attempt_data(token=token)
    )
    again = services.attempt_record(
        actor=persona("office"), case=other, data=attempt_data(token=token)
    )
    assert again.pk != made.pk and again.case == other and again.token is None
    assert ReturnAttempt.objects.filter(case=first).count() == 1


# -- legal documents --------------------------------------------------------------------------


def test_documents_in_the_legal_order(world, persona):
    case = persuading(world, persona)
    office = persona("office")
    report = services.document_record(
        actor=office, case=case, data=document_data("school_report", issuer="培秀苗族乡中心小学")
    )
    notice = services.document_record(
        actor=office,
        case=case,
        data=document_data("return_notice", number="培政通〔2025〕12号", served_on="2025-09-11"),
    )
    penalty = services.document_record(actor=office, case=case, data=document_data("penalty"))
    assert list(case.documents.values_list("kind", flat=True)) == [
        "school_report",
        "return_notice",
        "penalty",
    ]
    assert (notice.number, notice.served_on, notice.created_by.username) == (
        "培政通〔2025〕12号",
        date(2025, 9, 11),
        "office",
    )
    assert report.issuer == "培秀苗族乡中心小学" and penalty.issuer == "培秀苗族乡人民政府"
    events = CaseEvent.objects.filter(case=case, kind="document").values_list("data", flat=True)
    assert list(events) == [
        {"kind": "school_report", "number": ""},
        {"kind": "return_notice", "number": "培政通〔2025〕12号"},
        {"kind": "penalty", "number": ""},
    ]
    assert len(audit(case, "case.document_recorded")) == 3


def test_the_order_notice_serves_as_the_second_step(world, persona):
    case = persuading(world, persona)
    office = persona("office")
    services.document_record(actor=office, case=case, data=document_data("school_report"))
    services.document_record(actor=office, case=case, data=document_data("order_notice"))
    penalty = services.document_record(actor=office, case=case, data=document_data("penalty"))
    assert penalty.kind == "penalty"


@pytest.mark.parametrize(
    ("issued", "kind", "message"),
    [
        (
            [],
            "penalty",
            "请按法定顺序办理：先有“责令送被监护人接受义务教育通知书、限期复学通知书”，"
            "再办“行政处罚决定书”。",
        ),
        (
            ["school_report"],
            "penalty",
            "请按法定顺序办理：先有“责令送被监护人接受义务教育通知书、限期复学通知书”，"
            "再办“行政处罚决定书”。",
        ),
        ([], "return_notice", "请按法定顺序办理：先有“学校书面报告”，再办“限期复学通知书”。"),
        (
            ["school_report", "return_notice"],
            "demand",
            "请按法定顺序办理：先有“行政处罚决定书”，再办“催告书”。",
        ),
        ([], "court_outcome", "请按法定顺序办理：先有“向法院起诉/申请执行”，再办“法院裁判结果”。"),
    ],
)
def test_a_document_may_not_skip_ahead(world, persona, issued, kind, message):
    case = persuading(world, persona)
    for earlier in issued:
        services.document_record(actor=persona("office"), case=case, data=document_data(earlier))
    before = written(case)
    with pytest.raises(ValidationError) as error:
        services.document_record(actor=persona("office"), case=case, data=document_data(kind))
    assert messages(error) == [message]
    assert written(case) == before


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"kind": "letter"}, "请选择文书类型。"),
        ({"issuer": " "}, "请填写发文单位。"),
        ({"issued_on": None}, "请填写发文日期。"),
        ({"deadline": "2025-09-09"}, "期限不能早于发文日期。"),
        ({"served_on": "九月"}, "送达日期格式不对（例如 2026-10-08）。"),
    ],
)
def test_an_incomplete_document_is_refused(world, persona, changes, message):
    case = persuading(world, persona)
    before = written(case)
    with pytest.raises(ValidationError) as error:
        services.document_record(
            actor=persona("office"), case=case, data=document_data("school_report") | changes
        )
    assert messages(error) == [message]
    assert written(case) == before


def test_a_notice_deadline_is_due_while_persuading(world, persona):
    case = persuading(world, persona)
    office = persona("office")
    services.document_record(actor=office, case=case, data=document_data("school_report"))
    services.document_record(
        actor=office,
        case=case,
        data=document_data("return_notice", issued_on="2025-09-10", deadline="2025-09-25"),
    )
    case.refresh_from_db()
    assert case.next_due == date(2025, 9, 25)
    # An earlier 劝返 step comes first.
    services.attempt_record(
        actor=office,
        case=case,
        data=attempt_data(attempted_on="2025-09-12", next_date="2025-09-19"),
    )
    case.refresh_from_db()
    assert case.next_due == date(2025, 9, 19)


def test_a_deadline_on_its_issue_day_is_accepted(world, persona):
    case = persuading(world, persona)
    document = services.document_record(
        actor=persona("office"),
        case=case,
        data=document_data("school_report", issued_on="2025-09-10", deadline="2025-09-10"),
    )
    assert document.deadline == date(2025, 9, 10)


def test_the_same_document_token_twice_writes_one_document(world, persona):
    case = persuading(world, persona)
    token = uuid.uuid4()
    first = services.document_record(
        actor=persona("office"), case=case, data=document_data("school_report", token=token)
    )
    again = services.document_record(
        actor=persona("office"), case=case, data=document_data("school_report", token=str(token))
    )
    assert again.pk == first.pk and again.token == token
    assert case.documents.count() == 1
    assert CaseEvent.objects.filter(case=case, kind="document").count() == 1
    assert len(audit(case, "case.document_recorded")) == 1


@pytest.mark.parametrize("finish", [dismissed, closed])
def test_a_finished_case_takes_no_document(world, persona, finish):
    case = finish(world, persona)
    before = written(case)
    with pytest.raises(ValidationError, match="案件已结束"):
        services.document_record(
            actor=persona("office"), case=case, data=document_data("school_report")
        )
    assert written(case) == before


# -- attachments ------------------------------------------------------------------------------


@pytest.fixture
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    return tmp_path


def stored_files(root: Any) -> list[Any]:
    return [p for p in root.rglob("*") if p.is_file()]


@pytest.mark.parametrize(
    ("filename", "content", "content_type", "suffix"),
    [
        ("家访照片.jpg", JPEG, "image/jpeg", "jpg"),
        ("IMG_0001.PNG", PNG, "image/png", "png"),
        ("通知书扫描.pdf", PDF, "application/pdf", "pdf"),
        ("IMG_0002.heic", HEIC, "image/heic", "heic"),
    ],
)
def test_a_photo_or_scan_is_kept_by_its_first_bytes(
    world, persona, media, filename, content, content_type, suffix
):
    case = persuading(world, persona)
    # The browser's content type is not trusted: the first bytes decide.
    upload = SimpleUploadedFile(filename, content, content_type="application/octet-stream")
    item = services.attachment_add(actor=persona("village_a"), case=case, upload=upload)
    item.refresh_from_db()
    assert (item.name, item.content_type, item.size, item.uploaded_by.username) == (
        filename,
        content_type,
        len(content),
        "village_a",
    )
    assert item.file.name.startswith(f"cases/{case.public_id}/")
    assert item.file.name.endswith("." + suffix)
    # Kept encrypted with the field key (core.storage), read back as it was.
    stored = (media / item.file.name).read_bytes()
    assert stored.startswith(b"BXF1") and content not in stored
    with item.file.open("rb") as handle:
        assert handle.read() == content
    assert list(CaseEvent.objects.filter(case=case, kind="attachment").values_list("data")) == [
        ({"name": filename},)
    ]
    assert audit(case, "case.attachment_added") == [("village_a", "case.attachment_added")]


def test_the_stored_name_does_not_carry_the_child_name(world, persona, media):
    case = persuading(world, persona)
    upload = SimpleUploadedFile("吴俊辉 家访 2025-09-10.jpg", JPEG)
    item = services.attachment_add(actor=persona("office"), case=case, upload=upload)
    assert "吴俊辉" not in item.file.name and "吴俊辉" not in item.file.url
    assert [p.name for p in stored_files(media)] == [item.file.name.rsplit("/", 1)[-1]]
    assert "吴俊辉" not in str(stored_files(media)[0])


def test_an_attachment_belongs_to_an_attempt(world, persona, media):
    case = persuading(world, persona)
    attempt = services.attempt_record(actor=persona("office"), case=case, data=attempt_data())
    item = services.attachment_add(
        actor=persona("office"),
        case=case,
        upload=SimpleUploadedFile("a.jpg", JPEG),
        attempt=attempt,
    )
    assert list(attempt.attachments.all()) == [item]


@pytest.mark.parametrize(
    ("filename", "content", "message"),
    [
        ("照片.jpg", "这不是照片".encode(), "只能上传照片（JPG、PNG、HEIC）或 PDF 扫描件。"),
        ("page.jpg", b"<html><script>alert(1)</script></html>", "只能上传照片"),
        ("空.jpg", b"", "文件是空的。"),
    ],
)
def test_a_file_that_is_not_a_photo_or_scan_is_refused(
    world, persona, media, filename, content, message
):
    case = persuading(world, persona)
    before = written(case)
    upload = SimpleUploadedFile(filename, content, content_type="image/jpeg")
    with pytest.raises(ValidationError) as error:
        services.attachment_add(actor=persona("office"), case=case, upload=upload)
    assert messages(error)[0].startswith(message)
    assert written(case) == before
    assert stored_files(media) == []


def test_a_file_over_the_size_limit_is_refused(world, persona, media, settings):
    settings.BAOXUE_ATTACHMENT_MAX_MB = 1
    case = persuading(world, persona)
    before = written(case)
    big = JPEG + b"\x00" * (1024 * 1024 + 100 * 1024)
    with pytest.raises(ValidationError) as error:
        services.attachment_add(
            actor=persona("office"), case=case, upload=SimpleUploadedFile("大.jpg", big)
        )
    assert messages(error) == ["文件太大（最大 1 MB），请压缩照片后再上传。"]
    assert written(case) == before
    assert stored_files(media) == []


def test_a_file_at_the_size_limit_is_accepted(world, persona, media, settings):
    settings.BAOXUE_ATTACHMENT_MAX_MB = 1
    case = persuading(world, persona)
    exact = JPEG + b"\x00" * (1024 * 1024 - len(JPEG))
    item = services.attachment_add(
        actor=persona("office"), case=case, upload=SimpleUploadedFile("ok.jpg", exact)
    )
    assert item.size == 1024 * 1024


def test_readers_may_not_attach(world, persona, media):
    case = persuading(world, persona)
    before = written(case)
    with pytest.raises(PermissionDenied):
        services.attachment_add(
            actor=persona("county"), case=case, upload=SimpleUploadedFile("a.jpg", JPEG)
        )
    assert written(case) == before
    assert stored_files(media) == []


@pytest.mark.parametrize("filename", ["2025.09.10吴俊辉家访", "photo.html"])
def test_the_stored_suffix_follows_the_content(world, persona, media, filename):
    case = persuading(world, persona)
    item = services.attachment_add(
        actor=persona("office"), case=case, upload=SimpleUploadedFile(filename, JPEG)
    )
    assert "吴俊辉" not in item.file.name
    assert item.file.name.endswith(".jpg")


def test_an_attachment_may_not_point_at_another_case(world, persona, media):
    mine = persuading(world, persona, "吴俊辉")
    other = persuading(world, persona, "龙雨欣")
    their_attempt = services.attempt_record(
        actor=persona("office"), case=other, data=attempt_data()
    )
    before = written(mine)
    with pytest.raises((PermissionDenied, ValidationError)):
        services.attachment_add(
            actor=persona("office"),
            case=mine,
            upload=SimpleUploadedFile("a.jpg", JPEG),
            attempt=their_attempt,
        )
    assert written(mine) == before
    assert not their_attempt.attachments.exists()


# -- the plan ---------------------------------------------------------------------------------


def test_the_plan_is_saved_with_a_new_version(world, persona):
    case = persuading(world, persona)
    version = case.version
    updated = services.plan_update(
        actor=persona("principal_x"),
        case=case,
        measures=["subsidy", "boarding", "subsidy"],
        note="落实雨露计划资助，安排住校",
        version=version,
    )
    assert (updated.measures, updated.plan_note, updated.version) == (
        ["subsidy", "boarding"],
        "落实雨露计划资助，安排住校",
        version + 1,
    )
    event = CaseEvent.objects.filter(case=case, kind="plan").get()
    assert event.data["before"] == {"measures": [], "note": ""}
    assert event.actor.username == "principal_x"
    assert audit(case, "case.plan_updated") == [("principal_x", "case.plan_updated")]


def test_a_plan_from_a_stale_page_is_a_conflict(world, persona):
    case = persuading(world, persona)
    stale = case.version
    services.plan_update(
        actor=persona("office"), case=case, measures=["fees"], note="第一版", version=stale
    )
    before = written(case)
    with pytest.raises(Conflict) as error:
        services.plan_update(
            actor=persona("village_a"),
            case=case,
            measures=["tutoring"],
            note="第二版",
            version=stale,
        )
    assert messages(error) == ["这个案件刚被别人修改过，请刷新页面后再操作。"]
    assert written(case) == before
    assert Case.objects.get(pk=case.pk).measures == ["fees"]


def test_an_unknown_measure_is_refused(world, persona):
    case = persuading(world, persona)
    before = written(case)
    with pytest.raises(ValidationError) as error:
        services.plan_update(
            actor=persona("office"),
            case=case,
            measures=["subsidy", "cash_bonus"],
            note="",
            version=case.version,
        )
    assert messages(error) == ["未知的帮扶措施。"]
    assert written(case) == before


def test_a_reader_may_not_change_the_plan(world, persona):
    case = persuading(world, persona)
    before = written(case)
    with pytest.raises(PermissionDenied):
        services.plan_update(
            actor=persona("leader"), case=case, measures=["fees"], note="", version=case.version
        )
    assert written(case) == before


# -- follow-up --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("start", "expected"),
    [
        (
            date(2026, 9, 1),
            [
                date(2026, 9, 15),
                date(2026, 9, 29),
                date(2026, 10, 13),
                date(2026, 10, 27),
                date(2026, 11, 10),
                date(2026, 11, 24),
                # Intensive period over on 2026-12-01: monthly to the term's end, 2027-01-31.
                date(2026, 12, 24),
                date(2027, 1, 24),
            ],
        ),
        (
            date(2026, 3, 10),
            [
                date(2026, 3, 24),
                date(2026, 4, 7),
                date(2026, 4, 21),
                date(2026, 5, 5),
                date(2026, 5, 19),
                date(2026, 6, 2),
                # Intensive period over on 2026-06-10: monthly to the term's end, 2026-07-15.
                date(2026, 7, 2),
            ],
        ),
    ],
)
def test_the_follow_up_schedule(settings, start, expected):
    settings.BAOXUE_FOLLOW_UP_DAYS = 14
    settings.BAOXUE_FOLLOW_UP_INTENSIVE_MONTHS = 3
    settings.BAOXUE_TERM_ENDS = ["01-31", "07-15"]
    assert follow_up_schedule(start) == expected


def test_moving_to_follow_up_makes_the_schedule(world, persona, settings):
    settings.BAOXUE_FOLLOW_UP_DAYS = 14
    settings.BAOXUE_FOLLOW_UP_INTENSIVE_MONTHS = 3
    settings.BAOXUE_TERM_ENDS = ["01-31", "07-15"]
    case = in_follow_up(world, persona)
    expected = follow_up_schedule(timezone.localdate())
    assert list(case.follow_ups.values_list("due_on", "done_on")) == [(d, None) for d in expected]
    assert case.status == "follow_up" and case.next_due == expected[0]


def due_today(case: Case) -> None:
    """Move the schedule back so that its first follow-up is due today (a follow-up is
    recorded on or a few days before its date, never a fortnight early)."""
    first = case.follow_ups.order_by("due_on").first()
    shift = first.due_on - timezone.localdate()
    for item in case.follow_ups.all():
        FollowUp.objects.filter(pk=item.pk).update(due_on=item.due_on - shift)


def test_a_follow_up_is_recorded_and_the_next_one_becomes_due(world, persona):
    case = in_follow_up(world, persona)
    due_today(case)
    first, second = case.follow_ups.order_by("due_on")[:2]
    today = timezone.localdate()
    recorded = services.follow_up_record(
        actor=persona("teacher_x"),
        case=case,
        follow_up=first,
        data={"attendance": "some_absence", "done_on": today, "absent_days": "2", "note": "病假"},
    )
    assert (
        recorded.done_on,
        recorded.attendance,
        recorded.absent_days,
        recorded.note,
        recorded.recorded_by.username,
    ) == (today, "some_absence", 2, "病假", "teacher_x")
    case.refresh_from_db()
    assert case.next_due == second.due_on
    event = CaseEvent.objects.filter(case=case, kind="follow_up").get()
    assert event.data == {
        "due": str(first.due_on),
        "done": str(today),
        "attendance": "some_absence",
    }
    assert audit(case, "case.follow_up_recorded") == [("teacher_x", "case.follow_up_recorded")]


def test_a_follow_up_recorded_twice_keeps_the_first_record(world, persona):
    case = in_follow_up(world, persona)
    due_today(case)
    first = case.follow_ups.order_by("due_on").first()
    services.follow_up_record(
        actor=persona("teacher_x"),
        case=case,
        follow_up=first,
        data={"attendance": "normal", "done_on": timezone.localdate()},
    )
    before = written(case)
    with pytest.raises(ValidationError) as error:
        services.follow_up_record(
            actor=persona("village_a"),
            case=case,
            follow_up=first,
            data={"attendance": "not_attending", "done_on": timezone.localdate()},
        )
    assert messages(error) == ["这次跟踪已经有人记录过了。"]
    assert "已经有人记录过" in messages(error)[0]
    assert written(case) == before
    first.refresh_from_db()
    assert (first.attendance, first.recorded_by.username) == ("normal", "teacher_x")


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"attendance": "", "done_on": "2025-09-10"}, "请选择出勤情况。"),
        ({"attendance": "normal"}, "请填写跟踪日期。"),
        (
            {"attendance": "normal", "done_on": "today", "absent_days": "两天"},
            "缺勤天数须为整数。",
        ),
        (
            {"attendance": "normal", "done_on": "today", "absent_days": "-1"},
            "缺勤天数须为整数。",
        ),
    ],
)
def test_an_incomplete_follow_up_is_refused(world, persona, data, message):
    case = in_follow_up(world, persona)
    due_today(case)
    if data.get("done_on") == "today":
        data = {**data, "done_on": timezone.localdate().isoformat()}
    before = written(case)
    with pytest.raises(ValidationError) as error:
        services.follow_up_record(
            actor=persona("office"), case=case, follow_up=case.follow_ups.first(), data=data
        )
    assert messages(error) == [message]
    assert written(case) == before


def test_a_follow_up_of_another_case_is_refused(world, persona):
    mine = in_follow_up(world, persona, "吴俊辉")
    other = in_follow_up(world, persona, "龙雨欣")
    before = (written(mine), written(other))
    with pytest.raises(PermissionDenied):
        services.follow_up_record(
            actor=persona("office"),
            case=mine,
            follow_up=other.follow_ups.first(),
            data={"attendance": "normal", "done_on": str(PAST)},
        )
    assert (written(mine), written(other)) == before


def test_a_second_return_replaces_the_unrecorded_follow_ups(world, persona):
    case = in_follow_up(world, persona)
    move(persona, case, "persuading")
    move(
        persona,
        case,
        "placed",
        placement={"kind": "home_teaching", "placed_on": str(timezone.localdate())},
    )
    case = move(persona, case, "follow_up")
    unrecorded = list(case.follow_ups.filter(done_on=None).values_list("due_on", flat=True))
    assert unrecorded == follow_up_schedule(timezone.localdate())


# Closing (销号) and dismissal with their evidence and review: test_evidence.py.


# -- opening by hand --------------------------------------------------------------------------


def test_a_teacher_opens_a_case_for_a_pupil(world, persona):
    child = world.child("吴俊辉")
    case = services.case_open(actor=persona("teacher_x"), child=child, note="  连续三天未到校  ")
    assert (
        case.child_id,
        case.kind,
        case.status,
        case.source,
        case.basis,
        case.key_group,
        case.township_id,
        case.village_id,
        case.school_id,
    ) == (
        child.pk,
        "to_verify",
        "suspected",
        "person",
        "连续三天未到校",
        True,  # a 脱贫户 household
        world.township.pk,
        world.village_a.pk,
        world.school_x.pk,
    )
    event = CaseEvent.objects.filter(case=case, kind="opened").get()
    assert (event.kind, event.actor.username, event.data) == (
        "opened",
        "teacher_x",
        {"note": "连续三天未到校"},
    )
    assert audit(case, "case.opened") == [("teacher_x", "case.opened")]
    # The reporter sees the case in 我的案件; the accounts holding the default levels where the
    # child is are named at once: the village's cadre, the school's principal, the teacher.
    assert case.reported_by.username == "teacher_x"
    assert case in selectors.caseload(persona("teacher_x"))
    named = {
        (r.line, r.level, r.user.username, r.name)
        for r in case.responsibilities.filter(ended_at=None)
    }
    assert named == {
        ("government", 3, "village_a", "village_a"),
        ("education", 2, "principal_x", "principal_x"),
        ("education", 3, "teacher_x", "teacher_x"),
    }


def test_opening_twice_gives_the_same_case(world, persona):
    child = world.child("吴俊辉")
    first = services.case_open(actor=persona("teacher_x"), child=child, note="未到校")
    again = services.case_open(actor=persona("village_a"), child=child, note="外出务工")
    assert again.pk == first.pk and again.basis == "未到校"
    assert Case.objects.filter(child=child).count() == 1
    assert CaseEvent.objects.filter(case=first, kind="opened").count() == 1
    assert len(audit(first, "case.opened")) == 1


def test_a_child_without_school_or_key_household(world, persona):
    child = world.child("石丽")
    case = services.case_open(actor=persona("outsider"), child=child, note="留守，未入学")
    assert (case.township_id, case.village_id, case.school_id, case.key_group) == (
        world.township.pk,
        world.village_b.pk,
        None,
        False,
    )


def test_a_new_case_after_the_old_one_is_finished(world, persona):
    old = dismissed(world, persona, "吴俊辉")
    new = services.case_open(actor=persona("office"), child=old.child, note="再次辍学")
    assert new.pk != old.pk and new.is_open
    assert list(Case.objects.filter(child=old.child).order_by("pk").values_list("status")) == [
        ("dismissed",),
        ("suspected",),
    ]


@pytest.mark.parametrize("username", ["leader", "county", "nobody"])
def test_readers_may_not_open_a_case(world, persona, username):
    child = world.child("吴俊辉")
    with pytest.raises(PermissionDenied):
        services.case_open(actor=persona(username), child=child, note="未到校")
    assert not Case.objects.filter(child=child).exists()


@pytest.mark.parametrize(("username", "name"), [("outsider", "吴俊辉"), ("teacher_x", "覃明")])
def test_a_case_may_be_opened_only_in_scope(world, persona, username, name):
    child = world.child(name)
    with pytest.raises(PermissionDenied):
        services.case_open(actor=persona(username), child=child, note="未到校")
    assert not Case.objects.filter(child=child).exists()


# -- bulk assignment --------------------------------------------------------------------------


def bulk(persona: Any, cases: list[Case], actor: str = "office", **kwargs: Any) -> dict[str, int]:
    kwargs = {"line": "government", "level": 2, "name": "乡干部 韦某", **kwargs}
    return services.bulk_assign(actor=persona(actor), cases=cases, **kwargs)


@pytest.mark.parametrize("username", ["leader", "village_a", "principal_x", "county", "nobody"])
def test_only_the_office_assigns_in_bulk(world, persona, username):
    cases = [make_case(world, "吴俊辉"), make_case(world, "龙雨欣")]
    audit_rows = AuditEvent.objects.count()
    with pytest.raises(PermissionDenied, match="只有乡镇控辍保学办公室可以批量分配。"):
        bulk(persona, cases, actor=username)
    assert not Responsibility.objects.filter(case__in=cases).exists()
    assert AuditEvent.objects.count() == audit_rows


def test_bulk_assignment_is_capped(world, persona, settings):
    settings.BAOXUE_BULK_ASSIGN_CAP = 2
    cases = [make_case(world, n) for n in ("吴俊辉", "龙雨欣", "伍军辉")]
    audit_rows = AuditEvent.objects.count()
    with pytest.raises(ValidationError) as error:
        bulk(persona, cases)
    assert messages(error) == ["一次最多分配 2 个案件，请先用筛选缩小范围。"]
    assert not Responsibility.objects.filter(case__in=cases).exists()
    assert not CaseEvent.objects.filter(case__in=cases).exists()
    assert AuditEvent.objects.count() == audit_rows


def test_bulk_assignment_at_the_cap(world, persona, settings):
    settings.BAOXUE_BULK_ASSIGN_CAP = 2
    cases = [make_case(world, n) for n in ("吴俊辉", "龙雨欣")]
    assert bulk(persona, cases) == {"assigned": 2, "kept": 0, "finished": 0}


def test_bulk_assignment_keeps_people_already_named(world, persona):
    free = make_case(world, "吴俊辉")
    taken = make_case(world, "龙雨欣")
    done = dismissed(world, persona, "伍军辉")
    assign(actor=persona("office"), case=taken, line="government", level=2, name="村支书 龙某")
    counts = bulk(persona, [free, taken, done], user=persona("village_a"), phone="13800000009")
    assert counts == {"assigned": 1, "kept": 1, "finished": 1}
    active = Responsibility.objects.filter(ended_at=None, line="government", level=2)
    assert sorted(active.values_list("case__child__name", "name")) == [
        ("吴俊辉", "乡干部 韦某"),
        ("龙雨欣", "村支书 龙某"),
    ]
    new = active.get(case=free)
    assert (new.user.username, new.phone) == ("village_a", "13800000009")
    assert not Responsibility.objects.filter(case=done).exists()
    row = AuditEvent.objects.filter(action="case.bulk_assigned").get()
    assert (row.actor.username, row.data) == (
        "office",
        {"line": "government", "assigned": 1, "kept": 1, "finished": 1},
    )


def test_bulk_assignment_replaces_and_keeps_the_history(world, persona):
    free = make_case(world, "吴俊辉")
    taken = make_case(world, "龙雨欣")
    old = assign(
        actor=persona("office"), case=taken, line="government", level=2, name="村支书 龙某"
    )
    counts = bulk(persona, [free, taken], replace=True)
    assert counts == {"assigned": 2, "kept": 0, "finished": 0}
    old.refresh_from_db()
    assert old.ended_at is not None
    rows = Responsibility.objects.filter(case=taken).order_by("assigned_at", "id")
    assert [(r.name, r.ended_at is None) for r in rows] == [
        ("村支书 龙某", False),
        ("乡干部 韦某", True),
    ]
    event = CaseEvent.objects.filter(case=taken, kind="responsibility").last()
    assert event.data["replaces"] == ["村支书 龙某"]


# -- who sees which case ----------------------------------------------------------------------

EVERYONE = [
    "office",
    "leader",
    "village_a",
    "outsider",
    "principal_x",
    "teacher_x",
    "canlian",
    "county",
    "nobody",
]
SEEN_BY = {
    # village A, school X, grade 3 1班 (teacher_x's class)
    "吴俊辉": {"office", "leader", "village_a", "principal_x", "teacher_x", "county"},
    # village A, school Y, disabled (残联 sees disabled children of the township)
    "龙雨欣": {"office", "leader", "village_a", "canlian", "county"},
    # village B, school X, grade 3 2班 (not teacher_x's class)
    "伍军辉": {"office", "leader", "outsider", "principal_x", "county"},
    # village B, no school
    "石丽": {"office", "leader", "outsider", "county"},
    # another township of the county
    "覃明": {"county"},
}


@pytest.mark.parametrize("name", list(SEEN_BY))
def test_who_sees_a_case(world, persona, name):
    case = make_case(world, name)
    seen = set()
    for username in EVERYONE:
        user = persona(username)
        visible = Case.objects.visible_to(user).filter(pk=case.pk).exists()
        try:
            accessed = selectors.access_case(user, str(case.public_id)) == case
        except Http404:
            accessed = False
        assert visible == accessed, username
        if visible:
            seen.add(username)
    assert seen == SEEN_BY[name]


@pytest.mark.parametrize("public_id", ["not-a-uuid", "", "962338d5-753a-4531-9dad-84494ada0570"])
def test_a_missing_case_is_404(world, persona, public_id):
    make_case(world, "吴俊辉")
    with pytest.raises(Http404):
        selectors.access_case(persona("office"), public_id)


def test_a_teacher_named_on_a_case_sees_it_until_replaced(world, persona):
    case = make_case(world, "伍军辉")  # grade 3 2班: not teacher_x's class
    teacher = persona("teacher_x")
    assert not Case.objects.visible_to(teacher).filter(pk=case.pk).exists()
    assert list(selectors.caseload(teacher)) == []

    assign(
        actor=persona("office"),
        case=case,
        line="education",
        level=4,
        name="龙老师",
        user=teacher,
    )
    teacher = persona("teacher_x")
    assert list(selectors.caseload(teacher)) == [case]
    assert selectors.access_case(teacher, str(case.public_id)) == case

    assign(actor=persona("office"), case=case, line="education", level=4, name="杨老师")
    teacher = persona("teacher_x")
    assert list(selectors.caseload(teacher)) == []
    assert not Case.objects.visible_to(teacher).filter(pk=case.pk).exists()
    with pytest.raises(Http404):
        selectors.access_case(teacher, str(case.public_id))


def test_the_caseload_holds_open_cases_naming_the_user_overdue_first(world, persona):
    village_a = persona("village_a")
    later = make_case(world, "吴俊辉", next_due=date(2025, 10, 1))
    sooner = make_case(world, "龙雨欣", next_due=date(2025, 9, 1))
    done = make_case(world, "杨光明")
    for case in (later, sooner, done):
        assign(
            actor=persona("office"),
            case=case,
            line="government",
            level=3,
            name="村干部",
            user=village_a,
        )
    move(persona, done, "dismissed", reason="moved_away", evidence={"hukou_record": "迁移证明 001"})
    assert list(selectors.caseload(persona("village_a"))) == [sooner, later]
    assert list(selectors.caseload(persona("nobody"))) == []


# -- the case list and the dashboard ----------------------------------------------------------


@pytest.fixture
def township_cases(world, persona):
    """吴俊辉: key group, every level of both lines named, overdue. 龙雨欣: government line
    only, due tomorrow. 伍军辉 (village B): nobody named. 杨光明: dismissed."""
    today = timezone.localdate()
    wu = services.case_open(actor=persona("office"), child=world.child("吴俊辉"), note="未到校")
    assign_all(persona, wu)
    Case.objects.filter(pk=wu.pk).update(next_due=today - timedelta(days=1))
    long = make_case(world, "龙雨欣", next_due=today + timedelta(days=1))
    assign(actor=persona("office"), case=long, line="government", level=2, name="乡干部")
    make_case(world, "伍军辉")
    dismissed(world, persona, "杨光明")


def names(qs: Any) -> list[str]:
    return sorted(qs.values_list("child__name", flat=True))


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        ({}, ["伍军辉", "吴俊辉", "龙雨欣"]),
        ({"status": "all"}, ["伍军辉", "吴俊辉", "杨光明", "龙雨欣"]),
        ({"status": "finished"}, ["杨光明"]),
        ({"status": "dismissed"}, ["杨光明"]),
        ({"status": "suspected"}, ["伍军辉", "吴俊辉", "龙雨欣"]),
        ({"overdue": True}, ["吴俊辉"]),
        ({"unassigned": True}, ["伍军辉", "龙雨欣"]),
        ({"key_group": True}, ["吴俊辉"]),
        ({"name": "吴"}, ["吴俊辉"]),
        ({"name": " 龙雨 "}, ["龙雨欣"]),
        ({"name": "俊辉"}, []),
        ({"name": "杨", "status": "all"}, ["杨光明"]),
        ({"kind": "to_verify", "status": "all"}, ["伍军辉", "吴俊辉", "杨光明", "龙雨欣"]),
        ({"overdue": True, "key_group": True, "name": "吴"}, ["吴俊辉"]),
    ],
)
def test_case_list_filters(world, persona, township_cases, filters, expected):
    qs = selectors.case_list(persona("office"), selectors.CaseFilters(**filters))
    assert names(qs) == expected


def test_case_list_filters_by_village_and_school(world, persona, township_cases):
    office = persona("office")
    by_village = selectors.CaseFilters(village=world.village_b.pk)
    by_school = selectors.CaseFilters(school=world.school_x.pk)
    assert names(selectors.case_list(office, by_village)) == ["伍军辉"]
    assert names(selectors.case_list(office, by_school)) == ["伍军辉", "吴俊辉"]


def test_case_list_stays_in_scope(world, persona, township_cases):
    assert names(selectors.case_list(persona("outsider"))) == ["伍军辉"]
    assert names(selectors.case_list(persona("village_a"))) == ["吴俊辉", "龙雨欣"]
    assert names(selectors.case_list(persona("teacher_x"))) == ["吴俊辉"]
    all_states = selectors.CaseFilters(status="all")
    assert names(selectors.case_list(persona("nobody"), all_states)) == []


def test_dashboard_counts(world, persona, township_cases):
    figures = selectors.dashboard(persona("office"))
    assert figures["states"] == [
        ("suspected", "疑似", 3),
        ("verifying", "核实中", 0),
        ("pending_review", "待审核", 0),
        ("confirmed", "已确认", 0),
        ("persuading", "劝返中", 0),
        ("placed", "已安置", 0),
        ("follow_up", "跟踪中", 0),
    ]
    assert figures["open_total"] == 3
    assert figures["overdue"] == 1
    assert figures["key_group"] == 1
    assert figures["unassigned"] == 2
    assert figures["by_village"] == [
        (world.village_a.pk, "乌岭村", 2),
        (world.village_b.pk, "高岜村", 1),
    ]
    assert figures["by_school"] == [
        (world.school_x.pk, "培秀苗族乡中心小学", 2),
        (world.school_y.pk, "培秀苗族乡民族中学", 1),
    ]
    weeks = figures["weeks"]
    assert len(weeks) == selectors.WEEKS
    assert weeks[-1]["open"] == figures["open_total"]
    assert (weeks[-1]["opened"], weeks[-1]["finished"]) == (4, 1)


def test_dashboard_weeks_trend(world, persona, township_cases):
    now = timezone.now()
    # 吴俊辉 opened before the 12-week window, 龙雨欣 exactly three weeks ago.
    Case.objects.filter(child__name="吴俊辉").update(opened_at=now - timedelta(days=100))
    Case.objects.filter(child__name="龙雨欣").update(opened_at=now - timedelta(days=21))
    today = timezone.localdate()
    weeks = selectors.dashboard(persona("office"), today=today)["weeks"]
    monday = today - timedelta(days=today.weekday())
    assert [w["week"] for w in weeks] == [monday - timedelta(weeks=11 - i) for i in range(12)]
    assert [w["opened"] for w in weeks] == [0] * 8 + [1, 0, 0, 2]
    assert [w["finished"] for w in weeks] == [0] * 11 + [1]
    assert [w["open"] for w in weeks] == [1] * 8 + [2, 2, 2, 3]


def test_dashboard_in_a_village(world, persona, township_cases):
    figures = selectors.dashboard(persona("outsider"))
    assert (figures["open_total"], figures["overdue"], figures["unassigned"]) == (1, 0, 1)
    assert figures["weeks"][-1]["open"] == 1
    assert selectors.dashboard(persona("nobody"))["open_total"] == 0
