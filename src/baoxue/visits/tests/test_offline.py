"""The phone's side of the visits: its list as JSON (the visitor's own households only, no ID
numbers), a visit sent as JSON once however often it is retried, the refusal in words, the
service worker served for /visits/, and the check that tells a phone its account is off."""

from __future__ import annotations

import json
from datetime import timedelta

from django.urls import reverse
from django.utils import timezone

from baoxue.core.models import AuditEvent
from baoxue.registry.models import Child
from baoxue.visits import services
from baoxue.visits.models import HomeVisit


def _assigned(world, persona):
    today = timezone.localdate()
    campaign = services.campaign_create(
        actor=persona("office"),
        township=world.township,
        name="寒假大家访",
        starts_on=today,
        ends_on=today + timedelta(days=5),
        groups=["lifted", "left_behind", "disabled"],
    )
    target = campaign.targets.get(label="吴老大")
    services.targets_assign(
        actor=persona("office"),
        campaign=campaign,
        visitor=persona("teacher_x"),
        target_ids=[target.pk],
    )
    return campaign, target


def test_the_phone_gets_its_visitor_s_own_households_and_no_id_number(world, persona, login):
    _campaign, target = _assigned(world, persona)
    teacher = login("teacher_x")
    response = teacher.get(reverse("visits:offline_mine"))
    data = response.json()
    assert [t["id"] for t in data["targets"]] == [target.pk]
    child = Child.objects.get(name="吴俊辉")
    assert data["targets"][0]["children"][0]["name"] == "吴俊辉"
    assert child.id_number not in response.content.decode()
    assert child.id_number[-4:] not in json.dumps(data["targets"])
    assert data["csrf"] and data["device"]
    assert AuditEvent.objects.filter(action="visits.offline_downloaded").exists()
    # Someone with no target gets an empty list; no one logged in is sent to log in.
    assert login("village_a").get(reverse("visits:offline_mine")).json()["targets"] == []
    teacher.logout()
    assert teacher.get(reverse("visits:offline_mine")).status_code == 302


def test_a_visit_sent_as_json_is_made_once_and_a_refusal_says_why(world, persona, login):
    _campaign, target = _assigned(world, persona)
    teacher = login("teacher_x")
    url = reverse("visits:visit_record", args=[target.pk])
    post = {
        "client_id": "phone-abc",
        "visited_on": timezone.localdate().isoformat(),
        "visitors": "韦老师",
    }
    first = teacher.post(url, post, HTTP_ACCEPT="application/json").json()
    again = teacher.post(url, post, HTTP_ACCEPT="application/json").json()
    assert first["ok"] and first["created"] and again["ok"] and not again["created"]
    assert first["visit"] == again["visit"] and HomeVisit.objects.count() == 1
    bad = teacher.post(
        url,
        {**post, "client_id": "phone-def", "visited_on": "后天"},
        HTTP_ACCEPT="application/json",
    )
    assert bad.status_code == 400 and "走访日期" in bad.json()["error"]
    assert HomeVisit.objects.count() == 1


def test_the_service_worker_is_served_for_the_visit_pages(client):
    response = client.get(reverse("visits:service_worker"))
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/javascript")
    assert response["Service-Worker-Allowed"] == "/visits/"
    body = response.content.decode()
    assert "/visits/app/" in body and "visits-app.js" in body


def test_a_phone_learns_that_its_account_was_switched_off(world, persona, login):
    token = login("teacher_x").get(reverse("visits:offline_mine")).json()["device"]
    url = reverse("visits:offline_device")
    anonymous = login("teacher_x")
    anonymous.logout()
    assert anonymous.get(url, {"t": token}).json() == {"wipe": False, "known": True}
    teacher = persona("teacher_x")
    teacher.is_active = False
    teacher.save()
    assert anonymous.get(url, {"t": token}).json() == {"wipe": True, "known": True}
    # A made-up token tells nothing about anyone.
    assert anonymous.get(url, {"t": "1:forged"}).json() == {"wipe": False, "known": False}


def test_the_app_page_carries_no_one_s_data(world, persona, login):
    _assigned(world, persona)
    page = login("teacher_x").get(reverse("visits:app")).content.decode()
    assert 'id="visit-app"' in page and "吴俊辉" not in page and "吴老大" not in page
