"""The 比对 ledgers in local time: the database keeps UTC, and a run made, or a case opened, at
20:30 UTC belongs to the next morning in Asia/Shanghai."""

from __future__ import annotations

from datetime import UTC, date, datetime
from io import BytesIO

import pytest
from python_calamine import CalamineWorkbook

from baoxue.cases.models import Case
from baoxue.reconcile import ledgers
from baoxue.reconcile.models import ReconciliationRun
from baoxue.reconcile.services import run_create, run_execute

EVENING_UTC = datetime(2026, 12, 6, 20, 30, tzinfo=UTC)  # 2026-12-07 04:30 in Asia/Shanghai


@pytest.fixture
def run(world, persona):
    """A run of 培秀苗族乡 made (by the clock) on a December evening, UTC."""
    run = run_execute(run_create(actor=persona("office")), today=date(2026, 12, 7))
    ReconciliationRun.objects.filter(pk=run.pk).update(created_at=EVENING_UTC)
    run.refresh_from_db()
    return run


def test_a_run_without_a_date_of_its_own_is_about_the_local_day(run):
    assert run.as_of is None
    assert run.day == date(2026, 12, 7)
    assert str(run).endswith("2026-12-07 04:30")


def test_the_ledgers_give_the_local_day_and_time(run, world):
    case = Case.objects.create(
        child=world.child("吴俊辉"),
        kind=Case.Kind.DROPPED_OUT,
        status=Case.Status.PERSUADING,
        township=world.township,
        village=world.village_a,
    )
    Case.objects.filter(pk=case.pk).update(opened_at=EVENING_UTC)
    out = BytesIO()

    ledgers.write_xlsx(out, run, "dropouts", None, full_ids=False)

    sheet = CalamineWorkbook.from_filelike(BytesIO(out.getvalue())).get_sheet_by_index(0)
    title, headers, *rows = sheet.to_python()
    assert "比对日期 2026-12-07" in title[0] and "2026-12-07 04:30 比对" in title[0]
    (row,) = [r for r in rows if r[1] == "吴俊辉"]
    assert row[headers.index("立案时间")] == "2026-12-07"
