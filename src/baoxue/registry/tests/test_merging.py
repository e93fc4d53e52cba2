"""Two places that are one (issue 20): a village, a 屯 or a school merged into another moves
everything that points at it, audited; what would break a rule is refused, not dropped."""

from __future__ import annotations

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.urls import reverse

from baoxue.accounts.models import Role, RoleAssignment, User
from baoxue.cases.models import Case
from baoxue.core.models import AuditEvent
from baoxue.registry.merging import region_merge, school_merge
from baoxue.registry.models import Child, Enrollment, Household, Region, School
from baoxue.registry.services import region_create, school_create


@pytest.fixture
def typo(world):
    """乌玲村, made by a file that misspelt 乌岭村: a 屯 of the same name as one of 乌岭村's,
    a 屯 of its own, a child, a household, a case and a village cadre's grant."""
    village = region_create(name="乌玲村", level="village", parent=world.township)
    same = region_create(name="上寨屯", level="group", parent=village)
    own = region_create(name="新屯", level="group", parent=village)
    child = world.child("吴俊辉")
    Child.records.filter(pk=child.pk).update(village=village, group=same)
    household = Household.objects.create(
        number="T9", head_name="吴老大", village=village, group=own,
        township=world.township, county=world.township.parent,
    )  # fmt: skip
    case = Case.objects.create(
        child=child, kind=Case.Kind.TO_VERIFY, township=world.township, village=village
    )
    cadre = User.objects.create_user("cadre", password="x")
    RoleAssignment.objects.create(user=cadre, role=Role.VILLAGE, region=village)
    # The same person's same grant on both: one too many after the merge.
    twice = User.objects.get(username="village_a")
    RoleAssignment.objects.create(user=twice, role=Role.VILLAGE, region=village)
    return {"village": village, "same": same, "own": own, "child": child,
            "household": household, "case": case, "cadre": cadre}  # fmt: skip


def test_a_misspelt_village_merged_into_the_real_one(world, persona, typo):
    upper = Region.objects.get(parent=world.village_a, name="上寨屯")
    moved = region_merge(source=typo["village"], target=world.village_a, actor=persona("office"))
    child = Child.records.get(pk=typo["child"].pk)
    assert (child.village, child.group) == (world.village_a, upper)  # the 屯 of that name
    own = Region.objects.get(pk=typo["own"].pk)
    assert own.parent == world.village_a and own.path == f"{world.village_a.path}{own.pk}/"
    household = Household.objects.get(pk=typo["household"].pk)
    assert (household.village, household.group) == (world.village_a, own)
    assert Case.objects.get(pk=typo["case"].pk).village == world.village_a
    assert RoleAssignment.objects.filter(user=typo["cadre"], region=world.village_a).exists()
    assert (
        RoleAssignment.objects.filter(user__username="village_a", region=world.village_a).count()
        == 1
    )
    assert not Region.objects.filter(pk__in=[typo["village"].pk, typo["same"].pk]).exists()
    assert moved["registry.child.village"] == 1 and moved["registry.child.group"] == 1
    assert moved["accounts.roleassignment.duplicate_removed"] == 1
    event = AuditEvent.objects.get(action="region.merged")
    assert event.data["merged"] == "乌玲村" and event.data["into"] == "乌岭村"
    # The cadre now sees the child, who is in their village.
    assert Child.objects.visible_to(typo["cadre"]).filter(pk=child.pk).exists()


def test_a_merge_that_would_give_two_households_one_number_is_refused(world, persona, typo):
    Household.objects.create(
        number="T9", head_name="另一户", village=world.village_a,
        township=world.township, county=world.township.parent,
    )  # fmt: skip
    with pytest.raises(ValidationError, match="户号相同"):
        region_merge(source=typo["village"], target=world.village_a, actor=persona("office"))
    assert Region.objects.filter(pk=typo["village"].pk).exists()
    assert Child.records.get(pk=typo["child"].pk).village == typo["village"]


