from __future__ import annotations

import time
from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.utils.functional import SimpleLazyObject

from baoxue.accounts.scope import scope_for


class SessionRefreshMiddleware:
    """Keep an active user's session alive: push its expiry forward once every few minutes of
    activity. The idle timeout is then SESSION_COOKIE_AGE give or take that interval."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        session = getattr(request, "session", None)
        user = getattr(request, "user", None)
        if session is not None and user is not None and user.is_authenticated:
            now = int(time.time())
            last = int(session.get("_refreshed", 0))
            if now - last >= settings.BAOXUE_SESSION_REFRESH_SECONDS:
                session["_refreshed"] = now  # marks the session modified: saved, expiry reset
        return response


class ScopeMiddleware:
    """Attach `request.scope`, resolved at most once per request and only when used."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        request.scope = SimpleLazyObject(lambda: scope_for(request.user))  # type: ignore[attr-defined]
        return self.get_response(request)
