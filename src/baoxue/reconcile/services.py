"""Running a reconciliation over the registry: load the tables, run the engine, keep the result,
open cases, and compare with the previous run. Every write here goes through these functions."""

from __future__ import annotations

import hashlib
import json
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import F, Max, Q
from django.utils import timezone
from django.utils.translation import gettext as _

from baoxue.accounts.actors import Actor, person, signed_in
from baoxue.accounts.permissions import reconcile_areas
from baoxue.attendance import selectors as attendance_selectors
from baoxue.cases.models import Case, Placement
from baoxue.cases.services import default_people, follow_children
from baoxue.core import crypto, jobs, policy
from baoxue.core.bulk import RowWriter, driver_rows, filter_in
from baoxue.core.policy import compulsory_birth_range, cutoff_date, term_label, term_start
from baoxue.core.services import log_action
from baoxue.imports.models import ListReceipt
from baoxue.reconcile import engine, tasks  # tasks imports this one: used when called
from baoxue.reconcile.merges import merges_apply
from baoxue.reconcile.models import MatchReview, ReconciliationRun, RunChild
from baoxue.registry.models import Child, Enrollment, EnrollmentEvent, Region, School

Progress = Callable[[str, int, int], None]
CASE_KIND = {
    engine.SUSPECTED: Case.Kind.DROPPED_OUT,
    engine.TO_VERIFY: Case.Kind.TO_VERIFY,
    engine.NEVER_ENROLLED: Case.Kind.NEVER_ENROLLED,
}
_VALID = {Child.IdStatus.VALID, Child.IdStatus.UPGRADED}
_ACTIVE = frozenset(Enrollment.ACTIVE_STATUSES)


def no_progress(stage: str, done: int, total: int) -> None:
    return None


# --- who may run -----------------------------------------------------------------------------


def runnable_areas(user: Any) -> list[Region]:
    """The townships (and counties, for a county office) this user may reconcile."""
    return reconcile_areas(user)


def review_decide(*, actor: Actor, review: MatchReview, same: bool, request: Any = None) -> bool:
    """A person says whether the pair of the review is the same child (the next 比对 follows
    it). Only a pending pair is decided: a second click, or a colleague first, changes nothing
    (False). Audited in the same transaction."""
    status = MatchReview.Status.CONFIRMED if same else MatchReview.Status.REJECTED
    with transaction.atomic():
        updated = MatchReview.objects.filter(
            pk=review.pk, status=MatchReview.Status.PENDING
        ).update(status=status, decided_by=actor, decided_at=timezone.now())
        if updated:
            log_action(
                actor=actor,
                action="reconcile.review_decided",
                obj=review.left,
                data={"right": review.right_id, "decision": status},
                request=request,
            )
    return bool(updated)


def run_queue(
    *, actor: Actor, area: Region | None = None, as_of: date | None = None
) -> ReconciliationRun:
    """Start a 比对 from the page: the run, queued as a background job once it is saved (the
    area's run already going is given back instead: a double click, or someone else)."""
    with transaction.atomic():
        run = run_create(actor=actor, area=area, as_of=as_of)
        if run.status == ReconciliationRun.Status.QUEUED:
            jobs.enqueue_on_commit(tasks.run_reconciliation, run.pk)
    return run


def run_create(
    *, actor: Actor, area: Region | None = None, as_of: date | None = None
) -> ReconciliationRun:
    areas = runnable_areas(actor) if signed_in(actor) else []
    if actor is not None and not signed_in(actor):
        raise PermissionDenied(_("请先登录。"))
    if area is None:
        if len(areas) != 1:
            raise ValidationError(_("请选择比对的乡镇。"))
        area = areas[0]
    elif actor is not None and area.pk not in {a.pk for a in areas}:
        raise PermissionDenied(_("您没有对该乡镇进行比对的权限。"))
    unfinished = ReconciliationRun.objects.filter(
        area=area, status__in=[ReconciliationRun.Status.QUEUED, ReconciliationRun.Status.RUNNING]
    )
    # A run whose worker died (a restart, a killed process) must not block the next one.
    for stale in unfinished.all():  # a copy: `unfinished` is read again below
        jobs.give_up_if_stopped(stale)
    if as_of is not None and as_of > date.today():
        raise ValidationError(_("比对日期不能晚于今天。"))
    running = unfinished.first()
    if running is not None:
        return running  # a double click, or someone else started it: one run at a time
    run = ReconciliationRun.objects.create(
        area=area,
        started_by=person(actor),
        as_of=as_of,
    )
    log_action(
        actor=actor,
        action="reconcile.run_created",
        obj=run,
        data={"area": area.name, "as_of": as_of.isoformat() if as_of else ""},
    )
    return run


