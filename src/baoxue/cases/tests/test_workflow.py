"""The case workflow through its services: allowed moves, refusals that change nothing, the
双线四包 gate, the version check, reopening with history."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from baoxue.cases.models import Case, CaseEvent
from baoxue.cases.workflow import Conflict, assign, transition
from baoxue.registry.models import School
from baoxue.registry.services import enrollment_create

DATA_ERROR = {"wrong_record": "花名册重复登记", "correction": "已删除重复记录"}


@pytest.fixture
def case(world):
    return Case.objects.create(
        child=world.child("石丽"),
        kind=Case.Kind.TO_VERIFY,
        township=world.township,
        village=world.village_b,
    )


def assign_all(persona, case):
    for line in ("government", "education"):
        for level in (1, 2, 3, 4):
            assign(
                actor=persona("office"), case=case, line=line, level=level, name=f"{line}{level}"
            )


def move(persona, case, to, **data):
    case.refresh_from_db()
    return transition(actor=persona("office"), case=case, to=to, version=case.version, data=data)


def test_full_way_from_suspected_to_closed_with_history(case, persona):
    move(persona, case, "verifying")
    move(
        persona, case, "confirmed", kind="dropped_out", reasons=["work", "family"], began="2026-09"
    )
    assign_all(persona, case)
    move(persona, case, "persuading")
    x = School.objects.get(code="2145993101")
    placed = move(
        persona,
        case,
        "placed",
        placement={
            "kind": "back_in_school",
            "school_id": x.pk,
            "grade": 5,
            "placed_on": "2026-10-08",
        },
    )
    assert placed.placements.get().school == x
    move(persona, case, "follow_up")
    # 销号 needs the child back in a local 学籍 (the 学籍 import brings it).
    with pytest.raises(ValidationError, match="本地在读学籍"):
        move(persona, case, "pending_review", proposal="closed")
    enrollment_create(actor=None, child=case.child, school=x, grade=5)
    move(persona, case, "pending_review", proposal="closed", note="返校后正常上课")
    case.refresh_from_db()
    closed = transition(
        actor=persona("leader"),
        case=case,
        to="closed",
        version=case.version,
        data={"waiver": "学期已结束", "evidence": "连续出勤 8 周"},
    )
    assert closed.status == "closed" and closed.closed_at is not None
    assert closed.kind == Case.Kind.DROPPED_OUT and closed.version == 8
    assert closed.closed_by.username == "leader" and "培秀苗族乡中心小学 5年级" in (
        closed.close_evidence
    )
    kinds = list(CaseEvent.objects.filter(case=case).values_list("kind", "to_status"))
    assert kinds[0] == ("transition", "verifying") and kinds[-1] == ("transition", "closed")
    # Dropped out again: reopened, the history stays.
    reopened = move(persona, case, "suspected")
    assert reopened.is_open and reopened.closed_at is None
    assert CaseEvent.objects.filter(case=case, kind="transition").count() == 8


@pytest.mark.parametrize(
    ("to", "data", "message"),
    [
        ("closed", {}, "不能从"),
        ("pending_review", {"proposal": "closed"}, "提交审核的事项"),
        ("dismissed", {"reason": "data_error"}, "哪条记录有误"),
        ("dismissed", {"reason": "bored"}, "排除须选择原因"),
        ("confirmed", {"kind": "dropped_out", "reasons": []}, "须选择原因"),
        ("confirmed", {"kind": "nope", "reasons": ["work"]}, "失学或辍学"),
    ],
)
def test_refused_moves_change_nothing(case, persona, to, data, message):
    with pytest.raises(ValidationError, match=message):
        move(persona, case, to, **data)
    case.refresh_from_db()
    assert (case.status, case.version) == ("suspected", 1)
    assert not CaseEvent.objects.filter(case=case).exists()


def test_leaving_confirmed_needs_every_required_level_on_both_lines(case, persona, settings):
    move(persona, case, "confirmed", kind="never_enrolled", reasons=["distance"])
    with pytest.raises(ValidationError, match="双线"):
        move(persona, case, "persuading")
    for level in (1, 2, 3, 4):
        assign(actor=persona("office"), case=case, line="government", level=level, name="乡干部")
    with pytest.raises(ValidationError, match="教师包学生"):
        move(persona, case, "persuading")
    # A township that requires only levels 3 and 4 (settings): the two lower are enough.
    settings.BAOXUE_CASE_REQUIRED_LEVELS = [3, 4]
    assign(actor=persona("office"), case=case, line="education", level=3, name="班主任")
    with pytest.raises(ValidationError, match="教师包学生"):
        move(persona, case, "persuading")
    assign(actor=persona("office"), case=case, line="education", level=4, name="教师")
    assert move(persona, case, "persuading").status == "persuading"


def test_reassigning_keeps_the_history(case, persona):
    first = assign(actor=persona("office"), case=case, line="government", level=3, name="组长甲")
    second = assign(actor=persona("office"), case=case, line="government", level=3, name="组长乙")
    first.refresh_from_db()
    assert first.ended_at is not None and second.ended_at is None
    event = CaseEvent.objects.filter(case=case, kind="responsibility").last()
    assert event.data["replaces"] == ["组长甲"]


def test_two_people_editing_the_same_case(case, persona):
    stale = Case.objects.get(pk=case.pk)
    move(persona, case, "verifying")
    with pytest.raises(Conflict, match="刚被别人修改过"):
        transition(
            actor=persona("office"),
            case=stale,
            to="dismissed",
            version=stale.version,
            data={"reason": "data_error", "evidence": DATA_ERROR},
        )
    case.refresh_from_db()
    assert case.status == "verifying"


@pytest.mark.parametrize(
    ("placement", "message"),
    [
        (None, "安置方式"),
        ({"kind": "back_in_school", "placed_on": "2026-10-08"}, "学校和年级"),
        ({"kind": "exempt", "placed_on": "2026-10-08", "approver": "县教育局"}, "监护人申请"),
        ({"kind": "home_teaching", "placed_on": "someday"}, "安置日期"),
    ],
)
def test_a_placement_needs_its_facts(case, persona, placement, message):
    move(persona, case, "confirmed", kind="dropped_out", reasons=["illness"])
    assign_all(persona, case)
    with pytest.raises(ValidationError, match=message):
        move(persona, case, "placed", placement=placement)
    case.refresh_from_db()
    assert case.status == "confirmed" and not case.placements.exists()


def test_an_approved_exemption_makes_the_child_exempt_in_the_reconciliation(case, persona):
    from datetime import date

    from baoxue.reconcile import engine
    from baoxue.reconcile.models import RunChild
    from baoxue.reconcile.services import run_create, run_execute

    move(persona, case, "confirmed", kind="never_enrolled", reasons=["disability"])
    assign_all(persona, case)
    move(
        persona,
        case,
        "placed",
        placement={
            "kind": "exempt",
            "placed_on": "2026-10-08",
            "application": "监护人申请书（2026-09-30）",
            "conclusion": "县残疾儿童入学评估委员会：重度残疾，暂缓入学",
            "approver": "县教育局",
            "review_date": "2027-08-31",
        },
    )
    run = run_execute(run_create(actor=persona("office")), today=date(2026, 11, 29))
    result = RunChild.objects.get(run=run, child=case.child)
    assert result.category == engine.EXEMPT


def test_naming_the_same_person_twice_writes_once(case, persona):
    first = assign(actor=persona("office"), case=case, line="education", level=3, name="班主任甲")
    again = assign(actor=persona("office"), case=case, line="education", level=3, name="班主任甲")
    assert again.pk == first.pk and case.responsibilities.count() == 1
    assert CaseEvent.objects.filter(case=case, kind="responsibility").count() == 1


def test_reopening_while_the_child_has_another_open_case_is_refused(case, persona, world):
    move(persona, case, "dismissed", reason="data_error", evidence=DATA_ERROR)
    other = Case.objects.create(
        child=case.child, kind=Case.Kind.TO_VERIFY, township=world.township, village=world.village_b
    )
    with pytest.raises(ValidationError, match="已有未结案件"):
        move(persona, case, "suspected")
    case.refresh_from_db()
    assert case.status == "dismissed" and other.is_open
