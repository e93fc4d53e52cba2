"""Who sees which children: the scope matrix, persona by persona."""

from __future__ import annotations

import pytest

from baoxue.accounts.scope import reset_scope
from baoxue.registry.models import Child, Enrollment, Guardian, Household, Region, School

ALL_T = {"吴俊辉", "龙雨欣", "杨光明", "伍军辉", "石丽"}
EXPECTED = {
    "office": ALL_T,
    "leader": ALL_T,
    "village_a": {"吴俊辉", "龙雨欣", "杨光明"},
    "outsider": {"伍军辉", "石丽"},
    "principal_x": {"吴俊辉", "伍军辉"},
    "teacher_x": {"吴俊辉"},
    "canlian": {"龙雨欣"},
    "county": ALL_T | {"覃明"},
    "admin": set(),
    "nobody": set(),
}


@pytest.mark.parametrize(("username", "names"), sorted(EXPECTED.items()))
def test_children_visible_to_each_persona(world, persona, username, names):
    user = persona(username)
    assert set(Child.objects.visible_to(user).values_list("name", flat=True)) == names


@pytest.mark.parametrize(("username", "names"), sorted(EXPECTED.items()))
def test_related_rows_follow_the_child_scope(world, persona, username, names):
    user = persona(username)
    enrolled = set(Enrollment.objects.visible_to(user).values_list("child__name", flat=True))
    assert enrolled == names & {"吴俊辉", "龙雨欣", "伍军辉", "覃明"}
    guardians = set(Guardian.objects.visible_to(user).values_list("child__name", flat=True))
    assert guardians == names & {"吴俊辉"}


def test_anonymous_sees_nothing(world, django_user_model):
    from django.contrib.auth.models import AnonymousUser

    anonymous = AnonymousUser()
    assert not Child.objects.visible_to(anonymous).exists()
    assert not School.objects.visible_to(anonymous).exists()
    assert not Region.objects.visible_to(anonymous).exists()
    assert not Household.objects.visible_to(anonymous).exists()


def test_schools_visible(world, persona):
    def names(username):
        return set(School.objects.visible_to(persona(username)).values_list("name", flat=True))

    township_schools = {"培秀苗族乡中心小学", "培秀苗族乡民族中学"}
    assert names("office") == township_schools
    assert names("village_a") == township_schools
    assert names("principal_x") == {"培秀苗族乡中心小学"}
    assert names("county") == township_schools | {"安陲乡中心小学"}
    assert names("admin") == set()


def test_households_visible(world, persona):
    assert Household.objects.visible_to(persona("village_a")).count() == 1
    assert Household.objects.visible_to(persona("outsider")).count() == 0
    assert Household.objects.visible_to(persona("teacher_x")).count() == 1  # 吴俊辉's
    assert Household.objects.visible_to(persona("canlian")).count() == 0


def test_regions_visible(world, persona):
    def names(username):
        return set(Region.objects.visible_to(persona(username)).values_list("name", flat=True))

    assert names("village_a") == {"乌岭村", "上寨屯", "下寨屯"}
    assert "高岜村" in names("office") and "江门村" not in names("office")
    assert "江门村" in names("county")
    assert names("principal_x") >= {"培秀苗族乡", "乌岭村", "高岜村"}


def test_scope_is_resolved_once_per_user_object(world, persona, django_assert_num_queries):
    user = persona("village_a")
    reset_scope(user)
    # One query for the roles, then one per list: the second list reuses the resolved scope.
    with django_assert_num_queries(3):
        list(Child.objects.visible_to(user))
        list(Child.objects.visible_to(user).filter(name="x"))


def test_role_without_scope_is_refused_by_the_database(world, persona):
    from django.db import IntegrityError, transaction

    from baoxue.accounts.models import RoleAssignment

    with pytest.raises(IntegrityError), transaction.atomic():
        RoleAssignment.objects.create(user=persona("nobody"), role="village")
