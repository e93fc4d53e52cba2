"""The import sources by code, and who may import which."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from baoxue.accounts.models import Role, RoleAssignment
from baoxue.accounts.scope import scope_for
from baoxue.imports.pipeline import Source
from baoxue.imports.sources.disability import DisabilitySource
from baoxue.imports.sources.enrollment import EnrollmentSource
from baoxue.imports.sources.households import HouseholdsSource
from baoxue.imports.sources.roster import RosterSource
from baoxue.registry.models import Region, School

# Every source by code, in the order lists show them. The registry's own lists are here; an app
# whose list it is declares its source in its AppConfig.ready() with `register` (attendance,
# subsidies), so that imports knows none of them by name.
SOURCES: dict[str, Source] = {
    "roster": RosterSource(),
    "enrollment": EnrollmentSource(),
    "households": HouseholdsSource(),
    "disability": DisabilitySource(),
}

# Which roles may import which sources (DESIGN.md §4 and issue 3 §8); the township office
# imports every source.
ROLE_SOURCES: dict[str, set[str]] = {
    Role.TOWNSHIP_OFFICE: set(SOURCES),
    Role.VILLAGE: {"roster"},
    Role.SCHOOL: {"enrollment"},
    Role.DISABILITY_FEDERATION: {"disability"},
}


def register(code: str, source: Source, *, roles: tuple[str, ...] = ()) -> None:
    """Declare an import source (from the AppConfig.ready() of the app whose list it is): the
    township office may import it, and so may `roles` in their scope. Declaring the same code
    again replaces it (a reloaded app)."""
    SOURCES[code] = source
    ROLE_SOURCES[Role.TOWNSHIP_OFFICE].add(code)
    for role in roles:
        ROLE_SOURCES.setdefault(role, set()).add(code)


@dataclass(frozen=True)
class ImportGrant:
    """Where a user may import a source: a township, optionally narrowed to a school or to
    some villages."""

    source: str
    township: Region
    school: School | None = None
    village_ids: frozenset[int] | None = None
    village_names: tuple[str, ...] = ()

    @property
    def key(self) -> str:
        """Names the grant in a form's choice and on the command line."""
        if self.school is not None:
            return f"school:{self.school.pk}"
        if self.village_ids is not None:
            return f"villages:{self.township.pk}"
        return f"township:{self.township.pk}"

    @property
    def label(self) -> str:
        if self.school is not None:
            return self.school.name
        if self.village_ids is not None:
            return f"{self.township.name}（{'、'.join(self.village_names)}）"
        return self.township.name

    @property
    def names(self) -> set[str]:
        """What the command line's --into may call it: a code or a name."""
        if self.school is not None:
            return {self.school.code, self.school.name} - {""}
        return {self.township.code, self.township.name, self.label} - {""}

    def covers(self, township_id: int | None, school_id: int | None) -> bool:
        """Whether a batch staged for this township (and school) is the user's to act on:
        the township office's for every batch of its township, a school's for its own."""
        if township_id != self.township.pk:
            return False
        if self.school is not None:
            return school_id == self.school.pk
        return self.village_ids is None or school_id is None


def all_import_grants(user: Any) -> dict[str, list[ImportGrant]]:
    """The user's grants by source (sources they may not import are absent), from one read
    of their roles: per source, one per place they can import into: the whole township where
    they have it (it covers the township's schools and villages), one grant for all their
    villages of a township, and one per school."""
    if scope_for(user).is_empty:
        return {}
    assignments = list(
        RoleAssignment.objects.filter(user=user)
        .select_related("region__parent", "school__township")
        .order_by("pk")
    )
    found: dict[str, list[ImportGrant]] = {}
    for source in SOURCES:
        grants = _grants(source, assignments)
        if grants:
            found[source] = grants
    return found


def import_grants(user: Any, source: str) -> list[ImportGrant]:
    return all_import_grants(user).get(source, [])


def _grants(source: str, assignments: list[Any]) -> list[ImportGrant]:
    townships: dict[int, ImportGrant] = {}
    villages: dict[int, tuple[Region, dict[int, str]]] = {}
    schools: dict[int, ImportGrant] = {}
    township_roles = {Role.TOWNSHIP_OFFICE, Role.DISABILITY_FEDERATION}
    for a in assignments:
        if source not in ROLE_SOURCES.get(a.role, set()):
            continue
        if a.role in township_roles and a.region and a.region.level == "township":
            townships.setdefault(a.region.pk, ImportGrant(source, a.region))
        elif (
            a.role == Role.VILLAGE and a.region and a.region.level == "village" and a.region.parent
        ):
            _township, names = villages.setdefault(a.region.parent.pk, (a.region.parent, {}))
            names[a.region.pk] = a.region.name
        elif a.role == Role.SCHOOL and a.school and a.school.township:
            schools.setdefault(a.school.pk, ImportGrant(source, a.school.township, a.school))
    grants = list(townships.values())
    for township, names in villages.values():
        if township.pk not in townships:
            grants.append(
                ImportGrant(
                    source,
                    township,
                    village_ids=frozenset(names),
                    village_names=tuple(names.values()),
                )
            )
    grants += [g for g in schools.values() if g.township.pk not in townships]
    return grants
