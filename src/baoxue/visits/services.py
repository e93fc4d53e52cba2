"""Every write of the home visits: a campaign and its targets (made from the registry's key
groups, adjusted by hand, assigned in bulk), and the visits themselves (recorded once however
often the phone sends them, edited only against the version the editor read)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.uploadedfile import UploadedFile
from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext as _

from baoxue.accounts.actors import Actor, person, required_person
from baoxue.accounts.models import Role
from baoxue.accounts.scope import scope_for
from baoxue.attendance import selectors as attendance
from baoxue.cases.models import Case
from baoxue.core import attachments, policy
from baoxue.core.idnumbers import mask_numbers
from baoxue.core.services import log_action
from baoxue.reconcile import engine
from baoxue.reconcile import selectors as reconcile
from baoxue.registry.models import Child, Enrollment, Household, Region
from baoxue.visits import links, selectors
from baoxue.visits.models import (
    Group,
    HomeVisit,
    VisitCampaign,
    VisitChild,
    VisitPhoto,
    VisitTarget,
)

# Who runs a campaign (makes it, adjusts and assigns its targets): the township office.
ORGANISER_ROLES = (Role.TOWNSHIP_OFFICE,)
SUBSIDY_ITEMS = {
    "meals": _("营养餐"),
    "living": _("生活补助"),
    "textbooks": _("免费教科书"),
}
LAW_ITEMS = {
    "education_law": _("教育法"),
    "compulsory_law": _("义务教育法"),
    "minors_law": _("未成年人保护法"),
    "subsidy_policy": _("资助政策"),
    "safety": _("防溺水等安全教育"),
}


class Conflict(ValidationError):
    """Someone else changed the visit since it was read."""


def can_organise(user: Any, township: Region) -> bool:
    scope = scope_for(user)
    return scope.has_role(*ORGANISER_ROLES) and any(
        g.township_id == township.pk
        or (g.level in {"county", "city", "province"} and township.path.startswith(g.path))
        for g in scope.regions
    )


def _organiser(actor: Actor, township: Region) -> None:
    if not can_organise(actor, township):
        raise PermissionDenied(_("只有乡镇控辍保学办公室可以安排家访活动。"))


# --- campaigns and their targets ------------------------------------------------------------


def campaign_create(
    *,
    actor: Actor,
    township: Region,
    name: str,
    starts_on: date,
    ends_on: date,
    groups: Iterable[str],
    kind: str = VisitCampaign.Kind.VISITS,
    today: date | None = None,
) -> VisitCampaign:
    """A campaign with its targets made from the registry: every household with a school-age
    child in one of `groups` (a 核查 campaign: the 待核实 list alone)."""
    _organiser(actor, township)
    name = name.strip()
    if not name:
        raise ValidationError(_("请填写活动名称。"))
    if ends_on < starts_on:
        raise ValidationError(_("结束日期不能早于开始日期。"))
    if kind not in VisitCampaign.Kind.values:
        raise ValidationError(_("未知的活动类型。"))
    chosen = [Group.TO_VERIFY.value] if kind == VisitCampaign.Kind.VERIFY else list(groups)
    unknown = [g for g in chosen if g not in Group.values]
    if unknown or not chosen:
        raise ValidationError(_("请选择要走访的对象。"))
    with transaction.atomic():
        campaign = VisitCampaign.objects.create(
            township=township,
            name=name[:100],
            kind=kind,
            starts_on=starts_on,
            ends_on=ends_on,
            groups=list(dict.fromkeys(chosen)),
            created_by=person(actor),
        )
        made = targets_generate(campaign, today=today)
        log_action(
            actor=actor,
            action="visits.campaign_created",
            obj=campaign,
            data={"groups": campaign.groups, "targets": made},
        )
    return campaign


def group_children(township: Region, group: str, today: date) -> Q:
    """Q over Child: the township's school-age children in `group`."""
    if group == Group.LIFTED:
        return Q(household__is_lifted_from_poverty=True)
    if group == Group.MONITORED:
        return ~Q(household__monitoring_type="") & Q(household__isnull=False)
    if group == Group.LEFT_BEHIND:
        return ~Q(left_behind="") & ~Q(left_behind="none")
    if group == Group.DISABLED:
        return Q(has_disability=True)
    if group == Group.SUSPENDED:
        return Q(
            pk__in=Enrollment.objects.filter(
                is_current=True, status=Enrollment.Status.SUSPENDED, child__township=township
            ).values("child_id")
        )
    if group == Group.OPEN_CASES:
        return Q(pk__in=Case.objects.open().filter(township=township).values("child_id"))
    if group in {Group.TO_VERIFY, Group.LONG_LEAVE}:
        category = engine.TO_VERIFY if group == Group.TO_VERIFY else engine.ON_LEAVE
        return Q(pk__in=reconcile.latest_children(township, category))
    if group == Group.ABSENT:
        return Q(pk__in=attendance.children_absent(Child.objects.filter(township=township), today))
    raise ValueError(group)


