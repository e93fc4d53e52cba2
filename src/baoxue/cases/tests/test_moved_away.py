"""A case follows its child, and the place the child left reads it for a while (issue 22 §3).

伍军辉 lives in 高岜村 (the `outsider` persona's village) and a roster moves him to a new village
with no cadre account yet. 高岜村 keeps reading the case — read-only, the records up to the move,
nothing of where he lives now — until someone of the new village is named on it, or for
BAOXUE_CASE_MOVE_GRACE_DAYS; whoever of 高岜村 is still named keeps working it.
"""

from __future__ import annotations

import io
from datetime import timedelta
from typing import Any

import pytest
from django.core.exceptions import PermissionDenied
from django.urls import reverse
from django.utils import timezone
from docx import Document

from baoxue.accounts.models import Role
from baoxue.accounts.services import Grant, user_create
from baoxue.cases import selectors, services
from baoxue.cases.models import Case, CaseEvent, EscalationDocument
from baoxue.registry import services as registry_services
from baoxue.registry.models import Child, Region

RETURN_NOTICE = EscalationDocument.Kind.RETURN_NOTICE.value


def _docx_text(content: bytes) -> str:
    doc = Document(io.BytesIO(content))
    parts = [p.text for p in doc.paragraphs]
    for table in doc.tables:
        for row in table.rows:
            parts += [cell.text for cell in row.cells]
    return "\n".join(parts)


@pytest.fixture
def moved(world: Any, persona: Any) -> tuple[Case, Region]:
    """伍军辉's case opened in 高岜村 with a visit recorded, then a roster moves him (and his
    guardian's phone changes) to 新寨村, a village without a cadre account. 高岜村's cadre
    is no longer named on the case."""
    child = world.child("伍军辉")
    registry_services.guardian_add(
        actor=None, child=child, name="伍老二", relation="father", phone="13900000002"
    )
    office = persona("office")
    case = services.case_open(actor=office, child=child, note="未到校")
    services.attempt_record(
        actor=persona("outsider"),
        case=case,
        data={
            "attempted_on": timezone.localdate().isoformat(),
            "method": "home_visit",
            "people": "高岜村干部",
            "result": "refused",
            "said": "家长说过完年再去",
        },
    )
    # The office names a contact without an account at 高岜村's level: outsider is not named.
    services.assign(
        actor=office, case=case, line="government", level=3, name="高岜村联系人", user=None
    )
    assert not case.responsibilities.filter(user=persona("outsider"), ended_at=None).exists()
    new_village = registry_services.region_create(
        name="新寨村", level="village", parent=world.township, code="450225212009"
    )
    Child.records.filter(pk=child.pk).update(village=new_village, group=None)
    child.guardians.update(phone="13711112222")
    assert services.follow_children(township_ids=[world.township.pk]) == 1
    case.refresh_from_db()
    return case, new_village


def test_the_new_village_works_the_case_and_the_old_one_reads_it(moved, persona, login):
    case, new_village = moved
    assert case.village_id == new_village.pk
    assert case.previous_village is not None and case.previous_village.name == "高岜村"
    assert CaseEvent.objects.filter(case=case, kind="moved", data__to="新寨村").exists()
    outsider = login("outsider")
    page = outsider.get(reverse("cases:detail", args=[case.public_id]))
    assert page.status_code == 200
    text = page.content.decode()
    assert 'data-testid="moved-away"' in text and "只读" in text
    assert "家长说过完年再去" in text  # what 高岜村 recorded before the move
    # Nothing of where the child lives now: not the new village, not the new phone.
    assert "新寨村" not in text and "13711112222" not in text
    assert reverse("cases:move", args=[case.public_id]) not in text  # no form to work it
    # Out of the lists' counts (worked elsewhere), listed apart on the case list.
    assert not Case.objects.visible_to(persona("outsider")).filter(pk=case.pk).exists()
    listing = outsider.get(reverse("cases:list")).content.decode()
    assert 'data-testid="moved-away-list"' in listing and "伍军辉" in listing


def test_the_old_village_cannot_work_the_case(moved, persona, login):
    case, _village = moved
    with pytest.raises(PermissionDenied):
        services.attempt_record(
            actor=persona("outsider"),
            case=case,
            data={
                "attempted_on": timezone.localdate().isoformat(),
                "method": "phone",
                "people": "x",
                "result": "refused",
            },
        )
    response = login("outsider").post(
        reverse("cases:move", args=[case.public_id]), {"version": case.version, "to": "verifying"}
    )
    assert response.status_code == 400
    case.refresh_from_db()
    assert case.status == Case.Status.SUSPECTED
    # A notice prints the guardian's address and phone now: not for the old village.
    notice = login("outsider").get(reverse("cases:notice", args=[case.public_id, RETURN_NOTICE]))
    assert notice.status_code == 404


