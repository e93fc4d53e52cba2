"""Re-imports: rows identical to the ones last imported are known by their digest and not
parsed again; anything else about them (an edit since, a repeat, a shared number) falls back
to the full checks."""

from __future__ import annotations

import hashlib
from datetime import date
from unittest import mock

import pytest

from baoxue.imports import pipeline
from baoxue.imports.registry import SOURCES
from baoxue.imports.sources.base import Action
from baoxue.imports.tests.helpers import ENROLLMENT_HEADER, write_xlsx
from baoxue.imports.tests.test_enrollment_import import ctx_for, row
from baoxue.registry.models import Enrollment, EnrollmentEvent
from baoxue.registry.services import enrollment_event_record
from baoxue.registry.tests.factories import make_id_number

SOURCE = SOURCES["enrollment"]


@pytest.fixture
def ids():
    return [make_id_number(date(2015, 4, d), "F") for d in range(1, 5)]


def _file(tmp_path, rows, name="x.xlsx"):
    return write_xlsx(tmp_path / name, [ENROLLMENT_HEADER, *rows], title="学生名册")


def _import(world, persona, path):
    return pipeline.run(path, SOURCE, ctx_for(world, persona), commit=True)


def test_first_import_stores_a_fingerprint_per_enrollment(world, persona, tmp_path, ids):
    _import(world, persona, _file(tmp_path, [row("韦一", ids[0]), row("韦二", ids[1])]))
    prints = list(
        Enrollment.objects.filter(child__name__in=["韦一", "韦二"]).values_list(
            "import_fingerprint", flat=True
        )
    )
    assert len(prints) == 2 and all(len(p) == 32 for p in prints) and len(set(prints)) == 2


def test_identical_rows_are_unchanged_without_being_parsed(world, persona, tmp_path, ids):
    path = _file(tmp_path, [row("韦一", ids[0]), row("韦二", ids[1])])
    _import(world, persona, path)
    with mock.patch.object(SOURCE, "check", side_effect=AssertionError("parsed")) as check:
        outcome = _import(world, persona, path)
    assert check.call_count == 0
    assert outcome.count(Action.UNCHANGED) == 2 and outcome.count(Action.CREATE) == 0
    assert [p.record.values["name"] for p in outcome.plan] == ["韦一", "韦二"]


def test_a_changed_row_is_checked_and_updated_the_others_skipped(world, persona, tmp_path, ids):
    _import(world, persona, _file(tmp_path, [row("韦一", ids[0]), row("韦二", ids[1])]))
    newer = _file(tmp_path, [row("韦一", ids[0]), row("韦二", ids[1], status="休学")], "y.xlsx")
    outcome = _import(world, persona, newer)
    assert (outcome.count(Action.UNCHANGED), outcome.count(Action.UPDATE)) == (1, 1)
    e = Enrollment.objects.get(child__name="韦二", is_current=True)
    assert e.status == Enrollment.Status.SUSPENDED
    assert e.events.filter(kind=EnrollmentEvent.Kind.SUSPENSION).exists()
    # The update stored the new row's digest: the newer file again is all unchanged.
    again = _import(world, persona, newer)
    assert again.count(Action.UNCHANGED) == 2


def test_an_edit_since_the_import_clears_the_fingerprint(world, persona, tmp_path, ids):
    path = _file(tmp_path, [row("韦一", ids[0])])
    _import(world, persona, path)
    e = Enrollment.objects.get(child__name="韦一")
    enrollment_event_record(
        actor=persona("office"),
        enrollment=e,
        kind=EnrollmentEvent.Kind.SUSPENSION,
        on=date(2026, 10, 1),
    )
    e.refresh_from_db()
    assert e.import_fingerprint == ""
    # The old file no longer vouches for the record: it is compared field by field, and the
    # file's 在读 against the registry's 休学 is an update.
    outcome = _import(world, persona, path)
    assert outcome.count(Action.UPDATE) == 1
    e.refresh_from_db()
    assert e.status == Enrollment.Status.STUDYING


def test_a_repeated_row_is_still_reported_on_reimport(world, persona, tmp_path, ids):
    _import(world, persona, _file(tmp_path, [row("韦一", ids[0])]))
    twice = _file(tmp_path, [row("韦一", ids[0]), row("韦一", ids[0])], "twice.xlsx")
    outcome = _import(world, persona, twice)
    assert [i.code for i in outcome.issues] == ["repeat"]
    assert outcome.count(Action.UNCHANGED) == 1