def targets_generate(campaign: VisitCampaign, *, today: date | None = None) -> int:
    """Add the campaign's targets from the registry (those already there stay as they are: a
    campaign made again after an import adds the new households). Returns how many were new."""
    today = today or timezone.localdate()
    earliest, latest = policy.compulsory_birth_range(today)
    township = campaign.township
    why: dict[int, set[str]] = {}
    base = Child.objects.filter(
        township=township,
        birth_date__gte=earliest,
        birth_date__lte=latest,
        is_deceased=False,
        moved_away=False,
    )
    for group in campaign.groups:
        for child_id in base.filter(group_children(township, group, today)).values_list(
            "pk", flat=True
        ):
            why.setdefault(child_id, set()).add(group)
    if not why:
        return 0
    children = list(
        Child.objects.filter(pk__in=list(why))
        .select_related("household")
        .order_by("household_id", "birth_date", "pk")
    )
    existing_households = set(
        campaign.targets.exclude(household=None).values_list("household_id", flat=True)
    )
    existing_children = set(
        campaign.targets.filter(household=None).values_list("child_id", flat=True)
    )
    new: dict[Any, VisitTarget] = {}
    for child in children:
        key: Any = ("h", child.household_id) if child.household_id else ("c", child.pk)
        if child.household_id in existing_households or child.pk in existing_children:
            continue
        target = new.get(key)
        if target is None:
            new[key] = _target_of(campaign, child, groups=sorted(why[child.pk]))
        else:
            target.groups = sorted(set(target.groups) | why[child.pk])
            if target.school_id is None and child.current_school_id:
                target.school_id = child.current_school_id
                target.grade = child.current_grade
                target.class_name = child.current_class
    VisitTarget.objects.bulk_create(new.values(), batch_size=1000)
    return len(new)


def _target_of(campaign: VisitCampaign, child: Child, **fields: Any) -> VisitTarget:
    """The (unsaved) target of a child: its household, or the child itself with none; named by
    the household's head (else the child); placed by the child's school, grade and class."""
    household: Household | None = child.household
    return VisitTarget(
        campaign=campaign,
        household=household,
        child=None if household else child,
        village_id=household.village_id if household else child.village_id,
        school_id=child.current_school_id,
        grade=child.current_grade,
        class_name=child.current_class,
        label=((household.head_name if household else "") or child.name)[:64],
        **fields,
    )


def target_add(*, actor: Actor, campaign: VisitCampaign, child: Child) -> VisitTarget:
    """Add a child's household (or the child, with none) by hand; the target already there is
    given back (made visible again if it had been taken out)."""
    _organiser(actor, campaign.township)
    if child.township_id != campaign.township_id:
        raise ValidationError(_("这个儿童不在本乡镇。"))
    found = (
        campaign.targets.filter(household_id=child.household_id).first()
        if child.household_id
        else campaign.targets.filter(household=None, child=child).first()
    )
    with transaction.atomic():
        if found is not None:
            if found.status == VisitTarget.Status.REMOVED:
                found.status = VisitTarget.Status.OPEN
                found.save(update_fields=["status"])
            target = found
        else:
            target = _target_of(campaign, child, by_hand=True)
            target.save()
        log_action(actor=actor, action="visits.target_added", obj=campaign)
    return target


def target_remove(*, actor: Actor, target: VisitTarget) -> None:
    """Take a target out of the campaign (kept, shown as 已移出); a visited one stays."""
    _organiser(actor, target.campaign.township)
    if target.status == VisitTarget.Status.VISITED:
        raise ValidationError(_("已走访的对象不能移出。"))
    with transaction.atomic():
        VisitTarget.objects.filter(pk=target.pk).update(status=VisitTarget.Status.REMOVED)
        log_action(actor=actor, action="visits.target_removed", obj=target.campaign)


