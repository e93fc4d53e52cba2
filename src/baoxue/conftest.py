"""Shared fixtures: a small world built once per test database, and named personas.

The world (two townships, villages A, B and C, schools X, Y and Z, six children) is made in
`django_db_setup`, so every test starts from the same rows inside its own rolled-back
transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

import pytest
from django.test import Client
from django.utils import translation

from baoxue.accounts.models import Role, User
from baoxue.accounts.services import Grant, user_create
from baoxue.registry import services
from baoxue.registry.models import Child, Enrollment, Region, School
from baoxue.registry.tests.factories import make_id_number

PASSWORD = "persona-pass-123"  # noqa: S105 (test personas only)


@pytest.fixture(autouse=True)
def _default_language() -> Any:
    """Each test starts in the default language: a request in English (LocaleMiddleware
    activates the language it asks for, for the rest of the thread) must not turn the next
    test's messages English."""
    yield
    translation.deactivate()


def build_world() -> None:
    county = services.region_create(name="融水苗族自治县", level="county", code="450225000000")
    township = services.region_create(
        name="培秀苗族乡", level="township", parent=county, code="450225212000"
    )
    other_township = services.region_create(
        name="安陲乡", level="township", parent=county, code="450225213000"
    )
    village_a = services.region_create(
        name="乌岭村", level="village", parent=township, code="450225212001"
    )
    group_a1 = services.region_create(name="上寨屯", level="group", parent=village_a)
    group_a2 = services.region_create(name="下寨屯", level="group", parent=village_a)
    village_b = services.region_create(
        name="高岜村", level="village", parent=township, code="450225212002"
    )
    services.region_create(name="归别屯", level="group", parent=village_b)
    village_c = services.region_create(
        name="江门村", level="village", parent=other_township, code="450225213001"
    )
    school_x = services.school_create(
        name="培秀苗族乡中心小学",
        kind="primary",
        region=village_a,
        code="2145993101",
        is_boarding=True,
    )
    school_y = services.school_create(
        name="培秀苗族乡民族中学",
        kind="junior",
        region=village_a,
        code="2145993201",
        lowest_grade=7,
        highest_grade=9,
        is_boarding=True,
    )
    school_z = services.school_create(
        name="安陲乡中心小学", kind="primary", region=village_c, code="2145994101"
    )
    household = services.household_create(
        village=village_a,
        group=group_a1,
        number="001",
        head_name="吴老大",
        is_lifted_from_poverty=True,
    )
    a1 = services.child_create(
        actor=None,
        name="吴俊辉",
        village=village_a,
        group=group_a1,
        household=household,
        birth_date=date(2016, 5, 2),
        sex="M",
        ethnicity="苗族",
        id_number=make_id_number(date(2016, 5, 2), "M"),
    )
    services.guardian_add(
        actor=None,
        child=a1,
        name="吴老大",
        relation="father",
        phone="13800000001",
        is_primary=True,
    )
    services.enrollment_create(
        actor=None,
        child=a1,
        school=school_x,
        grade=3,
        class_name="1班",
        student_number="G" + a1.id_number,
        entry_date=date(2023, 9, 1),
    )
    a2 = services.child_create(
        actor=None,
        name="龙雨欣",
        village=village_a,
        group=group_a2,
        birth_date=date(2012, 10, 9),
        sex="F",
        has_disability=True,
        id_number=make_id_number(date(2012, 10, 9), "F"),
    )
    services.enrollment_create(actor=None, child=a2, school=school_y, grade=8)
    valid = make_id_number(date(2014, 1, 20), "M")
    bad = valid[:-1] + ("0" if valid[-1] != "0" else "1")
    services.child_create(
        actor=None, name="杨光明", village=village_a, birth_date=date(2014, 1, 20), id_number=bad
    )
    old = make_id_number(date(2016, 7, 7), "M")
    b1 = services.child_create(
        actor=None,
        name="伍军辉",
        village=village_b,
        birth_date=date(2016, 7, 7),
        id_number=old[:6] + old[8:17],
    )
    services.enrollment_create(actor=None, child=b1, school=school_x, grade=3, class_name="2班")
    services.child_create(
        actor=None,
        name="石丽",
        village=village_b,
        birth_date=date(2013, 2, 2),
        sex="F",
        left_behind="both_parents",
    )
    c1 = services.child_create(
        actor=None,
        name="覃明",
        village=village_c,
        birth_date=date(2015, 6, 1),
        id_number=make_id_number(date(2015, 6, 1), "M"),
    )
    services.enrollment_create(actor=None, child=c1, school=school_z, grade=4)

    def persona(username: str, *grants: Grant, superuser: bool = False) -> None:
        user_create(
            actor=None,
            username=username,
            password=PASSWORD,
            display_name=username,
            grants=grants,
            is_superuser=superuser,
            check_password=False,
        )

    persona("office", Grant(Role.TOWNSHIP_OFFICE, region=township))
    persona("leader", Grant(Role.LEADER, region=township))
    persona("village_a", Grant(Role.VILLAGE, region=village_a))
    persona("outsider", Grant(Role.VILLAGE, region=village_b))
    persona("principal_x", Grant(Role.SCHOOL, school=school_x))
    persona("teacher_x", Grant(Role.TEACHER, school=school_x, grade=3, class_name="1班"))
    persona("canlian", Grant(Role.DISABILITY_FEDERATION, region=township))
    persona("county", Grant(Role.COUNTY_INSPECTOR, region=county))
    persona("admin", Grant(Role.ADMIN), superuser=True)
    persona("nobody")


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup: Any, django_db_blocker: Any) -> None:
    with django_db_blocker.unblock():
        build_world()


@dataclass
class World:
    county: Region
    township: Region
    village_a: Region
    village_b: Region
    village_c: Region
    school_x: School
    school_y: School
    school_z: School

    def child(self, name: str) -> Child:
        return Child.objects.get(name=name)

    def enrollment(self, child_name: str) -> Enrollment:
        return Enrollment.objects.get(child__name=child_name, is_current=True)


@pytest.fixture
def world(db: Any) -> World:
    return World(
        county=Region.objects.get(code="450225000000"),
        township=Region.objects.get(code="450225212000"),
        village_a=Region.objects.get(name="乌岭村"),
        village_b=Region.objects.get(name="高岜村"),
        village_c=Region.objects.get(name="江门村"),
        school_x=School.objects.get(code="2145993101"),
        school_y=School.objects.get(code="2145993201"),
        school_z=School.objects.get(code="2145994101"),
    )


def _user(username: str) -> User:
    return User.objects.get(username=username)


@pytest.fixture
def persona(db: Any) -> Any:
    return _user


@pytest.fixture
def login(client: Client, db: Any) -> Any:
    """login("village_a") → a client logged in as that persona."""

    def _login(username: str) -> Client:
        client.force_login(_user(username))
        return client

    return _login
