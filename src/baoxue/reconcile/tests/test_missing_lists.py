"""名单未更新: before trusting that a child missing from the lists is out of school, the 比对
asks which schools' lists for the term have come; a child whose only missing evidence is
such a school's list is not sent after (no case), and the page says which lists to import."""

from __future__ import annotations

from datetime import date

from django.urls import reverse

from baoxue.cases.models import Case
from baoxue.imports import pipeline
from baoxue.imports.models import ListReceipt
from baoxue.imports.registry import SOURCES
from baoxue.imports.tests.helpers import ENROLLMENT_HEADER, write_xlsx
from baoxue.imports.tests.test_enrollment_import import row
from baoxue.reconcile import engine
from baoxue.reconcile.models import RunChild
from baoxue.reconcile.services import list_states, run_create, run_execute
from baoxue.registry import services as registry

TODAY = date(2026, 11, 29)  # the 2026秋 term, from 2026-07-16


def _import_list(world, persona, tmp_path, rows, name="x.xlsx"):
    path = write_xlsx(tmp_path / name, [ENROLLMENT_HEADER, *rows])
    ctx = pipeline.ImportContext(actor=persona("office"), township=world.township, today=TODAY)
    return pipeline.run(path, SOURCES["enrollment"], ctx, commit=True)


def _run(persona):
    return run_execute(run_create(actor=persona("office")), today=TODAY)


def _result(run, name):
    return RunChild.objects.get(run=run, child__name=name)


def test_a_junior_school_without_its_list_holds_back_its_stage(world, persona, tmp_path):
    # A primary-age child on the roster with no school, beside 石丽 (13, junior stage).
    registry.child_create(
        actor=None, name="潘小", village=world.village_a, birth_date=date(2018, 3, 1), sex="M"
    )
    wu = world.child("吴俊辉")
    _import_list(world, persona, tmp_path, [row("吴俊辉", wu.id_number)])  # school X's list
    assert list(ListReceipt.objects.values_list("kind", "school__name", "received_on")) == [
        ("enrollment", "培秀苗族乡中心小学", TODAY)
    ]
    states = list_states(world.township, TODAY)
    missing = [(x.name, x.latest) for x in states["schools"] if x.missing]
    assert missing == [("培秀苗族乡民族中学", None)] and states["term"] == "2026秋"
    run = _run(persona)
    shili = _result(run, "石丽")
    assert shili.category == engine.LIST_MISSING
    assert shili.basis == "无学籍记录，培秀苗族乡民族中学本学期学籍名册未导入（名单未更新）"
    assert _result(run, "潘小").category == engine.TO_VERIFY  # school X's list is in
    assert not Case.objects.filter(child__name="石丽").exists()
    assert Case.objects.filter(child__name="潘小").exists()
    # No village has sent its roster either (the page names them; the 比对 goes on).
    assert run.inputs["missing_lists"] == {
        "schools": [["培秀苗族乡民族中学", ""]],
        "villages": [["乌岭村", ""], ["高岜村", ""]],
    }
    # School Y's list arrives (龙雨欣 in it): 石丽 is now to be verified.
    long_ = world.child("龙雨欣")
    y_list = [row("龙雨欣", long_.id_number, school="2145993201", grade="八年级")]
    _import_list(world, persona, tmp_path, y_list, "y.xlsx")
    run = _run(persona)
    assert _result(run, "石丽").category == engine.TO_VERIFY
    assert run.inputs["missing_lists"]["schools"] == []


def test_last_terms_list_is_not_this_terms(world, persona):
    ListReceipt.objects.create(
        kind="enrollment", school=world.school_x, received_on=date(2026, 9, 1)
    )
    ListReceipt.objects.create(
        kind="enrollment", school=world.school_y, received_on=date(2026, 3, 1)
    )
    states = list_states(world.township, TODAY)
    assert [(x.name, x.latest, x.missing) for x in states["schools"]] == [
        ("培秀苗族乡中心小学", date(2026, 9, 1), False),
        ("培秀苗族乡民族中学", date(2026, 3, 1), True),
    ]
    # As of a day of the spring term, the March list was that term's, and school X had
    # sent none by then.
    spring = list_states(world.township, date(2026, 5, 1))
    assert [(x.latest, x.missing) for x in spring["schools"]] == [
        (None, True),
        (date(2026, 3, 1), False),
    ]


def test_a_registry_that_never_imported_a_list_misses_none(world):
    states = list_states(world.township, TODAY)
    assert not states["tracked"] and not any(x.missing for x in states["schools"])


def test_the_same_list_again_counts_for_the_term(world, persona, tmp_path):
    wu = world.child("吴俊辉")
    rows = [row("吴俊辉", wu.id_number)]
    _import_list(world, persona, tmp_path, rows)
    again = _import_list(world, persona, tmp_path, rows)
    assert again.count("unchanged") == 1
    assert ListReceipt.objects.filter(school=world.school_x).count() == 2


def test_a_partial_list_is_not_the_schools_list(world, persona, tmp_path):
    wu = world.child("吴俊辉")
    path = write_xlsx(tmp_path / "p.xlsx", [ENROLLMENT_HEADER, row("吴俊辉", wu.id_number)])
    ctx = pipeline.ImportContext(actor=persona("office"), township=world.township, today=TODAY)
    ctx.complete_list = False
    pipeline.run(path, SOURCES["enrollment"], ctx, commit=True)
    assert not ListReceipt.objects.exists()


def test_the_page_names_the_lists_before_and_after_a_run(world, persona, client, tmp_path):
    wu = world.child("吴俊辉")
    _import_list(world, persona, tmp_path, [row("吴俊辉", wu.id_number)])
    client.force_login(persona("office"))
    page = client.get(reverse("reconcile:run_list")).content.decode()
    assert 'data-testid="missing-lists"' in page and "培秀苗族乡民族中学：从未导入学籍名册" in page
    run = _run(persona)
    page = client.get(reverse("reconcile:run_detail", args=[run.public_id])).content.decode()
    assert 'data-testid="run-missing-lists"' in page and "培秀苗族乡民族中学" in page
    assert 'data-testid="count-list_missing"' in page