# --- lists that have not come ------------------------------------------------------------------
# School stages by kind, and the ages (on the cut-off) of a stage's pupils, both with a year
# of margin: a pupil may be a year early or late.
_STAGES = {
    School.Kind.PRIMARY: ("primary",),
    School.Kind.TEACHING_POINT: ("primary",),
    School.Kind.JUNIOR: ("junior",),
    School.Kind.NINE_YEAR: ("primary", "junior"),
}
_STAGE_AGES = {"primary": range(5, 13), "junior": range(11, 17)}


@dataclass(frozen=True)
class ListState:
    """Whether a school's 学籍 (or a village's roster) for the term has come."""

    kind: str  # "school" or "village"
    pk: int
    name: str
    township_id: int | None
    latest: date | None  # the newest list received on or before the run's day
    missing: bool
    stages: tuple[str, ...] = ()


def list_states(area: Region, as_of: date) -> dict[str, Any]:
    """The schools and villages of the area with the date of their latest whole list
    (ListReceipt) on or before `as_of`, and which have none for its term. Nothing is
    missing in an area that has never imported a list (a registry entered by hand): there
    is nothing to judge by."""
    start = term_start(as_of)
    schools = (
        School.objects.filter(
            Q(township=area) if area.level == "township" else Q(county=area),
            is_outside_area=False,
            kind__in=list(_STAGES),
        )
        .order_by("name")
        .values_list("pk", "name", "kind", "township_id")
    )
    villages = (
        Region.objects.filter(level=Region.Level.VILLAGE, path__startswith=area.path)
        .order_by("name")
        .values_list("pk", "name", "parent_id")
    )
    receipts = ListReceipt.objects.filter(received_on__lte=as_of)
    latest_school = dict(
        receipts.filter(kind=ListReceipt.Kind.ENROLLMENT, school__in=[s[0] for s in schools])
        .values("school_id")
        .annotate(day=Max("received_on"))
        .values_list("school_id", "day")
    )
    latest_village = dict(
        receipts.filter(kind=ListReceipt.Kind.ROSTER, village__in=[v[0] for v in villages])
        .values("village_id")
        .annotate(day=Max("received_on"))
        .values_list("village_id", "day")
    )
    tracked = (
        bool(latest_school)
        or ListReceipt.objects.filter(
            Q(school__in=[s[0] for s in schools]) | Q(village__in=[v[0] for v in villages])
        ).exists()
    )

    def missing(day: date | None) -> bool:
        return tracked and (day is None or day < start)

    schools_out = []
    for pk, name, kind, township in schools:
        day = latest_school.get(pk)
        schools_out.append(
            ListState("school", pk, name, township, day, missing(day), _STAGES[kind])
        )
    villages_out = []
    for pk, name, township in villages:
        day = latest_village.get(pk)
        villages_out.append(ListState("village", pk, name, township, day, missing(day)))
    return {
        "term": term_label(as_of),
        "term_start": start,
        "tracked": tracked,
        "schools": schools_out,
        "villages": villages_out,
    }


def _missing_for(
    states: dict[str, Any], info: dict[int, dict[str, Any]], cutoff: date
) -> dict[int, tuple[str, ...]]:
    """Each child's local schools of its stage (by its age on the cut-off) whose list for
    the term has not come; children with none are left out."""
    by_stage: dict[tuple[int | None, str], list[str]] = defaultdict(list)
    for school in states["schools"]:
        if school.missing:
            for stage in school.stages:
                by_stage[(school.township_id, stage)].append(school.name)
    if not by_stage:
        return {}
    found: dict[int, tuple[str, ...]] = {}
    for pk, i in info.items():
        birth = i["birth"]
        if birth is None:
            continue
        age = cutoff.year - birth.year - ((cutoff.month, cutoff.day) < (birth.month, birth.day))
        names = [
            name
            for stage, ages in _STAGE_AGES.items()
            if age in ages
            for name in by_stage.get((i["township"], stage), ())
        ]
        if names:
            found[pk] = tuple(dict.fromkeys(names))
    return found


