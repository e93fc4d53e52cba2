"""The idle timeout: an active user's session is extended, at most every few minutes."""

from __future__ import annotations

from django.urls import reverse


def test_session_is_refreshed_only_after_the_interval(world, client, persona, settings):
    client.force_login(persona("office"))
    client.get(reverse("registry:home"))
    first = client.session["_refreshed"]
    client.get(reverse("registry:home"))
    assert client.session["_refreshed"] == first  # not rewritten on every request
    settings.BAOXUE_SESSION_REFRESH_SECONDS = 0
    session = client.session
    session["_refreshed"] = first - 10
    session.save()
    client.get(reverse("registry:home"))
    assert client.session["_refreshed"] > first - 10


def test_anonymous_requests_do_not_create_sessions(db, client):
    client.get(reverse("accounts:login"))
    assert "_refreshed" not in client.session
