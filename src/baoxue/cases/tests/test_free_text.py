"""A child's ID number typed into a case's free text is kept masked (issue 22 §1): the notes are
not where a number belongs, and a database copied without the key must not give one away."""

from __future__ import annotations

from django.utils import timezone

from baoxue.cases import services
from baoxue.cases.models import Case, CaseEvent, ReturnAttempt


def test_numbers_typed_into_notes_are_stored_masked(world, persona):
    child = world.child("龙雨欣")
    number = child.id_number
    spaced = f"{number[:6]} {number[6:14]} {number[14:]}"
    office = persona("office")
    case = services.case_open(actor=office, child=child, note=f"家长称身份证号{number}，未到校")
    services.attempt_record(
        actor=office,
        case=case,
        data={
            "method": "home_visit",
            "result": "refused",
            "people": "潘干部 13900000001",
            "attempted_on": timezone.localdate().isoformat(),
            "said": f"家长说孩子身份证是 {spaced}",
        },
    )
    case.refresh_from_db()
    services.plan_update(
        actor=office, case=case, measures=[], note=f"卡号{number}", version=case.version
    )
    case.refresh_from_db()
    attempt = ReturnAttempt.objects.get(case=case)
    stored = " ".join(
        [case.basis, case.plan_note, attempt.said, attempt.people]
        + [str(e.data) for e in CaseEvent.objects.filter(case=case)]
    )
    assert number[6:] not in stored.replace(" ", "")
    assert number[:6] in case.basis and "未到校" in case.basis  # the words stay, the region too
    assert "13900000001" in attempt.people  # a phone number is not a number to hide
    assert Case.objects.filter(basis__contains=number).count() == 0
