"""Reads of the home visits, each from the user's scope: the campaigns, a campaign's targets in
the user's places (and those assigned to the user), a visitor's own list, coverage counts, and
who may open a child's page because she is to visit the family."""

from __future__ import annotations

import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from django.db.models import Prefetch, Q, QuerySet
from django.http import Http404
from django.utils import timezone
from django.utils.translation import gettext as _

from baoxue.accounts.actors import signed_in
from baoxue.accounts.models import Role, RoleAssignment, User
from baoxue.core import policy
from baoxue.registry.models import Child
from baoxue.visits.models import HomeVisit, VisitCampaign, VisitChild, VisitPhoto, VisitTarget


def _uuid(public_id: Any) -> uuid.UUID:
    try:
        return uuid.UUID(str(public_id))
    except ValueError:
        raise Http404 from None


def campaigns(user: Any) -> QuerySet[VisitCampaign]:
    return VisitCampaign.objects.visible_to(user).select_related("township")


def access_campaign(user: Any, public_id: Any) -> VisitCampaign:
    found = campaigns(user).filter(public_id=_uuid(public_id)).first()
    if found is None:
        raise Http404
    return found


def targets(user: Any, campaign: VisitCampaign) -> QuerySet[VisitTarget]:
    """The campaign's targets in the user's places, and those assigned to the user."""
    return (
        VisitTarget.objects.visible_to(user)
        .filter(campaign=campaign)
        .select_related("village", "school", "visitor", "household", "child")
    )


def access_target(user: Any, pk: Any) -> VisitTarget:
    try:
        key = int(pk)
    except (TypeError, ValueError):
        raise Http404 from None
    found = (
        VisitTarget.objects.visible_to(user)
        .filter(pk=key)
        .select_related("campaign__township", "village", "household", "child", "visitor")
        .first()
    )
    if found is None:
        raise Http404
    return found


def my_targets(user: Any, *, today: date | None = None) -> QuerySet[VisitTarget]:
    """The targets the user is sent to, in campaigns not yet over: what the phone keeps."""
    if not signed_in(user):
        return VisitTarget.objects.none()
    today = today or timezone.localdate()
    return (
        VisitTarget.objects.filter(visitor=user, campaign__ends_on__gte=today)
        .exclude(status=VisitTarget.Status.REMOVED)
        .select_related("campaign", "village", "household", "child")
        .order_by("status", "village__name", "label", "pk")
    )


def home_part(user: Any, counts: Any) -> dict[str, Any]:
    """The front page: how many households the user is still to visit."""
    return {"visit_targets": my_targets(user).filter(status=VisitTarget.Status.OPEN).count()}


# Who may be sent to visit: the township office, village cadres, principals and teachers.
VISITOR_ROLES = (Role.TOWNSHIP_OFFICE, Role.VILLAGE, Role.SCHOOL, Role.TEACHER)


def visitors(campaign: VisitCampaign) -> QuerySet[User]:
    """The active accounts that work in the campaign's township in a visiting role: the only
    ones it may send (another township's teacher would see this one's families)."""
    township = campaign.township
    grants = RoleAssignment.objects.filter(role__in=VISITOR_ROLES).filter(
        Q(region__path__startswith=township.path) | Q(school__township=township)
    )
    return User.objects.filter(is_active=True, pk__in=grants.values("user_id")).order_by(
        "display_name", "username"
    )


def visiting_child(user: Any, child_id: int) -> bool:
    """Whether the user is to visit the child's family: a target of the user's, still open, in a
    campaign not over, that is the child's household (or the child). It is the one way a teacher
    sees children outside her class; the view is logged as child.viewed_as_named."""
    if not signed_in(user):
        return False
    child = Child.objects.filter(pk=child_id).values("household_id").first()
    if child is None:
        return False
    mine = my_targets(user).filter(status=VisitTarget.Status.OPEN)
    if child["household_id"] is not None:
        return mine.filter(household_id=child["household_id"]).exists()
    return mine.filter(household=None, child_id=child_id).exists()


def visits(user: Any, campaign: VisitCampaign) -> QuerySet[HomeVisit]:
    return (
        HomeVisit.objects.filter(target__in=targets(user, campaign))
        .select_related("target__village", "recorded_by")
        .prefetch_related(
            Prefetch("children", queryset=VisitChild.objects.select_related("child")),
        )
    )


def access_visit(user: Any, public_id: Any) -> HomeVisit:
    """A visit whose target the user sees (its places, or her own); 404 else."""
    found = (
        HomeVisit.objects.filter(
            public_id=_uuid(public_id), target__in=VisitTarget.objects.visible_to(user)
        )
        .select_related("target__campaign__township", "target__village", "recorded_by")
        .prefetch_related(
            Prefetch("children", queryset=VisitChild.objects.select_related("child", "case")),
            Prefetch("photos", queryset=VisitPhoto.objects.order_by("uploaded_at", "id")),
        )
        .first()
    )
    if found is None:
        raise Http404
    return found


# --- coverage ---------------------------------------------------------------------------------


@dataclass
class Coverage:
    """One row of the coverage table: households targeted, visited, not yet visited, and the
    visits that found a problem."""

    key: Any
    name: str
    targeted: int = 0
    visited: int = 0
    problems: int = 0
    ids: list[int] = field(default_factory=list)

    @property
    def not_visited(self) -> int:
        return self.targeted - self.visited

    @property
    def percent(self) -> int:
        return round(100 * self.visited / self.targeted) if self.targeted else 0


