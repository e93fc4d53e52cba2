"""Two-step login (TOTP) for accounts that see a whole township or county (issue 22 §8)."""

from __future__ import annotations

import pytest
from django.urls import reverse
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice

from baoxue.accounts.services import user_totp_reset
from baoxue.conftest import PASSWORD
from baoxue.core.models import AuditEvent

HOME = reverse("registry:home")
SETUP = reverse("accounts:totp_setup")
VERIFY = reverse("accounts:totp_verify")

# Whole township or county, or administrator: must give a code. A village, a school, a teacher
# and an account without roles: the password alone, as before.
REQUIRED = ["office", "leader", "canlian", "county", "admin"]
NOT_REQUIRED = ["village_a", "principal_x", "teacher_x", "nobody"]


@pytest.fixture
def required(settings):
    settings.BAOXUE_REQUIRE_TOTP = True


def code(device: TOTPDevice, *, drift: int = 0) -> str:
    """What the user's authenticator app shows (drift 1: the next 30-second step)."""
    token = totp(device.bin_key, device.step, device.t0, device.digits, device.drift + drift)
    return f"{token:0{device.digits}d}"


def log_in(client, username):
    response = client.post(reverse("accounts:login"), {"username": username, "password": PASSWORD})
    assert response.status_code == 302, "password login failed"
    return response


@pytest.mark.parametrize("username", REQUIRED)
def test_wide_accounts_are_sent_to_set_up_an_authenticator(
    world, client, persona, required, username
):
    client.force_login(persona(username))
    response = client.get(HOME)
    assert response.status_code == 302
    assert response["Location"] == f"{SETUP}?next=%2F"


@pytest.mark.parametrize("username", NOT_REQUIRED)
def test_narrow_accounts_keep_the_password_alone(world, client, persona, required, username):
    client.force_login(persona(username))
    assert client.get(HOME).status_code == 200


def test_off_by_default(world, client, persona):
    client.force_login(persona("office"))
    assert client.get(HOME).status_code == 200


def test_login_set_up_verify_and_log_in_again_with_a_code(world, client, persona, required):
    user = persona("office")
    log_in(client, "office")
    # Every page leads to the set-up page until a code is verified.
    response = client.get(reverse("registry:child_list"))
    assert response.status_code == 302
    assert response["Location"].startswith(SETUP)
    page = client.get(response["Location"])
    assert page.status_code == 200
    device = TOTPDevice.objects.get(user=user, confirmed=False)
    html = page.content.decode()
    assert "<svg" in html  # the QR code
    assert "otpauth://totp/" in html
    assert device.config_url.replace("&", "&amp;") in html

    wrong = client.post(SETUP, {"code": f"{(int(code(device)) + 1) % 1_000_000:06d}", "next": "/"})
    assert wrong.status_code == 200
    assert "验证码不正确" in wrong.content.decode()
    assert AuditEvent.objects.filter(action="user.totp_failed", object_id=str(user.pk)).exists()
    device.refresh_from_db()
    device.throttling_failure_count = 0  # the failure slowed the device down for a second
    device.throttling_failure_timestamp = None
    device.save()

    right = client.post(SETUP, {"code": code(device), "next": reverse("registry:child_list")})
    assert right.status_code == 302
    assert right["Location"] == reverse("registry:child_list")
    device.refresh_from_db()
    assert device.confirmed
    assert AuditEvent.objects.filter(action="user.totp_confirmed", object_id=str(user.pk)).exists()
    assert client.get(reverse("registry:child_list")).status_code == 200

    # Next time: password, then the code page (no new set-up), then the pages open.
    client.post(reverse("accounts:logout"))
    log_in(client, "office")
    response = client.get(HOME)
    assert response["Location"].startswith(VERIFY)
    assert client.get(SETUP)["Location"].startswith(VERIFY)
    # The code already used is refused; the authenticator's next one is accepted.
    assert client.post(VERIFY, {"code": code(device), "next": "/"}).status_code == 200
    device.refresh_from_db()
    device.throttling_failure_count = 0
    device.throttling_failure_timestamp = None
    device.save()
    assert client.post(VERIFY, {"code": code(device, drift=1), "next": "/"}).status_code == 302
    assert client.get(HOME).status_code == 200
    assert TOTPDevice.objects.filter(user=user).count() == 1


def test_the_code_pages_ignore_a_foreign_next(world, client, persona, required):
    user = persona("leader")
    client.force_login(user)
    client.get(SETUP)
    device = TOTPDevice.objects.get(user=user)
    response = client.post(SETUP, {"code": code(device), "next": "https://evil.example/"})
    assert response["Location"] == reverse("registry:start")


def test_an_htmx_request_reloads_the_whole_page(world, client, persona, required):
    client.force_login(persona("county"))
    response = client.get(reverse("registry:child_list"), headers={"HX-Request": "true"})
    assert response.status_code == 204
    assert response["HX-Redirect"].startswith(SETUP)


def test_logout_and_language_stay_open(world, client, persona, required):
    client.force_login(persona("office"))
    assert client.post(reverse("set_language"), {"language": "zh-hans"}).status_code == 302
    assert client.post(reverse("accounts:logout")).status_code == 302
    assert client.get(HOME).status_code == 302  # logged out: to the login page
    assert client.get(HOME)["Location"].startswith(reverse("accounts:login"))


def test_a_lost_phone_is_reset_by_an_administrator(world, client, persona, required):
    user = persona("office")
    TOTPDevice.objects.create(user=user, name="phone", confirmed=True)
    admin = persona("admin")
    client.force_login(admin)
    admin_device = TOTPDevice.objects.create(user=admin, name="phone", confirmed=True)
    client.get(VERIFY)
    client.post(VERIFY, {"code": code(admin_device), "next": "/"})
    response = client.post(
        reverse("admin:accounts_user_changelist"),
        {"action": "reset_totp", "_selected_action": [user.pk]},
    )
    assert response.status_code == 302
    assert not TOTPDevice.objects.filter(user=user).exists()
    assert AuditEvent.objects.filter(action="user.totp_reset", object_id=str(user.pk)).exists()
    assert user_totp_reset(actor=admin, user=user) == 0


PERSONAS = [*REQUIRED, *NOT_REQUIRED, "outsider"]


@pytest.mark.parametrize(
    ("name", "status"),
    [
        ("accounts:password_change", 200),
        ("accounts:totp_setup", 200),
        ("accounts:totp_verify", 302),
    ],
)
def test_the_account_pages_for_every_persona(world, client, persona, name, status):
    """The rows these URLs need in registry/tests/test_url_walk.py (setting off): every signed-in
    persona opens the password and set-up pages; the code page without an authenticator sends
    to the set-up page; anonymous goes to the login page."""
    assert client.get(reverse(name)).status_code == 302
    for username in PERSONAS:
        client.force_login(persona(username))
        assert client.get(reverse(name)).status_code == status, username