# --- loading the tables ----------------------------------------------------------------------


def _area_children(area: Region) -> Q:
    return Q(township=area) if area.level == "township" else Q(county=area)


# 学籍异动 that end an enrollment or change its state; undone, one by one, for a run as of a
# day before them (the state each left behind is not kept: the one before it was active,
# except that a resumption followed a suspension).
_BEFORE_EVENT: dict[str, str] = {
    EnrollmentEvent.Kind.SUSPENSION: Enrollment.Status.STUDYING,
    EnrollmentEvent.Kind.RESUMPTION: Enrollment.Status.SUSPENDED,
    EnrollmentEvent.Kind.TRANSFER_OUT: Enrollment.Status.STUDYING,
    EnrollmentEvent.Kind.GRADUATION: Enrollment.Status.STUDYING,
    EnrollmentEvent.Kind.DEATH: Enrollment.Status.STUDYING,
    EnrollmentEvent.Kind.STATUS_CHANGE: Enrollment.Status.STUDYING,
}


def _states_on(children: Q, as_of: date) -> tuple[set[int], dict[int, str]]:
    """For a run as of a past day: the enrollments begun after it (by their 入学日期: an
    入学 event is dated the day its file was imported, which may be long after), and the
    state of those a change after it ended or changed (as it stood that day, current)."""
    states: dict[int, str] = {}
    for enrollment_id, kind in (
        EnrollmentEvent.objects.filter(enrollment__child__in=Child.objects.filter(children))
        .filter(date__gt=as_of, kind__in=list(_BEFORE_EVENT))
        .order_by("-date", "-id")
        .values_list("enrollment_id", "kind")
    ):
        states[enrollment_id] = _BEFORE_EVENT[kind]  # the earliest one is written last
    later = set(
        Enrollment.objects.filter(child__in=Child.objects.filter(children))
        .filter(entry_date__gt=as_of)
        .values_list("pk", flat=True)
    )
    return later, states


def load_tables(area: Region, today: date, *, as_of: date | None = None) -> dict[str, Any]:
    """Everything the engine needs, as plain values (ID numbers decrypted only where damaged).
    `as_of`: a past day whose enrollments and attendance are wanted (a run about an earlier
    term): what began after it is left out, what ended or changed after it is as it was."""
    as_of = as_of or today
    people, sealed, info = _load_children(area)
    local_schools = _local_schools(area)
    junior = _junior_schools()
    past = as_of < today
    later, states = _states_on(_area_children(area), as_of) if past else (set(), {})
    transfers = _transfers_out(area, as_of)
    enrollments, current_school, current_enrollment = _load_enrollments(
        area,
        as_of,
        past=past,
        later=later,
        states=states,
        local_schools=local_schools,
        junior=junior,
        transfers=transfers,
    )
    attendance = _load_attendance(area, as_of, placed_by=set(current_enrollment.values()))
    decisions = _load_decisions()
    verified = _verified_never_enrolled(area)
    exempt = _approved_exemptions(area, as_of)
    elsewhere = _verified_elsewhere(area, as_of)
    return {
        "elsewhere": elsewhere,
        "exempt": exempt,
        "people": people,
        "sealed": sealed,
        "info": info,
        "enrollments": enrollments,
        "current_school": current_school,
        "attendance": attendance,
        "decisions": decisions,
        "verified": verified,
    }


