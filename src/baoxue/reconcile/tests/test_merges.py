"""One record per child (合并): a certain or confirmed link makes the two registry records one
child, everything pointing at the merged record moves, and the office can undo it."""

from __future__ import annotations

from datetime import date

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.urls import reverse

from baoxue.attendance.models import AttendanceRecord
from baoxue.cases.models import Case
from baoxue.core.models import AuditEvent
from baoxue.reconcile import engine
from baoxue.reconcile.merges import merge_undo
from baoxue.reconcile.models import MatchReview, RunChild
from baoxue.reconcile.tests.test_services import _run, _xueji_only
from baoxue.registry import services as registry
from baoxue.registry.models import Child, ChildMerge, Discrepancy, Enrollment, Guardian
from baoxue.subsidies.models import Subsidy, SubsidyProgram


@pytest.fixture
def pair(world):
    """石丽 (高岜村, on the roster, no school) and her 学籍 written as 石莉 at school X, with a
    guardian, October's attendance, a subsidy and a discrepancy of their own."""
    shili = world.child("石丽")
    other = _xueji_only(world, "石莉", shili.birth_date, "F", world.village_b, world.school_x)
    registry.guardian_add(actor=None, child=other, name="石母", relation="mother", phone="139")
    enrollment = Enrollment.objects.get(child=other)
    AttendanceRecord.objects.create(
        enrollment=enrollment,
        child=other,
        school=world.school_x,
        period_start=date(2026, 10, 1),
        period_end=date(2026, 10, 31),
        days_absent=1,
    )
    program = SubsidyProgram.objects.order_by("pk").first()  # seeded by a migration
    Subsidy.objects.create(child=other, program=program, term="2026秋", enrollment=enrollment)
    Discrepancy.objects.create(child=other, item="sex", source="enrollment", value="男")
    return shili, other


def test_a_certain_link_makes_one_child(world, persona, pair):
    shili, other = pair
    count = Child.objects.count()
    run = _run(persona)
    assert run.changes["merged"] == 1
    assert Child.objects.count() == count - 1  # the registry counts children, not records
    merge = ChildMerge.objects.get()
    assert (merge.kept, merge.merged, merge.method) == (shili, other, engine.NAME)
    other = Child.records.get(pk=other.pk)
    assert other.merged_into == shili
    assert not Child.objects.filter(pk=other.pk).exists()
    # Everything that pointed at the merged record points at her now.
    assert Enrollment.objects.get(child=shili).school == world.school_x
    assert list(Guardian.objects.filter(child=shili).values_list("name", flat=True)) == ["石母"]
    assert AttendanceRecord.objects.get().child == shili
    assert Subsidy.objects.get().child == shili
    assert Discrepancy.objects.get().child == shili
    shili.refresh_from_db()
    assert (shili.school_status, shili.current_school) == ("in_school", world.school_x)
    assert merge.moved["registry.enrollment"] == [Enrollment.objects.get(child=shili).pk]
    # The next run sees one child, in school, linked as the same record.
    again = _run(persona)
    result = RunChild.objects.get(run=again, child=shili)
    assert (result.category, result.link_method) == (engine.IN_SCHOOL, engine.SAME)
    assert again.changes["merged"] == 0


def test_the_office_undoes_a_merge_and_it_is_not_made_again(world, persona, client, pair):
    shili, other = pair
    _run(persona)
    merge = ChildMerge.objects.get()
    # Rows that arrive after the merge stay with the kept child.
    later = registry.guardian_add(actor=None, child=shili, name="石父", relation="father")
    client.force_login(persona("principal_x"))  # sees her, may not undo: 404 and logged
    response = client.post(reverse("reconcile:merge_undo", args=[merge.public_id]))
    assert response.status_code == 404
    assert AuditEvent.objects.filter(action="child.merge_undo_denied").count() == 1
    client.force_login(persona("office"))
    page = client.get(reverse("registry:child_detail", args=[shili.public_id])).content.decode()
    assert 'data-testid="merge"' in page and 'data-testid="merge-undo"' in page
    # The merged record's own page leads to the child it is now.
    response = client.get(reverse("registry:child_detail", args=[other.public_id]))
    assert response.status_code == 302 and str(shili.public_id) in response["Location"]
    response = client.post(reverse("reconcile:merge_undo", args=[merge.public_id]))
    assert response.status_code == 302
    other = Child.objects.get(pk=other.pk)  # a child of its own again
    assert other.merged_into is None
    assert Enrollment.objects.get(school=world.school_x, grade=3, child__name="石莉").child == other
    assert not Enrollment.objects.filter(child=shili).exists()
    assert AttendanceRecord.objects.get().child == other
    assert Subsidy.objects.get().child == other
    assert sorted(Guardian.objects.filter(child=shili).values_list("name", flat=True)) == [
        later.name
    ]
    merge.refresh_from_db()
    assert merge.status == "undone" and merge.undone_by.username == "office"
    decision = MatchReview.objects.get(left=shili, right=other)
    assert decision.status == MatchReview.Status.REJECTED
    # A second click: told, nothing changes; the next run keeps them apart.
    with pytest.raises(ValidationError):
        merge_undo(merge=merge, actor=persona("office"))
    run = _run(persona)
    assert run.changes["merged"] == 0 and Child.objects.filter(pk=other.pk).exists()
    assert RunChild.objects.get(run=run, child=shili).category == engine.TO_VERIFY


