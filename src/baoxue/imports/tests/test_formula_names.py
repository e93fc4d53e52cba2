"""A name that looks like code, in an imported file (issue 22 §6): kept as the text it is,
flagged on its row as a value to correct, never run as a formula nor shown as markup."""

from __future__ import annotations

import io
from datetime import date

import pytest
from django.urls import reverse
from python_calamine import CalamineWorkbook

from baoxue.imports import pipeline
from baoxue.imports.models import ImportBatch, ImportIssue
from baoxue.imports.registry import SOURCES
from baoxue.imports.sources.base import UNSAFE_TEXT, Action, looks_like_code
from baoxue.imports.tests.helpers import ROSTER_HEADER, write_xlsx
from baoxue.imports.tests.test_views import upload
from baoxue.registry.models import Child, Guardian
from baoxue.registry.tests.factories import make_id_number

FORMULA = '=HYPERLINK("http://x","点我")'
COMMAND = "-2+3+cmd|'/Ccalc'!A0"  # as stored: a name keeps no spaces
MARKUP = "<script>alert(1)</script>"
MESSAGE = "姓名含有公式或网页代码字符，已按原文保存，请核对更正"


def _row(name, id_number, *, guardian="潘大", phone="13900000001"):
    return [
        name,
        "男",
        id_number,
        "",
        "苗族",
        "乌岭村",
        "上寨屯",
        "A001",
        "潘大",
        guardian,
        phone,
        "双亲外出",
    ]


@pytest.fixture
def ids():
    return [make_id_number(date(2015, 4, d), "M") for d in (1, 2, 3, 4)]


@pytest.fixture
def roster_file(tmp_path, ids):
    return write_xlsx(
        tmp_path / "户籍名册.xlsx",
        [
            ROSTER_HEADER,
            _row(FORMULA, ids[0]),
            _row(COMMAND, ids[1]),
            _row(MARKUP, ids[2], guardian="@SUM(1+1)"),
            _row("潘小龙", ids[3], phone="+86 139 0000 0001"),
        ],
    )


@pytest.mark.parametrize(
    ("value", "flagged"),
    [
        ("=1+1", True),
        ("+1+1", True),
        ("-2+3", True),
        ("@SUM(A1)", True),
        ("<b>龙</b>", True),
        ("龙<img src=x onerror=alert(1)>", True),
        ("JavaScript:alert(1)", True),
        ("吴俊辉", False),
        ("身高<150", False),  # no tag
        ("a < b", False),
        ("<无>", False),
        ("-", False),  # a dash for "none"
        ("1+1", False),
    ],
)
def test_what_looks_like_code(value, flagged):
    assert looks_like_code("name", value) is flagged


def test_a_phone_number_may_start_with_a_plus():
    assert not looks_like_code("guardian_phone", "+86 139 0000 0001")
    assert looks_like_code("guardian_phone", "+1+cmd|'/C calc'!A0")


def test_the_rows_are_imported_as_written_and_flagged(world, persona, roster_file):
    ctx = pipeline.ImportContext(actor=persona("office"), township=world.township)
    outcome = pipeline.run(roster_file, SOURCES["roster"], ctx, commit=True)

    assert (outcome.count(Action.CREATE), outcome.rejected_rows) == (4, 0)
    flagged = sorted((i.row_number, i.column) for i in outcome.issues if i.code == UNSAFE_TEXT)
    assert flagged == [(2, "姓名"), (3, "姓名"), (4, "姓名"), (4, "监护人姓名")]
    assert all(i.severity == "warning" for i in outcome.issues if i.code == UNSAFE_TEXT)
    (message,) = {i.message for i in outcome.issues if i.code == UNSAFE_TEXT and i.row_number == 2}
    assert message == MESSAGE
    for name in (FORMULA, COMMAND, MARKUP):  # nothing dropped, nothing changed
        assert Child.objects.filter(name=name).exists()
    assert Guardian.objects.filter(child__name=MARKUP, name="@SUM(1+1)").exists()
    assert Guardian.objects.filter(child__name="潘小龙", phone="+86 139 0000 0001").exists()


def test_the_batch_keeps_the_flag_and_the_pages_escape_the_name(
    world, login, roster_file, django_capture_on_commit_callbacks
):
    client = login("office")
    upload(client, roster_file.read_bytes())
    batch = ImportBatch.objects.get()
    mapping = {f"col_{i}": v for i, v in batch.mapping.items()}
    with django_capture_on_commit_callbacks(execute=True):
        client.post(reverse("imports:batch_validate", args=[batch.public_id]), mapping)
    batch.refresh_from_db()
    assert batch.status == "validated", batch.message
    assert batch.rows_rejected == 0
    kept = ImportIssue.objects.filter(batch=batch, code=UNSAFE_TEXT)
    assert sorted(kept.values_list("row_number", "severity")) == [
        (2, "warning"),
        (3, "warning"),
        (4, "warning"),
        (4, "warning"),
    ]
    preview = client.get(reverse("imports:batch_detail", args=[batch.public_id])).content.decode()
    assert MESSAGE in preview
    assert MARKUP not in preview and "&lt;script&gt;alert(1)&lt;/script&gt;" in preview

    report = client.get(reverse("imports:batch_errors", args=[batch.public_id]))
    rows = CalamineWorkbook.from_filelike(io.BytesIO(report.content)).get_sheet_by_index(0)
    (flagged,) = [r for r in rows.to_python() if r[0] == 2]
    assert (flagged[3], flagged[4]) == (MESSAGE, FORMULA)

    with django_capture_on_commit_callbacks(execute=True):
        client.post(reverse("imports:batch_commit", args=[batch.public_id]))
    child = Child.objects.get(name=MARKUP)
    page = client.get(reverse("registry:child_detail", args=[child.public_id])).content.decode()
    assert MARKUP not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    listing = client.get(reverse("registry:child_list"), {"q": "alert"}).content.decode()
    assert MARKUP not in listing
