"""core.bulk: rows written without model instances read back as the ORM would have saved
them, with the ids handed out beforehand; and the import's child_row matches build_child."""

from __future__ import annotations

import uuid
from datetime import date, timedelta

import pytest
from django.db import IntegrityError, transaction
from django.utils import timezone

from baoxue.core.bulk import (
    RowWriter,
    driver_rows,
    filter_in,
    instances,
    update_objects,
    update_rows,
    uuid7_hexes,
)
from baoxue.registry.models import Child, Enrollment, EnrollmentEvent
from baoxue.registry.services import (
    CHILD_COLUMNS,
    build_child,
    child_place_columns,
    child_row,
    child_values,
    id_columns,
)
from baoxue.registry.tests.factories import make_id_number


def _child_values(world, name: str, number: str) -> dict:
    return child_row(
        name=name,
        village=world.village_a,
        group=None,
        cols=id_columns(number),
        sex="F",
        left_behind="one_parent",
    )


def test_child_row_is_what_build_child_makes(world):
    number = make_id_number(date(2016, 1, 2), "F")
    built = build_child(
        name="覃 小 梅",
        village=world.village_a,
        id_number=number,
        sex="F",
        left_behind="one_parent",
    )
    row = _child_values(world, "覃 小 梅", number)
    for name, value in row.items():
        if name in {"id_number_enc", "id_number_original_enc"}:
            continue  # encrypted with a fresh nonce each time
        assert getattr(built, name) == value, name
    assert row["name"] == "覃小梅" and row["name_initials"] == "qxm"


def test_written_rows_read_back_with_defaults_and_reserved_ids(world):
    number = make_id_number(date(2016, 1, 3), "F")
    before = timezone.now()
    with transaction.atomic():
        children = RowWriter(Child)
        ids = children.reserve(2)
        assert ids[1] == ids[0] + 1
        assert ids[0] > max(Child.objects.values_list("pk", flat=True))
        children.add({"id": ids[0], **_child_values(world, "覃小梅", number)})
        children.add({"id": ids[1], **_child_values(world, "覃小兰", ""), "birth_date": None})
        enrollments = RowWriter(Enrollment)
        (eid,) = enrollments.reserve(1)
        enrollments.add(
            {
                "id": eid,
                "child_id": ids[0],
                "school_id": world.school_x.pk,
                "grade": 3,
                "entry_date": date(2023, 9, 1),
            }
        )
        events = RowWriter(EnrollmentEvent)  # no ids reserved: the database assigns them
        events.add({"enrollment_id": eid, "kind": "enrolled", "date": date(2023, 9, 1)})
        assert children.write() == 2 and enrollments.write() == 1 and events.write() == 1
    one = Child.objects.get(pk=ids[0])
    assert (one.name, one.sex, one.left_behind, one.birth_date) == (
        "覃小梅",
        "F",
        "one_parent",
        date(2016, 1, 3),
    )
    assert one.public_id is not None and one.version == 1 and one.is_orphan is False
    assert before - timedelta(seconds=1) <= one.created_at <= timezone.now()
    assert Child.objects.get(pk=ids[1]).public_id != one.public_id
    e = Enrollment.objects.get(pk=eid)
    assert (e.child, e.school, e.status, e.is_current, e.class_name) == (
        one,
        world.school_x,
        "01",
        True,
        "",
    )
    assert e.events.get().kind == "enrolled"
    # The next row saved the ordinary way gets an id after the reserved ones.
    assert build_child(name="新", village=world.village_a).save() is None
    assert Child.objects.order_by("-pk").first().pk > ids[1]


