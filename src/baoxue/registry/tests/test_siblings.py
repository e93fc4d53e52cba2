"""同户儿童 on a child's page names only the siblings the viewer may see (issue 22)."""

from __future__ import annotations

from datetime import date

from django.urls import reverse

from baoxue.registry.models import Child
from baoxue.registry.services import child_create, enrollment_create


def test_siblings_outside_the_scope_are_counted_not_named(world, login):
    wu = world.child("吴俊辉")
    sister = child_create(
        actor=None,
        name="吴小妹",
        village=world.village_a,
        household=wu.household,
        birth_date=date(2013, 3, 3),
        sex="F",
    )
    enrollment_create(actor=None, child=sister, school=world.school_y, grade=7)
    url = reverse("registry:child_detail", args=[wu.public_id])
    office = login("office").get(url).content.decode()
    assert "吴小妹" in office and "另有" not in office
    teacher = login("teacher_x").get(url).content.decode()  # 3年级1班 of school X
    assert "吴小妹" not in teacher and "另有 1 名" in teacher
    assert str(Child.objects.get(pk=sister.pk).public_id) not in teacher
