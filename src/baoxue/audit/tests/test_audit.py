"""The audit sees refusals and grants (issue 22, item 5), and its page answers "who looked at
this child" for the township office and the county, each within its own area."""

from __future__ import annotations

import io
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone
from python_calamine import CalamineWorkbook

from baoxue.accounts.models import Role, RoleAssignment, User
from baoxue.accounts.services import Grant, user_create
from baoxue.core.models import AuditEvent
from baoxue.core.services import log_action
from baoxue.registry.tests.test_url_walk import (
    make_attachment,
    make_batch,
    make_case,
    make_export,
    make_run,
)

pytestmark = pytest.mark.django_db


def only_event() -> AuditEvent:
    events = list(AuditEvent.objects.filter(at__gte=timezone.now() - timedelta(minutes=5)))
    assert len(events) == 1, [e.action for e in events]
    return events[0]


def refusals(**lookup) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(action="request.denied", **lookup))


# -- refusals ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("persona_name", "url_name", "make", "object_at"),
    [
        ("outsider", "cases:detail", make_case, 0),
        ("outsider", "cases:attachment", make_attachment, 0),
        ("village_a", "imports:batch_detail", make_batch, 0),
        ("leader", "cases:export_download", make_export, 0),
        ("canlian", "reconcile:run_detail", make_run, 0),
    ],
    ids=["case", "attachment", "batch", "export", "run"],
)
def test_a_denied_object_is_logged_with_user_ip_and_object(
    world, login, persona, persona_name, url_name, make, object_at
):
    args = make(world)
    AuditEvent.objects.all().delete()
    client = login(persona_name)

    response = client.get(reverse(url_name, args=args))

    assert response.status_code == 404
    event = only_event()
    assert (event.action, event.actor, event.ip_address) == (
        "request.denied",
        persona(persona_name),
        "127.0.0.1",
    )
    assert (event.object_type, event.object_id) == (url_name, str(args[object_at]))
    assert event.data["status"] == 404
    assert event.data["method"] == "GET"
    assert list(event.data["kwargs"].values()) == [str(a) for a in args]


def test_a_denied_post_is_logged(world, login, persona):
    AuditEvent.objects.all().delete()

    response = login("leader").post(reverse("reconcile:run_list"))

    assert response.status_code == 403
    event = only_event()
    assert (event.action, event.actor, event.object_type) == (
        "request.denied",
        persona("leader"),
        "reconcile:run_list",
    )
    assert event.data["method"] == "POST"
    assert event.data["status"] == 403


def test_an_anonymous_post_is_logged_but_not_an_anonymous_read(world, client):
    AuditEvent.objects.all().delete()

    client.get(reverse("cases:list"))
    client.get("/no/such/page/")
    client.post("/no/such/page/")
    assert not AuditEvent.objects.exists()

    response = client.post(reverse("cases:bulk_assign"))

    assert response.status_code == 302
    event = only_event()
    assert (event.action, event.actor, event.object_type) == (
        "request.denied",
        None,
        "cases:bulk_assign",
    )
    assert event.ip_address == "127.0.0.1"


def test_a_signed_in_404_on_a_missing_object_is_logged_but_not_an_unknown_path(world, login):
    AuditEvent.objects.all().delete()
    client = login("village_a")

    client.get("/no/such/page/")
    assert not AuditEvent.objects.exists()
    client.get(reverse("cases:detail", args=["00000000-0000-4000-8000-000000000000"]))

    assert only_event().object_id == "00000000-0000-4000-8000-000000000000"


def test_a_refusal_the_view_logs_itself_is_not_logged_twice(world, login, persona):
    child = world.child("吴俊辉")
    AuditEvent.objects.all().delete()

    response = login("outsider").get(reverse("registry:child_detail", args=[child.public_id]))

    assert response.status_code == 404
    event = only_event()
    assert (event.action, event.actor) == ("child.access_denied", persona("outsider"))
    assert event.data == {"child": str(child.public_id)}


def test_an_allowed_request_writes_no_refusal(world, login):
    make_case(world)
    AuditEvent.objects.all().delete()

    login("office").get(reverse("cases:list"))

    assert not refusals()


# -- logins -----------------------------------------------------------------------------------
def login_post(client, username: str, password: str = "wrong-password"):
    return client.post(reverse("accounts:login"), {"username": username, "password": password})


def test_a_failed_login_is_logged(world, client, persona, settings):
    AuditEvent.objects.all().delete()

    response = login_post(client, "office")

    assert response.status_code == 200
    event = only_event()
    assert (event.action, event.actor, event.ip_address) == ("login.failed", None, "127.0.0.1")
    assert (event.object_type, event.object_id) == ("accounts.user", str(persona("office").pk))
    assert event.data == {"username": "office"}


def test_a_failed_login_for_an_unknown_name_is_logged_without_object(world, client):
    AuditEvent.objects.all().delete()

    login_post(client, "no-such-user")

    event = only_event()
    assert (event.action, event.object_id, event.data) == (
        "login.failed",
        "",
        {"username": "no-such-user"},
    )