def targets_assign(
    *,
    actor: Actor,
    campaign: VisitCampaign,
    visitor: Any,
    village_id: int | None = None,
    school_id: int | None = None,
    grade: int | None = None,
    class_name: str = "",
    target_ids: Iterable[int] = (),
    replace: bool = False,
) -> int:
    """Send `visitor` to the open targets of a village, a school (a grade, a class) or the
    given ones; those already assigned keep their visitor unless `replace`. Returns how many."""
    _organiser(actor, campaign.township)
    visitor = required_person(visitor)
    if not selectors.visitors(campaign).filter(pk=visitor.pk).exists():
        raise ValidationError(_("这个账号不能担任本乡镇的走访人。"))
    chosen = campaign.targets.filter(status=VisitTarget.Status.OPEN)
    ids = [int(i) for i in target_ids]
    if ids:
        chosen = chosen.filter(pk__in=ids)
    elif village_id:
        chosen = chosen.filter(village_id=village_id)
    elif school_id:
        chosen = chosen.filter(school_id=school_id)
        if grade:
            chosen = chosen.filter(grade=grade)
        if class_name:
            chosen = chosen.filter(class_name=class_name)
    else:
        raise ValidationError(_("请选择村、学校（年级、班级）或具体对象。"))
    if not replace:
        chosen = chosen.filter(visitor=None)
    with transaction.atomic():
        done = chosen.update(visitor=visitor)
        log_action(
            actor=actor,
            action="visits.targets_assigned",
            obj=campaign,
            data={"visitor": visitor.pk, "targets": done},
        )
    return done


# --- visits ---------------------------------------------------------------------------------


def can_record(user: Any, target: VisitTarget) -> bool:
    """The target's visitor, and the campaign's organisers (entering paper forms)."""
    if person(user) is None:
        return False
    return target.visitor_id == user.pk or can_organise(user, target.campaign.township)


def _text(data: dict[str, Any], key: str, limit: int) -> str:
    return mask_numbers(str(data.get(key) or "").strip())[:limit]


def _chosen(data: dict[str, Any], key: str, allowed: dict[str, Any]) -> list[str]:
    raw = data.get(key) or []
    values = raw if isinstance(raw, list | tuple) else [raw]
    return [v for v in dict.fromkeys(str(v) for v in values) if v in allowed]


def _fields(data: dict[str, Any], *, today: date) -> dict[str, Any]:
    visited_on = data.get("visited_on")
    try:
        day = visited_on if isinstance(visited_on, date) else date.fromisoformat(str(visited_on))
    except ValueError:
        raise ValidationError(_("请填写走访日期（如 2026-07-15）。")) from None
    if day > today:
        raise ValidationError(_("走访日期不能晚于今天。"))
    follow_up_raw = str(data.get("follow_up_by") or "").strip()
    try:
        follow_up_by = date.fromisoformat(follow_up_raw) if follow_up_raw else None
    except ValueError:
        raise ValidationError(_("跟进日期请写成 2026-07-15 这样的格式。")) from None
    visitors = _text(data, "visitors", 200)
    if not visitors:
        raise ValidationError(_("请填写走访人员。"))
    method = str(data.get("method") or HomeVisit.Method.HOME)
    if method not in HomeVisit.Method.values:
        raise ValidationError(_("请选择走访方式。"))
    return {
        "method": method,
        "visited_on": day,
        "visitors": visitors,
        "people_met": _text(data, "people_met", 200),
        "guardianship": _text(data, "guardianship", 200),
        "economy": _text(data, "economy", 200),
        "subsidies": _chosen(data, "subsidies", SUBSIDY_ITEMS),
        "explained": _chosen(data, "explained", LAW_ITEMS),
        "problems": _text(data, "problems", 2000),
        "help_given": _text(data, "help_given", 2000),
        "follow_up_by": follow_up_by,
        "location": _text(data, "location", 64),
    }


def household_children(target: VisitTarget, *, today: date | None = None) -> list[Child]:
    """The school-age children the visit is about: the household's (a visit is to the family),
    or the target's child."""
    earliest, latest = policy.compulsory_birth_range(today or timezone.localdate())
    if target.household_id is None:
        return [target.child] if target.child is not None else []
    return list(
        Child.objects.filter(
            household_id=target.household_id,
            birth_date__gte=earliest,
            birth_date__lte=latest,
            is_deceased=False,
        ).order_by("birth_date", "pk")
    )


