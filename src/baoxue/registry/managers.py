"""Query sets with `visible_to(user)`: every read of children's data starts here."""

from __future__ import annotations

from typing import Any

from django.db import models
from django.db.models import Exists, OuterRef, Q

from baoxue.accounts.scope import scope_for


class RegionQuerySet(models.QuerySet["Any"]):
    def visible_to(self, user: Any) -> RegionQuerySet:
        return self.filter(scope_for(user).region_q())


class SchoolQuerySet(models.QuerySet["Any"]):
    def visible_to(self, user: Any) -> SchoolQuerySet:
        return self.filter(scope_for(user).school_q())


class HouseholdQuerySet(models.QuerySet["Any"]):
    def visible_to(self, user: Any) -> HouseholdQuerySet:
        """The households of the user's places (for the 残联, only those with a disabled
        child), and those of the children of the user's schools and classes."""
        from baoxue.registry.models import Child  # the models module imports this one

        scope = scope_for(user)
        q = Q(pk__in=[])
        for grant in scope.regions:
            if grant.disability_only:
                disabled = Child.objects.filter(household=OuterRef("pk"), has_disability=True)
                q |= scope.region_filter(grant) & Q(Exists(disabled))
            else:
                q |= scope.region_filter(grant)
        if scope.schools:
            students = Child.objects.filter(scope.school_students_q(), household=OuterRef("pk"))
            q |= Q(Exists(students))
        return self.filter(q)


class ChildQuerySet(models.QuerySet["Any"]):
    def visible_to(self, user: Any) -> ChildQuerySet:
        return self.filter(scope_for(user).child_q())


class ChildManager(models.Manager["Any"]):
    """The registry's children: a record merged into another (ChildMerge) is that child now,
    and no list, count, search or comparison sees it twice; an archived record (aged out,
    its identifying data wiped: cases.retention) is in none either. `Child.records` holds
    them all (for merging and undoing, and for finding a merged record's numbers in a new
    file)."""

    def get_queryset(self) -> ChildQuerySet:
        return ChildQuerySet(self.model, using=self._db).filter(merged_into=None, archived_at=None)

    def visible_to(self, user: Any) -> ChildQuerySet:
        return self.get_queryset().visible_to(user)


class GuardianQuerySet(models.QuerySet["Any"]):
    def visible_to(self, user: Any) -> GuardianQuerySet:
        return self.filter(scope_for(user).child_q(prefix="child__"))


class EnrollmentQuerySet(models.QuerySet["Any"]):
    def visible_to(self, user: Any) -> EnrollmentQuerySet:
        return self.filter(scope_for(user).child_q(prefix="child__"))


class DiscrepancyQuerySet(models.QuerySet["Any"]):
    def visible_to(self, user: Any) -> DiscrepancyQuerySet:
        return self.filter(scope_for(user).child_q(prefix="child__"))

    def open(self) -> DiscrepancyQuerySet:
        return self.filter(status="open")
