"""Validation a chunk at a time: what a cell parsed to in one chunk holds in the next."""

from __future__ import annotations

from datetime import date, datetime

from baoxue.imports import pipeline
from baoxue.imports.reading import Table
from baoxue.imports.registry import SOURCES
from baoxue.imports.tests.helpers import ENROLLMENT_HEADER
from baoxue.imports.tests.test_enrollment_import import row
from baoxue.imports.values import CellError
from baoxue.registry.tests.factories import make_id_number

SOURCE = SOURCES["enrollment"]


def test_a_cell_refused_among_dates_is_refused_again_in_a_chunk_of_text(
    world, persona, monkeypatch
):
    """A birth-date column of Excel dates with 不详 among them, then 不详 again in a later
    chunk whose cells are all text: the second 不详 is refused too, not passed on as the
    row's value (it once reached the commit as an object with no date in it)."""
    monkeypatch.setattr(pipeline, "CHUNK_ROWS", 2)
    ids = [make_id_number(date(2016, 3, d), "M") for d in range(1, 5)]
    rows = [row(f"学生{i}", number) for i, number in enumerate(ids)]
    birth = ENROLLMENT_HEADER.index("出生日期")
    rows[0][birth] = datetime(2016, 3, 1)  # chunk 1: a date cell and a text cell
    rows[1][birth] = "不详"
    rows[3][birth] = "不详"  # chunk 2: text cells only
    table = Table("Sheet1", 1, ENROLLMENT_HEADER, iter(enumerate(rows, start=2)), len(rows))
    ctx = pipeline.ImportContext(actor=persona("office"), township=world.township)
    mapping = pipeline.resolve_mapping(SOURCE, ENROLLMENT_HEADER, None, {})

    records, issues, total = pipeline.validate(table, mapping, SOURCE, ctx)

    assert total == 4
    refused = sorted((i.row_number, i.column) for i in issues if i.severity == "error")
    assert refused == [(3, "出生日期"), (5, "出生日期")]
    assert [r.row_number for r in records] == [2, 4]
    assert not any(isinstance(v, CellError) for r in records for v in r.values.values())


def test_a_commit_plans_inside_its_transaction_and_a_preview_outside(world, persona, tmp_path):
    """Two imports into one township run one at a time from their plan to their commit (the
    write transaction on SQLite, the township's row locked on PostgreSQL), so that a plan
    never misses what the other import has just written. A preview takes no lock."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from baoxue.imports.tests.helpers import write_xlsx
    from baoxue.registry.services import region_create

    seen: list[tuple[int, bool]] = []

    class Watched(type(SOURCE)):  # type: ignore[misc]
        def plan(self, records, ctx):
            # A village made by another import since this one's context was made.
            known = "新建村" in {r.name for r in ctx.places.villages.values()}
            seen.append((len(connection.atomic_blocks), known))
            return super().plan(records, ctx)

    number = make_id_number(date(2016, 3, 1), "M")
    path = write_xlsx(tmp_path / "x.xlsx", [ENROLLMENT_HEADER, row("学生", number)])
    ctx = pipeline.ImportContext(actor=persona("office"), township=world.township)
    region_create(name="新建村", level="village", parent=world.township)
    pipeline.run(path, Watched(), ctx)
    with CaptureQueriesContext(connection) as queries:
        pipeline.run(path, Watched(), ctx, commit=True)
    (preview_depth, preview_knows), (commit_depth, commit_knows) = seen
    assert commit_depth == preview_depth + 1  # inside the commit's transaction
    assert (preview_knows, commit_knows) == (False, True)
    if connection.vendor == "postgresql":
        # The lock that leaves rows pointing at the township (a case, a visit) writable.
        locks = [q["sql"] for q in queries.captured_queries if "FOR " in q["sql"]]
        assert len(locks) == 1 and locks[0].endswith("FOR NO KEY UPDATE"), locks
