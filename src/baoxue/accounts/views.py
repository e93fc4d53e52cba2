from __future__ import annotations

from base64 import b32encode
from urllib.parse import urlencode

import segno
from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import update_session_auth_hash
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.contrib.auth.forms import PasswordChangeForm
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect, render, resolve_url
from django.urls import reverse, reverse_lazy
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.safestring import mark_safe
from django.utils.translation import gettext_lazy as _
from django_otp import login as otp_login
from django_otp.plugins.otp_totp.models import TOTPDevice

from baoxue.accounts.services import (
    totp_device_confirm,
    totp_device_start,
    totp_failure_record,
    user_password_change,
)
from baoxue.accounts.totp import confirmed_device


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


class PasswordChangeView(auth_views.PasswordChangeView):
    """Every user changes their own password: the old one, then a new one twice, checked by
    AUTH_PASSWORD_VALIDATORS (length, common, all digits, like the username or name)."""

    template_name = "accounts/password_change.html"
    success_url = reverse_lazy("registry:home")

    def form_valid(self, form: PasswordChangeForm) -> HttpResponse:
        user_password_change(
            actor=self.request.user,
            user=form.user,
            password=form.cleaned_data["new_password1"],
            request=self.request,
        )
        # Keep this session signed in; other sessions of the user end with the old password.
        update_session_auth_hash(self.request, form.user)
        messages.success(self.request, _("密码已修改。"))
        return HttpResponseRedirect(self.get_success_url())


class TOTPCodeForm(forms.Form):
    # The templates write the input by hand (inputmode, one-time-code autocomplete).
    code = forms.CharField(label=_("验证码"), max_length=6, min_length=6)


def _next_url(request: HttpRequest) -> str:
    target = request.POST.get("next") or request.GET.get("next") or ""
    if target and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return resolve_url(settings.LOGIN_REDIRECT_URL)


def _redirect_keeping_next(name: str, request: HttpRequest) -> HttpResponse:
    return redirect(f"{reverse(name)}?{urlencode({'next': _next_url(request)})}")


def _check_code(request: HttpRequest, form: TOTPCodeForm, device: TOTPDevice) -> bool:
    if not form.is_valid():
        return False
    if device.verify_token(form.cleaned_data["code"].strip()):
        return True
    # Wrong, reused, or too many tries (django-otp slows the device down after each failure).
    totp_failure_record(user=device.user, request=request)
    form.add_error("code", _("验证码不正确或已过期，请输入验证器上当前显示的6位数字。"))
    return False


@login_required
def totp_setup(request: HttpRequest) -> HttpResponse:
    """First login of an account that must use two-step login: link an authenticator app
    (scan the QR code or type the key), then prove it with a first code."""
    user = request.user
    if confirmed_device(user) is not None:
        return _redirect_keeping_next("accounts:totp_verify", request)
    device = totp_device_start(user=user)  # type: ignore[arg-type]
    form = TOTPCodeForm(request.POST or None)
    if request.method == "POST" and _check_code(request, form, device):
        totp_device_confirm(user=user, device=device, request=request)  # type: ignore[arg-type]
        otp_login(request, device)
        messages.success(
            request, _("两步验证已开启。以后登录时，输入密码后还要输入验证器上的验证码。")
        )
        return redirect(_next_url(request))
    uri = device.config_url
    secret = b32encode(device.bin_key).decode()
    context = {
        "form": form,
        "uri": uri,
        # Groups of four, as authenticator apps show a key typed by hand.
        "secret": " ".join(secret[i : i + 4] for i in range(0, len(secret), 4)),
        "qr_svg": mark_safe(segno.make(uri, error="m").svg_inline(scale=4, light="#fff")),  # noqa: S308
        "next": _next_url(request),
    }
    return render(request, "accounts/totp_setup.html", context)


@login_required
def totp_verify(request: HttpRequest) -> HttpResponse:
    """After the password: the code the user's authenticator shows now."""
    device = confirmed_device(request.user)
    if device is None:
        return _redirect_keeping_next("accounts:totp_setup", request)
    if request.user.is_verified():  # type: ignore[union-attr]
        return redirect(_next_url(request))
    form = TOTPCodeForm(request.POST or None)
    if request.method == "POST" and _check_code(request, form, device):
        otp_login(request, device)
        return redirect(_next_url(request))
    return render(request, "accounts/totp_verify.html", {"form": form, "next": _next_url(request)})
