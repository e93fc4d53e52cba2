"""The import sources by code, and who may import which."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from baoxue.accounts.models import Role
from baoxue.accounts.scope import scope_for
from baoxue.attendance.importing import AttendanceSource
from baoxue.imports.pipeline import Source
from baoxue.imports.sources.disability import DisabilitySource
from baoxue.imports.sources.enrollment import EnrollmentSource
from baoxue.imports.sources.households import HouseholdsSource
from baoxue.imports.sources.roster import RosterSource
from baoxue.registry.models import Region, School
from baoxue.subsidies.importing import SubsidiesSource

SOURCES: dict[str, Source] = {
    "roster": RosterSource(),
    "enrollment": EnrollmentSource(),
    "households": HouseholdsSource(),
    "disability": DisabilitySource(),
    "subsidies": SubsidiesSource(),
    "attendance": AttendanceSource(),
}

# Which roles may import which sources (DESIGN.md §4 and issue 3 §8).
ROLE_SOURCES: dict[str, set[str]] = {
    Role.TOWNSHIP_OFFICE: set(SOURCES),
    Role.VILLAGE: {"roster"},
    Role.SCHOOL: {"enrollment", "subsidies", "attendance"},
    Role.DISABILITY_FEDERATION: {"disability"},
}


@dataclass(frozen=True)
class ImportGrant:
    """Where a user may import a source: a township, optionally narrowed to a school or to
    some villages."""

    source: str
    township: Region
    school: School | None = None
    village_ids: frozenset[int] | None = None


def import_grants(user: Any, source: str) -> list[ImportGrant]:
    from baoxue.accounts.models import RoleAssignment

    grants: list[ImportGrant] = []
    scope = scope_for(user)
    if scope.is_empty:
        return grants
    for a in RoleAssignment.objects.filter(user=user).select_related("region", "school"):
        if source not in ROLE_SOURCES.get(a.role, set()):
            continue
        township_roles = {Role.TOWNSHIP_OFFICE, Role.DISABILITY_FEDERATION}
        if a.role in township_roles and a.region and a.region.level == "township":
            grants.append(ImportGrant(source, a.region))
        elif (
            a.role == Role.VILLAGE and a.region and a.region.level == "village" and a.region.parent
        ):
            grants.append(
                ImportGrant(source, a.region.parent, village_ids=frozenset({a.region.pk}))
            )
        elif a.role == Role.SCHOOL and a.school and a.school.township:
            grants.append(ImportGrant(source, a.school.township, school=a.school))
    return grants


def sources_for(user: Any) -> list[str]:
    return [code for code in SOURCES if import_grants(user, code)]