def _load_children(
    area: Region,
) -> tuple[dict[int, engine.Person], dict[int, str], dict[int, dict[str, Any]]]:
    """The area's children: each as the engine's Person, the sealed numbers of the valid
    ones, and what the categories and the results need besides."""
    # In the table's order (not Child's by name): read straight through, and the results,
    # written in this order, go to the end of RunChild's indexes instead of all over them.
    children = list(
        driver_rows(
            Child.objects.filter(_area_children(area))
            .order_by("pk")
            .values_list(
                "pk",
                "name",
                "sex",
                "birth_date",
                "id_number_hash",
                "id_status",
                "id_number_enc",
                "village_id",
                "on_roster",
                "is_deceased",
                "moved_away",
                "household__is_lifted_from_poverty",
                "household__monitoring_type",
                "id_claim_hash",
                "township_id",
            )
        )
    )
    people: dict[int, engine.Person] = {}
    # The encrypted numbers of valid records, decrypted only for the few pairs the id_typo
    # rule compares digit by digit.
    sealed: dict[int, str] = {}
    info: dict[int, dict[str, Any]] = {}
    for (
        pk,
        name,
        sex,
        birth,
        id_hash,
        id_status,
        id_enc,
        village,
        on_roster,
        deceased,
        moved,
        lifted,
        monitoring,
        claim,
        township,
    ) in children:
        valid = id_status in _VALID and bool(id_hash)
        claimed = id_status == Child.IdStatus.CLAIMED
        number = id_hash if valid else (crypto.decrypt(id_enc) if id_enc and not claimed else "")
        people[pk] = engine.Person(pk, name, sex, birth, number, village, valid, claim)
        if valid:
            sealed[pk] = id_enc
        info[pk] = {
            "birth": birth,
            "on_roster": on_roster,
            "deceased": deceased,
            "moved_away": moved,
            "village": village,
            "township": township,
            "key_group": bool(lifted or monitoring),
        }
    return people, sealed, info


def _local_schools(area: Region) -> set[int]:
    """The schools of the area's county."""
    county_id = area.pk if area.level == "county" else area.parent_id
    return set(School.objects.filter(county_id=county_id).values_list("pk", flat=True))


def _junior_schools() -> set[int]:
    """The 初级中学 and 九年一贯制学校 (their grades 7 to 9 are 初中)."""
    return set(School.objects.filter(kind__in=["junior", "nine_year"]).values_list("pk", flat=True))


def _transfers_out(area: Region, as_of: date) -> dict[int, str]:
    """The receiving school named on each 转出 of the area's enrollments, up to the day."""
    transfers: dict[int, str] = {}
    for enrollment_id, other_name in EnrollmentEvent.objects.filter(
        enrollment__child__in=Child.objects.filter(_area_children(area)),
        kind=EnrollmentEvent.Kind.TRANSFER_OUT,
        date__lte=as_of,
    ).values_list("enrollment_id", "other_school_name"):
        if other_name:
            transfers[enrollment_id] = other_name
    return transfers


def _load_enrollments(
    area: Region,
    as_of: date,
    *,
    past: bool,
    later: set[int],
    states: dict[int, str],
    local_schools: set[int],
    junior: set[int],
    transfers: dict[int, str],
) -> tuple[dict[int, list[engine.Enrolled]], dict[int, int], dict[int, int]]:
    """The 学籍 of the area's children as they stood on the day, and the school and the
    enrollment each child is placed by."""
    enrollments: dict[int, list[engine.Enrolled]] = defaultdict(list)
    current_school: dict[int, int] = {}
    current_enrollment: dict[int, int] = {}
    best: dict[int, tuple[bool, int]] = {}
    for (
        pk,
        child_id,
        school_id,
        status,
        grade,
        is_current,
        end,
        absent,
    ) in driver_rows(
        Enrollment.objects.filter(child__in=Child.objects.filter(_area_children(area))).values_list(
            "pk",
            "child_id",
            "school_id",
            "status",
            "grade",
            "is_current",
            "end_date",
            "absent_from_list_since",
        )
    ):
        if past:
            if pk in later:
                continue  # not begun on that day
            if pk in states:
                status, is_current, end = states[pk], True, None
            if absent is not None and absent > as_of:
                absent = None  # still listed on that day
        enrollments[child_id].append(
            engine.Enrolled(
                school=school_id,
                local=school_id in local_schools,
                status=status,
                grade=grade,
                is_current=is_current,
                end=end,
                junior_school=school_id in junior and grade >= 7,
                transfer_to=transfers.get(pk, ""),
                missing_from_list=absent is not None,
            )
        )
        if is_current:
            # A child with several current 学籍 (an ended one not yet replaced, two schools
            # at once) is placed by the one it studies under: active before ended, the
            # newest first.
            rank = (status in _ACTIVE and absent is None, pk)
            if rank > best.get(child_id, (False, 0)):
                best[child_id] = rank
                current_school[child_id] = school_id
                current_enrollment[child_id] = pk
    return enrollments, current_school, current_enrollment


