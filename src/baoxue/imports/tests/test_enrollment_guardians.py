"""The guardians named in a 学籍 export (监护人姓名, 监护人联系电话): kept for new children,
filling blanks only for registered ones; the roster's guardians, matched a chunk at a time."""

from __future__ import annotations

from datetime import date

import pytest

from baoxue.imports import pipeline
from baoxue.imports.registry import SOURCES
from baoxue.imports.sources import children as children_module
from baoxue.imports.sources.base import Action
from baoxue.imports.sources.children import guardian_change, known_guardians
from baoxue.imports.tests.helpers import ENROLLMENT_HEADER, write_xlsx
from baoxue.imports.tests.test_enrollment_import import row as enrollment_row
from baoxue.registry.models import Child, Guardian
from baoxue.registry.tests.factories import make_id_number

SOURCE = SOURCES["enrollment"]
HEADER = [*ENROLLMENT_HEADER, "监护人姓名", "监护人联系电话"]


def ctx_for(world, persona):
    return pipeline.ImportContext(actor=persona("office"), township=world.township)


def row(name, id_number, guardian="", phone=""):
    return [*enrollment_row(name, id_number), guardian, phone]


@pytest.fixture
def ids():
    return [make_id_number(date(2016, 4, d), "M") for d in range(1, 6)]


def guardians_of(name):
    return list(
        Guardian.objects.filter(child__name=name).values_list("name", "phone", "is_primary")
    )


def test_new_students_get_their_guardian_once(world, persona, tmp_path, ids):
    path = write_xlsx(
        tmp_path / "g.xlsx",
        [HEADER, row("石一", ids[0], "石大", "13800000001"), row("石二", ids[1])],
    )
    outcome = pipeline.run(path, SOURCE, ctx_for(world, persona), commit=True)
    assert outcome.count(Action.CREATE) == 2 and not outcome.issues
    assert guardians_of("石一") == [("石大", "13800000001", True)]
    assert guardians_of("石二") == []  # no guardian named: none made up

    again = pipeline.run(path, SOURCE, ctx_for(world, persona), commit=True)
    assert again.count(Action.UNCHANGED) == 2
    assert Guardian.objects.filter(child__name__in=["石一", "石二"]).count() == 1


def test_registered_children_get_only_their_blanks_filled(world, persona, tmp_path, ids):
    first = write_xlsx(
        tmp_path / "a.xlsx",
        [
            HEADER,
            row("石一", ids[0], "石大", ""),
            row("石二", ids[1], "石二爸", "13800000002"),
            row("石三", ids[2]),
        ],
    )
    pipeline.run(first, SOURCE, ctx_for(world, persona), commit=True)
    newer = write_xlsx(
        tmp_path / "b.xlsx",
        [
            HEADER,
            row("石一", ids[0], "石大", "13800000001"),  # phone for a guardian without one
            row("石二", ids[1], "石二爸", "13900000009"),  # a phone already known: kept
            row("石三", ids[2], "石三妈", "13800000003"),  # a guardian for a child without one
        ],
    )
    outcome = pipeline.run(newer, SOURCE, ctx_for(world, persona), commit=False)
    changes = {p.record.values["name"]: p.changes for p in outcome.plan}
    assert changes["石一"] == {"guardian": ("", "石大 13800000001")}
    assert changes["石二"] == {}
    assert changes["石三"] == {"guardian": ("", "石三妈 13800000003")}
    assert outcome.count(Action.UPDATE) == 2 and outcome.count(Action.UNCHANGED) == 1

    committed = pipeline.run(newer, SOURCE, ctx_for(world, persona), commit=True)
    assert committed.count(Action.UPDATE) == 2
    assert guardians_of("石一") == [("石大", "13800000001", True)]
    assert guardians_of("石二") == [("石二爸", "13800000002", True)]
    assert guardians_of("石三") == [("石三妈", "13800000003", True)]
    # Applied: the same file again changes nothing.
    assert pipeline.run(newer, SOURCE, ctx_for(world, persona)).count(Action.UNCHANGED) == 3


