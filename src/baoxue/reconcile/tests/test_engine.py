"""The matching engine and the categories, as pure functions (no database)."""

from __future__ import annotations

from datetime import date

import pytest

from baoxue.core.idnumbers import check_character
from baoxue.reconcile import engine as E
from baoxue.reconcile.engine import Person, person


def idn(birth: date, seq: str = "001", region: str = "450225") -> str:
    first = region + birth.strftime("%Y%m%d") + seq
    return first + check_character(first)


B1 = date(2015, 3, 1)
B2 = date(2016, 7, 9)


def test_same_key_is_the_same_child():
    out = E.link([person(1, "吴俊辉")], [person(1, "吴俊辉")])
    assert [(x.left, x.right, x.method) for x in out.links] == [(1, 1, E.SAME)]


def test_exact_id_links_whatever_the_names_say():
    n = idn(B1)
    out = E.link([person(1, "吴俊辉", id_number=n)], [person(9, "吴军辉", id_number=n)])
    assert [(x.left, x.right, x.method) for x in out.links] == [(1, 9, E.ID)]


@pytest.mark.parametrize(
    "damage",
    [
        lambda n: n[:10] + ("0" if n[10] != "0" else "1") + n[11:],  # one wrong digit
        lambda n: n[:12] + n[13] + n[12] + n[14:],  # two swapped neighbours
        lambda n: n[:17] + ("0" if n[17] != "0" else "1"),  # wrong check character
    ],
)
def test_one_typo_is_repaired_when_name_and_birth_agree(damage):
    n = idn(B1, "123")
    bad = damage(n)
    assert bad != n
    left = [person(1, "龙雨欣", sex="F", birth=B1, id_number=n)]
    ok = E.link(left, [person(9, "龙雨欣", sex="F", birth=B1, id_number=bad)])
    assert [(x.left, x.right, x.method) for x in ok.links] == [(1, 9, E.ID_REPAIR)]
    # Another name: not linked (the pair is only proposed for review)
    other = E.link(left, [person(9, "杨光明", sex="F", birth=B1, id_number=bad)])
    assert other.links == []


def test_fifteen_digit_number_links_to_its_eighteen_digit_form():
    n = idn(B2, "456")
    fifteen = n[:6] + n[8:17]
    out = E.link(
        [person(1, "石丽", birth=B2, id_number=n)],
        [Person(5, "石丽", "", B2, fifteen, None, False)],
    )
    assert [(x.left, x.right, x.method) for x in out.links] == [(1, 5, E.ID_REPAIR)]


def test_homophone_names_without_numbers_link_by_name():
    out = E.link(
        [person(1, "吴俊辉", sex="M", birth=B1, place=7)],
        [person(2, "伍军辉", sex="M", birth=B1, place=7)],
    )
    assert [(x.left, x.right, x.method) for x in out.links] == [(1, 2, E.NAME)]
    assert E.name_similarity("龙雨欣", "隆雨欣") >= 0.96


def test_same_name_same_birthday_twice_goes_to_review_not_a_guess():
    left = [
        person(1, "杨光明", sex="M", birth=B1, place=7),
        person(2, "杨光明", sex="M", birth=B1, place=7),
    ]
    out = E.link(left, [person(3, "杨光明", sex="M", birth=B1, place=7)])
    assert out.links == []
    assert {(r.left, r.right) for r in out.review} == {(1, 3), (2, 3)}


def test_two_valid_different_numbers_are_two_people():
    out = E.link(
        [person(1, "覃明", sex="M", birth=B1, id_number=idn(B1, "011"))],
        [person(2, "覃明", sex="M", birth=B1, id_number=idn(B1, "031"))],
    )
    assert out.links == [] and out.review == []


def test_decisions_are_remembered():
    left = [person(1, "吴俊辉", sex="M", birth=B1)]
    right = [person(2, "伍军辉", sex="M", birth=B1)]
    assert E.link(left, right, decisions={(1, 2): False}).links == []
    out = E.link(left, [person(2, "杨一", sex="M", birth=B2)], decisions={(1, 2): True})
    assert [(x.left, x.right, x.method) for x in out.links] == [(1, 2, E.DECIDED)]


