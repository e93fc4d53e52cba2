"""Every user changes their own password; one like their name is refused (issue 22 §8)."""

from __future__ import annotations

import pytest
from django.urls import reverse

from baoxue.conftest import PASSWORD
from baoxue.core.models import AuditEvent

URL = reverse("accounts:password_change")


@pytest.mark.parametrize("username", ["office", "village_a", "teacher_x", "nobody", "admin"])
def test_every_user_opens_the_page_from_the_menu(world, client, persona, username):
    client.force_login(persona(username))
    home = client.get(reverse("registry:home"))
    assert f'href="{URL}"' in home.content.decode()
    assert client.get(URL).status_code == 200


def test_anonymous_is_sent_to_login(db, client):
    response = client.get(URL)
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("accounts:login"))


def change(client, old, new, again=None):
    return client.post(
        URL, {"old_password": old, "new_password1": new, "new_password2": again or new}
    )


def test_a_password_like_the_username_is_refused(world, client, persona):
    user = persona("village_a")
    client.force_login(user)
    response = change(client, PASSWORD, "village_a2")
    assert response.status_code == 200
    assert "太相似" in response.content.decode()
    user.refresh_from_db()
    assert user.check_password(PASSWORD)
    assert not AuditEvent.objects.filter(action="user.password_changed").exists()


def test_a_wrong_old_password_is_refused(world, client, persona):
    user = persona("village_a")
    client.force_login(user)
    response = change(client, "not-the-password", "青山绿水-2025-乌岭")
    assert response.status_code == 200
    user.refresh_from_db()
    assert user.check_password(PASSWORD)


def test_a_good_password_is_saved_logged_and_keeps_the_session(world, client, persona):
    user = persona("village_a")
    client.force_login(user)
    response = change(client, PASSWORD, "青山绿水-2025-乌岭")
    assert response.status_code == 302
    user.refresh_from_db()
    assert user.check_password("青山绿水-2025-乌岭")
    event = AuditEvent.objects.get(action="user.password_changed")
    assert (event.actor, event.object_id) == (user, str(user.pk))
    assert client.get(reverse("registry:home")).status_code == 200
