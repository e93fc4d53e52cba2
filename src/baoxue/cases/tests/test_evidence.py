"""Cases an inspection can trust (issue 21): every way off the list with its proof, checked by
the service; a dismissal proposed by a village, school or teacher waits for the township
office; 销号 is proposed and approved by someone who did not work the case; the people named
are real accounts (filled when a case opens, the reporter included) and hand over in one step.

Refusals also check that nothing was written (the case row, its history)."""

from __future__ import annotations

import io
from datetime import date, timedelta
from typing import Any

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone

from baoxue.attendance.models import AttendanceRecord
from baoxue.cases import selectors, services
from baoxue.cases.models import Case, CaseEvent, FollowUp, Responsibility
from baoxue.cases.tests.test_services import (
    JPEG,
    assign_all,
    in_follow_up,
    make_case,
    move,
    written,
)
from baoxue.core.models import AuditEvent
from baoxue.registry.models import Child, Enrollment
from baoxue.registry.services import child_create

ELSEWHERE = {
    "school": "广州市白云区某某小学",
    "student_number": "G450225201605020011",
    "verified_by": "乡控辍办 石某",
    "verified_how": "xueji",
    "verified_on": "2026-11-20",
}


def refused(persona: Any, case: Case, to: str, error: type[Exception], **data: Any) -> str:
    before = written(case)
    with pytest.raises(error) as caught:
        move(persona, case, to, **data)
    assert written(case) == before
    return " ".join(getattr(caught.value, "messages", [str(caught.value)]))


def proof(case: Case, actor: Any, name: str = "就读证明.jpg") -> str:
    item = services.attachment_add(
        actor=actor,
        case=case,
        upload=SimpleUploadedFile(name, JPEG, content_type="image/jpeg"),
        purpose="proof",
    )
    return str(item.public_id)


# -- every way out and its proof ----------------------------------------------------------------


def test_enrolled_elsewhere_needs_the_school_its_proof_and_who_verified_it(world, persona):
    case = make_case(world, "吴俊辉")
    message = refused(
        persona, case, "dismissed", ValidationError, reason="enrolled_elsewhere", evidence={}
    )
    for missing in ("接收学校名称", "学籍号或就读证明", "核实人", "核实方式", "核实日期"):
        assert missing in message
    done = move(persona, case, "dismissed", reason="enrolled_elsewhere", evidence=ELSEWHERE)
    assert (done.status, done.dismiss_reason) == ("dismissed", "enrolled_elsewhere")
    assert done.exit_evidence["school"] == ELSEWHERE["school"]
    assert done.exit_evidence["verified_how"] == "xueji"
    event = CaseEvent.objects.filter(case=case, kind="transition").get()
    assert event.data["evidence"]["verified_by"] == "乡控辍办 石某"


def test_a_scanned_certificate_stands_for_the_student_number(world, persona):
    case = make_case(world, "吴俊辉")
    other = make_case(world, "龙雨欣")
    without_number = {k: v for k, v in ELSEWHERE.items() if k != "student_number"}
    # A proof of another case does not count.
    foreign = proof(other, persona("office"))
    refused(
        persona,
        case,
        "dismissed",
        ValidationError,
        reason="enrolled_elsewhere",
        evidence=without_number,
        attachments=[foreign],
    )
    mine = proof(case, persona("office"))
    done = move(
        persona,
        case,
        "dismissed",
        reason="enrolled_elsewhere",
        evidence=without_number,
        attachments=[mine],
    )
    assert done.exit_evidence["attachments"] == [mine]


def test_a_verification_dated_in_the_future_is_refused(world, persona):
    case = make_case(world, "吴俊辉")
    tomorrow = (timezone.localdate() + timedelta(days=1)).isoformat()
    message = refused(
        persona,
        case,
        "dismissed",
        ValidationError,
        reason="enrolled_elsewhere",
        evidence={**ELSEWHERE, "verified_on": tomorrow},
    )
    assert "不能晚于今天" in message