@dataclass
class CampaignCoverage:
    total: Coverage
    by_village: list[Coverage]
    by_school: list[Coverage]
    by_visitor: list[Coverage]


def coverage(user: Any, campaign: VisitCampaign) -> CampaignCoverage:
    """Coverage of the campaign's targets in the user's places, by village, school and visitor
    (a target taken out of the campaign counts nowhere)."""
    rows = list(
        targets(user, campaign)
        .exclude(status=VisitTarget.Status.REMOVED)
        .values_list(
            "pk",
            "status",
            "village_id",
            "village__name",
            "school_id",
            "school__name",
            "visitor_id",
            "visitor__display_name",
            "visitor__username",
        )
    )
    with_problem = _targets_with_problems(campaign, [r[0] for r in rows])
    total = Coverage("all", "")
    tables: dict[str, dict[Any, Coverage]] = {
        "village": {},
        "school": {},
        "visitor": {},
    }
    for pk, status, v_id, v_name, s_id, s_name, u_id, u_name, u_login in rows:
        keys = {
            "village": (v_id, v_name or ""),
            "school": (s_id, s_name or "—"),
            "visitor": (u_id, (u_name or u_login or "") if u_id else _("未分配")),
        }
        for part in (
            total,
            *(tables[t].setdefault(k, Coverage(k, n)) for t, (k, n) in keys.items()),
        ):
            part.targeted += 1
            if status == VisitTarget.Status.VISITED:
                part.visited += 1
                if pk in with_problem:
                    part.problems += 1
    ordered = {
        name: sorted(table.values(), key=lambda c: (-c.not_visited, c.name))
        for name, table in tables.items()
    }
    return CampaignCoverage(
        total=total,
        by_village=ordered["village"],
        by_school=ordered["school"],
        by_visitor=ordered["visitor"],
    )


def _targets_with_problems(campaign: VisitCampaign, target_ids: list[int]) -> set[int]:
    """The targets whose visit found a problem: one written down, or a child not in school."""
    found: set[int] = set()
    visits_of = HomeVisit.objects.filter(target__campaign=campaign)
    found.update(visits_of.exclude(problems="").values_list("target_id", flat=True))
    found.update(
        VisitChild.objects.filter(visit__target__campaign=campaign)
        .exclude(status__in=["", VisitChild.Status.IN_SCHOOL])
        .values_list("visit__target_id", flat=True)
    )
    wanted = set(target_ids)
    return found & wanted


def not_visited(user: Any, campaign: VisitCampaign) -> QuerySet[VisitTarget]:
    """The households nobody has visited yet (in the user's places), for the list to export."""
    return targets(user, campaign).filter(status=VisitTarget.Status.OPEN)


def by_campaign_counts(rows: list[VisitCampaign], user: Any) -> dict[int, tuple[int, int]]:
    """(targeted, visited) per campaign, in the user's places: the campaign list's columns."""
    counts: dict[int, list[int]] = defaultdict(lambda: [0, 0])
    for campaign_id, status in (
        VisitTarget.objects.visible_to(user)
        .filter(campaign__in=rows)
        .exclude(status=VisitTarget.Status.REMOVED)
        .values_list("campaign_id", "status")
    ):
        counts[campaign_id][0] += 1
        if status == VisitTarget.Status.VISITED:
            counts[campaign_id][1] += 1
    return {k: (v[0], v[1]) for k, v in counts.items()}


# --- what the phone keeps (the offline list) ------------------------------------------------------


def offline_targets(user: Any, *, today: date | None = None) -> list[dict[str, Any]]:
    """The user's own targets with their households' school-age children, as the phone stores
    them to work without a network: names, sex, birth date and class — never an ID number, an
    address beyond the household's, a guardian's phone or another household."""
    today = today or timezone.localdate()
    earliest, latest = policy.compulsory_birth_range(today)
    targets_ = list(my_targets(user, today=today))
    households = [t.household_id for t in targets_ if t.household_id]
    children: dict[Any, list[Child]] = defaultdict(list)
    for child in (
        Child.objects.filter(
            household_id__in=households,
            birth_date__gte=earliest,
            birth_date__lte=latest,
            is_deceased=False,
        )
        .select_related("current_school")
        .order_by("birth_date", "pk")
    ):
        children[("h", child.household_id)].append(child)
    out = []
    for t in targets_:
        if t.household_id:
            mine = children[("h", t.household_id)]
        else:
            mine = [t.child] if t.child is not None else []
        out.append(
            {
                "id": t.pk,
                "label": t.label,
                "campaign": t.campaign.name,
                "village": t.village.name,
                "address": t.household.address if t.household else "",
                "groups": t.group_labels,
                "status": t.status,
                "children": [
                    {
                        "id": c.pk,
                        "name": c.name,
                        "sex": c.get_sex_display(),
                        "birth": c.birth_date.isoformat() if c.birth_date else "",
                        "school": c.current_school.name if c.current_school else "",
                        "grade": c.current_grade,
                        "class_name": c.current_class,
                    }
                    for c in mine
                ],
            }
        )
    return out
