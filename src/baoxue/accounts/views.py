from __future__ import annotations

from django.contrib.auth import views as auth_views
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render


class LoginView(auth_views.LoginView):
    template_name = "accounts/login.html"
    redirect_authenticated_user = True

    def get_redirect_url(self) -> str:
        # Opening the site's root and logging in is "start my work": that lands where the
        # user's work starts (我的案件 for a teacher or village cadre), not on the bare home.
        url = super().get_redirect_url()
        return "" if url == "/" else url


def locked_out(request: HttpRequest, *args: object, **kwargs: object) -> HttpResponse:
    return render(request, "accounts/locked_out.html", status=429)