@pytest.mark.parametrize("reason", ["moved_away", "deceased"])
def test_moved_away_or_deceased_needs_the_hukou_record_or_its_scan(world, persona, reason):
    case = make_case(world, "吴俊辉")
    message = refused(persona, case, "dismissed", ValidationError, reason=reason, evidence={})
    assert "户籍" in message
    done = move(
        persona,
        case,
        "dismissed",
        reason=reason,
        attachments=[proof(case, persona("office"), "户籍证明.jpg")],
    )
    assert done.status == "dismissed" and len(done.exit_evidence["attachments"]) == 1
    case = make_case(world, "龙雨欣")
    done = move(
        persona, case, "dismissed", reason=reason, evidence={"hukou_record": "迁移证 2026-031"}
    )
    assert done.exit_evidence["hukou_record"] == "迁移证 2026-031"


def test_a_data_error_names_the_wrong_record_and_its_correction(world, persona):
    case = make_case(world, "吴俊辉")
    message = refused(
        persona,
        case,
        "dismissed",
        ValidationError,
        reason="data_error",
        evidence={"wrong_record": "花名册重复登记"},
    )
    assert "更正后的情况" in message and "哪条记录有误" not in message


def test_over_age_is_computed_from_the_birth_date(world, persona):
    young = make_case(world, "吴俊辉")
    message = refused(persona, young, "dismissed", ValidationError, reason="over_age")
    assert "仍在义务教育年龄内" in message
    old = child_create(
        actor=None, name="吴老二", village=world.village_a, birth_date=date(2008, 3, 1)
    )
    case = Case.objects.create(
        child=old, kind=Case.Kind.TO_VERIFY, township=world.township, village=world.village_a
    )
    done = move(persona, case, "dismissed", reason="over_age")
    assert done.status == "dismissed" and done.exit_evidence["age"] >= 16


# -- a dismissal proposed by a village, school or teacher is reviewed ---------------------------


@pytest.mark.parametrize("username", ["village_a", "principal_x", "teacher_x"])
def test_others_propose_a_dismissal_and_the_office_approves_it(world, persona, username):
    case = make_case(world, "吴俊辉")
    message = refused(
        persona,
        case,
        "dismissed",
        PermissionDenied,
        actor=username,
        reason="enrolled_elsewhere",
        evidence=ELSEWHERE,
    )
    assert "请提交审核" in message
    # A proposal needs its evidence as much as a dismissal.
    refused(
        persona,
        case,
        "pending_review",
        ValidationError,
        actor=username,
        proposal="dismissed",
        reason="enrolled_elsewhere",
        evidence={},
    )
    pending = move(
        persona,
        case,
        "pending_review",
        actor=username,
        proposal="dismissed",
        reason="enrolled_elsewhere",
        evidence=ELSEWHERE,
    )
    assert (pending.status, pending.proposed_to, pending.proposed_by.username) == (
        "pending_review",
        "dismissed",
        username,
    )
    # 待审核 is open: still on the lists and counted.
    assert pending.is_open
    assert pending in selectors.case_list(persona("office"))
    # Only the office decides.
    refused(persona, pending, "dismissed", PermissionDenied, actor=username)
    refused(persona, pending, "dismissed", PermissionDenied, actor="leader")
    done = move(persona, pending, "dismissed")
    assert done.status == "dismissed" and done.exit_evidence["approved_by"] == "office"
    assert (done.proposed_to, done.proposed_by) == ("", None)


def test_the_office_returns_a_proposal_with_its_reason(world, persona):
    case = make_case(world, "吴俊辉")
    move(persona, case, "verifying", actor="village_a")
    move(
        persona,
        case,
        "pending_review",
        actor="village_a",
        proposal="dismissed",
        reason="moved_away",
        evidence={"hukou_record": "派出所证明"},
    )
    message = refused(persona, case, "verifying", ValidationError)
    assert "理由" in message
    back = move(persona, case, "verifying", note="派出所证明没有编号，请补扫描件")
    assert (back.status, back.dismiss_reason, back.exit_evidence) == ("verifying", "", {})
    event = CaseEvent.objects.filter(case=case, kind="transition").last()
    assert event.data["note"] == "派出所证明没有编号，请补扫描件"


def test_the_proposer_may_withdraw_and_nobody_else_outside_the_office(world, persona):
    case = make_case(world, "吴俊辉")
    move(
        persona,
        case,
        "pending_review",
        actor="teacher_x",
        proposal="dismissed",
        reason="data_error",
        evidence={"wrong_record": "重复", "correction": "删除"},
    )
    refused(persona, case, "suspected", PermissionDenied, actor="village_a", note="不对")
    back = move(persona, case, "suspected", actor="teacher_x", note="弄错了")
    assert back.status == "suspected"


