"""A user's scope, resolved once per request: which children, schools and places they may see.

Every `visible_to(user)` builds its filter from this object, so the rules live in one place.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from django.db.models import Q

from baoxue.accounts.actors import signed_in
from baoxue.accounts.models import REGION_ROLES, SCHOOL_ROLES, Role, RoleAssignment

if TYPE_CHECKING:
    pass


# The Child/Household/School column that holds the ancestor of each level.
LEVEL_COLUMN = {
    "county": "county_id",
    "township": "township_id",
    "village": "village_id",
    "group": "group_id",
}


@dataclass(frozen=True)
class RegionGrant:
    region_id: int
    level: str
    path: str
    disability_only: bool

    @property
    def township_id(self) -> int | None:
        """The township above a village or group grant, read off the path (the tree's shape is
        fixed: a village's parent is a township, a group's parent a village)."""
        ids = [int(p) for p in self.path.strip("/").split("/") if p]
        steps = {"township": 1, "village": 2, "group": 3}.get(self.level)
        return ids[-steps] if steps and len(ids) >= steps else None


@dataclass(frozen=True)
class SchoolGrant:
    school_id: int
    township_id: int | None
    grade: int | None
    class_name: str


@dataclass
class Scope:
    roles: frozenset[str] = frozenset()
    regions: tuple[RegionGrant, ...] = ()
    schools: tuple[SchoolGrant, ...] = ()
    # For the page header: the widest region the user works in.
    home_region_ids: tuple[int, ...] = field(default=())

    @property
    def is_empty(self) -> bool:
        return not self.regions and not self.schools

    def has_role(self, *roles: str) -> bool:
        return bool(self.roles.intersection(roles))

    @property
    def is_county_level(self) -> bool:
        return any(g.level in {"province", "city", "county"} for g in self.regions)

    # -- filters ---------------------------------------------------------------------------
    def region_filter(self, grant: RegionGrant, prefix: str = "") -> Q:
        """Q over a model with the place columns of LEVEL_COLUMN (Child, Household, School)."""
        column = LEVEL_COLUMN.get(grant.level)
        if column is not None:
            return Q(**{prefix + column: grant.region_id})
        # Province or city: the counties below it, through the county's path.
        return Q(**{prefix + "county__path__startswith": grant.path})

    def child_q(self, prefix: str = "") -> Q:
        """Q over Child (or over a model reaching Child through `prefix`, e.g. 'child__')."""
        q = Q(pk__in=[])
        for grant in self.regions:
            part = self.region_filter(grant, prefix)
            if grant.disability_only:
                part &= Q(**{prefix + "has_disability": True})
            q |= part
        for school in self.schools:
            part = Q(**{prefix + "current_school_id": school.school_id})
            if school.grade is not None:
                part &= Q(**{prefix + "current_grade": school.grade})
            if school.class_name:
                part &= Q(**{prefix + "current_class": school.class_name})
            q |= part
        return q

    def school_students_q(self, prefix: str = "") -> Q:
        """Q over Child: the children of the user's schools and classes only."""
        return Scope(schools=self.schools).child_q(prefix)

    def school_q(self) -> Q:
        q = Q(pk__in=[])
        for grant in self.regions:
            if grant.level in LEVEL_COLUMN and grant.level in {"county", "township"}:
                q |= Q(**{LEVEL_COLUMN[grant.level]: grant.region_id})
            elif grant.level in {"village", "group"}:
                # A village works with every school of its township (its children go to the
                # central primary and the junior middle school, not only the village primary).
                q |= Q(township_id=grant.township_id)
            else:
                q |= self.region_filter(grant)
        if self.schools:
            q |= Q(pk__in=[s.school_id for s in self.schools])
        return q

    def region_q(self) -> Q:
        q = Q(pk__in=[])
        for grant in self.regions:
            q |= Q(path__startswith=grant.path)
        for school in self.schools:
            if school.township_id is not None:
                q |= Q(path__contains=f"/{school.township_id}/")
        return q


def scope_for(user: Any) -> Scope:
    """The scope of `user`, computed once and kept on the user object for the request."""
    cached = getattr(user, "_baoxue_scope", None)
    if cached is not None:
        return cached
    scope = _build_scope(user)
    if user is not None:
        # AnonymousUser and other simple objects may refuse new attributes.
        with contextlib.suppress(AttributeError):
            user._baoxue_scope = scope
    return scope


def _build_scope(user: Any) -> Scope:
    if user is None or not signed_in(user) or not user.is_active:
        return Scope()
    assignments = list(RoleAssignment.objects.filter(user=user).select_related("region", "school"))
    regions: list[RegionGrant] = []
    schools: list[SchoolGrant] = []
    roles: set[str] = set()
    for a in assignments:
        roles.add(a.role)
        if a.role in REGION_ROLES and a.region is not None:
            regions.append(
                RegionGrant(
                    region_id=a.region.pk,
                    level=a.region.level,
                    path=a.region.path,
                    disability_only=a.role == Role.DISABILITY_FEDERATION,
                )
            )
        elif a.role in SCHOOL_ROLES and a.school is not None:
            schools.append(
                SchoolGrant(
                    school_id=a.school.pk,
                    township_id=a.school.township_id,
                    grade=a.grade if a.role == Role.TEACHER else None,
                    class_name=a.class_name if a.role == Role.TEACHER else "",
                )
            )
    # A wider grant for the same region makes the disability-only one redundant.
    full = {g.region_id for g in regions if not g.disability_only}
    regions = [g for g in regions if not (g.disability_only and g.region_id in full)]
    return Scope(
        roles=frozenset(roles),
        regions=tuple(regions),
        schools=tuple(schools),
        home_region_ids=tuple(g.region_id for g in regions),
    )


def reset_scope(user: Any) -> None:
    if hasattr(user, "_baoxue_scope"):
        del user._baoxue_scope
