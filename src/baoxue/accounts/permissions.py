"""Who may do what beyond seeing: one function per permission, tested as a matrix."""

from __future__ import annotations

from typing import Any

from baoxue.accounts.models import Role, RoleAssignment
from baoxue.accounts.scope import scope_for

# Roles whose work needs the whole ID number (verification with the police station, 学籍).
ID_REVEAL_ROLES = (Role.TOWNSHIP_OFFICE, Role.LEADER, Role.VILLAGE, Role.SCHOOL)


def can_reveal_id_number(user: Any) -> bool:
    return scope_for(user).has_role(*ID_REVEAL_ROLES)


# Roles that settle a discrepancy (信息不一致) of a child they see: the office, the village
# that knows the family, the school that keeps the 学籍.
DISCREPANCY_ROLES = (Role.TOWNSHIP_OFFICE, Role.VILLAGE, Role.SCHOOL)


def can_resolve_discrepancy(user: Any) -> bool:
    return scope_for(user).has_role(*DISCREPANCY_ROLES)


def can_undo_merge(user: Any) -> bool:
    """Undoing a merge of two records is the township office's (it decides who a child is)."""
    return scope_for(user).has_role(Role.TOWNSHIP_OFFICE)


# Roles that start a reconciliation (比对) of the township or county they are bound to.
RECONCILE_ROLES = (Role.TOWNSHIP_OFFICE,)


def reconcile_areas(user: Any) -> list[Any]:
    """The townships (and counties, for a county office) this user may reconcile: here, below
    the apps that need it (reconcile runs, the import page's next step)."""
    if scope_for(user).is_empty:
        return []
    return [
        a.region
        for a in RoleAssignment.objects.filter(user=user, role__in=RECONCILE_ROLES).select_related(
            "region"
        )
        if a.region is not None and a.region.level in {"township", "county"}
    ]


def can_start_reconciliation(user: Any) -> bool:
    return bool(reconcile_areas(user))