def _load_attendance(
    area: Region, as_of: date, *, placed_by: set[int]
) -> dict[int, engine.Attendance]:
    """Each child's latest attendance statistics under the 学籍 it is placed by."""
    attendance: dict[int, engine.Attendance] = {}
    # The area's attendance by a subquery, then kept for each child's placing 学籍 (a list of
    # a county's enrollment ids would pass SQLite's limit on a statement's parameters).
    for (
        enrollment_id,
        child_id,
        longest,
        leave,
        reason,
        absent,
        school_days,
        start,
        end,
    ) in attendance_selectors.statistics_as_of(Child.objects.filter(_area_children(area)), as_of):
        if enrollment_id in placed_by and child_id not in attendance:
            attendance[child_id] = engine.Attendance(
                longest or 0,
                leave or 0,
                reason,
                days_absent=absent or 0,
                school_days=school_days,
                period_days=(end - start).days + 1,
            )
    return attendance


def _load_decisions() -> dict[tuple[int, int], bool]:
    """The review queue's decided pairs: True for the same child, False for two."""
    return {
        (left, right): status == MatchReview.Status.CONFIRMED
        for left, right, status in MatchReview.objects.exclude(
            status=MatchReview.Status.PENDING
        ).values_list("left_id", "right_id", "status")
    }


def _verified_never_enrolled(area: Region) -> set[int]:
    """The area's children a case has confirmed never enrolled (经核实从未入学)."""
    return set(
        Case.objects.filter(
            kind=Case.Kind.NEVER_ENROLLED,
            status__in=[
                Case.Status.CONFIRMED,
                Case.Status.PERSUADING,
                Case.Status.PLACED,
                Case.Status.FOLLOW_UP,
            ],
            child__in=Child.objects.filter(_area_children(area)),
        ).values_list("child_id", flat=True)
    )


def _approved_exemptions(area: Region, as_of: date) -> set[int]:
    """The area's children with an approved 延缓/免予入学 still in force on the day."""
    # 延缓/免予入学: an approved exemption placement still before its review date.
    return set(
        Placement.objects.filter(
            kind=Placement.Kind.EXEMPT,
            review_date__gte=as_of,
            case__status__in=[Case.Status.PLACED, Case.Status.FOLLOW_UP, Case.Status.CLOSED],
            case__child__in=Child.objects.filter(_area_children(area)),
        ).values_list("case__child_id", flat=True)
    )


def _verified_elsewhere(area: Region, as_of: date) -> dict[int, str]:
    """The area's children verified 在外地就读 this school year → the school that proves it."""
    # 在外地就读, verified: the child's latest case dismissed this school year with the proof
    # of the receiving school (cases.evidence). The newest dismissal of a child counts.
    elsewhere: dict[int, str] = {}
    for child_id, found in (
        Case.objects.filter(
            status=Case.Status.DISMISSED,
            dismiss_reason="enrolled_elsewhere",
            closed_at__gt=_start_of_day(cutoff_date(as_of)),
            child__in=Child.objects.filter(_area_children(area)),
        )
        .order_by("closed_at", "id")
        .values_list("child_id", "exit_evidence")
    ):
        elsewhere[child_id] = str((found or {}).get("school") or "") or _("外地学校")
    reopened = set(
        Case.objects.open().filter(child_id__in=list(elsewhere)).values_list("child_id", flat=True)
    )
    return {k: v for k, v in elsewhere.items() if k not in reopened}


# --- running ---------------------------------------------------------------------------------


