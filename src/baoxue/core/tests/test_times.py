"""Times as people read them: local time (TIME_ZONE, Asia/Shanghai) in every table written
through core.sheets, whatever the database keeps (UTC)."""

from __future__ import annotations

import io
from datetime import UTC, date, datetime

from python_calamine import CalamineWorkbook

from baoxue.core import sheets, times

EVENING_UTC = datetime(2026, 12, 6, 20, 30, tzinfo=UTC)  # 2026-12-07 04:30 in Asia/Shanghai


def test_a_stored_time_reads_as_local_time():
    assert times.local_date(EVENING_UTC) == date(2026, 12, 7)
    assert times.day_text(EVENING_UTC) == "2026-12-07"
    assert times.minute_text(EVENING_UTC) == "2026-12-07 04:30"
    assert times.day_text(date(2026, 12, 6)) == "2026-12-06"  # a date is already local
    assert times.day_text(None) == times.minute_text(None) == ""


def test_a_naive_time_is_taken_as_local_already():
    assert times.minute_text(datetime(2026, 12, 6, 20, 30)) == "2026-12-06 20:30"


def test_tables_write_stored_times_in_local_time():
    rows = [[1, "吴俊辉", EVENING_UTC, date(2026, 12, 6)]]
    handle = io.StringIO()

    sheets.write_csv(handle, headers=["序号", "姓名", "时间", "日期"], rows=rows)
    out = io.BytesIO()
    sheets.write_xlsx(
        out, sheet="表", title="表", headers=["序号", "姓名", "时间", "日期"], rows=rows
    )

    assert handle.getvalue().splitlines()[1] == "1,吴俊辉,2026-12-07 04:30,2026-12-06"
    written = CalamineWorkbook.from_filelike(io.BytesIO(out.getvalue())).get_sheet_by_index(0)
    assert written.to_python()[2][2:] == ["2026-12-07 04:30", "2026-12-06"]