# -- 销号 -----------------------------------------------------------------------------------------


def proposed_close(world: Any, persona: Any, actor: str = "office") -> Case:
    case = in_follow_up(world, persona)
    return move(persona, case, "pending_review", actor=actor, proposal="closed", note="已返校")


def test_closing_is_approved_by_someone_who_did_not_work_the_case(world, persona):
    case = proposed_close(world, persona)
    # The proposer may not approve.
    message = refused(persona, case, "closed", PermissionDenied, waiver="学期结束")
    assert "申请人以外" in message
    # Nor may a leader named on the case.
    Responsibility.objects.filter(case=case, line="government", level=1).update(
        user=persona("leader")
    )
    message = refused(persona, case, "closed", PermissionDenied, actor="leader", waiver="x")
    assert "责任人或报告人" in message
    Responsibility.objects.filter(case=case, line="government", level=1).update(user=None)
    # The intensive follow-ups lie ahead: the approver writes why closing now.
    message = refused(persona, case, "closed", ValidationError, actor="leader")
    assert "集中跟踪期还有" in message and "写明原因" in message
    done = move(persona, case, "closed", actor="leader", waiver="已转学外县，由对方学校跟踪")
    assert (done.status, done.closed_by.username, done.close_approver) == (
        "closed",
        "leader",
        "leader",
    )
    assert done.exit_evidence["waiver"].startswith("已转学外县")
    assert "培秀苗族乡中心小学" in done.close_evidence


@pytest.mark.parametrize("username", ["village_a", "principal_x", "teacher_x", "county"])
def test_only_the_office_or_a_leader_approves_a_closing(world, persona, username):
    case = proposed_close(world, persona, actor="village_a")
    refused(persona, case, "closed", PermissionDenied, actor=username, waiver="x")


def test_with_the_intensive_follow_ups_recorded_no_reason_is_needed(world, persona):
    case = in_follow_up(world, persona)
    today = timezone.localdate()
    # The schedule began long ago: every follow-up of the intensive period is recorded.
    CaseEvent.objects.filter(case=case, to_status="follow_up").update(
        at=timezone.now() - timedelta(days=200)
    )
    FollowUp.objects.filter(case=case).update(done_on=today, attendance="normal")
    move(persona, case, "pending_review", proposal="closed")
    assert move(persona, case, "closed", actor="leader").status == "closed"


def test_no_closing_while_the_latest_attendance_shows_absence(world, persona):
    case = in_follow_up(world, persona)
    today = timezone.localdate()
    enrollment = Enrollment.objects.get(child=case.child, is_current=True)
    AttendanceRecord.objects.create(
        enrollment=enrollment,
        child=case.child,
        school=enrollment.school,
        period_start=today - timedelta(days=30),
        period_end=today - timedelta(days=1),
        days_absent=12,
        longest_absence_days=8,
    )
    message = refused(persona, case, "pending_review", ValidationError, proposal="closed")
    assert "仍在缺勤" in message


def test_no_closing_without_a_local_enrollment(world, persona):
    case = in_follow_up(world, persona)
    Enrollment.objects.filter(child=case.child).update(status=Enrollment.Status.TRANSFERRED_OUT)
    message = refused(persona, case, "pending_review", ValidationError, proposal="closed")
    assert "本地在读学籍" in message


def test_a_returned_closing_keeps_its_follow_up_schedule(world, persona):
    case = proposed_close(world, persona)
    schedule = list(case.follow_ups.values_list("pk", flat=True))
    back = move(persona, case, "follow_up", actor="leader", note="再跟踪一个月")
    assert back.status == "follow_up"
    assert list(back.follow_ups.values_list("pk", flat=True)) == schedule


# -- follow-ups ---------------------------------------------------------------------------------


def test_a_follow_up_cannot_be_dated_in_the_future_or_done_too_early(world, persona):
    case = in_follow_up(world, persona)
    first = case.follow_ups.order_by("due_on").first()
    today = timezone.localdate()
    with pytest.raises(ValidationError, match="不能晚于今天"):
        services.follow_up_record(
            actor=persona("office"),
            case=case,
            follow_up=first,
            data={"attendance": "normal", "done_on": today + timedelta(days=1)},
        )
    # Due in a fortnight: recording it today is not the check the schedule asks for.
    with pytest.raises(ValidationError, match="最早"):
        services.follow_up_record(
            actor=persona("office"),
            case=case,
            follow_up=first,
            data={"attendance": "normal", "done_on": today},
        )
    assert not case.follow_ups.exclude(done_on=None).exists()


