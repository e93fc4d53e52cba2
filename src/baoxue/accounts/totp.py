"""Who must give a one-time code (TOTP) after the password, and their authenticator.

BAOXUE_REQUIRE_TOTP switches the rule on. It covers accounts that see a whole township or more
(a region role bound to a township, county, city or province, whichever the role) and
administrators: a stolen password of such an account opens thousands of children's records.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django_otp.plugins.otp_totp.models import TOTPDevice

from baoxue.accounts.models import Role
from baoxue.accounts.scope import scope_for

WIDE_LEVELS = frozenset({"province", "city", "county", "township"})


def sees_whole_township(user: Any) -> bool:
    scope = scope_for(user)
    return any(grant.level in WIDE_LEVELS for grant in scope.regions)


def totp_required(user: Any) -> bool:
    """True when the setting is on and `user` must verify a code after the password."""
    if not settings.BAOXUE_REQUIRE_TOTP:
        return False
    if user is None or not user.is_authenticated:
        return False
    if user.is_superuser or user.is_staff:
        return True
    return scope_for(user).has_role(Role.ADMIN) or sees_whole_township(user)


def confirmed_device(user: Any) -> TOTPDevice | None:
    return TOTPDevice.objects.filter(user=user, confirmed=True).order_by("pk").first()