def test_tuple_rows_read_back_as_dict_rows_do(world):
    """RowWriter(columns=...) takes tuples in that order and fills the other columns with
    their defaults, as it does for dicts."""
    number = make_id_number(date(2016, 1, 4), "M")
    place = child_place_columns(world.village_a, None)
    cols = id_columns(number)
    with transaction.atomic():
        as_dicts = RowWriter(Child)
        as_tuples = RowWriter(Child, columns=("id", *CHILD_COLUMNS, "left_behind"))
        one, two = as_dicts.reserve(2)
        as_dicts.add(
            {
                "id": one,
                **child_row(
                    name="韦 小 军",
                    village=None,
                    group=None,
                    place=place,
                    cols=cols,
                    left_behind="one_parent",
                ),
            }
        )
        as_dicts.write()
        as_tuples.add((two, *child_values(name="韦 小 军", place=place, cols=cols), "one_parent"))
        assert as_tuples.write() == 1
    by_dict, by_tuple = Child.objects.get(pk=one), Child.objects.get(pk=two)
    skip = {"id", "public_id", "created_at", "updated_at"}
    for f in Child._meta.concrete_fields:
        if f.attname not in skip:
            assert getattr(by_tuple, f.attname) == getattr(by_dict, f.attname), f.attname
    assert by_tuple.birth_date == date(2016, 1, 4) and by_tuple.name == "韦小军"
    assert by_tuple.public_id != by_dict.public_id and by_tuple.version == 1
    assert Child.objects.filter(public_id=by_tuple.public_id).get() == by_tuple


def test_tuple_rows_name_only_the_models_columns(world):
    with pytest.raises(ValueError, match="Child"):
        RowWriter(Child, columns=("name", "no_such_column"))
    with pytest.raises(ValueError, match="Child"):
        RowWriter(Child, columns=("name", "name"))


def test_defaults_written_as_sqlite_literals_are_quoted():
    from decimal import Decimal

    from baoxue.core.bulk import _sql_literal

    assert [_sql_literal(v) for v in (None, True, False, 7, "", "it's")] == [
        "NULL",
        "1",
        "0",
        "7",
        "''",
        "'it''s'",
    ]
    # Anything else is bound as a parameter, as before.
    assert _sql_literal(Decimal("1.5")) is None and _sql_literal("a\x00b") is None


def test_bulk_public_ids_are_random_version_7_and_ascending():
    first, second = uuid7_hexes(500), uuid7_hexes(500)
    both = first + second
    assert both == sorted(both) and len(set(both)) == 1000  # ascending across calls too
    for value in both:
        parsed = uuid.UUID(value)
        assert parsed.version == 7 and parsed.variant == uuid.RFC_4122 and parsed.hex == value
    # 74 random bits a value: the ones of one millisecond differ well beyond a counter.
    tails = {int(v[13:], 16) for v in first}
    assert max(tails) - min(tails) > 1 << 60
    assert uuid7_hexes(0) == []


def test_a_failed_write_leaves_nothing(world):
    count = Child.objects.count()
    with pytest.raises(IntegrityError), transaction.atomic():
        children = RowWriter(Child)
        (cid,) = children.reserve(1)
        children.add({"id": cid, **_child_values(world, "覃小梅", "")})
        children.write()
        events = RowWriter(EnrollmentEvent)
        events.add({"enrollment_id": None, "kind": "enrolled", "date": date(2023, 9, 1)})
        events.write()  # NOT NULL: the whole transaction goes, the children with it
    assert Child.objects.count() == count


def test_filter_in_matches_filter_dunder_in(world):
    hashes = list(Child.objects.exclude(id_number_hash="").values_list("id_number_hash", flat=True))
    assert hashes
    wanted = [*hashes[:3], "0" * 64]
    found = {c.pk for c in filter_in(Child.objects.all(), "id_number_hash", wanted, chunk=2)}
    assert found == set(
        Child.objects.filter(id_number_hash__in=wanted).values_list("pk", flat=True)
    )