def _children_rows(
    visit: HomeVisit, target: VisitTarget, rows: list[dict[str, Any]], today: date
) -> list[VisitChild]:
    allowed = {c.pk: c for c in household_children(target, today=today)}
    made: list[VisitChild] = []
    for row in rows:
        try:
            child_id = int(row.get("child") or 0)
        except (TypeError, ValueError):
            child_id = 0
        if child_id not in allowed:
            raise ValidationError(_("走访记录里有不属于这户的儿童。"))
        status = str(row.get("status") or "")
        if status and status not in VisitChild.Status.values:
            raise ValidationError(_("请选择儿童的现状。"))
        made.append(
            VisitChild(
                visit=visit,
                child_id=child_id,
                seen=bool(row.get("seen")),
                status=status,
                where=mask_numbers(str(row.get("where") or "").strip())[:200],
                contact=str(row.get("contact") or "").strip()[:64],
                study_mood=mask_numbers(str(row.get("study_mood") or "").strip())[:200],
                intended_junior=str(row.get("intended_junior") or "").strip()[:100],
            )
        )
    return made


def visit_record(
    *,
    actor: Actor,
    target: VisitTarget,
    client_id: str,
    data: dict[str, Any],
    children: list[dict[str, Any]],
    photos: Iterable[UploadedFile] = (),
    signature: UploadedFile | None = None,
) -> tuple[HomeVisit, bool]:
    """Record a visit (the phone's form, or a paper form entered at the office). The same
    `client_id` from the same person gives back the visit already made, with False: a retried
    upload never makes a second one. The target counts as visited."""
    user = required_person(actor)
    client_id = str(client_id or "").strip()[:64]
    earlier = (
        HomeVisit.objects.filter(recorded_by=user, client_id=client_id).first()
        if client_id
        else None
    )
    if earlier is not None:
        return earlier, False
    if not can_record(user, target):
        raise PermissionDenied(_("您不是这户的走访人。"))
    if not client_id:
        raise ValidationError(_("缺少记录编号，请刷新页面后重新提交。"))
    if target.status == VisitTarget.Status.REMOVED:
        raise ValidationError(_("这户已从活动中移出。"))
    today = timezone.localdate()
    fields = _fields(data, today=today)
    checked = [(upload, attachments.accept(upload)) for upload in photos]
    signed = (signature, attachments.accept(signature)) if signature is not None else None
    saved: list[VisitPhoto] = []
    try:
        with transaction.atomic():
            visit = HomeVisit.objects.create(
                target=target, client_id=client_id, recorded_by=user, **fields
            )
            VisitChild.objects.bulk_create(_children_rows(visit, target, children, today))
            for upload, kind in checked:
                saved.append(attachments.store(VisitPhoto(visit=visit), upload, kind, by=user))
            if signed is not None:
                item = VisitPhoto(visit=visit, is_signature=True)
                saved.append(attachments.store(item, signed[0], signed[1], by=user))
            VisitTarget.objects.filter(pk=target.pk).update(
                status=VisitTarget.Status.VISITED, visited_at=timezone.now()
            )
            log_action(
                actor=user,
                action="visits.visit_recorded",
                obj=visit,
                data={"campaign": str(target.campaign.public_id)},
            )
    except IntegrityError:
        attachments.forget(saved)
        # The same client id from a second request that raced the first: it is there now.
        found = HomeVisit.objects.filter(recorded_by=user, client_id=client_id).first()
        if found is None:
            raise
        return found, False
    except Exception:
        attachments.forget(saved)
        raise
    # The findings reach the children's cases, each in a step of its own (visits.links).
    links.apply(visit, user)
    return visit, True


def visit_update(
    *,
    actor: Actor,
    visit: HomeVisit,
    version: int,
    data: dict[str, Any],
    children: list[dict[str, Any]],
) -> HomeVisit:
    """Change a visit, only against the version the editor read: an edit made elsewhere since
    (another phone, the office) is a Conflict to resolve, never overwritten."""
    user = required_person(actor)
    if not can_record(user, visit.target):
        raise PermissionDenied(_("您不能修改这条家访记录。"))
    today = timezone.localdate()
    fields = _fields(data, today=today)
    with transaction.atomic():
        updated = HomeVisit.objects.filter(pk=visit.pk, version=version).update(
            version=F("version") + 1, updated_at=timezone.now(), **fields
        )
        if not updated:
            raise Conflict(_("这条家访记录刚被别人修改过，请看看最新的内容再决定是否修改。"))
        visit.children.all().delete()
        VisitChild.objects.bulk_create(_children_rows(visit, visit.target, children, today))
        log_action(actor=user, action="visits.visit_updated", obj=visit)
    visit.refresh_from_db()
    return visit
