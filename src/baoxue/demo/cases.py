"""The demo's case work, done through the same services a township uses: the 比对 has named the
accounts holding the default levels (the village's cadre, the principal, the class teacher);
the office names the upper levels of 双线四包 that are still empty, the teacher is named on two
of the cadre's cases, and a handful of cases are taken along the way (verified, confirmed,
persuaded, placed, followed up, closed with a leader's approval, dismissed with evidence,
a dismissal waiting for review), some with a step overdue."""

from __future__ import annotations

import random
from datetime import timedelta
from typing import Any

from django.utils import timezone

from baoxue.cases import services, workflow
from baoxue.cases.models import Case, FollowUp, Responsibility
from baoxue.registry.models import Enrollment, School
from baoxue.registry.services import enrollment_create

G = Responsibility.Line.GOVERNMENT
E = Responsibility.Line.EDUCATION


def demo_cases(*, office: Any, cadre: Any, teacher: Any, leader: Any, seed: int) -> dict[str, int]:
    rng = random.Random(seed)
    today = timezone.localdate()
    cases = list(Case.objects.open().select_related("village", "school", "child").order_by("pk"))
    for case in cases:
        village = case.village.name if case.village else ""
        _assign(office, case, G, 1, "覃县长", "副县长", "县人民政府", "0772-5120001")
        _assign(office, case, G, 2, "潘乡干部", "包村干部", "乡人民政府", "13907720002")
        _assign(office, case, E, 1, "梁股长", "控辍股长", "县教育局", "0772-5120003")
        principal = case.school.name + "校长" if case.school else "中心校校长"
        _assign(office, case, E, 2, principal, "校长", case.school.name if case.school else "")
        if case.village_id == cadre_village(cadre):
            _assign(office, case, G, 3, cadre.display_name, "村干部", village, "13907720004", cadre)
    mine = [c for c in cases if c.village_id == cadre_village(cadre)]
    # One of the cadre's cases waits for the office: a dismissal proposed with its evidence.
    if len(mine) > 2:
        workflow.transition(
            actor=cadre,
            case=mine[2],
            to="pending_review",
            version=mine[2].version,
            data={
                "proposal": "dismissed",
                "reason": "enrolled_elsewhere",
                "evidence": _elsewhere(today),
                "note": "家长电话告知在广东就读",
            },
        )
    # The teacher is named on two of the cadre's cases (level 4 of the education line).
    for case in mine[:2]:
        _assign(office, case, E, 4, teacher.display_name, "班主任", "", "13907720005", teacher)
    moved = {"verifying": 0, "persuading": 0, "follow_up": 0, "closed": 0, "dismissed": 0}
    # Cases elsewhere in the township go along the way; the cadre's own stay suspected for the
    # cadre to work (the first one is the tour in the README).
    others = [c for c in cases if c not in mine]
    rng.shuffle(others)
    junior = School.objects.filter(kind="junior").first()
    for n, case in enumerate(others[:10]):
        _complete(office, case, n)
        stage = n % 5
        if stage == 0:
            _move(office, case, "verifying")
            moved["verifying"] += 1
            continue
        if stage == 4:
            _move(
                office,
                case,
                "dismissed",
                reason="enrolled_elsewhere",
                evidence=_elsewhere(today),
                note="外省就读证明",
            )
            moved["dismissed"] += 1
            continue
        _move(office, case, "confirmed", kind="dropped_out", reasons=["work", "learning"])
        _move(office, case, "persuading")
        services.attempt_record(
            actor=office,
            case=case,
            data={
                "attempted_on": (today - timedelta(days=20)).isoformat(),
                "method": "home_visit",
                "people": "潘乡干部 13907720002；班主任",
                "said": "讲解义务教育法，了解到孩子想外出打工",
                "offered": "落实寄宿生活补助",
                "result": "considering",
                "next_step": "再次家访",
                # Overdue on purpose: the dashboard and the lists show it.
                "next_date": (today - timedelta(days=3)).isoformat(),
            },
        )
        if stage == 1:
            moved["persuading"] += 1
            continue
        school = case.school or junior
        _move(
            office,
            case,
            "placed",
            placement={
                "kind": "back_in_school",
                "school_id": school.pk if school else "",
                "grade": _grade(school),
                "placed_on": (today - timedelta(days=10)).isoformat(),
            },
        )
        _move(office, case, "follow_up")
        first = case.follow_ups.order_by("due_on").first()
        if first is not None:
            FollowUp.objects.filter(pk=first.pk).update(due_on=today - timedelta(days=1))
            first.refresh_from_db()
            services.follow_up_record(
                actor=office,
                case=case,
                follow_up=first,
                data={"done_on": today.isoformat(), "attendance": "normal", "note": "在校正常"},
            )
        if stage == 2:
            moved["follow_up"] += 1
            continue
        # Back in school: the next 学籍 list has the child (as an import would bring it).
        if school is not None and not _enrolled_locally(case):
            enrollment_create(actor=None, child=case.child, school=school, grade=_grade(school))
        _move(office, case, "pending_review", proposal="closed", note="返校后连续出勤 8 周")
        _move(leader, case, "closed", waiver="演示：学期即将结束，转入常规跟踪")
        moved["closed"] += 1
    return moved


def _elsewhere(today: Any) -> dict[str, str]:
    return {
        "school": "广东省东莞市某某小学",
        "student_number": "G45022520160101001X",
        "verified_by": "乡控辍办",
        "verified_how": "xueji",
        "verified_on": (today - timedelta(days=2)).isoformat(),
    }


def _grade(school: School | None) -> int:
    return 7 if school is None else min(max(7, school.lowest_grade), school.highest_grade)


def _enrolled_locally(case: Case) -> bool:
    return Enrollment.objects.filter(
        child=case.child,
        is_current=True,
        status__in=Enrollment.ACTIVE_STATUSES,
        school__is_outside_area=False,
    ).exists()


def cadre_village(cadre: Any) -> int | None:
    grant = cadre.role_assignments.first()
    return grant.region_id if grant is not None else None


def _assign(
    office: Any,
    case: Case,
    line: str,
    level: int,
    name: str,
    role: str,
    unit: str,
    phone: str = "",
    user: Any = None,
) -> None:
    """Name a person at a level nobody holds yet (an account the 比对 named stays)."""
    if case.responsibilities.filter(line=line, level=level, ended_at=None).exists():
        return
    workflow.assign(
        actor=office,
        case=case,
        line=line,
        level=level,
        name=name,
        role=role,
        unit=unit,
        phone=phone,
        user=user,
    )


def _complete(office: Any, case: Case, n: int) -> None:
    """Name the lower two levels too, so the case can leave "confirmed"."""
    for line, level, name in ((G, 3, "村干部"), (G, 4, "组长"), (E, 3, "班主任"), (E, 4, "教师")):
        if not case.responsibilities.filter(line=line, level=level, ended_at=None).exists():
            _assign(office, case, line, level, f"{name}{n + 1}", name, "")


def _move(office: Any, case: Case, to: str, **data: Any) -> None:
    case.refresh_from_db()
    workflow.transition(actor=office, case=case, to=to, version=case.version, data=data)
