"""What a visit's findings do to the children's cases (visits.links): a case opened for a child
found out of school, a 劝返 attempt on an open case, a 待核实 child's dismissal proposed with the
visit's evidence for the office to approve — and a visit kept whatever the case could not take."""

from __future__ import annotations

from datetime import date, timedelta
from io import BytesIO

from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone
from PIL import Image

from baoxue.cases import workflow
from baoxue.cases.models import Attachment, Case, ReturnAttempt
from baoxue.cases.services import case_open
from baoxue.registry import services as registry
from baoxue.registry.models import Child, Household
from baoxue.visits import links, services
from baoxue.visits.models import HomeVisit, VisitChild


def _png() -> SimpleUploadedFile:
    out = BytesIO()
    Image.new("RGB", (30, 20), "white").save(out, "PNG")
    return SimpleUploadedFile("就读证明.png", out.getvalue(), content_type="image/png")


def _target(world, persona, visitor="office"):
    today = timezone.localdate()
    campaign = services.campaign_create(
        actor=persona("office"),
        township=world.township,
        name="核查",
        starts_on=today - timedelta(days=1),
        ends_on=today + timedelta(days=9),
        groups=["lifted"],
    )
    target = campaign.targets.get(label="吴老大")
    services.targets_assign(
        actor=persona("office"), campaign=campaign, visitor=persona(visitor), target_ids=[target.pk]
    )
    target.refresh_from_db()
    return target


def _visit(actor, target, child, status, *, client_id="v1", where="", photos=(), method="home"):
    return services.visit_record(
        actor=actor,
        target=target,
        client_id=client_id,
        data={
            "method": method,
            "visited_on": timezone.localdate().isoformat(),
            "visitors": "韦老师、村支书",
            "people_met": "吴老大",
            "problems": "",
        },
        children=[{"child": child.pk, "seen": True, "status": status, "where": where}],
        photos=list(photos),
    )


def test_a_child_found_at_home_gets_a_case(world, persona):
    target = _target(world, persona)
    child = Child.objects.get(name="吴俊辉")
    visit, _ = _visit(persona("office"), target, child, "at_home")
    case = Case.objects.open().get(child=child)
    row = visit.children.get()
    assert (row.link, row.case) == ("opened", case)
    assert "立案" in row.link_note


def test_a_visit_on_an_open_case_is_a_return_attempt_there_once(world, persona):
    target = _target(world, persona)
    child = Child.objects.get(name="吴俊辉")
    case = case_open(actor=persona("office"), child=child, note="老师发现连续缺课")
    visit, _ = _visit(persona("office"), target, child, "working", where="广东东莞")
    attempt = ReturnAttempt.objects.get(case=case)
    assert attempt.method == ReturnAttempt.Method.HOME_VISIT
    assert "东莞" in attempt.said and attempt.people == "韦老师、村支书"
    assert links.apply(visit, persona("office")) == []  # applied again: nothing new
    assert ReturnAttempt.objects.filter(case=case).count() == 1
    assert Case.objects.open().filter(child=child).count() == 1


def test_a_to_verify_child_found_studying_elsewhere_is_proposed_for_dismissal_with_proof(
    world, persona, settings, tmp_path
):
    settings.MEDIA_ROOT = tmp_path
    target = _target(world, persona, visitor="village_a")
    child = Child.objects.get(name="吴俊辉")
    case = Case.objects.create(
        child=child,
        kind=Case.Kind.TO_VERIFY,
        status=Case.Status.SUSPECTED,
        township=world.township,
        village=world.village_a,
    )
    visit, _ = _visit(
        persona("village_a"),
        target,
        child,
        "elsewhere",
        where="柳州市第十二中学",
        photos=[_png()],
    )
    case.refresh_from_db()
    assert case.status == Case.Status.PENDING_REVIEW
    assert (case.proposed_to, case.dismiss_reason) == (Case.Status.DISMISSED, "enrolled_elsewhere")
    assert case.exit_evidence["school"] == "柳州市第十二中学"
    assert case.exit_evidence["verified_how"] == "visit"
    proof = Attachment.objects.get(case=case, purpose="proof")
    assert case.exit_evidence["attachments"] == [str(proof.public_id)]
    assert proof.name == "就读证明.png" and proof.size > 0
    assert visit.children.get().link == "proposed"
    # The township office approves it as any other dismissal.
    dismissed = workflow.transition(
        actor=persona("office"), case=case, to=Case.Status.DISMISSED, version=case.version
    )
    assert dismissed.status == Case.Status.DISMISSED


def test_a_phone_verification_proposes_with_the_phone_as_the_way_it_was_verified(world, persona):
    target = _target(world, persona)
    child = Child.objects.get(name="吴俊辉")
    case = Case.objects.create(
        child=child,
        kind=Case.Kind.TO_VERIFY,
        status=Case.Status.SUSPECTED,
        township=world.township,
        village=world.village_a,
    )
    # No photo: a 学籍号 or a certificate is still wanted, so the proposal is refused, in
    # words, and the visit stays.
    visit, created = _visit(
        persona("office"), target, child, "elsewhere", where="南宁市某小学", method="phone"
    )
    assert created and HomeVisit.objects.filter(pk=visit.pk).exists()
    row = visit.children.get()
    assert row.link == "refused" and "证据不全" in row.link_note
    case.refresh_from_db()
    assert case.status == Case.Status.SUSPECTED


def test_a_teacher_visiting_a_sibling_outside_her_class_keeps_the_visit_and_is_told(world, persona):
    household = Household.objects.get(head_name="吴老大")
    sibling = registry.child_create(
        actor=None,
        name="吴小弟",
        village=world.village_a,
        household=household,
        birth_date=date(2015, 3, 3),
        sex="M",
    )
    target = _target(world, persona, visitor="teacher_x")
    visit, _ = _visit(persona("teacher_x"), target, sibling, "working")
    row = VisitChild.objects.get(visit=visit)
    assert row.link == "refused" and "未能处理案件" in row.link_note
    assert not Case.objects.filter(child=sibling).exists()