def test_a_changed_row_sharing_a_number_with_a_known_row_is_a_duplicate(
    world, persona, tmp_path, ids
):
    _import(world, persona, _file(tmp_path, [row("韦一", ids[0])]))
    both = _file(tmp_path, [row("韦一", ids[0]), row("韦一", ids[0], cls="2班")], "both.xlsx")
    outcome = _import(world, persona, both)
    # Checked the long way (not skipped as known): the first of two equally full rows is
    # imported, the other set aside with a warning naming the column that differs.
    [issue] = outcome.issues
    assert (issue.row_number, issue.code, issue.severity) == (4, "duplicate", "warning")
    assert "班级" in issue.message
    assert outcome.rejected_rows == 0
    assert Enrollment.objects.get(child__name="韦一").class_name == "1班"


def test_another_mapping_is_another_fingerprint(world, persona, tmp_path, ids):
    table = pipeline.open_table(_file(tmp_path, [row("韦一", ids[0])]), SOURCE)
    mapping = pipeline.resolve_mapping(SOURCE, table.headers, None, {})
    fewer = {k: v for k, v in mapping.items() if v != "class_name"}
    cells = next(iter(table.rows))[1]
    a = pipeline.Fingerprints(SOURCE, mapping, set()).of(cells)
    b = pipeline.Fingerprints(SOURCE, fewer, set()).of(cells)
    assert a != b and len(a) == 32


@pytest.mark.parametrize(
    "cells",
    [["吴俊辉", "男", "450225201605020011"], ["a", "", "b"], ["x\x1fy", "z"], ["a", 1.0, None]],
)
def test_packed_cells_give_back_the_row(cells):
    from baoxue.imports.sources.base import Record, pack_cells

    packed = pack_cells(cells)
    assert isinstance(packed, str) == all(isinstance(c, str) and "\x1f" not in c for c in cells)
    record = Record(1, {}, packed)
    assert record.cell_list() == cells


def test_digests_of_many_rows_are_those_of_one_row_at_a_time():
    # Stored fingerprints are compared with new ones: the batch form must not drift.
    from baoxue.imports.sources.base import pack_rows

    fingerprints = pipeline.Fingerprints(SOURCE, {"0": "name", "1": "sex"}, {})
    rows = [["吴俊辉", "男"], ["a", ""], ["x\x1fy", "z"], ["a", 1.0, None]]
    packed = pack_rows(rows)
    assert packed[:2] == ["吴俊辉\x1f男", "a\x1f"] and packed[2:] == rows[2:]
    assert fingerprints.digests(packed) == [fingerprints.of(r) for r in rows]
    stored_form = "\x1e".join(["1", "enrollment", "0=name", "1=sex", "吴俊辉\x1f男"])
    expected = hashlib.blake2b(stored_form.encode(), digest_size=16).hexdigest()
    assert fingerprints.digests(packed)[0] == expected


def test_a_row_without_a_school_is_the_importing_schools_row_only(world, persona, tmp_path, ids):
    """A school's own file may leave the school out: its rows are that school's. The same
    file imported by the township office names no school, and its rows are refused, not
    passed as unchanged because the school's import stored their digests."""
    path = _file(tmp_path, [row("韦一", ids[0], school="")])

    def principal():
        return ctx_for(world, persona, "principal_x", school=world.school_x)

    assert pipeline.run(path, SOURCE, principal(), commit=True).count(Action.CREATE) == 1
    again = pipeline.run(path, SOURCE, principal())
    assert again.count(Action.UNCHANGED) == 1 and again.skipped  # known by its digest
    office = pipeline.run(path, SOURCE, ctx_for(world, persona))
    assert office.rejected_rows == 1 and office.count(Action.UNCHANGED) == 0
    assert {i.code for i in office.issues if i.severity == "error"} == {"school"}


def test_an_unchanged_row_without_its_digest_gets_it(world, persona, tmp_path, ids):
    """An enrollment that holds no digest of its row (entered before digests, by hand, or
    its digest cleared) is compared in full once; found unchanged, it is given the row's
    digest, without any other write, so that the next import of the same file skips it."""
    path = _file(tmp_path, [row("韦一", ids[0]), row("韦二", ids[1])])
    _import(world, persona, path)
    Enrollment.objects.filter(child__name__in=["韦一", "韦二"]).update(import_fingerprint="")
    before = list(
        Enrollment.objects.filter(child__name__in=["韦一", "韦二"])
        .order_by("pk")
        .values_list("pk", "updated_at", "class_name", "status")
    )
    events = EnrollmentEvent.objects.count()
    outcome = _import(world, persona, path)
    assert outcome.count(Action.UNCHANGED) == 2 and not outcome.skipped
    stored = Enrollment.objects.filter(child__name__in=["韦一", "韦二"])
    assert all(len(e.import_fingerprint) == 32 for e in stored)
    after = list(stored.order_by("pk").values_list("pk", "updated_at", "class_name", "status"))
    assert after == before and EnrollmentEvent.objects.count() == events
    with mock.patch.object(SOURCE, "check", side_effect=AssertionError("parsed")):
        again = _import(world, persona, path)
    assert again.count(Action.UNCHANGED) == 2 and len(again.skipped) == 2