def test_a_distant_name_is_neither_linked_nor_proposed():
    out = E.link([person(1, "吴俊辉", sex="M", birth=B1)], [person(2, "石丽", sex="M", birth=B1)])
    assert out.links == [] and out.review == []


# --- categories -------------------------------------------------------------------------------

S = E.CategorySettings(earliest_birth=date(2010, 9, 1), latest_birth=date(2020, 8, 31))


def en(status="01", *, local=True, current=True, **kw):
    return E.Enrolled(school=1, local=local, status=status, grade=3, is_current=current, **kw)


@pytest.mark.parametrize(
    ("facts", "category"),
    [
        (E.Facts(1, B1, True, enrollments=(en(),)), E.IN_SCHOOL),
        (E.Facts(1, B1, True, enrollments=(en(local=False),)), E.ELSEWHERE),
        (E.Facts(1, B1, True), E.TO_VERIFY),
        (E.Facts(1, B1, True, verified_never_enrolled=True), E.NEVER_ENROLLED),
        (E.Facts(1, B1, True, enrollments=(en("02"),)), E.SUSPENDED),
        (E.Facts(1, B1, True, enrollments=(en("06"),)), E.SUSPECTED),
        (E.Facts(1, B1, True, enrollments=(en("10"),)), E.TO_VERIFY),
        (E.Facts(1, B1, True, enrollments=(en("10", transfer_to="融水县一中"),)), E.ELSEWHERE),
        (E.Facts(1, B1, True, enrollments=(en("07"),)), E.SUSPECTED),
        (E.Facts(1, B1, True, enrollments=(en("07", junior_school=True),)), E.COMPLETED),
        (E.Facts(1, date(2008, 1, 1), True), E.NOT_OF_AGE),
        (E.Facts(1, B1, True, deceased=True), E.GONE),
        (E.Facts(1, B1, True, exempt=True), E.EXEMPT),
        (E.Facts(1, B1, True, enrollments=(en(),), attendance=E.Attendance(15, 0)), E.SUSPECTED),
        (
            E.Facts(1, B1, True, enrollments=(en(),), attendance=E.Attendance(15, 15, "病假")),
            E.ON_LEAVE,
        ),
        (E.Facts(1, B1, True, enrollments=(en(),), attendance=E.Attendance(3, 0)), E.IN_SCHOOL),
    ],
)
def test_categories(facts, category):
    got, basis = E.categorize(facts, S)
    assert got == category and basis


def test_a_roster_record_with_its_own_xueji_still_takes_a_damaged_later_one():
    """Primary 学籍 matched on import (same record); the junior school's 学籍 came with a typo
    and became a separate record: both belong to the roster child."""
    n = idn(B1, "321")
    bad = n[:10] + ("0" if n[10] != "0" else "1") + n[11:]
    left = [person(1, "吴俊辉", sex="M", birth=B1, id_number=n)]
    right = [
        person(1, "吴俊辉", sex="M", birth=B1, id_number=n),
        person(7, "吴俊辉", sex="M", birth=B1, id_number=bad),
        person(8, "伍俊辉", sex="M", birth=B1),  # a third record, no number, a homophone
    ]
    out = E.link(left, right)
    assert {(x.left, x.right, x.method) for x in out.links} == {
        (1, 1, E.SAME),
        (1, 7, E.ID_REPAIR),
        (1, 8, E.NAME),
    }
    primary = E.Enrolled(school=1, local=True, status="07", grade=6, is_current=False)
    junior = E.Enrolled(school=2, local=True, status="01", grade=7, is_current=True)
    results, _ = E.reconcile(
        [
            E.Child(left[0], on_roster=True),
            E.Child(right[1], on_roster=False),
        ],
        {1: [primary], 7: [junior]},
        {},
        category_settings=S,
    )
    assert [(r.child, r.category, r.linked) for r in results] == [(1, E.IN_SCHOOL, 7)]


def _typo(n: str, at: int) -> str:
    """A valid number one digit away from `n` at position `at` (its check character made
    again, as a system that computes it would)."""
    digit = "1" if n[at] != "1" else "2"
    first = n[:at] + digit + n[at + 1 : 17]
    return first + check_character(first)


def _digits_of(*people: Person):
    by_key = {p.key: p.id_number for p in people}
    return by_key.__getitem__


