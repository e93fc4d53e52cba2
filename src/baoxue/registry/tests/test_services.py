"""Registry services: derived columns, invariants, enrollment history, audit rows."""

from __future__ import annotations

from datetime import date

import pytest
from django.core.exceptions import ValidationError

from baoxue.core import crypto
from baoxue.core.models import AuditEvent
from baoxue.registry import services
from baoxue.registry.models import Child, Enrollment, Region
from baoxue.registry.tests.factories import ChildFactory, make_id_number


def test_region_tree_paths_and_scope_columns(world):
    assert world.village_a.path == f"{world.township.path}{world.village_a.pk}/"
    child = world.child("吴俊辉")
    assert (child.county_id, child.township_id, child.village_id) == (
        world.county.pk,
        world.township.pk,
        world.village_a.pk,
    )
    assert world.school_x.township_id == world.township.pk


def test_region_levels_are_enforced(world):
    with pytest.raises(ValidationError):
        services.region_create(name="错村", level="village", parent=world.county)
    with pytest.raises(ValidationError):
        services.region_create(name="孤村", level="village")
    before = Region.objects.count()
    with pytest.raises(ValidationError):
        services.region_create(name="乌岭村", level="village", parent=world.township)  # exists
    assert Region.objects.count() == before


def test_group_must_belong_to_village(world):
    other_group = Region.objects.get(name="归别屯")
    with pytest.raises(ValidationError):
        services.child_create(actor=None, name="错屯", village=world.village_a, group=other_group)
    assert not Child.objects.filter(name="错屯").exists()


def test_child_keys_and_audit(world):
    child = ChildFactory(name="吴 俊辉", village=world.village_a)
    assert child.name == "吴俊辉"
    assert (child.name_pinyin, child.name_initials) == ("wujunhui", "wjh")
    assert child.id_status == Child.IdStatus.VALID
    assert child.id_number_hash == crypto.lookup_hash(child.id_number)
    # The last four characters as their keyed blind index, never in clear.
    assert child.id_suffix == crypto.suffix_key(child.id_number[-4:])
    assert child.id_number[-4:] not in child.id_suffix
    assert AuditEvent.objects.filter(action="child.created", object_id=str(child.public_id))


def test_fifteen_digit_number_is_upgraded_and_the_original_kept(world):
    full = make_id_number(date(2012, 3, 4), "F")
    short = full[:6] + full[8:17]
    child = services.child_create(
        actor=None, name="龙小", village=world.village_a, id_number=short, birth_date=None
    )
    assert child.id_status == Child.IdStatus.UPGRADED
    assert child.id_number == full
    assert child.id_number_original == short
    assert child.birth_date == date(2012, 3, 4)
    assert child.sex == "F"


def test_messy_number_is_normalised_not_changed(world):
    full = make_id_number(date(2013, 8, 9), "M")
    messy = "'" + " ".join([full[:6], full[6:14], full[14:]]).replace("X", "x")
    child = services.child_create(actor=None, name="石头", village=world.village_a, id_number=messy)
    assert child.id_number == full.upper()
    assert child.id_status == Child.IdStatus.VALID


def test_bad_checksum_is_kept_verbatim(world):
    child = world.child("杨光明")
    assert child.id_status == Child.IdStatus.BAD_CHECKSUM
    assert len(child.id_number) == 18
    assert child.id_number_hash == ""
    assert child.id_flagged