def test_driver_rows_are_what_values_list_gives(world):
    # Dates, booleans, a nullable join and foreign keys: the driver's values are Django's.
    Child.objects.filter(pk=Child.objects.order_by("pk").first().pk).update(is_deceased=True)
    query = Child.records.order_by("pk").values_list(
        "pk",
        "name",
        "birth_date",
        "on_roster",
        "is_deceased",
        "village_id",
        "household__is_lifted_from_poverty",
        "household__monitoring_type",
    )
    given = list(driver_rows(query))
    assert given == list(query) and len(given) > 3
    assert {type(row[3]) for row in given} == {bool}
    assert {type(row[2]) for row in given if row[2] is not None} == {date}
    rows = driver_rows(Enrollment.objects.values_list("pk", "is_current", "end_date"), size=2)
    assert list(rows) == list(Enrollment.objects.values_list("pk", "is_current", "end_date"))


def test_driver_rows_refuse_what_needs_django(world):
    from baoxue.cases.models import Case

    with pytest.raises(ValueError):
        list(driver_rows(Case.objects.values_list("pk", "evidence")))  # JSON
    with pytest.raises(ValueError):
        list(driver_rows(Child.objects.values_list("pk", "public_id")))  # UUID


def test_instances_are_what_the_orm_loads(world, django_assert_num_queries):
    fields = [f.attname for f in Child._meta.concrete_fields]
    ours = {c.pk: c for c in instances(Child.objects.order_by("pk"))}
    theirs = {c.pk: c for c in Child.objects.order_by("pk")}
    assert ours.keys() == theirs.keys() and ours
    for pk, child in ours.items():
        assert type(child) is Child
        assert [getattr(child, a) for a in fields] == [getattr(theirs[pk], a) for a in fields]
        assert child._state.adding is False and child._state.db == "default"
    # Some fields only: the others load on first use, as with only().
    first = next(instances(Child.objects.filter(pk=min(ours)), ["name", "village"]))
    assert (
        first.get_deferred_fields()
        == Child.objects.only("name", "village").get(pk=first.pk).get_deferred_fields()
    )
    with django_assert_num_queries(1):
        assert first.birth_date == theirs[first.pk].birth_date
    with django_assert_num_queries(1):
        village = first.village
    assert village is not None and village.pk == theirs[first.pk].village_id
    # An instance saves as a loaded one: an UPDATE of its row, not a second row.
    first.name = "改过"
    first.save(update_fields=["name"])
    assert Child.objects.get(pk=first.pk).name == "改过"
    assert Child.objects.count() == len(ours)
    through = list(filter_in(Child.objects.all(), "id", sorted(ours), chunk=2, fields=["name"]))
    assert sorted(c.pk for c in through) == sorted(ours)
    assert all("birth_date" in c.get_deferred_fields() for c in through)


def _index_names(table: str) -> set[str]:
    from django.db import connection

    with connection.cursor() as cursor:
        return {
            name
            for name, c in connection.introspection.get_constraints(cursor, table).items()
            if c["index"] and not c["unique"] and not c["primary_key"]
        }


def _foreign_key_names(table: str) -> set[str]:
    from django.db import connection

    with connection.cursor() as cursor:
        return {
            name
            for name, c in connection.introspection.get_constraints(cursor, table).items()
            if c["foreign_key"]
        }


def test_a_load_that_doubles_a_table_builds_its_indexes_after_the_rows(world, monkeypatch):
    from django.db import connection

    from baoxue.core import bulk

    monkeypatch.setattr(bulk, "DEFER_INDEXES_MIN_ROWS", 2)
    table = Child._meta.db_table
    indexes, keys = _index_names(table), _foreign_key_names(table)
    assert {"child_township_name_idx", "child_id_hash_idx"} <= indexes
    existing = Child.objects.count()
    with transaction.atomic():
        with bulk.indexes_deferred({Child: existing + 5, Enrollment: 1}) as deferred:
            assert deferred == [table]  # Enrollment: too few rows to bother
            assert _index_names(table) == set()
            if connection.vendor == "postgresql":
                assert _foreign_key_names(table) == set()
            children = RowWriter(Child)
            for i in range(existing + 5):
                children.add(_child_values(world, f"覃{i}", ""))
            children.write()
        assert _index_names(table) == indexes and _foreign_key_names(table) == keys
    assert Child.objects.count() == 2 * existing + 5