def test_a_child_on_the_roster_enrolled_keeps_its_family(world, persona, tmp_path):
    # A registered child with a guardian, enrolled for the first time: the 学籍's other
    # guardian is not added (the 户籍 side says who the family is).
    child = Child.objects.exclude(id_number_hash="").filter(guardians__isnull=False).first()
    assert child is not None
    before = guardians_of(child.name)
    path = write_xlsx(
        tmp_path / "r.xlsx", [HEADER, row(child.name, child.id_number, "别人", "13700000000")]
    )
    outcome = pipeline.run(path, SOURCE, ctx_for(world, persona), commit=True)
    assert not outcome.rejected_rows
    assert guardians_of(child.name) == before


def test_a_too_long_phone_is_cut_with_a_warning(world, persona, tmp_path, ids):
    phone = "13800000001、13900000002（父）、0772-1234567（家）"
    path = write_xlsx(tmp_path / "p.xlsx", [HEADER, row("石一", ids[0], "石大", phone)])
    outcome = pipeline.run(path, SOURCE, ctx_for(world, persona), commit=True)
    assert outcome.count(Action.CREATE) == 1
    [issue] = [i for i in outcome.issues if i.code == "too_long"]
    assert (issue.row_number, issue.column, issue.severity) == (2, "监护人联系电话", "warning")
    [(name, kept, _primary)] = guardians_of("石一")
    assert name == "石大" and len(kept) == 32 and kept.startswith("13800000001、13900000002(父)")
    assert kept in issue.message


def test_guardian_change_rules():
    one = {"guardian_name": "石大", "guardian_phone": "138"}
    assert guardian_change(one, {}, fill_only=True) == ("", "石大 138")
    assert guardian_change(one, {"石大": ""}, fill_only=True) == ("", "石大 138")
    assert guardian_change(one, {"石大": "139"}, fill_only=True) is None
    assert guardian_change(one, {"石大": "139"}, fill_only=False) == ("139", "石大 138")
    assert guardian_change(one, {"别人": "139"}, fill_only=True) is None
    assert guardian_change(one, {"别人": "139"}, fill_only=False) == ("", "石大 138")
    assert guardian_change({"guardian_name": ""}, {}, fill_only=False) is None


@pytest.mark.django_db
def test_known_guardians_reads_chunk_by_chunk(world, monkeypatch):
    kids = list(Child.objects.order_by("pk")[:5])
    Guardian.objects.bulk_create(
        Guardian(child=c, name=f"家长{i}{k}", phone=f"1380000{i}{k}", relation="other")
        for i, c in enumerate(kids)
        for k in range(2)
    )
    ids = [c.pk for c in kids]
    whole = known_guardians(ids)
    assert all({f"家长{i}0", f"家长{i}1"} <= set(whole[c.pk]) for i, c in enumerate(kids))
    monkeypatch.setattr(children_module, "CHUNK", 2)
    assert known_guardians(ids) == whole


def test_the_too_long_warning_in_english(world, persona, tmp_path, ids):
    from django.utils import translation

    path = write_xlsx(tmp_path / "e.xlsx", [HEADER, row("石一", ids[0], "石大", "1" * 40)])
    with translation.override("en"):
        outcome = pipeline.run(path, SOURCE, ctx_for(world, persona))
    [issue] = [i for i in outcome.issues if i.code == "too_long"]
    # A run of digits that long may be an identifying number: a message masks it.
    kept = "1" * 6 + "*" * 26
    assert issue.message == "longer than 32 characters; only the first 32 are kept: " + kept


def test_a_child_found_only_by_its_number_keeps_its_family(world, persona, tmp_path, ids):
    # A later file without the ID number: the child is found by its 学籍号 alone, and its
    # known guardian counts (another one is not added, nor shown as a change).
    first = row("石五", ids[4], "石大", "13800000005")
    path = write_xlsx(tmp_path / "n1.xlsx", [HEADER, first])
    pipeline.run(path, SOURCE, ctx_for(world, persona), commit=True)
    again = list(first)
    again[HEADER.index("身份证件号")] = ""
    again[HEADER.index("监护人姓名")] = "别人"
    path = write_xlsx(tmp_path / "n2.xlsx", [HEADER, again])
    outcome = pipeline.run(path, SOURCE, ctx_for(world, persona), commit=True)
    assert outcome.count(Action.UNCHANGED) == 1, [p.changes for p in outcome.plan]
    assert guardians_of("石五") == [("石大", "13800000005", True)]
