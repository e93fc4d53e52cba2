from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import Resolver404, resolve, reverse
from django.utils.functional import SimpleLazyObject

from baoxue.accounts.scope import scope_for
from baoxue.accounts.totp import confirmed_device, totp_required


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


class TOTPRequiredMiddleware:
    """With BAOXUE_REQUIRE_TOTP on, an account that must use two-step login reaches no page
    but the code pages (and logout) until this session has verified a code. Runs after
    django_otp's OTPMiddleware, which tells whether the session is verified."""

    # URL names the unverified session may open: the code pages, logging out, the language.
    OPEN = frozenset({"accounts:totp_setup", "accounts:totp_verify", "accounts:logout"})
    OPEN_PATHS = ("/static/", "/healthz", "/i18n/")

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if settings.BAOXUE_REQUIRE_TOTP and self._must_verify(request):
            return self._to_code_page(request)
        return self.get_response(request)

    def _must_verify(self, request: HttpRequest) -> bool:
        user: Any = request.user  # OTPMiddleware added is_verified()
        return (
            user.is_authenticated
            and not user.is_verified()
            and totp_required(user)
            and not self._is_open(request)
        )

    def _is_open(self, request: HttpRequest) -> bool:
        if request.path_info.startswith(self.OPEN_PATHS):
            return True
        try:
            match = resolve(request.path_info)
        except Resolver404:
            return False
        return match.view_name in self.OPEN

    def _to_code_page(self, request: HttpRequest) -> HttpResponse:
        name = "accounts:totp_verify" if confirmed_device(request.user) else "accounts:totp_setup"
        target = f"{reverse(name)}?{urlencode({'next': request.get_full_path()})}"
        if request.headers.get("HX-Request"):
            # An htmx swap would put the code page inside the current one: load it whole.
            response = HttpResponse(status=204)
            response["HX-Redirect"] = target
            return response
        return redirect(target)