def test_two_open_cases_become_one_and_the_undo_reopens_the_other(world, persona, pair):
    shili, other = pair
    Enrollment.objects.filter(child=other).update(status=Enrollment.Status.LOST)
    registry.refresh_school_status_bulk(child_ids={other.pk})
    mine = Case.objects.create(
        child=shili, kind=Case.Kind.TO_VERIFY, township=world.township, village=world.village_b
    )
    theirs = Case.objects.create(
        child=other, kind=Case.Kind.DROPPED_OUT, status=Case.Status.VERIFYING,
        township=world.township, village=world.village_b,
    )  # fmt: skip
    _run(persona)
    theirs.refresh_from_db()
    assert (theirs.child, theirs.status, theirs.dismiss_reason) == (
        shili,
        Case.Status.DISMISSED,
        "data_error",
    )
    assert Case.objects.open().filter(child=shili).count() == 1
    assert theirs.events.filter(kind="merged").exists()
    assert mine.events.filter(kind="merged_in").exists()
    merge_undo(merge=ChildMerge.objects.get(), actor=persona("office"))
    theirs.refresh_from_db()
    assert (theirs.child_id, theirs.status) == (other.pk, Case.Status.VERIFYING)


def test_the_kept_record_takes_what_it_lacks_and_gives_it_back(world, persona):
    """A roster child without a number (a hand entry) and the 学籍's record with one: the
    number moves to her; the undo gives it back."""
    ming = registry.child_create(
        actor=None, name="韦明", village=world.village_b, birth_date=date(2015, 3, 3), sex="F"
    )
    from baoxue.registry.tests.factories import make_id_number

    number = make_id_number(date(2015, 3, 3), "F")
    other = _xueji_only(world, "韦明", date(2015, 3, 3), "F", world.village_b, world.school_x,
                        id_number=number)  # fmt: skip
    other_hash = other.id_number_hash
    _run(persona)
    ming.refresh_from_db()
    assert (ming.id_number, ming.id_number_hash) == (number, other_hash)
    assert Child.records.get(pk=other.pk).id_number_hash == ""  # one child holds a number
    merge_undo(merge=ChildMerge.objects.get(), actor=persona("office"))
    ming.refresh_from_db()
    assert (ming.id_number, ming.id_number_hash, ming.id_status) == ("", "", "empty")
    assert Child.objects.get(pk=other.pk).id_number_hash == other_hash


def test_who_may_undo(world, persona, pair):
    _run(persona)
    merge = ChildMerge.objects.get()
    for name in ("leader", "village_a", "principal_x", "county"):
        with pytest.raises(PermissionDenied):
            merge_undo(merge=merge, actor=persona(name))
    assert ChildMerge.objects.get().status == "done"


def test_a_later_file_finds_the_merged_records_child(world, persona, tmp_path, pair):
    """石莉's school sends its list again (no ID number, no 学籍号): the row is 石丽's."""
    from baoxue.imports import pipeline
    from baoxue.imports.registry import SOURCES
    from baoxue.imports.tests.helpers import ENROLLMENT_HEADER, write_xlsx
    from baoxue.imports.tests.test_enrollment_import import row

    shili, _other = pair
    _run(persona)
    line = row("石莉", "", grade="三年级", address="广西融水县培秀乡高岜村")
    line[ENROLLMENT_HEADER.index("出生日期")] = shili.birth_date.isoformat()
    line[ENROLLMENT_HEADER.index("性别")] = "女"
    path = write_xlsx(tmp_path / "x.xlsx", [ENROLLMENT_HEADER, line])
    ctx = pipeline.ImportContext(actor=persona("office"), township=world.township)
    ctx.complete_list = False
    count = Child.records.count()
    outcome = pipeline.run(path, SOURCES["enrollment"], ctx, commit=True)
    assert Child.records.count() == count
    [planned] = outcome.plan
    assert planned.action != "create" and planned.record.values["child"] == shili
