"""Refusals written to the audit: every 403 and 404 an app page answers a signed-in user, and
every write (POST, PUT, DELETE) refused to someone not signed in.

Views that know the object they refused log it themselves (`child.access_denied`,
`case.move_refused`); this middleware covers all the others in one place, so that a guarded
accessor added tomorrow is audited without anyone remembering to. See docs/architecture.md,
"What the audit records"."""

from __future__ import annotations

import logging
from collections.abc import Callable
from urllib.parse import urlsplit

from django.conf import settings
from django.db import DatabaseError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import resolve_url

from baoxue.core.models import AuditEvent
from baoxue.core.services import client_ip, refusal_logged

logger = logging.getLogger(__name__)

REFUSED = frozenset({403, 404})
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})


class RefusalAuditMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        token = refusal_logged.set(False)
        try:
            response = self.get_response(request)
            if not refusal_logged.get():
                self._log(request, response)
        finally:
            refusal_logged.reset(token)
        return response

    def _log(self, request: HttpRequest, response: HttpResponse) -> None:
        match = request.resolver_match
        # Only our own pages: a 404 for a path nothing serves (a scanner's /wp-login.php, a
        # stale bookmark) is noise, and the Django admin answers only staff.
        if match is None or not match.func.__module__.startswith("baoxue."):
            return
        user = getattr(request, "user", None)
        signed_in = bool(user is not None and user.is_authenticated)
        if signed_in:
            refused = response.status_code in REFUSED
        else:
            # Anonymous reads are sent to the login page and are not worth a row each; a write
            # without a session is (a forged form, a script, or an expired session's last save).
            refused = request.method not in SAFE_METHODS and (
                response.status_code in REFUSED or _to_login(response)
            )
        if not refused:
            return
        kwargs = {key: str(value)[:64] for key, value in match.kwargs.items()}
        try:
            AuditEvent.objects.create(
                actor=user if signed_in else None,
                action="request.denied",
                object_type=match.view_name[:64],
                # The URL's first argument names the object (a case, batch, run or export).
                object_id=next(iter(kwargs.values()), ""),
                ip_address=client_ip(request),
                data={
                    "status": response.status_code,
                    "method": request.method,
                    "path": request.path[:300],
                    "kwargs": kwargs,
                },
            )
        except DatabaseError:
            # The refusal still goes out; a failed audit write must not turn it into a 500.
            logger.exception("could not write the refusal of %s to the audit", request.path)


def _to_login(response: HttpResponse) -> bool:
    """A redirect to the login page asking to come back (login_required's answer)."""
    if response.status_code not in {301, 302, 303, 307, 308}:
        return False
    location = urlsplit(response.get("Location", ""))
    return location.path == resolve_url(settings.LOGIN_URL) and "next=" in location.query
