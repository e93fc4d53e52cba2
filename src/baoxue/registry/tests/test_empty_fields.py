"""An empty field leaves no separator behind on the child's page: no "· ·", no "·" at the start
or end of a line, no "—" pointing at nothing."""

from __future__ import annotations

import re

from django.urls import reverse

from baoxue.cases.models import Case
from baoxue.registry import services


def _lines(html: str, testid: str) -> list[str]:
    items = re.findall(rf'data-testid="{testid}"[^>]*>(.*?)</li>', html, flags=re.S)
    return [re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", item)).strip() for item in items]


def _dangling(line: str) -> bool:
    return line.startswith(("·", "—")) or line.endswith(("·", "—")) or "· ·" in line


def test_a_case_without_a_basis_and_a_guardian_at_home_leave_no_separator(world, login):
    child = world.child("吴俊辉")
    Case.objects.create(
        child=child,
        kind=Case.Kind.DROPPED_OUT,
        status=Case.Status.PERSUADING,
        township=world.township,
        village=world.village_a,
        basis="",
    )
    services.guardian_add(actor=None, child=child, name="吴二", relation="mother", phone="")

    html = login("office").get(reverse("registry:child_detail", args=[child.public_id]))
    page = html.content.decode()

    (case,) = _lines(page, "case")
    assert case.endswith("劝返中") and not _dangling(case)
    guardians = _lines(page, "guardian")
    assert "吴二（母亲）" in guardians and not any(_dangling(g) for g in guardians)


def test_a_household_without_a_number_shows_only_its_head(world, login):
    child = world.child("吴俊辉")
    child.household.number = ""
    child.household.save(update_fields=["number"])

    page = login("office").get(reverse("registry:child_detail", args=[child.public_id]))

    text = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", page.content.decode()))
    assert "户主：吴老大 脱贫户" in text and "户号" not in text