def test_a_lockout_is_logged(world, client, persona, settings):
    AuditEvent.objects.all().delete()

    for _attempt in range(settings.AXES_FAILURE_LIMIT):
        response = login_post(client, "office")

    assert response.status_code == 429
    actions = list(AuditEvent.objects.order_by("id").values_list("action", flat=True))
    assert actions == ["login.failed"] * (settings.AXES_FAILURE_LIMIT - 1) + ["login.locked_out"]
    locked = AuditEvent.objects.get(action="login.locked_out")
    assert (locked.object_id, locked.ip_address) == (str(persona("office").pk), "127.0.0.1")

    # A further attempt while locked out is one more lockout row, not two rows.
    login_post(client, "office")
    assert AuditEvent.objects.filter(action="login.locked_out").count() == 2
    assert AuditEvent.objects.filter(action="login.failed").count() == 4


# -- the admin --------------------------------------------------------------------------------
def user_change_data(user: User, **changes: object) -> dict[str, object]:
    """The admin's user form as the page would post it, with `changes`."""
    joined = timezone.localtime(user.date_joined)
    data: dict[str, object] = {
        "username": user.username,
        "first_name": user.first_name,
        "last_name": user.last_name,
        "email": user.email,
        "date_joined_0": joined.strftime("%Y-%m-%d"),
        "date_joined_1": joined.strftime("%H:%M:%S"),
        "last_login_0": "",
        "last_login_1": "",
        "display_name": user.display_name,
        "phone": user.phone,
        "unit": user.unit,
        "role_assignments-MIN_NUM_FORMS": "0",
        "role_assignments-MAX_NUM_FORMS": "1000",
    }
    for flag in ("is_active", "is_staff", "is_superuser"):
        if getattr(user, flag):
            data[flag] = "on"
    assignments = list(user.role_assignments.order_by("pk"))
    for i, a in enumerate(assignments):
        prefix = f"role_assignments-{i}-"
        data |= {
            prefix + "id": a.pk,
            prefix + "user": user.pk,
            prefix + "role": a.role,
            prefix + "region": a.region_id or "",
            prefix + "school": a.school_id or "",
            prefix + "grade": a.grade or "",
            prefix + "class_name": a.class_name,
        }
    data["role_assignments-TOTAL_FORMS"] = str(len(assignments))
    data["role_assignments-INITIAL_FORMS"] = str(len(assignments))
    for key, value in changes.items():
        if value is None:
            data.pop(key, None)
        else:
            data[key] = value
    return data


def admin_post(client, user: User, data: dict[str, object]):
    response = client.post(reverse("admin:accounts_user_change", args=[user.pk]), data)
    assert response.status_code == 302, response.context["adminform"].form.errors
    return response


def test_a_role_granted_in_the_admin_is_logged(world, login, persona):
    nobody = persona("nobody")
    AuditEvent.objects.all().delete()
    data = user_change_data(nobody)
    data |= {
        "role_assignments-TOTAL_FORMS": "1",
        "role_assignments-0-user": nobody.pk,
        "role_assignments-0-role": Role.VILLAGE,
        "role_assignments-0-region": world.village_a.pk,
        "role_assignments-0-school": "",
        "role_assignments-0-grade": "",
        "role_assignments-0-class_name": "",
    }

    admin_post(login("admin"), nobody, data)

    event = only_event()
    assert (event.action, event.actor, event.object_id, event.ip_address) == (
        "user.role_granted",
        persona("admin"),
        str(nobody.pk),
        "127.0.0.1",
    )
    assert event.data == {"role": "village", "where": "乌岭村", "via": "admin"}


def test_a_role_removed_in_the_admin_is_logged(world, login, persona):
    outsider = persona("outsider")
    AuditEvent.objects.all().delete()

    admin_post(
        login("admin"), outsider, user_change_data(outsider, **{"role_assignments-0-DELETE": "on"})
    )

    event = only_event()
    assert (event.action, event.actor, event.object_id) == (
        "user.role_removed",
        persona("admin"),
        str(outsider.pk),
    )
    assert not RoleAssignment.objects.filter(user=outsider).exists()


def test_a_deactivation_and_a_superuser_grant_in_the_admin_are_logged(world, login, persona):
    office = persona("office")
    AuditEvent.objects.all().delete()

    admin_post(login("admin"), office, user_change_data(office, is_active=None, is_superuser="on"))

    actions = set(AuditEvent.objects.values_list("action", "actor__username", "object_id"))
    assert actions == {
        ("user.deactivated", "admin", str(office.pk)),
        ("user.superuser_granted", "admin", str(office.pk)),
    }


def test_a_user_deleted_in_the_admin_is_logged(world, login, persona):
    nobody = persona("nobody")
    AuditEvent.objects.all().delete()

    response = login("admin").post(
        reverse("admin:accounts_user_delete", args=[nobody.pk]), {"post": "yes"}
    )

    assert response.status_code == 302
    event = only_event()
    assert (event.action, event.actor, event.object_id, event.data) == (
        "user.deleted",
        persona("admin"),
        str(nobody.pk),
        {"username": "nobody", "via": "admin"},
    )


