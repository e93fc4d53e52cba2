"""A school's workbook with one sheet per class (issue 20): every sheet with the same header
is read, unless one of them is the summary; a student on two sheets counts once."""

from __future__ import annotations

from datetime import date

import xlsxwriter

from baoxue.imports import pipeline
from baoxue.imports.reading import SHEET_COLUMN, read_table
from baoxue.imports.registry import SOURCES
from baoxue.imports.sources.base import Action
from baoxue.registry.models import Enrollment
from baoxue.registry.tests.factories import make_id_number

SOURCE = SOURCES["enrollment"]
HEADER = ["序号", "姓名", "性别", "身份证件号", "学校标识码", "年级", "班级"]


def workbook(path, sheets):
    book = xlsxwriter.Workbook(str(path))
    for name, rows in sheets:
        sheet = book.add_worksheet(name)
        sheet.write_row(0, 0, [f"{name}学生名单"])
        sheet.write_row(1, 0, HEADER)
        for r, row in enumerate(rows, start=2):
            sheet.write_row(r, 0, row)
    book.close()
    return path


def pupils(grade, cls, n, first=0):
    rows = []
    for i in range(n):
        number = make_id_number(date(2019 - grade, 1 + (first + i) % 12, 1 + first + i), "F")
        rows.append(
            [i + 1, f"蒙{grade}{cls}{i}", "女", number, "2145993101", f"{grade}年级", f"{cls}班"]
        )
    return rows


def ctx_for(world, persona):
    return pipeline.ImportContext(
        actor=persona("office"), township=world.township, complete_list=False
    )


def test_one_sheet_per_class_is_read_whole_and_a_pupil_on_two_sheets_counts_once(
    world, persona, tmp_path
):
    one, two, three = pupils(2, 1, 8), pupils(2, 2, 7, first=10), pupils(3, 1, 6, first=20)
    three.append([7, *two[0][1:]])  # 二年级2班's first pupil again, on another sheet
    path = workbook(
        tmp_path / "classes.xlsx", [("二年级1班", one), ("二年级2班", two), ("三年级1班", three)]
    )
    table = read_table(path, expected_headers=HEADER)
    assert table.headers == [*HEADER, SHEET_COLUMN]
    rows = list(table.rows)
    assert len(rows) == 22 and len({n for n, _c in rows}) == 22  # one number a row
    assert rows[8][1][-1] == "二年级2班第3行"
    outcome = pipeline.run(path, SOURCE, ctx_for(world, persona), commit=True)
    assert outcome.count(Action.CREATE) == 21
    assert outcome.skipped_rows == 1  # the repeat, with its note
    repeat = next(i for i in outcome.issues if i.code == "repeat")
    assert outcome.originals[repeat.row_number][-1] == "三年级1班第9行", outcome.originals[
        repeat.row_number
    ]
    names = [r[1] for r in one + two + three[:-1]]
    assert Enrollment.objects.filter(child__name__in=names).count() == 21


def test_a_summary_sheet_is_read_alone(world, persona, tmp_path):
    one, two = pupils(4, 1, 5), pupils(4, 2, 5, first=10)
    everyone = [[i + 1, *row[1:]] for i, row in enumerate(one + two)]
    for summary_name in ("全校汇总", "Sheet1"):  # by its name, or by holding the others
        path = workbook(
            tmp_path / f"{summary_name}.xlsx",
            [("四年级1班", one), (summary_name, everyone), ("四年级2班", two)],
        )
        table = read_table(path, expected_headers=HEADER)
        assert table.sheet_name == summary_name and table.headers == HEADER
        assert len(list(table.rows)) == 10
    outcome = pipeline.run(path, SOURCE, ctx_for(world, persona), commit=True)
    assert outcome.count(Action.CREATE) == 10 and not outcome.issues
