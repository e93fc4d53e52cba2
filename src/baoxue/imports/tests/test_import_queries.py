"""A newer export that changes every row costs the same number of queries for 4 rows as for
16: nothing is fetched or written a row at a time (the children and enrollments a 学籍 import
matches are loaded with only the columns it reads, so a column read anyway would show here)."""

from __future__ import annotations

from datetime import date

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from baoxue.imports import pipeline
from baoxue.imports.registry import SOURCES
from baoxue.imports.sources.base import Action
from baoxue.imports.tests.helpers import ROSTER_HEADER, write_xlsx
from baoxue.imports.tests.test_enrollment_guardians import HEADER
from baoxue.imports.tests.test_enrollment_guardians import row as enrollment_row
from baoxue.registry.models import Child
from baoxue.registry.tests.factories import make_id_number


def _import_twice(world, persona, source: str, first, newer, n: int) -> int:
    """Imports `first`, then counts the queries of importing `newer` (n rows, all changed)."""
    ctx = pipeline.ImportContext(actor=persona("office"), township=world.township)
    pipeline.run(first, SOURCES[source], ctx, commit=True)
    ctx = pipeline.ImportContext(actor=persona("office"), township=world.township)
    with CaptureQueriesContext(connection) as captured:
        outcome = pipeline.run(newer, SOURCES[source], ctx, commit=True)
    assert outcome.count(Action.UPDATE) == n
    return len(captured.captured_queries)


def _enrollment_rows(ids, cls):
    rows = []
    for i, number in enumerate(ids):
        cells = enrollment_row(f"石{i}", number, f"石{i}爸", "")
        cells[HEADER.index("班级")] = cls
        rows.append(cells)
    return rows


def _newer_export_queries(world, persona, tmp_path, n: int) -> int:
    ids = [make_id_number(date(2015, 1 + i // 28, 1 + i % 28), "F") for i in range(n)]
    first = write_xlsx(tmp_path / f"a{n}.xlsx", [HEADER, *_enrollment_rows(ids, "1班")])
    newer = write_xlsx(tmp_path / f"b{n}.xlsx", [HEADER, *_enrollment_rows(ids, "2班")])
    count = _import_twice(world, persona, "enrollment", first, newer, n)
    assert Child.objects.filter(name__startswith="石", current_class="2班").count() == n
    return count


def _roster_queries(world, persona, tmp_path, n: int, *, moved: bool = False) -> int:
    """A newer roster that changes every guardian's phone, and with `moved` puts every
    child in another 屯 (the preview names the 屯 each leaves)."""
    ids = [make_id_number(date(2014, 1 + i // 28, 1 + i % 28), "M") for i in range(n)]

    def rows(phone, group):
        out = []
        for i, number in enumerate(ids):
            head = [f"龙{i}", "男", number, "", "苗族", "乌岭村", group, f"{i:04d}"]
            out.append([*head, f"龙{i}爸", f"龙{i}爸", phone, "非留守"])
        return out

    first = write_xlsx(tmp_path / f"r{n}.xlsx", [ROSTER_HEADER, *rows("13800000001", "上寨屯")])
    newer = write_xlsx(
        tmp_path / f"s{n}.xlsx",
        [ROSTER_HEADER, *rows("13900000002", "下寨屯" if moved else "上寨屯")],
    )
    count = _import_twice(world, persona, "roster", first, newer, n)
    if moved:
        names = [f"龙{i}" for i in range(n)]
        assert Child.objects.filter(name__in=names, group__name="下寨屯").count() == n
    return count


def _roster_moves_queries(world, persona, tmp_path, n: int) -> int:
    return _roster_queries(world, persona, tmp_path, n, moved=True)


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("queries", "prefix"),
    [(_newer_export_queries, "石"), (_roster_queries, "龙"), (_roster_moves_queries, "龙")],
)
def test_a_newer_file_costs_no_query_a_row(world, persona, tmp_path, queries, prefix):
    few = queries(world, persona, tmp_path, 4)
    Child.objects.filter(name__startswith=prefix).delete()
    many = queries(world, persona, tmp_path, 16)
    assert many == few
