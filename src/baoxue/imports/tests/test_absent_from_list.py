"""A 学籍 file is its schools' list for the term: current students it leaves out are marked
(shown in the preview first), the reconciliation suspects them, and a later file that lists
them again clears the mark. A partial list marks nothing."""

from __future__ import annotations

from datetime import date

import pytest
from django.urls import reverse

from baoxue.imports import pipeline
from baoxue.imports.registry import SOURCES
from baoxue.imports.tests.test_enrollment_import import ctx_for, row
from baoxue.imports.tests.test_fingerprints import _file
from baoxue.reconcile import engine
from baoxue.reconcile.models import RunChild
from baoxue.reconcile.services import run_create, run_execute
from baoxue.registry.models import Enrollment
from baoxue.registry.tests.factories import make_id_number

SOURCE = SOURCES["enrollment"]


@pytest.fixture
def ids():
    return [make_id_number(date(2016, 9, d), "M") for d in range(1, 4)]


def _import(world, persona, path, **kw):
    return pipeline.run(path, SOURCE, ctx_for(world, persona, **kw), commit=True)


def test_students_left_out_are_marked_and_suspected(world, persona, tmp_path, ids):
    # School X (2145993101) has 吴俊辉 and 伍军辉 from the world; the file lists neither.
    ctx = ctx_for(world, persona)
    path = _file(tmp_path, [row("黄一", ids[0]), row("黄二", ids[1])])
    preview = pipeline.run(path, SOURCE, ctx)  # validation only: nothing written
    assert ctx.notes["absent_from_list"]["schools"] == {"培秀苗族乡中心小学": 2}
    assert not Enrollment.objects.exclude(absent_from_list_since=None).exists()
    assert preview.count("create") == 2
    _import(world, persona, path)
    absent = Enrollment.objects.exclude(absent_from_list_since=None)
    assert sorted(e.child.name for e in absent) == ["伍军辉", "吴俊辉"]
    run = run_execute(run_create(actor=persona("office")), today=date(2026, 11, 29))
    result = RunChild.objects.get(run=run, child__name="吴俊辉")
    assert result.category == engine.SUSPECTED and "学籍名册" in result.basis
    # School Y (龙雨欣) was not in the file: nothing said about it.
    assert RunChild.objects.get(run=run, child__name="龙雨欣").category == engine.IN_SCHOOL


def test_listed_again_clears_the_mark(world, persona, tmp_path, ids):
    _import(world, persona, _file(tmp_path, [row("黄一", ids[0])]))
    wu = world.child("吴俊辉")
    number = wu.id_number
    again = _file(tmp_path, [row("黄一", ids[0]), row("吴俊辉", number)], "again.xlsx")
    outcome = _import(world, persona, again)
    e = Enrollment.objects.get(child=wu, is_current=True)
    assert e.absent_from_list_since is None
    assert outcome.count("update") == 1
    # 伍军辉 is still left out, and stays marked (once: no second write).
    assert Enrollment.objects.exclude(absent_from_list_since=None).count() == 1


def test_a_partial_list_marks_nothing(world, persona, tmp_path, ids):
    _import(world, persona, _file(tmp_path, [row("黄一", ids[0])]), complete_list=False)
    assert not Enrollment.objects.exclude(absent_from_list_since=None).exists()


def test_the_preview_page_says_who_will_be_marked(world, persona, client, tmp_path, ids):
    from baoxue.imports.models import ImportBatch
    from baoxue.imports.services import batch_upload, batch_validate

    path = _file(tmp_path, [row("黄一", ids[0])])
    office = persona("office")
    with path.open("rb") as handle:
        batch = batch_upload(actor=office, source="enrollment", handle=handle, filename="x.xlsx")
    client.force_login(office)
    page = client.get(reverse("imports:batch_detail", args=[batch.public_id])).content.decode()
    assert 'data-testid="complete-list"' in page and "checked" in page
    batch_validate(actor=office, batch=ImportBatch.objects.get(pk=batch.pk))
    page = client.get(reverse("imports:batch_detail", args=[batch.public_id])).content.decode()
    assert 'data-testid="absent-from-list"' in page and "培秀苗族乡中心小学 2 名" in page


def test_the_committed_page_says_what_was_done(world, persona, client, tmp_path, ids):
    from baoxue.imports.models import ImportBatch
    from baoxue.imports.services import batch_commit, batch_upload, batch_validate
    from baoxue.registry.models import School

    new_school = row("黄二", ids[1], school="")
    new_school[6] = "培秀苗族乡江口教学点"
    new_school[7] = "1"
    path = _file(tmp_path, [row("黄一", ids[0]), new_school])
    office = persona("office")
    with path.open("rb") as handle:
        batch = batch_upload(actor=office, source="enrollment", handle=handle, filename="x.xlsx")
    batch_validate(actor=office, batch=ImportBatch.objects.get(pk=batch.pk))
    client.force_login(office)
    url = reverse("imports:batch_detail", args=[batch.public_id])
    page = client.get(url).content.decode()
    assert "确认导入时将一并新建" in page and "导入后将标记为" in page
    # Before the commit one of the two unlisted students gets a new 学籍 elsewhere: the commit
    # plans again and marks the one left, which the page then says.
    moved = Enrollment.objects.get(child__name="伍军辉", is_current=True)
    Enrollment.objects.filter(pk=moved.pk).update(school=world.school_z, grade=4)
    batch_commit(actor=office, batch=ImportBatch.objects.get(pk=batch.pk))
    page = client.get(url).content.decode()
    assert School.objects.filter(name="培秀苗族乡江口教学点").exists()
    assert "已一并新建" in page and "确认导入时将一并新建" not in page
    assert "已标记为" in page and "导入后将标记为" not in page
    assert "培秀苗族乡中心小学 1 名" in page