def run_execute(
    run: ReconciliationRun, *, today: date | None = None, progress: Progress = no_progress
) -> ReconciliationRun:
    """Run the reconciliation and keep its result; a failure is recorded on the run. It beats
    while it runs (core.jobs.give_up_if_stopped), from the task worker and from the shell
    alike."""
    with run.beating():
        return _execute(run, today=today, progress=progress)


def _execute(
    run: ReconciliationRun, *, today: date | None, progress: Progress
) -> ReconciliationRun:
    today = today or date.today()
    # The day the run is about (a past term's files checked now), and whether it is an
    # earlier school year than today's: such a run reports, it opens no cases.
    as_of = run.as_of or today
    report_only = cutoff_date(as_of) < cutoff_date(today)
    started = time.perf_counter()
    ReconciliationRun.objects.filter(pk=run.pk).update(status=ReconciliationRun.Status.RUNNING)

    def report(stage: str, done: int, total: int) -> None:
        run.report(stage, done, total)
        progress(stage, done, total)

    try:
        report("load", 0, 4)
        # Open cases first follow their children's places (a roster may have moved them).
        follow_children()
        tables = load_tables(run.area, today, as_of=as_of)
        report("link", 1, 4)
        people = tables["people"]
        info = tables["info"]
        earliest, latest = compulsory_birth_range(as_of)
        # The attendance alert is one province setting for the import's flag and for this.
        settings = engine.CategorySettings(
            earliest_birth=earliest,
            latest_birth=latest,
            absence_days=policy.absence_alert_days(),
            month_days=policy.absence_alert_month_days(),
        )
        children = [
            engine.Child(
                person=people[pk],
                on_roster=i["on_roster"],
                deceased=i["deceased"],
                moved_away=i["moved_away"],
                exempt=pk in tables["exempt"],
                verified_never_enrolled=pk in tables["verified"],
                verified_elsewhere=tables["elsewhere"].get(pk, ""),
                key_group=i["key_group"],
            )
            for pk, i in info.items()
        ]
        lists = list_states(run.area, as_of)
        report("categorize", 2, 4)
        found, linkage = engine.reconcile(
            children,
            tables["enrollments"],
            tables["attendance"],
            category_settings=settings,
            decisions=tables["decisions"],
            id_key=crypto.lookup_hash,
            digits=_digits(tables["sealed"]),
            missing_lists=_missing_for(lists, info, cutoff_date(as_of)),
        )
        current = tables["current_school"]
        results: list[dict[str, Any]] = [
            {
                "child_id": r.child,
                "category": r.category,
                "basis": r.basis,
                "key_group": r.key_group,
                "village_id": info[r.child]["village"],
                "school_id": current.get(r.child)
                or (current.get(r.linked) if r.linked is not None else None),
                "linked_child_id": r.linked,
                "link_method": r.link.method if r.link is not None else "",
                "link_score": r.link.score if r.link is not None else None,
                # What a case keeps (and compares with the next run): only for a case.
                "evidence": _evidence(r.category, r.basis, list(r.enrollments))
                if r.category in engine.CASE_CATEGORIES
                else None,
            }
            for r in found
        ]
        left = [p for p in children if p.on_roster]
        right = [pk for pk in people if pk in tables["enrollments"]]
        report("save", 3, 4)
        with transaction.atomic():
            cases = _save(run, results, linkage, report_only=report_only)
            counts = Counter(r["category"] for r in results)
            previous = (
                ReconciliationRun.objects.filter(
                    area=run.area, status=ReconciliationRun.Status.DONE, pk__lt=run.pk
                )
                .order_by("-pk")
                .first()
            )
            run.changes = {**_changes(previous, results), **cases}
            run.counts = {c: counts.get(c, 0) for c in engine.CATEGORIES}
            run.links = dict(Counter(link.method for link in linkage.links))
            run.links["review"] = len(linkage.review)
            run.settings = {
                "cutoff": cutoff_date(as_of).isoformat(),
                "as_of": as_of.isoformat(),
                "report_only": report_only,
                "earliest_birth": earliest.isoformat(),
                "latest_birth": latest.isoformat(),
                "absence_days": settings.absence_days,
                "absence_month_days": settings.month_days,
                "today": today.isoformat(),
            }
            run.inputs = {
                "children": len(people),
                "on_roster": len(left),
                "with_enrollment": len(right),
                "decisions": len(tables["decisions"]),
                "term": lists["term"],
                # The lists the run went without: [name, latest list's date or ""].
                "missing_lists": {
                    kind: [
                        [x.name, x.latest.isoformat() if x.latest else ""]
                        for x in lists[kind]
                        if x.missing
                    ]
                    for kind in ("schools", "villages")
                },
            }
            run.status = ReconciliationRun.Status.DONE
            run.finished_at = timezone.now()
            run.seconds = round(time.perf_counter() - started, 3)
            run.save()
            log_action(
                actor=run.started_by,
                action="reconcile.run_done",
                obj=run,
                data={"counts": run.counts, "changes": run.changes},
            )
        report("done", 4, 4)
    except Exception as exc:
        ReconciliationRun.objects.filter(pk=run.pk).update(
            status=ReconciliationRun.Status.FAILED,
            error=str(exc)[:2000],
            seconds=round(time.perf_counter() - started, 3),
        )
        raise
    return run


