"""Builds a made-up township (or, for benchmarks, a county of many townships) in bulk.

The registry services create one object at a time with full validation; a demo of thousands and
a benchmark of a million children go through `build_child` for the derived columns and then
`bulk_create`, the way imports will.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from django.db import transaction

from baoxue.attendance.models import AttendanceRecord
from baoxue.core import idnumbers
from baoxue.core.policy import cutoff_date
from baoxue.demo import names
from baoxue.registry.counts import counts_refresh
from baoxue.registry.models import (
    Child,
    Discrepancy,
    Enrollment,
    EnrollmentEvent,
    Guardian,
    Household,
    LeftBehind,
    Region,
    School,
)
from baoxue.registry.services import (
    build_child,
    child_row,
    id_columns,
    region_create,
    school_columns,
    student_number_columns,
)

ProgressFn = Callable[[int, int], None]

DISABILITY_CATEGORIES = [
    ("1", "视力残疾"),
    ("2", "听力残疾"),
    ("3", "言语残疾"),
    ("4", "肢体残疾"),
    ("5", "智力残疾"),
    ("6", "精神残疾"),
    ("7", "多重残疾"),
]
WORK_PLACES = ["广东东莞", "广东佛山", "广东深圳", "浙江温州", "福建晋江", "柳州市区", "南宁"]


@dataclass
class TownshipPlan:
    name: str
    code: str  # 9 digits
    villages: list[tuple[str, list[str]]]
    schools: list[names.School]
    children: int


@dataclass
class BuildStats:
    children: int = 0
    households: int = 0
    enrollments: int = 0
    guardians: int = 0
    villages: list[Region] = field(default_factory=list)
    schools: list[School] = field(default_factory=list)


class IdNumbers:
    """Distinct ID numbers, as the police station issues them: a running sequence per birth
    day and region, odd for boys and even for girls (random numbers would collide at scale)."""

    def __init__(self, region6: str, start: int = 0) -> None:
        self.region6 = region6
        self.next: dict[tuple[date, str], int] = {}
        self.start = start

    def issue(self, birth: date, sex: str) -> str:
        n = self.next.get((birth, sex), self.start)
        self.next[(birth, sex)] = n + 1
        seq = (n % 500) * 2 + (1 if sex == "M" else 0)
        first17 = f"{self.region6}{birth:%Y%m%d}{seq:03d}"
        return first17 + idnumbers.check_character(first17)


def corrupt_id(rng: random.Random, value: str) -> str:
    """One wrong digit: the mistake people really make when typing a number."""
    pos = rng.randrange(6, 17)
    digit = str((int(value[pos]) + rng.randrange(1, 10)) % 10)
    return value[:pos] + digit + value[pos + 1 :]


class TownshipBuilder:
    def __init__(
        self,
        *,
        rng: random.Random,
        county: Region,
        today: date | None = None,
        id_offset: int = 0,
    ) -> None:
        self.rng = rng
        self.county = county
        self.today = today or date.today()
        self.cutoff = cutoff_date(self.today)
        self.id_region = county.code[:6] if county.code else "450225"
        # Townships built side by side (benchmarks) start their sequences apart.
        self.ids = IdNumbers(self.id_region, start=id_offset)
        self.outside_school: School | None = None

    # -- places ---------------------------------------------------------------------------
    def build_places(self, plan: TownshipPlan) -> tuple[Region, list[Region], list[School]]:
        township = region_create(
            name=plan.name, level="township", parent=self.county, code=plan.code + "000"
        )
        villages: list[Region] = []
        for i, (village_name, groups) in enumerate(plan.villages):
            village = region_create(
                name=village_name, level="village", parent=township, code=f"{plan.code}{i + 1:03d}"
            )
            for group_name in groups:
                region_create(name=group_name, level="group", parent=village)
            villages.append(village)
        schools: list[School] = []
        for spec in plan.schools:
            village = villages[spec["village_index"] % len(villages)]
            school = School(
                name=spec["name"],
                kind=spec["kind"],
                code=spec["code"],
                region=village,
                township=township,
                county=self.county,
                is_boarding=spec["boarding"],
                lowest_grade=spec["grades"][0],
                highest_grade=spec["grades"][1],
            )
            school.full_clean()
            schools.append(school)
        School.objects.bulk_create(schools)
        return township, villages, schools

    # -- people ---------------------------------------------------------------------------
    def _birth_date(self) -> date:
        # Ages 5–16 on the cut-off date: the compulsory ages and a year either side.
        age_days = self.rng.randrange(5 * 365, 17 * 365)
        return self.cutoff - timedelta(days=age_days)

    def _grade_for(self, birth: date) -> int:
        age = (
            self.cutoff.year
            - birth.year
            - ((self.cutoff.month, self.cutoff.day) < (birth.month, birth.day))
        )
        return age - 5

    def build_township(
        self, plan: TownshipPlan, *, progress: ProgressFn | None = None, batch: int = 5000
    ) -> BuildStats:
        _township, villages, schools = self.build_places(plan)
        stats = BuildStats(villages=villages, schools=schools)
        groups_by_village: dict[int, list[Region]] = {
            v.pk: list(Region.objects.filter(parent=v).order_by("id")) for v in villages
        }
        primaries_by_village: dict[int, list[School]] = {}
        for school in schools:
            if school.lowest_grade == 1:
                primaries_by_village.setdefault(school.region_id, []).append(school)
        central = [s for s in schools if s.kind == "primary" and s.is_boarding] or [
            s for s in schools if s.lowest_grade == 1
        ]
        juniors = [s for s in schools if s.highest_grade >= 7]

        made = 0
        while made < plan.children:
            n = min(batch, plan.children - made)
            self._build_batch(
                n, villages, groups_by_village, primaries_by_village, central, juniors, stats
            )
            made += n
            if progress:
                progress(made, plan.children)
        return stats

    def _build_batch(
        self,
        n: int,
        villages: list[Region],
        groups_by_village: dict[int, list[Region]],
        primaries_by_village: dict[int, list[School]],
        central: list[School],
        juniors: list[School],
        stats: BuildStats,
    ) -> None:
        rng = self.rng
        households: list[Household] = []
        pending: list[tuple[Household, list[dict[str, Any]]]] = []
        count = 0
        while count < n:
            village = rng.choice(villages)
            groups = groups_by_village[village.pk]
            group = rng.choice(groups) if groups else None
            ethnicity = names.pick_ethnicity(rng)
            surname = names.pick_surname(rng, ethnicity)
            poverty = rng.random() < 0.3
            monitoring = ""
            if rng.random() < 0.06:
                monitoring = rng.choice(["unstable", "marginal", "sudden_hardship"])
            away_roll = rng.random()
            away = (
                LeftBehind.BOTH_PARENTS
                if away_roll < 0.2
                else LeftBehind.ONE_PARENT
                if away_roll < 0.38
                else LeftBehind.NONE
            )
            father = surname + names.adult_given_name(rng, "M")
            prefix = village.code[-6:] if village.code else str(village.pk)
            household = Household(
                number=f"{prefix}{len(households) + stats.households:05d}",
                head_name=father,
                address=f"{village.name}{group.name if group else ''}{rng.randrange(1, 80)}号",
                village=village,
                group=group,
                township_id=village.parent_id,
                county=self.county,
                is_lifted_from_poverty=poverty,
                monitoring_type=monitoring,
                parents_away=away,
                phone=f"1{rng.choice('35789')}{rng.randrange(10**8, 10**9)}",
            )
            households.append(household)
            kids = []
            generation = rng.choice(names.GENERATION_CHARS) if rng.random() < 0.3 else None
            for _ in range(min(rng.choice([1, 1, 2, 2, 2, 3, 3, 4]), n - count)):
                sex = rng.choice("MF")
                kids.append(
                    {
                        "name": surname + names.pick_given_name(rng, sex, generation),
                        "sex": sex,
                        "ethnicity": ethnicity,
                        "father": father,
                        "mother": names.pick_surname(rng, names.pick_ethnicity(rng))
                        + names.adult_given_name(rng, "F"),
                        "away": away,
                    }
                )
            count += len(kids)
            pending.append((household, kids))
        Household.objects.bulk_create(households, batch_size=2000)
        stats.households += len(households)

        children: list[Child] = []
        plans: list[dict[str, Any]] = []
        for household, kids in pending:
            for kid in kids:
                birth = self._birth_date()
                id_value = self.ids.issue(birth, kid["sex"])
                roll = rng.random()
                if roll < 0.03:
                    id_raw = ""
                elif roll < 0.045:
                    id_raw = id_value[:6] + id_value[8:17]  # written in 15 digits
                elif roll < 0.055:
                    id_raw = corrupt_id(rng, id_value)
                else:
                    id_raw = id_value
                disabled = rng.random() < 0.015
                flags: dict[str, Any] = {
                    "left_behind": kid["away"],
                    "is_orphan": rng.random() < 0.008,
                    "has_disability": disabled,
                    "is_migrant": rng.random() < 0.02,
                    "address": household.address,
                }
                if disabled:
                    _code, category = rng.choice(DISABILITY_CATEGORIES)
                    flags["disability_category"] = category
                    flags["disability_grade"] = rng.choice(["一级", "二级", "三级", "四级"])
                    flags["disability_card_enc"] = id_columns(id_value).enc  # card = ID + 2 digits
                child = build_child(
                    name=kid["name"],
                    village=household.village,
                    group=household.group,
                    id_number=id_raw,
                    birth_date=birth,
                    sex=kid["sex"],
                    ethnicity=kid["ethnicity"],
                    household=household,
                    **flags,
                )
                children.append(child)
                plans.append({"id": id_value, "birth": birth, "kid": kid, "disabled": disabled})
        Child.objects.bulk_create(children, batch_size=2000)
        stats.children += len(children)

        guardians: list[Guardian] = []
        enrollments: list[Enrollment] = []
        for child, plan in zip(children, plans, strict=True):
            kid = plan["kid"]
            both_away = kid["away"] == LeftBehind.BOTH_PARENTS
            guardians.append(
                Guardian(
                    child=child,
                    name=kid["father"],
                    relation=Guardian.Relation.FATHER,
                    phone=f"1{rng.choice('35789')}{rng.randrange(10**8, 10**9)}",
                    lives_with_child=kid["away"] == LeftBehind.NONE,
                    works_away=kid["away"] != LeftBehind.NONE,
                    work_place=rng.choice(WORK_PLACES) if kid["away"] != LeftBehind.NONE else "",
                    is_primary=not both_away,
                )
            )
            guardians.append(
                Guardian(
                    child=child,
                    name=kid["mother"],
                    relation=Guardian.Relation.MOTHER,
                    phone=f"1{rng.choice('35789')}{rng.randrange(10**8, 10**9)}",
                    lives_with_child=not both_away,
                    works_away=both_away,
                    work_place=rng.choice(WORK_PLACES) if both_away else "",
                )
            )
            if both_away:
                guardians.append(
                    Guardian(
                        child=child,
                        name=child.name[0] + names.adult_given_name(rng, "M"),
                        relation=Guardian.Relation.GRANDPARENT,
                        phone=f"1{rng.choice('35789')}{rng.randrange(10**8, 10**9)}",
                        is_primary=True,
                    )
                )
            enrollment = self._plan_enrollment(child, plan, primaries_by_village, central, juniors)
            if enrollment is not None:
                enrollments.append(enrollment)
        Guardian.objects.bulk_create(guardians, batch_size=5000)
        stats.guardians += len(guardians)
        Enrollment.objects.bulk_create(enrollments, batch_size=2000)
        stats.enrollments += len(enrollments)
        self._finish_enrollments(enrollments)

    def _plan_enrollment(
        self,
        child: Child,
        plan: dict[str, Any],
        primaries_by_village: dict[int, list[School]],
        central: list[School],
        juniors: list[School],
    ) -> Enrollment | None:
        rng = self.rng
        grade = self._grade_for(plan["birth"])
        if grade == 10:
            grade = 9  # in the mountains many start school at seven: 15-year-olds in grade 9
        if grade < 1 or grade > 9:
            return None  # not of compulsory age: no enrollment here
        roll = rng.random()
        if roll < 0.025:
            return None  # never enrolled, or enrolled outside the area: to verify
        if grade <= 6:
            local = [
                s
                for s in primaries_by_village.get(child.village_id, [])
                if s.highest_grade >= grade
            ]
            school = rng.choice(local) if local and rng.random() < 0.8 else rng.choice(central)
        else:
            if not juniors:
                return None
            school = rng.choice(juniors)
        status = Enrollment.Status.STUDYING
        if roll < 0.035:
            status = Enrollment.Status.SUSPENDED
        elif roll < 0.045:
            status = Enrollment.Status.TRANSFERRED_OUT
        # Entered grade 1 (or grade 7 at the junior school) in September, grade - 1 years ago.
        first_grade = 1 if grade <= 6 else 7
        entry = date(self.cutoff.year - (grade - first_grade), 9, 1)
        return Enrollment(
            child=child,
            school=school,
            grade=grade,
            class_name=f"{rng.randrange(1, 3)}班",
            is_boarding=school.is_boarding and rng.random() < 0.6,
            status=status,
            entry_date=entry,
            is_current=True,
            **student_number_columns("G" + plan["id"]),
        )

    def _finish_enrollments(self, enrollments: list[Enrollment]) -> None:
        events: list[EnrollmentEvent] = []
        in_school: list[Child] = []
        for e in enrollments:
            events.append(
                EnrollmentEvent(enrollment=e, kind="enrolled", date=e.entry_date or self.cutoff)
            )
            child = e.child
            if e.status == Enrollment.Status.TRANSFERRED_OUT:
                events.append(
                    EnrollmentEvent(
                        enrollment=e,
                        kind="transfer_out",
                        date=self.cutoff - timedelta(days=self.rng.randrange(10, 200)),
                        other_school_name=self.rng.choice(
                            ["东莞市长安镇中心小学", "柳州市第十二中学", ""]
                        ),
                        reference=f"转学〔{self.cutoff.year}〕{self.rng.randrange(1, 99)}号",
                    )
                )
                continue
            if e.status == Enrollment.Status.SUSPENDED:
                events.append(
                    EnrollmentEvent(
                        enrollment=e,
                        kind="suspension",
                        date=self.cutoff - timedelta(days=self.rng.randrange(10, 200)),
                        reason=self.rng.choice(["疾病", "家庭原因"]),
                    )
                )
                child.school_status = Child.SchoolStatus.SUSPENDED
            else:
                child.school_status = Child.SchoolStatus.IN_SCHOOL
            child.current_school = e.school
            child.current_grade = e.grade
            child.current_class = e.class_name
            in_school.append(child)
        EnrollmentEvent.objects.bulk_create(events, batch_size=5000)
        Child.objects.bulk_update(
            in_school,
            ["school_status", "current_school", "current_grade", "current_class"],
            batch_size=1000,
        )


def ensure_county(name: str = names.COUNTY_NAME, code: str = names.COUNTY_CODE) -> Region:
    existing = Region.objects.filter(level="county", code=code + "000000").first()
    return existing or region_create(name=name, level="county", code=code + "000000")


def demo_plan(
    children: int = 2500, name: str = names.TOWNSHIP_NAME, code: str = names.TOWNSHIP_CODE
) -> TownshipPlan:
    return TownshipPlan(
        name=name,
        code=code,
        villages=names.VILLAGES,
        schools=names.SCHOOLS,
        children=children,
    )


def build_demo_township(
    *,
    seed: int = 2025,
    children: int = 2500,
    progress: ProgressFn | None = None,
    name: str = names.TOWNSHIP_NAME,
    code: str = names.TOWNSHIP_CODE,
) -> tuple[Region, BuildStats]:
    rng = random.Random(seed)
    with transaction.atomic():
        county = ensure_county()
        builder = TownshipBuilder(rng=rng, county=county)
        plan = demo_plan(children, name=name, code=code)
        # School codes are national keys: a second demo township needs its own, and its
        # central schools are named after it, not after 培秀苗族乡.
        plan.schools = [
            {
                **s,
                "code": code[-4:] + s["code"][4:],
                "name": s["name"].replace(names.TOWNSHIP_NAME, name),
            }
            if code != names.TOWNSHIP_CODE
            else s
            for s in plan.schools
        ]
        stats = builder.build_township(plan, progress=progress)
        township = Region.objects.get(level="township", code=code + "000")
        _add_duplicate_pair(rng, township)
        _add_reconciliation_cases(rng, township)
        _add_discrepancies(rng, township)
        counts_refresh(county_id=county.pk)
    return township, stats


def _add_duplicate_pair(rng: random.Random, township: Region) -> None:
    """Two children who share an ID number, as happens when a number is copied onto a sibling's
    row: the registry must report it, not merge them."""
    first, second = Child.objects.filter(township=township, id_status="valid").order_by("id")[:2]
    cols = id_columns(first.id_number)
    second.id_number_enc = cols.enc
    second.id_number_hash = cols.hash
    second.id_number_masked = cols.masked
    second.id_suffix = cols.suffix
    second.save(update_fields=["id_number_enc", "id_number_hash", "id_number_masked", "id_suffix"])


# Characters a 学籍 clerk types for the roster's (the same sound): what 信息不一致 is full of.
_HOMOPHONES = {"辉": "晖", "军": "俊", "欣": "馨", "丽": "莉", "明": "铭", "芳": "方", "华": "桦",
               "强": "蔷", "杰": "洁", "玲": "琳", "燕": "艳", "红": "虹", "平": "萍"}  # fmt: skip


def _add_discrepancies(rng: random.Random, township: Region) -> None:
    """What a 学籍 export says differently of a few children of each school (a homophone in
    the name, the day and month of the birth date swapped): the 信息不一致 list a school
    settles, as the 学籍 import leaves it."""
    found: list[Discrepancy] = []
    for school_id in (
        School.objects.filter(township=township).order_by("pk").values_list("pk", flat=True)
    ):
        students = list(
            Child.objects.filter(current_school_id=school_id, on_roster=True).order_by("pk")[:60]
        )
        rng.shuffle(students)
        for child in students[:3]:
            other = "".join(_HOMOPHONES.get(ch, ch) for ch in child.name)
            if other != child.name:
                found.append(
                    Discrepancy(
                        child=child,
                        item="name",
                        source="enrollment",
                        value=other,
                        registry_value=child.name,
                        registry_source="roster",
                    )
                )
            elif child.birth_date is not None and child.birth_date.day <= 12:
                birth = child.birth_date
                swapped = birth.replace(month=birth.day, day=birth.month)
                if swapped != birth:
                    found.append(
                        Discrepancy(
                            child=child,
                            item="birth_date",
                            source="enrollment",
                            value=swapped.isoformat(),
                            registry_value=birth.isoformat(),
                            registry_source="roster",
                        )
                    )
    Discrepancy.objects.bulk_create(found)


def _add_reconciliation_cases(rng: random.Random, township: Region) -> None:
    """What the comparison of lists is for, in shares of the children in school: 学籍 records
    that the
    registry could not tie to the roster child (a typo in the ID number, or no number and a
    homophone name), enrollments that ended without a transfer, long absences without leave
    (名在人不在), long sick leave, and primary graduates with no junior middle school."""
    studying = list(
        Enrollment.objects.filter(
            child__township=township, is_current=True, status=Enrollment.Status.STUDYING
        )
        .select_related("child", "school")
        .order_by("id")
    )
    rng.shuffle(studying)
    picks = iter(studying)
    share = max(1, len(studying) // 200)  # 2,500 children: about 11
    # 1. The 学籍 side holds the child under a damaged number (30) or none (15): a separate,
    #    学籍-only record, as a 学籍 import makes when the number does not match.
    twins = 4 * share
    for n in range(twins):
        e = next(picks)
        roster_child = e.child
        if roster_child.id_status != Child.IdStatus.VALID:
            continue
        number = roster_child.id_number
        damaged = corrupt_id(rng, number) if n < twins * 2 // 3 else ""
        row = child_row(
            name=roster_child.name,
            village=roster_child.village,
            group=roster_child.group,
            cols=id_columns(damaged),
            birth_date=roster_child.birth_date,
            sex=roster_child.sex,
            ethnicity=roster_child.ethnicity,
        )
        twin = Child(**row, **school_columns(e.status, e.school_id, e.grade, e.class_name))
        twin.save()
        Enrollment.objects.filter(pk=e.pk).update(child=twin)
        Child.objects.filter(pk=roster_child.pk).update(**school_columns(None, None, None, ""))
    # 2. Enrollments that ended without a transfer: 流失 and 退学 (suspected dropouts).
    for status in [Enrollment.Status.LOST] * share + [Enrollment.Status.WITHDRAWN] * share:
        e = next(picks)
        Enrollment.objects.filter(pk=e.pk).update(status=status)
        Child.objects.filter(pk=e.child_id).update(**school_columns(None, None, None, ""))
    # 3. Attendance: absent 12–40 days in a row without leave (10), or on long sick leave (5).
    period_end = cutoff_date() + timedelta(days=60)
    records = []
    for n in range(2 * share):
        e = next(picks)
        days = rng.randrange(12, 40)
        leave = days if n % 3 == 2 else 0
        records.append(
            AttendanceRecord(
                enrollment=e,
                child_id=e.child_id,
                school_id=e.school_id,
                period_start=period_end - timedelta(days=60),
                period_end=period_end,
                school_days=42,
                days_absent=days - leave,  # leave days are not absences
                days_leave=leave,
                leave_reason="病假" if leave else "",
                longest_absence_days=days,
            )
        )
    AttendanceRecord.objects.bulk_create(records)
    # 4. Primary graduates last summer with no junior middle school (小升初).
    for e in [x for x in picks if x.grade == 6 and x.school.kind == "primary"][:share]:
        Enrollment.objects.filter(pk=e.pk).update(
            status=Enrollment.Status.GRADUATED, end_date=cutoff_date() - timedelta(days=60)
        )
        Child.objects.filter(pk=e.child_id).update(**school_columns(None, None, None, ""))
