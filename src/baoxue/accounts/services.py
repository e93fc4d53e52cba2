from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.contrib.auth.password_validation import validate_password
from django.db import transaction

from baoxue.accounts.models import RoleAssignment, User
from baoxue.core.services import log_action


@dataclass(frozen=True)
class Grant:
    role: str
    region: Any = None
    school: Any = None
    grade: int | None = None
    class_name: str = ""


def user_create(
    *,
    actor: Any,
    username: str,
    password: str,
    display_name: str = "",
    unit: str = "",
    phone: str = "",
    grants: Iterable[Grant] = (),
    is_superuser: bool = False,
    check_password: bool = True,
) -> User:
    user = User(
        username=username,
        display_name=display_name,
        unit=unit,
        phone=phone,
        is_staff=is_superuser,
        is_superuser=is_superuser,
    )
    if check_password:
        validate_password(password, user)
    with transaction.atomic():
        user.set_password(password)
        user.full_clean()
        user.save()
        for grant in grants:
            role_grant(actor=actor, user=user, grant=grant)
        log_action(actor=actor, action="user.created", obj=user, data={"username": username})
    return user


def role_grant(*, actor: Any, user: User, grant: Grant) -> RoleAssignment:
    with transaction.atomic():
        assignment = RoleAssignment.objects.create(
            user=user,
            role=grant.role,
            region=grant.region,
            school=grant.school,
            grade=grant.grade,
            class_name=grant.class_name,
        )
        log_action(
            actor=actor,
            action="user.role_granted",
            obj=user,
            data={"role": grant.role, "where": str(grant.region or grant.school or "")},
        )
    return assignment