def test_a_table_whose_rows_are_in_gets_its_indexes_before_the_others(world, monkeypatch):
    """build_now: on SQLite the table's indexes come back at once (in the helper thread, after
    the rows handed to it); on PostgreSQL they wait for the end with the foreign keys."""
    from django.db import connection

    from baoxue.core import bulk
    from baoxue.core.bulk import BackgroundWrites
    from baoxue.registry.models import Guardian

    monkeypatch.setattr(bulk, "DEFER_INDEXES_MIN_ROWS", 2)
    child_table, guardian_table = Child._meta.db_table, Guardian._meta.db_table
    child_indexes, guardian_indexes = _index_names(child_table), _index_names(guardian_table)
    existing = Child.objects.count()
    with transaction.atomic():
        with (
            bulk.indexes_deferred({Child: existing + 4, Guardian: existing + 4}) as deferred,
            BackgroundWrites() as background,
        ):
            assert deferred == [child_table, guardian_table]
            children = RowWriter(Child, background=background)
            for i in range(existing + 4):
                children.add(_child_values(world, f"蓝{i}", ""))
            children.write()
            deferred.build_now(Child, background)
            deferred.build_now(Child, background)  # once is enough: nothing happens
            background.drain()
            built = _index_names(child_table)
            assert built == (child_indexes if connection.vendor == "sqlite" else set())
            assert _index_names(guardian_table) == set()
        assert _index_names(child_table) == child_indexes
        assert _index_names(guardian_table) == guardian_indexes
    assert Child.objects.filter(name__startswith="蓝").count() == existing + 4


def test_deferring_after_other_writes_of_the_transaction(world, monkeypatch):
    # A roster's households (or an import's proposed villages) are written first, in the same
    # transaction: their foreign-key checks wait for the commit, and PostgreSQL refuses to
    # drop a constraint of a table they involve while such checks are pending.
    from baoxue.core import bulk
    from baoxue.registry.models import Household

    monkeypatch.setattr(bulk, "DEFER_INDEXES_MIN_ROWS", 2)
    existing = Child.objects.count()
    with transaction.atomic():
        household = Household.objects.create(
            number="H-1",
            village=world.village_a,
            township=world.township,
            county=world.county,
        )
        with bulk.indexes_deferred({Child: existing + 3}) as deferred:
            assert deferred == [Child._meta.db_table]
            children = RowWriter(Child)
            for i in range(existing + 3):
                children.add({**_child_values(world, f"蒙{i}", ""), "household_id": household.pk})
            children.write()
    assert Child.objects.filter(household=household).count() == existing + 3


def test_an_error_during_a_deferred_load_leaves_the_indexes_and_no_rows(world, monkeypatch):
    from baoxue.core import bulk

    monkeypatch.setattr(bulk, "DEFER_INDEXES_MIN_ROWS", 2)
    table = Child._meta.db_table
    indexes, before = _index_names(table), Child.objects.count()
    with (
        pytest.raises(RuntimeError, match="killed"),
        transaction.atomic(),
        bulk.indexes_deferred({Child: before + 5}),
    ):
        children = RowWriter(Child)
        children.add(_child_values(world, "覃一", ""))
        children.write()
        raise RuntimeError("killed")
    assert _index_names(table) == indexes and Child.objects.count() == before


def test_a_table_holding_as_many_rows_keeps_its_indexes(world, monkeypatch):
    from baoxue.core import bulk

    monkeypatch.setattr(bulk, "DEFER_INDEXES_MIN_ROWS", 1)
    existing = Child.objects.count()
    assert existing >= 2
    with transaction.atomic(), bulk.indexes_deferred({Child: existing}) as deferred:
        assert deferred == []
        assert "child_township_name_idx" in _index_names(Child._meta.db_table)


