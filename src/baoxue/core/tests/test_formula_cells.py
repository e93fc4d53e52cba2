"""Names that start like a spreadsheet formula, in every table the system writes (issue 22 §6).

A child named `=HYPERLINK("http://x","点我")` or `-2+3+cmd|' /C calc'!A0` must reach Excel as
text: in a CSV the cell gets Excel's leading apostrophe; in an xlsx it is a string cell (never
an <f> formula) marked quote-prefixed, with the name itself unchanged. Numbers stay numbers.
"""

from __future__ import annotations

import csv
import io
import re
import zipfile
from datetime import date
from xml.etree import ElementTree

import pytest
from django.urls import reverse

from baoxue.cases import ledger
from baoxue.cases.models import Case
from baoxue.core import sheets
from baoxue.imports.report import write_column_report, write_error_report
from baoxue.imports.sources.base import RowIssue
from baoxue.reconcile import ledgers
from baoxue.reconcile.services import run_create, run_execute
from baoxue.registry import selectors
from baoxue.registry.models import Child, Discrepancy, Region

DANGEROUS = [
    '=HYPERLINK("http://x","点我")',
    "-2+3+cmd|' /C calc'!A0",
    "+1+1",
    "@SUM(1+1)",
    "\t=1+1",
    "\r=1+1",
    "＝1+1",
    "－1+1",
]

_NS = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"


def _xml(book: zipfile.ZipFile, name: str) -> ElementTree.Element:
    return ElementTree.fromstring(book.read(name))  # noqa: S314 (a file we just wrote)


def xlsx_cells(data: bytes) -> dict[str, tuple[str, bool]]:
    """Every non-empty cell of the first sheet: its text → (cell type, quote-prefixed).
    Fails if the sheet holds a formula."""
    with zipfile.ZipFile(io.BytesIO(data)) as book:
        sheet_xml = book.read("xl/worksheets/sheet1.xml")
        shared = (
            ["".join(si.itertext()) for si in _xml(book, "xl/sharedStrings.xml").iter(_NS + "si")]
            if "xl/sharedStrings.xml" in book.namelist()
            else []
        )
        cells = _xml(book, "xl/worksheets/sheet1.xml").iter(_NS + "c")
        xfs = _xml(book, "xl/styles.xml").find(_NS + "cellXfs")
    assert b"<f>" not in sheet_xml and b"<f " not in sheet_xml
    assert xfs is not None
    quoted = [xf.get("quotePrefix") == "1" for xf in xfs.iter(_NS + "xf")]
    found: dict[str, tuple[str, bool]] = {}
    for c in cells:
        kind = c.get("t", "n")
        value = c.find(_NS + "v")
        if kind == "s" and value is not None and value.text is not None:
            text = shared[int(value.text)]
        elif kind == "inlineStr":
            text = "".join(c.find(_NS + "is").itertext())  # type: ignore[union-attr]
        elif value is not None and value.text is not None:
            text = value.text
        else:
            continue
        # Control characters are written as _x000D_ (Office's escape), and read back so.
        text = re.sub(r"_x([0-9A-F]{4})_", lambda m: chr(int(m.group(1), 16)), text)
        found[text] = (kind, quoted[int(c.get("s", "0"))])
    return found


def assert_text_cell(data: bytes, value: str) -> None:
    kind, quoted = xlsx_cells(data)[value]
    assert kind in ("s", "inlineStr") and quoted, (value, kind, quoted)


def csv_rows(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text, newline="")))


# --- the shared helpers ---------------------------------------------------------------------


@pytest.mark.parametrize("value", DANGEROUS)
def test_text_that_starts_like_a_formula_gets_an_apostrophe(value):
    assert sheets.formula_like(value)
    assert sheets.safe_cell(value) == "'" + value


@pytest.mark.parametrize("value", ["吴俊辉", "", "1+1", "a=b", "'=1", None, 3, -3, -2.5])
def test_other_values_are_left_as_they_are(value):
    assert sheets.safe_cell(value) == value


def test_a_negative_number_stays_a_number_and_formula_text_stays_text(tmp_path):
    out = io.BytesIO()
    rows = [[-3, *DANGEROUS], [2, "吴俊辉", -7]]
    sheets.write_xlsx(out, sheet="t", title="=title", headers=["序号", *DANGEROUS], rows=rows)
    cells = xlsx_cells(out.getvalue())
    assert cells["-3"] == ("n", False)  # the 序号: a number, negative or not
    assert cells["吴俊辉"] == ("s", False)
    for value in DANGEROUS:
        assert_text_cell(out.getvalue(), value)
    assert_text_cell(out.getvalue(), "=title")

    text = io.StringIO()
    sheets.write_csv(text, headers=["序号", "姓名"], rows=rows)
    _header, first, second = csv_rows(text.getvalue())
    assert first == ["-3", *("'" + v for v in DANGEROUS)]
    assert second == ["2", "吴俊辉", "-7"]