def _digits(sealed: dict[int, str]) -> Callable[[int], str]:
    """A valid record's number as digits, decrypted once when first asked."""
    found: dict[int, str] = {}

    def digits(key: int) -> str:
        value = found.get(key)
        if value is None:
            value = found[key] = crypto.decrypt(sealed.get(key, ""))
        return value

    return digits


def _evidence(category: str, basis: str, records: list[engine.Enrolled]) -> dict[str, Any]:
    return {
        "category": category,
        "basis": basis,
        "enrollments": sorted(
            [e.school, e.status, e.grade, e.is_current, e.end.isoformat() if e.end else ""]
            for e in records
        ),
    }


def _evidence_key(evidence: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(evidence, sort_keys=True).encode()).hexdigest()[:40]


def _save(
    run: ReconciliationRun,
    results: list[dict[str, Any]],
    linkage: engine.Linkage,
    *,
    report_only: bool,
) -> dict[str, int]:
    writer = RowWriter(RunChild)
    for r in results:
        writer.add(
            {
                "run_id": run.pk,
                **{k: v for k, v in r.items() if k != "evidence"},
            }
        )
    writer.write()
    # The review queue: pairs not decided yet, once each.
    known = set(
        MatchReview.objects.filter(left_id__in={item.left for item in linkage.review}).values_list(
            "left_id", "right_id"
        )
    )
    MatchReview.objects.bulk_create(
        [
            MatchReview(
                left_id=item.left,
                right_id=item.right,
                method=item.method,
                score=item.score,
                first_run=run,
            )
            for item in linkage.review
            if (item.left, item.right) not in known
        ],
        batch_size=1000,
    )
    if report_only:
        return {"cases_opened": 0, "cases_updated": 0, "merged": 0}
    # One record per child: the records linked for certain (or confirmed) become one, after
    # their cases are settled (a merged record's open case is then one of the child's).
    cases = _open_cases(run, results)
    return {**cases, "merged": merges_apply(linkage.links, run_id=run.pk)}