# -- real people on cases -----------------------------------------------------------------------


def test_the_reconciliation_names_the_accounts_holding_the_default_levels(world, persona):
    from baoxue.reconcile.services import run_create, run_execute

    run_execute(run_create(actor=persona("office")), today=date(2026, 11, 29))
    opened = Case.objects.filter(source="reconcile", village=world.village_a)
    assert opened.exists()
    for case in opened:
        named = {(r.line, r.level): r.user.username for r in case.responsibilities.all()}
        assert named.get(("government", 3)) == "village_a"
        if case.school_id == world.school_x.pk:
            assert named.get(("education", 2)) == "principal_x"
    # Each of them finds those cases in 我的案件.
    mine = set(selectors.caseload(persona("village_a")).values_list("pk", flat=True))
    assert set(opened.filter(status__in=selectors.OPEN_STATES).values_list("pk", flat=True)) <= mine


def test_unassigned_means_a_required_level_has_nobody(world, persona):
    case = make_case(world, "吴俊辉")
    for line in ("government", "education"):
        services.assign(actor=persona("office"), case=case, line=line, level=3, name="某")
    unassigned = selectors.case_list(persona("office"), selectors.CaseFilters(unassigned=True))
    assert case in unassigned  # both lines have someone, but not every required level
    assign_all(persona, case)
    assert case not in unassigned.all()


def test_the_reporter_keeps_the_case_and_the_child_when_the_class_changes(world, persona, login):
    child = world.child("吴俊辉")
    case = services.case_open(actor=persona("teacher_x"), child=child, note="连续三天未到校")
    # The child moves to another class: the teacher no longer has the child by class.
    Child.objects.filter(pk=child.pk).update(current_class="2班")
    Responsibility.objects.filter(case=case, user=persona("teacher_x")).delete()
    assert case in selectors.caseload(persona("teacher_x"))
    client = login("teacher_x")
    assert client.get(reverse("cases:detail", args=[case.public_id])).status_code == 200
    page = client.get(reverse("registry:child_detail", args=[child.public_id]))
    assert page.status_code == 200
    assert AuditEvent.objects.filter(
        actor=persona("teacher_x"), action="child.viewed_as_named"
    ).exists()


def test_a_person_named_on_a_case_may_open_the_childs_page(world, persona, login):
    child = world.child("伍军辉")  # 高岜村, 3年级2班: not village_a's, not teacher_x's
    case = make_case(world, "伍军辉")
    client = login("teacher_x")
    url = reverse("registry:child_detail", args=[child.public_id])
    assert client.get(url).status_code == 404
    services.assign(
        actor=persona("office"),
        case=case,
        line="education",
        level=4,
        name="teacher_x",
        user=persona("teacher_x"),
    )
    assert client.get(url).status_code == 200
    # Once the case is finished the child is out of reach again.
    Case.objects.filter(pk=case.pk).update(status="closed")
    assert client.get(url).status_code == 404


def test_the_office_hands_a_departing_teachers_cases_over_in_one_step(world, persona):
    child = world.child("吴俊辉")
    case = services.case_open(actor=persona("teacher_x"), child=child, note="未到校")
    assert case.responsibilities.filter(user=persona("teacher_x"), ended_at=None).exists()
    with pytest.raises(PermissionDenied):
        services.hand_over(
            actor=persona("village_a"),
            departing=persona("teacher_x"),
            successor=persona("principal_x"),
        )
    n = services.hand_over(
        actor=persona("office"),
        departing=persona("teacher_x"),
        successor=persona("principal_x"),
        deactivate=True,
    )
    assert n == 1
    case.refresh_from_db()
    assert not persona("teacher_x").is_active
    assert not Responsibility.objects.filter(user=persona("teacher_x"), ended_at=None).exists()
    assert case.reported_by.username == "principal_x"
    level3 = case.responsibilities.get(line="education", level=3, ended_at=None)
    assert level3.user.username == "principal_x"
    assert CaseEvent.objects.filter(case=case, kind="handover").exists()