def test_two_valid_numbers_one_digit_apart_are_one_child_when_all_else_agrees():
    n = idn(B1, "123")
    typo = _typo(n, 15)
    roster = person(1, "龙雨欣", sex="F", birth=B1, id_number=n)
    school = person(9, "龙雨欣", sex="F", birth=B1, id_number=typo)
    out = E.link([roster], [school], digits=_digits_of(roster, school))
    assert [(x.left, x.right, x.method) for x in out.links] == [(1, 9, E.ID_TYPO)]
    # Without the digits (or with them swapped neighbours) the rule still holds for swaps.
    swapped_first = n[:12] + n[13] + n[12] + n[14:17]
    swapped = swapped_first + check_character(swapped_first)
    school2 = person(9, "隆雨欣", sex="F", birth=B1, id_number=swapped)  # the same sound
    out = E.link([roster], [school2], digits=_digits_of(roster, school2))
    assert [(x.left, x.method) for x in out.links] == [(1, E.ID_TYPO)]


def test_a_near_number_with_weaker_evidence_goes_to_review_never_linked():
    n = idn(B1, "123")
    typo = _typo(n, 15)
    roster = person(1, "龙雨欣", sex="F", birth=B1, id_number=n)
    # A close name that does not sound the same (one character changed): review only.
    school = person(9, "龙雨琴", sex="F", birth=B1, id_number=typo)
    out = E.link([roster], [school], digits=_digits_of(roster, school))
    assert out.links == []
    assert [(x.left, x.right, x.method) for x in out.review] == [(1, 9, E.ID_TYPO)]
    # Sex unknown on the roster: review, not a link.
    unknown = person(1, "龙雨欣", birth=B1, id_number=n)
    same_name = person(9, "龙雨欣", sex="F", birth=B1, id_number=typo)
    out = E.link([unknown], [same_name], digits=_digits_of(unknown, same_name))
    assert out.links == [] and [x.method for x in out.review] == [E.ID_TYPO]


def test_valid_numbers_further_apart_are_two_people():
    n = idn(B1, "123")
    other = idn(B1, "456")  # three digits apart: another child born that day
    roster = person(1, "龙雨欣", sex="F", birth=B1, id_number=n)
    school = person(9, "龙雨欣", sex="F", birth=B1, id_number=other)
    out = E.link([roster], [school], digits=_digits_of(roster, school))
    assert out.links == [] and out.review == []
    # Without the digits the engine never compares two valid numbers.
    near = person(9, "龙雨欣", sex="F", birth=B1, id_number=_typo(n, 15))
    assert E.link([roster], [near]).links == []


def test_a_record_claiming_a_registered_number_goes_to_review_beside_its_holder():
    n = idn(B1, "123")
    holder = person(1, "吴俊辉", sex="M", birth=B1, id_number=n)
    claimant = Person(9, "黄明", "M", B2, "", None, False, n)
    out = E.link([holder], [claimant])
    assert out.links == []
    assert [(x.left, x.right, x.method) for x in out.review] == [(1, 9, E.ID_CLAIM)]
    # Decided by a person: linked when confirmed, and never proposed again when rejected.
    confirmed = E.link([holder], [claimant], decisions={(1, 9): True})
    assert [(x.left, x.right, x.method) for x in confirmed.links] == [(1, 9, E.DECIDED)]
    rejected = E.link([holder], [claimant], decisions={(1, 9): False})
    assert rejected.links == [] and rejected.review == []


def test_a_repaired_number_links_when_the_birth_date_is_a_typo_away():
    n = idn(B1, "123")
    bad = n[:17] + ("0" if n[17] != "0" else "1")  # its check character wrong
    roster = person(1, "龙雨欣", sex="F", birth=B1, id_number=n)
    for birth in (date(2015, 3, 2), date(2015, 1, 3)):  # a day off; day and month swapped
        school = person(9, "龙雨欣", sex="F", birth=birth, id_number=bad)
        assert [x.method for x in E.link([roster], [school]).links] == [E.ID_REPAIR]
    far = person(9, "龙雨欣", sex="F", birth=date(2015, 5, 20), id_number=bad)
    assert E.link([roster], [far]).links == []