def _open_cases(run: ReconciliationRun, results: list[dict[str, Any]]) -> dict[str, int]:
    """One case per child in a case category. A rerun never duplicates an open case (it
    brings its evidence up to date) and never reopens a finished one unless the evidence
    has changed since it was finished."""
    wanted = {r["child_id"]: r for r in results if r["category"] in engine.CASE_CATEGORIES}
    ids = sorted(wanted)  # a county's may be more than a statement takes: in chunks
    open_cases = {c.child_id: c for c in filter_in(Case.objects.open().order_by(), "child_id", ids)}
    finished: dict[int, str] = {}
    for child_id, key, _opened, _pk in sorted(
        filter_in(
            Case.objects.filter(status__in=Case.FINISHED)
            .order_by()
            .values_list("child_id", "evidence_key", "opened_at", "id"),
            "child_id",
            ids,
        ),
        key=lambda row: (row[0], row[2], row[3]),
    ):
        finished[child_id] = key  # the newest comes last: it stays
    # New cases as plain rows (a county's first run opens tens of thousands).
    new = RowWriter(Case)
    changed: list[Case] = []
    # Villages are few: their townships in one query, for the case's place columns.
    township_of = dict(
        Region.objects.filter(
            pk__in={r["village_id"] for r in wanted.values() if r["village_id"]}
        ).values_list("pk", "parent_id")
    )
    for child_id, r in wanted.items():
        key = _evidence_key(r["evidence"])
        case = open_cases.get(child_id)
        if case is not None:
            if case.evidence_key != key:
                case.evidence, case.evidence_key = r["evidence"], key
                case.category, case.basis = r["category"], r["basis"][:200]
                case.key_group = r["key_group"]
                changed.append(case)
            continue
        if finished.get(child_id) == key:
            continue  # finished on this very evidence: nothing new
        new.add(
            {
                "child_id": child_id,
                "kind": CASE_KIND[r["category"]],
                "source": "reconcile",
                "source_run_id": run.pk,
                "category": r["category"],
                "basis": r["basis"][:200],
                "evidence": r["evidence"],
                "evidence_key": key,
                "key_group": r["key_group"],
                "township_id": township_of.get(r["village_id"]),
                "village_id": r["village_id"],
                "school_id": r["school_id"],
            }
        )
    opened = new.write()
    if opened:
        # The village's cadre, the school's principal, the class teacher: named at once.
        default_people(
            list(
                Case.objects.filter(source_run_id=run.pk, status=Case.Status.SUSPECTED)
                .order_by()
                .values_list("pk", flat=True)
            )
        )
    Case.objects.bulk_update(
        changed, ["evidence", "evidence_key", "category", "basis", "key_group"], batch_size=1000
    )
    return {"cases_opened": opened, "cases_updated": len(changed)}


def _changes(previous: ReconciliationRun | None, results: list[dict[str, Any]]) -> dict[str, Any]:
    now = {r["child_id"] for r in results if r["category"] in engine.CASE_CATEGORIES}
    if previous is None:
        return {"previous": None, "new": len(now), "resolved": 0}
    before = set(
        RunChild.objects.filter(
            run=previous, category__in=list(engine.CASE_CATEGORIES)
        ).values_list("child_id", flat=True)
    )
    return {
        "previous": str(previous.public_id),
        "new": len(now - before),
        "resolved": len(before - now),
    }


def _start_of_day(day: date) -> Any:
    return timezone.make_aware(datetime.combine(day, datetime.min.time()))


def case_dismissed(case: Case) -> int:
    """A case dismissed with its evidence moves its child's category in the latest run of each
    area that counts the child (the numbers of home, 比对 and the ledgers follow at once, not at
    the next run; the next run reaches the same category from the same evidence): 在外地就读
    with the receiving school, 死亡或迁出 for a death or a move (the registry record is marked
    too). Other reasons change nothing until the corrected data are compared again. Returns
    the results moved."""
    reason = case.dismiss_reason
    school = str((case.exit_evidence or {}).get("school") or "") or _("外地学校")
    if reason == "enrolled_elsewhere":
        category, basis = engine.ELSEWHERE, engine.verified_elsewhere_basis(school)
    elif reason == "deceased":
        category, basis = engine.GONE, "经核实已死亡"
        Child.records.filter(pk=case.child_id).update(
            is_deceased=True, version=F("version") + 1, updated_at=timezone.now()
        )
    elif reason == "moved_away":
        category, basis = engine.GONE, "经核实户籍已迁出"
        Child.records.filter(pk=case.child_id).update(
            moved_away=True, version=F("version") + 1, updated_at=timezone.now()
        )
    else:
        return 0
    areas = set(
        RunChild.objects.filter(child_id=case.child_id)
        .order_by()
        .values_list("run__area_id", flat=True)
    )
    latest = []
    for area_id in areas:
        run = (
            ReconciliationRun.objects.filter(area_id=area_id, status=ReconciliationRun.Status.DONE)
            .order_by("-created_at", "-id")
            .values_list("pk", flat=True)
            .first()
        )
        if run is not None:
            latest.append(run)
    return RunChild.objects.filter(
        run_id__in=latest,
        child_id=case.child_id,
        category__in=list(engine.VERIFIED_AWAY_FROM),
    ).update(category=category, basis=basis[:200])