def test_every_workbook_keeps_strings_out_of_formulas(tmp_path):
    book = sheets.open_workbook(tmp_path / "x.xlsx", {"strings_to_formulas": True})
    sheet = book.add_worksheet("t")
    sheet.write(0, 0, "=1+1")  # a stray write(), not write_string
    sheet.write(0, 1, "http://x")
    book.close()
    cells = xlsx_cells((tmp_path / "x.xlsx").read_bytes())
    assert cells["=1+1"][0] == "s" and cells["http://x"][0] == "s"


# --- each writer, fed a child with such a name ----------------------------------------------


@pytest.fixture(params=DANGEROUS, ids=lambda v: repr(v[:4]))
def named(request, world) -> Child:
    """吴俊辉 renamed as an attacker would name a child, his school and 屯 too."""
    Child.objects.filter(name="吴俊辉").update(name=request.param)
    Region.objects.filter(name="上寨屯").update(name=request.param + "屯")
    return Child.objects.get(name=request.param)


@pytest.fixture
def case(named, world) -> Case:
    return Case.objects.create(
        child=named,
        kind=Case.Kind.DROPPED_OUT,
        status=Case.Status.PERSUADING,
        township=world.township,
        village=world.village_a,
    )


def test_the_case_ledger(named, case, persona, tmp_path):
    path = ledger.write(
        persona("office"), Case.objects.filter(pk=case.pk), path=tmp_path / "l.xlsx"
    )
    data = path.read_bytes()
    assert_text_cell(data, named.name)
    assert_text_cell(data, named.name + "屯")
    assert xlsx_cells(data)["0"] == ("n", False)  # 劝返次数 stays a number


def test_the_reconciliation_ledgers(named, case, persona):
    run = run_execute(run_create(actor=persona("office")), today=date(2025, 9, 1))
    for kind in ("children", "dropouts"):
        out = io.BytesIO()
        ledgers.write_xlsx(out, run, kind, None, full_ids=False)
        assert_text_cell(out.getvalue(), named.name)
        assert_text_cell(out.getvalue(), named.name + "屯")

        text = io.StringIO()
        ledgers.write_csv(text, run, kind, None, full_ids=False)
        (row,) = [r for r in csv_rows(text.getvalue()) if r[1] == "'" + named.name]
        assert row[6] == "'" + named.name + "屯"
        assert re.fullmatch(r"\d+", row[0])  # the 序号 stays a number


def test_the_discrepancy_list(named, persona, client):
    Discrepancy.objects.create(
        child=named,
        item="name",
        source="enrollment",
        value="=1+2",
        registry_value=named.name,
        registry_source="roster",
    )
    client.force_login(persona("office"))
    response = client.get(reverse("registry:discrepancy_export"))
    assert response.status_code == 200
    assert_text_cell(response.content, named.name)
    assert_text_cell(response.content, "=1+2")

    # the shell's csv (baoxue reconcile --discrepancies x.csv)
    text = io.StringIO()
    found = selectors.discrepancies(persona("office"))
    sheets.write_csv(
        text,
        headers=[str(h) for h in selectors.DISCREPANCY_HEADERS],
        rows=selectors.discrepancy_rows(found, full_ids=False),
    )
    (row,) = [r for r in csv_rows(text.getvalue()) if r[1] == "'" + named.name]
    assert "'=1+2" in row


def test_the_import_reports(tmp_path):
    path = tmp_path / "report.xlsx"
    issues = [RowIssue(3, "=列", "unsafe_text", "姓名含有公式或网页代码字符", "warning")]
    write_error_report(path, ["姓名", "村"], issues, {3: [*DANGEROUS[:2]]})
    data = path.read_bytes()
    for value in [*DANGEROUS[:2], "=列"]:
        assert_text_cell(data, value)
    assert xlsx_cells(data)["3"] == ("n", False)

    columns = tmp_path / "columns.xlsx"
    write_column_report(columns, ['=HYPERLINK("http://x","点我")', "姓名"], {"1": "姓名"}, [])
    assert_text_cell(columns.read_bytes(), '=HYPERLINK("http://x","点我")')
