"""Failed logins and lockouts, written to the app's audit (django-axes keeps its own tables
too, but the audit page reads only AuditEvent). Infrastructure, hence signals: django-axes and
django.contrib.auth announce these events only this way."""

from __future__ import annotations

from typing import Any

from axes.signals import user_locked_out
from django.contrib.auth.signals import user_login_failed
from django.dispatch import Signal, receiver

from baoxue.accounts.models import User
from baoxue.core.services import log_action

# An account was switched off by an administrator: sent with `user`; a receiver (an app above
# that names accounts on its records, e.g. the cases) answers with a warning in words for the
# administrator (safe HTML), or None.
account_switched_off = Signal()


def _named_user(username: Any) -> User | None:
    if not isinstance(username, str) or not username:
        return None
    return User.objects.filter(username=username).first()


@receiver(user_login_failed, dispatch_uid="baoxue_login_failed")
def login_failed(
    sender: Any, credentials: dict[str, Any], request: Any = None, **kwargs: Any
) -> None:
    if request is not None and getattr(request, "axes_locked_out", False):
        return  # the lockout signal that follows records this attempt
    username = credentials.get("username")
    log_action(
        actor=None,
        action="login.failed",
        # The account tried, when it exists, so its township's office sees the attempts.
        obj=_named_user(username),
        data={"username": str(username or "")[:150]},
        request=request,
    )


@receiver(user_locked_out, dispatch_uid="baoxue_locked_out")
def locked_out(sender: Any, request: Any = None, username: Any = None, **kwargs: Any) -> None:
    log_action(
        actor=None,
        action="login.locked_out",
        obj=_named_user(username),
        data={"username": str(username or "")[:150]},
        request=request,
    )