# -- the page ---------------------------------------------------------------------------------
@pytest.fixture
def other_township_user(world):
    """A village cadre of 江门村 (安陲乡): a person outside 培秀苗族乡."""
    return user_create(
        actor=None,
        username="jiangmen",
        password="x",
        display_name="江门村干部",
        grants=[Grant(Role.VILLAGE, region=world.village_c)],
        check_password=False,
    )


@pytest.fixture
def events(world, persona, other_township_user):
    AuditEvent.objects.all().delete()
    wu = world.child("吴俊辉")
    qin = world.child("覃明")
    log_action(actor=persona("village_a"), action="child.viewed", obj=wu)
    log_action(actor=other_township_user, action="child.viewed", obj=qin)
    # Someone of another township tried 吴俊辉: refused, and seen by his township's office
    # when it asks who looked at him.
    log_action(
        actor=other_township_user, action="child.access_denied", data={"child": str(wu.public_id)}
    )
    return wu, qin


def listed(client, **params) -> list[tuple[str, str]]:
    response = client.get(reverse("audit:list"), params)
    assert response.status_code == 200
    return [
        (e.action, e.actor.username if e.actor else "")
        for e, _label, _acc in response.context["rows"]
    ]


def test_the_page_is_refused_to_those_without_the_role(world, login):
    for name in ("village_a", "leader", "principal_x", "canlian", "nobody"):
        assert login(name).get(reverse("audit:list")).status_code == 404


def test_the_office_sees_its_townships_people_only(world, login, events):
    assert listed(login("office")) == [("child.viewed", "village_a")]


def test_the_county_sees_its_county(world, login, events):
    assert listed(login("county")) == [
        ("child.access_denied", "jiangmen"),
        ("child.viewed", "jiangmen"),
        ("child.viewed", "village_a"),
    ]


def test_who_looked_at_this_child_includes_people_from_elsewhere(world, login, events):
    wu, qin = events
    office = login("office")

    by_id = listed(office, object=str(wu.public_id))
    by_name = listed(office, object="吴俊")

    assert by_id == by_name == [("child.access_denied", "jiangmen"), ("child.viewed", "village_a")]
    # A child outside the office's township answers nothing about it.
    assert listed(office, object=str(qin.public_id)) == []


def test_who_looked_at_this_child_includes_its_cases(world, login, persona, events):
    wu, _qin = events
    case_id = make_case(world)[0]
    login("outsider").get(reverse("cases:detail", args=[case_id]))

    rows = listed(login("office"), object=str(wu.public_id))

    assert ("request.denied", "outsider") in rows


def test_filters(world, login, events):
    office = login("county")

    assert listed(office, person="village_a") == [("child.viewed", "village_a")]
    assert listed(office, person="江门") == [
        ("child.access_denied", "jiangmen"),
        ("child.viewed", "jiangmen"),
    ]
    assert listed(office, action="child.access") == [("child.access_denied", "jiangmen")]
    assert listed(office, refusals="on") == [("child.access_denied", "jiangmen")]
    today = timezone.localdate()
    assert len(listed(office, since=today.isoformat(), until=today.isoformat())) == 3
    assert listed(office, until=(today - timedelta(days=1)).isoformat()) == []
    assert listed(office, since="not a date") == []


def test_the_page_is_paginated(world, login, persona):
    AuditEvent.objects.all().delete()
    AuditEvent.objects.bulk_create(
        [AuditEvent(actor=persona("village_a"), action="child.viewed") for _ in range(60)]
    )

    response = login("office").get(reverse("audit:list"), {"page": 2})

    assert len(response.context["rows"]) == 10
    assert response.context["page"].paginator.count == 60


def test_the_export_is_logged(world, login, persona, events):
    response = login("office").get(reverse("audit:export"), {"action": "child."})

    assert response.status_code == 200
    book = CalamineWorkbook.from_filelike(io.BytesIO(response.content))
    rows = book.get_sheet_by_index(0).to_python()[2:]
    assert [(r[3], r[5]) for r in rows] == [("village_a", "child.viewed")]
    event = AuditEvent.objects.get(action="audit.exported")
    assert (event.actor, event.data) == (persona("office"), {"rows": 1, "action": "child."})


def test_links_for_those_who_may_see_the_audit(world, login):
    wu = world.child("吴俊辉")
    page = login("office").get(reverse("registry:child_detail", args=[wu.public_id]))
    content = page.content.decode()
    assert 'data-testid="nav-audit"' in content
    assert f"{reverse('audit:list')}?object={wu.public_id}" in content

    page = login("village_a").get(reverse("registry:child_detail", args=[wu.public_id]))
    content = page.content.decode()
    assert 'data-testid="nav-audit"' not in content
    assert 'data-testid="child-audit"' not in content