# -- pages ---------------------------------------------------------------------------------------


def test_a_village_cadre_proposes_with_a_photo_and_the_office_approves(world, persona, login):
    case = make_case(world, "吴俊辉")
    cadre = login("village_a")
    photo = io.BytesIO(JPEG)
    photo.name = "就读证明.jpg"
    form = {
        "version": case.version,
        "to": "pending_review",
        "proposal": "dismissed",
        "reason": "enrolled_elsewhere",
        **{k: v for k, v in ELSEWHERE.items() if k != "student_number"},
    }
    # Without the photo (and without a 学籍号) the form comes back with what is missing.
    response = cadre.post(reverse("cases:move", args=[case.public_id]), form)
    assert response.status_code == 400 and "学籍号或就读证明" in response.content.decode()
    assert not case.attachments.exists()
    response = cadre.post(reverse("cases:move", args=[case.public_id]), {**form, "proof": photo})
    assert response.status_code == 302
    case.refresh_from_db()
    assert case.status == "pending_review" and case.attachments.get().purpose == "proof"
    office = login("office")
    page = office.get(reverse("cases:detail", args=[case.public_id])).content.decode()
    assert 'data-testid="approve-form"' in page and "就读证明.jpg" in page
    response = office.post(
        reverse("cases:move", args=[case.public_id]),
        {"version": case.version, "to": "dismissed"},
    )
    assert response.status_code == 302
    case.refresh_from_db()
    assert case.status == "dismissed"


def test_a_refused_move_keeps_no_uploaded_file(world, persona, login):
    case = make_case(world, "吴俊辉")
    cadre = login("village_a")
    photo = io.BytesIO(JPEG)
    photo.name = "证明.jpg"
    response = cadre.post(
        reverse("cases:move", args=[case.public_id]),
        {"version": case.version, "to": "pending_review", "proposal": "dismissed", "proof": photo},
    )
    assert response.status_code == 400
    assert not case.attachments.exists()


def test_the_phone_page_starts_with_the_family_and_the_next_step(world, persona, login):
    case = in_follow_up(world, persona)
    page = login("village_a").get(reverse("cases:detail", args=[case.public_id])).content.decode()
    head = page.index('data-testid="case-head"')
    assert head < page.index('data-testid="next-step"') < page.index('data-testid="people"')
    assert 'href="tel:13800000001"' in page
    # In 跟踪中 the next step is the due follow-up, empty; 劝返 is only a quiet way back.
    step = page[page.index('data-testid="next-step"') : page.index('id="attempts"')]
    assert 'data-testid="due-follow-up"' in step
    assert 'name="done_on" max=' in step and 'value=""' in step
    assert 'btn btn-primary btn-sm" data-testid="move-persuading"' not in step
    assert "opened" not in page[page.index('data-testid="history"') :]


def test_an_empty_caseload_points_to_the_open_cases_in_scope(world, persona, login):
    make_case(world, "吴俊辉")
    page = login("village_a").get(reverse("cases:mine")).content.decode()
    assert 'data-testid="in-scope-hint"' in page and "1 个未结案件" in page


def test_the_handover_page_lists_switched_off_accounts_still_named(world, persona, login):
    case = make_case(world, "吴俊辉")
    services.assign(
        actor=persona("office"),
        case=case,
        line="education",
        level=3,
        name="teacher_x",
        user=persona("teacher_x"),
    )
    type(persona("teacher_x")).objects.filter(username="teacher_x").update(is_active=False)
    office = login("office")
    page = office.get(reverse("cases:handover")).content.decode()
    assert "已停用，仍挂在案件上" in page
    response = office.post(
        reverse("cases:handover"),
        {"departing": persona("teacher_x").pk, "user": persona("principal_x").pk},
    )
    assert response.status_code == 302
    assert not Responsibility.objects.filter(user=persona("teacher_x"), ended_at=None).exists()


def test_the_case_file_says_why_the_child_left_the_list(world, persona):
    from docx import Document

    from baoxue.cases import documents

    case = make_case(world, "吴俊辉")
    move(persona, case, "dismissed", reason="enrolled_elsewhere", evidence=ELSEWHERE)
    doc = Document(io.BytesIO(documents.case_file(case)))
    text = "\n".join(cell.text for table in doc.tables for row in table.rows for cell in row.cells)
    for expected in (
        "排除或销号的证据",
        "接收学校：广州市白云区某某小学",
        "核实方式：全国学籍系统查询",
    ):
        assert expected in text