def test_only_the_township_office_merges_and_only_like_with_like(world, persona, typo):
    with pytest.raises(PermissionDenied):
        region_merge(source=typo["village"], target=world.village_a, actor=persona("village_a"))
    with pytest.raises(ValidationError):
        region_merge(source=typo["own"], target=world.village_a, actor=persona("office"))
    with pytest.raises(ValidationError):
        region_merge(source=typo["village"], target=typo["village"], actor=persona("office"))


def test_a_school_made_from_its_code_merged_into_the_school_it_is(world, persona):
    placeholder = school_create(
        name="学校 2145099999（名称待补）", kind="other", region=world.township,
        code="2145099999", lowest_grade=1, highest_grade=9,
    )  # fmt: skip
    real = school_create(name="培秀新村小学", kind="primary", region=world.township)
    child = world.child("吴俊辉")
    enrollment = Enrollment.objects.create(child=child, school=placeholder, grade=3)
    Child.records.filter(pk=child.pk).update(current_school=placeholder)
    moved = school_merge(source=placeholder, target=real, actor=persona("office"))
    assert Enrollment.objects.get(pk=enrollment.pk).school == real
    assert Child.records.get(pk=child.pk).current_school == real
    real.refresh_from_db()
    assert real.code == "2145099999"  # the code it was known by
    assert not School.objects.filter(pk=placeholder.pk).exists()
    assert moved["registry.enrollment.school"] == 1
    assert AuditEvent.objects.filter(action="school.merged").exists()


def test_the_office_merges_from_the_village_page_and_a_village_cannot(world, login, typo):
    from django.urls import reverse

    url = reverse("registry:village_merge", args=[typo["village"].pk])
    page = login("office").get(reverse("registry:village_detail", args=[typo["village"].pk]))
    assert 'data-testid="merge"' in page.content.decode()
    cadre = login("village_a")
    page = cadre.get(reverse("registry:village_detail", args=[world.village_a.pk]))
    assert 'data-testid="merge"' not in page.content.decode()
    # Both villages are this cadre's (the fixture's grant on 乌玲村), but merging is the
    # office's: refused as everything out of a user's reach is (404), and logged.
    assert cadre.post(url, {"into": world.village_a.pk}).status_code == 404
    assert Region.objects.filter(pk=typo["village"].pk).exists()
    assert AuditEvent.objects.filter(action="region.merge_denied").exists()
    outsider = login("outsider")  # 高岜村's: neither village is theirs
    assert outsider.post(url, {"into": world.village_a.pk}).status_code == 404
    response = login("office").post(url, {"into": world.village_a.pk})
    assert response.status_code == 302
    assert response["Location"] == reverse("registry:village_detail", args=[world.village_a.pk])
    assert not Region.objects.filter(pk=typo["village"].pk).exists()


def test_a_school_of_another_township_is_not_the_offices_to_merge(world, persona):
    other = region_create(name="另一乡", level="township", parent=world.township.parent)
    theirs = school_create(name="另一乡中心小学", kind="primary", region=other, code="2145990001")
    before = Enrollment.objects.filter(school=world.school_x).count()
    with pytest.raises(PermissionDenied):
        school_merge(source=theirs, target=world.school_x, actor=persona("office"))
    assert School.objects.filter(pk=theirs.pk).exists()
    assert Enrollment.objects.filter(school=world.school_x).count() == before


def test_the_school_page_offers_only_the_offices_own_schools_to_merge_into(world, login):
    """安陲乡's schools would be refused, and their names are not 培秀苗族乡's to see."""
    response = login("office").get(
        reverse("registry:school_detail", args=[world.school_y.public_id])
    )
    assert [s.name for s in response.context["merge_into"]] == ["培秀苗族乡中心小学"]
    assert "安陲乡中心小学" not in response.content.decode()