def test_the_old_villages_word_file_holds_only_what_it_saw(moved, login):
    case, _village = moved
    response = login("outsider").get(reverse("cases:file", args=[case.public_id]))
    assert response.status_code == 200
    text = _docx_text(response.content)
    assert "伍军辉" in text and "家长说过完年再去" in text and "已迁出高岜村" in text
    assert "新寨村" not in text and "13711112222" not in text and "13900000002" not in text
    # The office's file is the whole one.
    whole = _docx_text(login("office").get(reverse("cases:file", args=[case.public_id])).content)
    assert "新寨村" in whole and "13711112222" in whole


def test_reading_ends_when_the_new_village_names_its_cadre(moved, persona, login):
    case, new_village = moved
    cadre = user_create(
        actor=None,
        username="xinzhai",
        password="a-long-pass-2025",
        display_name="新寨村干部",
        grants=[Grant(Role.VILLAGE, region=new_village)],
        check_password=False,
    )
    assert login("outsider").get(reverse("cases:detail", args=[case.public_id])).status_code == 200
    services.assign(
        actor=persona("office"), case=case, line="government", level=3, name="x", user=cadre
    )
    case.refresh_from_db()
    assert case.previous_village_id is None
    assert login("outsider").get(reverse("cases:detail", args=[case.public_id])).status_code == 404
    assert login("xinzhai").get(reverse("cases:detail", args=[case.public_id])).status_code == 200


def test_reading_ends_after_the_grace_days(moved, login, settings):
    case, _village = moved
    Case.objects.filter(pk=case.pk).update(
        moved_at=timezone.now() - timedelta(days=settings.BAOXUE_CASE_MOVE_GRACE_DAYS + 1)
    )
    assert login("outsider").get(reverse("cases:detail", args=[case.public_id])).status_code == 404
    assert login("outsider").get(reverse("cases:file", args=[case.public_id])).status_code == 404


def test_someone_of_the_old_village_still_named_keeps_working_it(world, persona):
    """No account in the new village to take over: 高岜村's cadre stays named and works on."""
    child = world.child("伍军辉")
    case = services.case_open(actor=persona("office"), child=child, note="未到校")
    services.assign(
        actor=persona("office"),
        case=case,
        line="government",
        level=3,
        name="outsider",
        user=persona("outsider"),
    )
    new_village = registry_services.region_create(
        name="新寨村", level="village", parent=world.township, code="450225212009"
    )
    Child.records.filter(pk=child.pk).update(village=new_village, group=None)
    services.follow_children(township_ids=[world.township.pk])
    case.refresh_from_db()
    assert not selectors.moved_away(persona("outsider"), case)
    services.attempt_record(
        actor=persona("outsider"),
        case=case,
        data={
            "attempted_on": timezone.localdate().isoformat(),
            "method": "phone",
            "people": "高岜村干部",
            "result": "refused",
        },
    )
    assert case.attempts.count() == 1


def test_a_school_change_hands_the_principal_over(world, persona):
    """A 学籍 moved to another school with a principal account: the old principal, named by
    default, hands over to the new school's, and the old school does not keep reading."""
    child = world.child("吴俊辉")
    case = services.case_open(actor=persona("office"), child=child, note="未到校")
    named = {r.user.username for r in case.responsibilities.filter(ended_at=None) if r.user}
    assert "principal_x" in named
    principal = user_create(
        actor=None,
        username="principal_y",
        password="a-long-pass-2025",
        display_name="民族中学校长",
        grants=[Grant(Role.SCHOOL, school=world.school_y)],
        check_password=False,
    )
    Child.records.filter(pk=child.pk).update(current_school=world.school_y)
    services.follow_children(township_ids=[world.township.pk])
    case.refresh_from_db()
    assert case.school_id == world.school_y.pk
    named = {r.user.username for r in case.responsibilities.filter(ended_at=None) if r.user}
    assert "principal_y" in named and "principal_x" not in named
    assert case.previous_school_id is None  # the new school's principal is named
    assert Case.objects.visible_to(principal).filter(pk=case.pk).exists()
    assert (
        not Case.objects.visible_to(persona("principal_x"), moved_away=True)
        .filter(pk=case.pk)
        .exists()
    )
