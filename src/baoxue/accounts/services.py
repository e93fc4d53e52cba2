from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.contrib.auth.password_validation import validate_password
from django.db import transaction
from django.utils.translation import gettext
from django_otp.plugins.otp_totp.models import TOTPDevice

from baoxue.accounts.actors import Actor
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
    actor: Actor,
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


def role_grant(*, actor: Actor, user: User, grant: Grant) -> RoleAssignment:
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


def user_password_change(*, actor: Actor, user: User, password: str, request: Any = None) -> None:
    """Set a new password (already validated by the form) and write the audit row."""
    with transaction.atomic():
        user.set_password(password)
        user.save(update_fields=["password"])
        log_action(actor=actor, action="user.password_changed", obj=user, request=request)


def totp_device_start(*, user: User) -> TOTPDevice:
    """The user's authenticator being set up: unconfirmed until a first code verifies. Reused
    on every visit of the setup page, so the QR code does not change under the user."""
    device = TOTPDevice.objects.filter(user=user, confirmed=False).order_by("pk").first()
    if device is None:
        device = TOTPDevice.objects.create(user=user, name=gettext("身份验证器"), confirmed=False)
    return device


def totp_device_confirm(*, user: User, device: TOTPDevice, request: Any = None) -> None:
    with transaction.atomic():
        device.confirmed = True
        device.save(update_fields=["confirmed"])
        # Set-up attempts left behind (another browser tab) are useless now.
        TOTPDevice.objects.filter(user=user, confirmed=False).delete()
        log_action(actor=user, action="user.totp_confirmed", obj=user, request=request)


def totp_failure_record(*, user: User, request: Any = None) -> None:
    log_action(actor=user, action="user.totp_failed", obj=user, request=request)


def user_totp_reset(*, actor: Actor, user: User, request: Any = None) -> int:
    """Remove a user's authenticators (a lost phone): the next login sets up a new one."""
    with transaction.atomic():
        removed, _counts = TOTPDevice.objects.filter(user=user).delete()
        log_action(
            actor=actor,
            action="user.totp_reset",
            obj=user,
            data={"removed": removed},
            request=request,
        )
    return removed