# -- a verified fact moves the child in the 比对 -------------------------------------------------


def test_a_dismissal_with_proof_moves_the_child_out_of_to_verify(world, persona):
    from baoxue.reconcile import engine
    from baoxue.reconcile.models import RunChild
    from baoxue.reconcile.services import run_create, run_execute

    day = timezone.localdate()
    run = run_execute(run_create(actor=persona("office")), today=day)
    result = RunChild.objects.get(run=run, child__name="石丽")  # on no 学籍: 待核实
    assert result.category == engine.TO_VERIFY
    case = Case.objects.open().get(child__name="石丽")
    move(persona, case, "dismissed", reason="enrolled_elsewhere", evidence=ELSEWHERE)
    result.refresh_from_db()
    assert (result.category, result.basis) == (
        engine.ELSEWHERE,
        "经核实在广州市白云区某某小学就读（有证明）",
    )
    # The next run reaches the same category from the same evidence and opens no case.
    again = run_execute(run_create(actor=persona("office")), today=day)
    assert RunChild.objects.get(run=again, child__name="石丽").category == engine.ELSEWHERE
    assert not Case.objects.open().filter(child__name="石丽").exists()


def test_a_verified_move_marks_the_registry_record(world, persona):
    from baoxue.reconcile import engine
    from baoxue.reconcile.models import RunChild
    from baoxue.reconcile.services import run_create, run_execute

    run = run_execute(run_create(actor=persona("office")), today=timezone.localdate())
    case = Case.objects.open().get(child__name="石丽")
    move(persona, case, "dismissed", reason="moved_away", evidence={"hukou_record": "迁移证 01"})
    assert Child.records.get(name="石丽").moved_away
    assert RunChild.objects.get(run=run, child__name="石丽").category == engine.GONE


def test_a_refused_approval_is_logged(world, persona, login):
    case = make_case(world, "吴俊辉")
    move(
        persona,
        case,
        "pending_review",
        actor="village_a",
        proposal="dismissed",
        reason="enrolled_elsewhere",
        evidence=ELSEWHERE,
    )
    case.refresh_from_db()
    response = login("village_a").post(
        reverse("cases:move", args=[case.public_id]), {"version": case.version, "to": "dismissed"}
    )
    assert response.status_code == 400
    refusal = AuditEvent.objects.get(action="case.move_refused")
    assert refusal.actor.username == "village_a" and refusal.data["to"] == "dismissed"


# -- a case follows its child ------------------------------------------------------------------


def test_a_case_follows_its_child_to_another_village(world, persona, login):
    """A roster moved 伍军辉 from 高岜村 to 乌岭村: the new village sees the case and its Word
    file, the old one (outsider, 高岜村's cadre) gets 404 — unless named on it."""
    from baoxue.registry.models import Region

    child = world.child("伍军辉")
    case = services.case_open(actor=persona("office"), child=child, note="未到校")
    assert case.village_id == world.village_b.pk
    outsider = persona("outsider")
    # The 比对 would have named 高岜村's cadre at level 3: the same by hand here.
    services.assign(
        actor=persona("office"),
        case=case,
        line="government",
        level=3,
        name="outsider",
        user=outsider,
    )
    group = Region.objects.filter(parent=world.village_a).first()
    Child.records.filter(pk=child.pk).update(
        village=world.village_a, group=group, township=world.township
    )
    assert services.follow_children(township_ids=[world.township.pk]) == 1
    case.refresh_from_db()
    assert case.village_id == world.village_a.pk
    named = {
        (r.line, r.level): r.user.username
        for r in case.responsibilities.filter(ended_at=None)
        if r.user
    }
    assert named[("government", 3)] == "village_a"
    assert CaseEvent.objects.filter(case=case, kind="moved").exists()
    assert login("village_a").get(reverse("cases:detail", args=[case.public_id])).status_code == 200
    assert login("village_a").get(reverse("cases:file", args=[case.public_id])).status_code == 200
    assert login("outsider").get(reverse("cases:detail", args=[case.public_id])).status_code == 404
    assert login("outsider").get(reverse("cases:file", args=[case.public_id])).status_code == 404
