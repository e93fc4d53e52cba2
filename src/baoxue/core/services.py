from __future__ import annotations

from contextvars import ContextVar
from typing import Any

from django.conf import settings
from django.db import models
from django.http import HttpRequest

from baoxue.core.models import AuditEvent

# Action codes that record a refusal (`child.access_denied`, `case.move_refused`). A request
# whose view wrote one is not logged again by core.audit.RefusalAuditMiddleware.
REFUSAL_SUFFIXES = ("_denied", "_refused")
refusal_logged: ContextVar[bool] = ContextVar("baoxue_refusal_logged", default=False)


def client_ip(request: HttpRequest | None) -> str | None:
    if request is None:
        return None
    if settings.BEHIND_PROXY:
        # nginx appends the address it saw; the last entry is the one it vouches for.
        forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
        if forwarded:
            return forwarded.split(",")[-1].strip() or None
    return request.META.get("REMOTE_ADDR") or None


def log_action(
    *,
    actor: Any,  # accounts.actors.Actor: core sits below the accounts and knows no user model
    action: str,
    obj: models.Model | None = None,
    data: dict[str, Any] | None = None,
    request: HttpRequest | None = None,
) -> AuditEvent:
    """Write one audit row. Call inside the same transaction as the change it records."""
    if action.endswith(REFUSAL_SUFFIXES):
        refusal_logged.set(True)
    object_type = ""
    object_id = ""
    if obj is not None:
        object_type = obj._meta.label_lower
        object_id = str(getattr(obj, "public_id", None) or obj.pk)
    return AuditEvent.objects.create(
        actor=actor if getattr(actor, "is_authenticated", False) else None,
        action=action,
        object_type=object_type,
        object_id=object_id,
        ip_address=client_ip(request),
        data=data or {},
    )