def test_bulk_refresh_matches_the_single_one_and_writes_only_what_changed(world, monkeypatch):
    in_school = ChildFactory(name="杨在读", village=world.village_a)
    services.enrollment_create(
        actor=None, child=in_school, school=world.school_x, grade=3, class_name="2班"
    )
    stale = ChildFactory(name="杨过时", village=world.village_a)
    services.enrollment_create(actor=None, child=stale, school=world.school_x, grade=4)
    # Changed behind the services' back, as an import's enrollment update does.
    Enrollment.objects.filter(child=stale).update(grade=5, class_name="3班")
    left = ChildFactory(name="杨离校", village=world.village_a)
    services.enrollment_create(actor=None, child=left, school=world.school_x, grade=2)
    Enrollment.objects.filter(child=left).update(status=Enrollment.Status.TRANSFERRED_OUT)
    never = ChildFactory(name="杨未入学", village=world.village_a)
    children = [in_school, stale, left, never]
    written: list[int] = []
    real = services.update_rows

    def recording(model, fields, rows):
        rows = list(rows)
        written.extend(r[0] for r in rows)
        return real(model, fields, rows)

    monkeypatch.setattr(services, "update_rows", recording)
    services.refresh_school_status_bulk(child_ids={c.pk for c in children})
    assert sorted(written) == sorted([stale.pk, left.pk])
    columns = ["school_status", "current_school_id", "current_grade", "current_class"]
    bulk = {c.pk: [getattr(c, n) for n in columns] for c in Child.objects.filter(pk__in=written)}
    for child in children:
        services.child_refresh_school_status(child)
    single = {c.pk: [getattr(c, n) for n in columns] for c in Child.objects.filter(pk__in=written)}
    assert bulk == single
    assert bulk[stale.pk] == [Child.SchoolStatus.IN_SCHOOL, world.school_x.pk, 5, "3班"]
    assert bulk[left.pk] == [Child.SchoolStatus.NOT_ENROLLED, None, None, ""]


def test_no_number_at_all(world):
    child = world.child("石丽")
    assert child.id_status == Child.IdStatus.EMPTY
    assert (child.id_number_enc, child.id_number_hash, child.id_number_masked) == ("", "", "")


def test_enrollment_lifecycle_updates_school_status(world):
    child = ChildFactory(name="杨测", village=world.village_a)
    assert child.school_status == Child.SchoolStatus.NOT_ENROLLED
    enrollment = services.enrollment_create(
        actor=None,
        child=child,
        school=world.school_x,
        grade=2,
        class_name="1班",
        entry_date=date(2025, 9, 1),
    )
    child.refresh_from_db()
    assert (child.school_status, child.current_school, child.current_grade) == (
        Child.SchoolStatus.IN_SCHOOL,
        world.school_x,
        2,
    )
    services.enrollment_event_record(
        actor=None, enrollment=enrollment, kind="suspension", on=date(2025, 10, 8), reason="疾病"
    )
    child.refresh_from_db()
    assert child.school_status == Child.SchoolStatus.SUSPENDED
    services.enrollment_event_record(
        actor=None, enrollment=enrollment, kind="resumption", on=date(2026, 3, 1)
    )
    child.refresh_from_db()
    assert child.school_status == Child.SchoolStatus.IN_SCHOOL
    services.enrollment_event_record(
        actor=None,
        enrollment=enrollment,
        kind="transfer_out",
        on=date(2026, 6, 1),
        other_school=world.school_z,
    )
    child.refresh_from_db()
    enrollment.refresh_from_db()
    assert child.school_status == Child.SchoolStatus.NOT_ENROLLED
    assert child.current_school is None
    assert enrollment.status == Enrollment.Status.TRANSFERRED_OUT
    assert enrollment.end_date == date(2026, 6, 1)
    kinds = list(enrollment.events.order_by("date", "id").values_list("kind", flat=True))
    assert kinds == ["enrolled", "suspension", "resumption", "transfer_out"]


def test_new_enrollment_keeps_the_old_one_as_history(world):
    child = world.child("吴俊辉")
    services.enrollment_create(actor=None, child=child, school=world.school_y, grade=7)
    current = child.enrollments.filter(is_current=True)
    assert [e.school for e in current] == [world.school_y]
    assert child.enrollments.count() == 2


def test_enrollment_grade_must_exist_at_school(world):
    child = world.child("石丽")
    with pytest.raises(ValidationError):
        services.enrollment_create(actor=None, child=child, school=world.school_x, grade=8)
    assert not child.enrollments.exists()


def test_death_marks_the_child(world):
    enrollment = world.enrollment("伍军辉")
    services.enrollment_event_record(
        actor=None, enrollment=enrollment, kind="death", on=date(2026, 1, 5)
    )
    child = world.child("伍军辉")
    assert child.is_deceased
    assert child.school_status == Child.SchoolStatus.NOT_ENROLLED


def test_student_number_is_protected_like_the_id(world):
    enrollment = world.enrollment("吴俊辉")
    number = "G" + world.child("吴俊辉").id_number
    assert enrollment.student_number == number
    assert enrollment.student_number_hash == crypto.lookup_hash(number)
    assert enrollment.student_number_masked.startswith("G450225")
    assert "*" in enrollment.student_number_masked
