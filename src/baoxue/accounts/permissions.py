"""Who may do what beyond seeing: one function per permission, tested as a matrix."""

from __future__ import annotations

from typing import Any

from baoxue.accounts.models import Role
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