def test_a_rejected_row_still_lists_its_student(world, persona, tmp_path, ids):
    wu = world.child("吴俊辉")  # at school X, like 伍军辉
    bad = row("吴俊辉", wu.id_number)
    bad[9] = "2023.13"  # 入学年月: no 13th month, so the row is rejected
    path = _file(tmp_path, [row("黄一", ids[0]), bad])
    outcome = _import(world, persona, path)
    assert outcome.rejected_rows == 1
    absent = Enrollment.objects.exclude(absent_from_list_since=None)
    assert [e.child.name for e in absent] == ["伍军辉"]  # not 吴俊辉: his row is there


def test_a_row_rejected_by_the_plan_still_lists_its_student(world, persona, tmp_path, ids):
    wu = world.child("吴俊辉")
    # His row, with a grade his primary school does not have: rejected.
    wrong = row("吴俊辉", wu.id_number, grade="八年级")
    path = _file(tmp_path, [row("黄一", ids[0]), wrong])
    outcome = _import(world, persona, path)
    assert [i.code for i in outcome.issues if i.severity == "error"] == ["grade"]
    absent = Enrollment.objects.exclude(absent_from_list_since=None)
    assert [e.child.name for e in absent] == ["伍军辉"]


def test_a_partial_list_taken_for_the_complete_one_is_remapped_from_the_preview(
    world, persona, client, tmp_path, ids, django_capture_on_commit_callbacks
):
    """The preview says two students will be marked: the user goes back to the column
    mapping (no new upload), unticks 完整的学籍名册 and validates again; the mapping chosen
    before is kept, and the commit marks no one."""
    from baoxue.core.models import AuditEvent
    from baoxue.imports.models import ImportBatch
    from baoxue.imports.services import batch_upload

    path = _file(tmp_path, [row("黄一", ids[0])])
    office = persona("office")
    with path.open("rb") as handle:
        batch = batch_upload(actor=office, source="enrollment", handle=handle, filename="x.xlsx")
    client.force_login(office)
    url = reverse("imports:batch_detail", args=[batch.public_id])
    mapping = {f"col_{i}": v for i, v in batch.mapping.items()}
    with django_capture_on_commit_callbacks(execute=True):
        client.post(
            reverse("imports:batch_validate", args=[batch.public_id]),
            {**mapping, "complete_list": "on"},
        )
    page = client.get(url).content.decode()
    assert 'data-testid="absent-from-list"' in page and 'data-testid="remap"' in page

    response = client.post(reverse("imports:batch_remap", args=[batch.public_id]))
    assert response.status_code == 302
    batch.refresh_from_db()
    assert batch.status == "uploaded" and batch.options.get("complete_list")
    # The preview it left is not the batch's any more: no counts, no issues, no examples.
    assert (batch.rows_total, batch.preview, batch.issues.count()) == (0, {}, 0)
    page = client.get(url).content.decode()
    assert 'data-testid="mapping-form"' in page and 'data-testid="commit"' not in page
    assert AuditEvent.objects.filter(action="import.remapped").count() == 1
    # A commit posted from a page still showing the preview is refused: nothing written.
    with django_capture_on_commit_callbacks(execute=True):
        client.post(reverse("imports:batch_commit", args=[batch.public_id]))
    assert ImportBatch.objects.get(pk=batch.pk).status == "uploaded"
    assert not Enrollment.objects.filter(child__name="黄一").exists()

    with django_capture_on_commit_callbacks(execute=True):
        client.post(reverse("imports:batch_validate", args=[batch.public_id]), mapping)
    batch.refresh_from_db()
    assert batch.status == "validated" and not batch.preview["absent_from_list"]
    # Back once more (say, for a column): the box stays as the user left it, unticked.
    client.post(reverse("imports:batch_remap", args=[batch.public_id]))
    page = client.get(url).content.decode()
    box = page[page.index('data-testid="complete-list"') :].split(">", 1)[0]
    assert "checked" not in box
    with django_capture_on_commit_callbacks(execute=True):
        client.post(reverse("imports:batch_validate", args=[batch.public_id]), mapping)
    with django_capture_on_commit_callbacks(execute=True):
        client.post(reverse("imports:batch_commit", args=[batch.public_id]))
    assert ImportBatch.objects.get(pk=batch.pk).status == "committed"
    assert Enrollment.objects.filter(child__name="黄一").exists()
    assert not Enrollment.objects.exclude(absent_from_list_since=None).exists()
    # A committed batch cannot go back to its mapping.
    client.post(reverse("imports:batch_remap", args=[batch.public_id]))
    assert ImportBatch.objects.get(pk=batch.pk).status == "committed"
