"""Try to rebuild every child's ID number as an attacker would (issue 22): from what each
persona's pages and searches show, and from a dump of the database without the key.

The attacker is given the worst case: the region (the village's code), the birth date and the
sex are known (pages show them). That leaves 500 numbers (the three-digit sequence, its last
digit's parity fixed by the sex; the check character follows). Every masked or partial form of
the number the attacker sees narrows that set; a number narrowed to fewer than 100 candidates
counts as rebuilt (docs/privacy.md).
"""

from __future__ import annotations

import re
from datetime import date

import pytest
from django.apps import apps
from django.db import connection
from django.urls import reverse

from baoxue.cases import services as case_services
from baoxue.core import idnumbers
from baoxue.reconcile.services import run_create, run_execute
from baoxue.registry.models import Child

PERSONAS = ["office", "leader", "village_a", "outsider", "principal_x", "teacher_x", "canlian"]
REBUILT_BELOW = 100
# A number as a page may show it: whole, masked, or cut.
SHAPES = re.compile(r"[0-9A-Z]{0,7}[0-9]{2,6}[*＊]{3,}[0-9X]{0,6}|[0-9]{14,17}[0-9X]")


def candidates(number: str, seen: list[str]) -> int:
    """How many numbers fit what the attacker knows (region, birth date, sex) and every
    form of this number seen."""
    head, sex_odd = number[:14], int(number[16]) % 2
    fits = 0
    for seq in range(1000):
        if seq % 2 != sex_odd:
            continue
        first17 = f"{head}{seq:03d}"
        candidate = first17 + idnumbers.check_character(first17)
        if all(_agrees(candidate, form) for form in seen):
            fits += 1
    return fits


def _agrees(candidate: str, form: str) -> bool:
    """A form seen agrees with a candidate when every character it shows is the candidate's
    at the same place (a form aligned at the start of the number, or a prefixed 学籍号)."""
    body = form.lstrip("GLJ")
    if len(body) < 15:
        return True
    body = body[:18]
    return all(c in "*＊" or c == candidate[i] for i, c in enumerate(body) if i < len(candidate))


def forms_of(number: str, text: str) -> list[str]:
    """The forms in `text` that could be this number's (the same region, shown agreeing)."""
    found = []
    for form in SHAPES.findall(text):
        body = form.lstrip("GLJ")
        if body[:6] == number[:6] and _agrees(number, form):
            found.append(form)
    return found


@pytest.fixture
def world_with_cases(world, persona):
    """The test world after a 比对 (cases opened, people named) and a case opened by hand."""
    run_execute(run_create(actor=persona("office")), today=date(2026, 11, 29))
    case_services.case_open(actor=persona("teacher_x"), child=world.child("吴俊辉"), note="未到校")
    return world


def _numbers() -> list[Child]:
    return [c for c in Child.objects.all() if len(c.id_number) == 18 and c.id_number[16].isdigit()]


@pytest.mark.parametrize("username", PERSONAS)
def test_no_persona_rebuilds_a_number_from_its_pages(world_with_cases, login, username):
    client = login(username)
    for child in _numbers():
        number = child.id_number
        pages = [client.get(reverse("registry:child_list")).content.decode()]
        detail = client.get(reverse("registry:child_detail", args=[child.public_id]))
        if detail.status_code == 200:
            pages.append(detail.content.decode())
        for case in child.cases.all():
            page = client.get(reverse("cases:detail", args=[case.public_id]))
            if page.status_code == 200:
                pages.append(page.content.decode())
        # The last-digits search is an oracle: it must answer no one who may not reveal.
        found = client.get(reverse("registry:child_list"), {"q": number[-4:]}).content.decode()
        text = "\n".join(pages)
        assert number not in text and number[6:] not in text, (username, child.name)
        left = candidates(number, forms_of(number, text))
        assert left >= REBUILT_BELOW, (username, child.name, left)
        if username in ("teacher_x", "canlian"):
            assert 'data-testid="id-search-refused"' in found


def _dump() -> list[str]:
    """Every text value in every table of the app, as an attacker with the database file but
    not the key file reads it (encrypted columns included: they must not help)."""
    values: list[str] = []
    with connection.cursor() as cursor:
        for model in apps.get_models():
            table = model._meta.db_table
            if table not in connection.introspection.table_names(cursor):
                continue
            cursor.execute(f'SELECT * FROM "{table}"')  # noqa: S608 (table names from models)
            for row in cursor.fetchall():
                values.extend(str(v) for v in row if isinstance(v, str | dict | list))
    return values


def test_the_database_without_the_key_rebuilds_no_number(world_with_cases):
    dump = _dump()
    text = "\n".join(dump)
    for child in _numbers():
        number = child.id_number
        assert number not in text and number[6:] not in text, child.name
        # The last four characters are stored only as their keyed blind index.
        assert child.id_suffix != number[-4:] and number[-4:] not in child.id_suffix
        row = [
            str(v)
            for v in Child.records.filter(pk=child.pk).values().get().values()
            if isinstance(v, str)
        ]
        left = candidates(number, forms_of(number, "\n".join(row)))
        assert left >= REBUILT_BELOW, (child.name, left)


def test_the_attack_counts_a_shown_suffix_as_rebuilt():
    """The measure itself: the old mask beside the birth date leaves one candidate."""
    number = "450225201605020017"
    number = number[:17] + idnumbers.check_character(number[:17])
    assert candidates(number, [number[:6] + "********" + number[-4:]]) == 1
    assert candidates(number, [number[:6] + "*" * 11 + number[-1:]]) < REBUILT_BELOW
    assert candidates(number, [idnumbers.mask(number)]) == 500


def test_only_roles_that_may_reveal_search_by_digits(world, login):
    number = world.child("吴俊辉").id_number
    office = login("office").get(reverse("registry:child_list"), {"q": number[-4:]})
    assert "吴俊辉" in office.content.decode()
    teacher = login("teacher_x").get(reverse("registry:child_list"), {"q": number[-4:]})
    page = teacher.content.decode()
    assert 'data-testid="id-search-refused"' in page
    short = login("office").get(reverse("registry:child_list"), {"q": number[-3:]})
    assert "后 4 位" in short.content.decode()