def test_rows_written_in_the_background_are_all_there(world):
    from baoxue.core.bulk import BackgroundWrites, write_all

    before = Child.objects.count()
    with transaction.atomic(), BackgroundWrites() as background:
        children = RowWriter(Child, background=background)
        ids = children.reserve(4321)  # more than a chunk, and statements of many rows
        for i, child_id in enumerate(ids):
            children.add({"id": child_id, **_child_values(world, f"蓝{i}", "")})
        assert write_all([children]) == {"Child": 4321}
    assert Child.objects.count() == before + 4321
    assert Child.objects.get(pk=ids[1234]).name == "蓝1234"


def test_an_error_in_the_background_is_raised_here_and_nothing_stays(world):
    from baoxue.core.bulk import BackgroundWrites, write_all

    before = Child.objects.count()
    taken = Child.objects.values_list("pk", flat=True).first()
    with pytest.raises(IntegrityError), transaction.atomic(), BackgroundWrites() as background:
        children = RowWriter(Child, background=background)
        (child_id,) = children.reserve(1)
        children.add({"id": child_id, **_child_values(world, "蓝一", "")})
        children.add({"id": taken, **_child_values(world, "蓝二", "")})  # an id in use
        write_all([children])
    assert Child.objects.count() == before
    assert not Child.objects.filter(name__in=["蓝一", "蓝二"]).exists()


# --- update_rows / update_objects: what bulk_update does, without its CASE WHEN -------------------
def test_update_rows_writes_the_given_values_and_only_to_the_given_rows(world):
    enrollments = list(Enrollment.objects.order_by("pk")[:3])
    assert len(enrollments) == 3
    first, second, untouched = enrollments
    before = Enrollment.objects.values().get(pk=untouched.pk)
    now = timezone.now()
    with transaction.atomic():
        given = update_rows(
            Enrollment,
            ["school", "grade", "class_name", "is_boarding", "end_date", "updated_at"],
            [
                (first.pk, world.school_y.pk, 7, "3班", True, date(2026, 7, 1), now),
                (second.pk, second.school_id, 2, "", False, None, now),
            ],
        )
    assert given == 2
    first.refresh_from_db()
    second.refresh_from_db()
    assert (first.school_id, first.grade, first.class_name, first.is_boarding) == (
        world.school_y.pk,
        7,
        "3班",
        True,
    )
    assert (first.end_date, second.end_date, second.grade) == (date(2026, 7, 1), None, 2)
    assert abs((first.updated_at - now).total_seconds()) < 1
    assert Enrollment.objects.values().get(pk=untouched.pk) == before


def test_update_objects_matches_bulk_update(world):
    children = list(Child.objects.order_by("pk")[:4])
    for i, child in enumerate(children):
        child.current_grade = i + 1
        child.current_class = f"{i}班"
        child.current_school = world.school_x if i % 2 else None
    fields = ["current_grade", "current_class", "current_school"]
    with transaction.atomic():
        assert update_objects(children, fields) == 4
    ours = list(Child.objects.filter(pk__in=[c.pk for c in children]).values_list("pk", *fields))
    for child in children:
        child.current_class += "!"
    Child.objects.bulk_update(children, fields)
    for child in children:
        child.current_class = child.current_class[:-1]
    Child.objects.bulk_update(children, fields)
    theirs = list(Child.objects.filter(pk__in=[c.pk for c in children]).values_list("pk", *fields))
    assert sorted(ours) == sorted(theirs)
    assert update_objects([], fields) == 0


def test_a_failed_update_leaves_nothing(world):
    first, second = Enrollment.objects.order_by("pk")[:2]
    with pytest.raises(IntegrityError), transaction.atomic():
        update_rows(Enrollment, ["grade"], [(first.pk, 9)])
        update_rows(Enrollment, ["class_name"], [(second.pk, None)])  # NOT NULL
    first.refresh_from_db()
    assert first.grade != 9
