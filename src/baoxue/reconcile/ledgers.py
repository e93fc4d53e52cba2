"""The county ledgers (台账) of a reconciliation run, as xlsx (xlsxwriter, constant memory) or
csv: 适龄儿童少年台账 (every child of compulsory age and where it is), 疑似辍学台账 (children
not known to be in school), 辍学台账 (confirmed dropouts and never-enrolled children with the
state of their case). ID numbers are whole for users whose work needs them, masked otherwise;
every export is written to the audit log by the caller."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from django.utils.translation import gettext as _

from baoxue.cases.models import Case
from baoxue.core import crypto
from baoxue.core.sheets import CellWriter, open_workbook, safe_cell
from baoxue.core.times import day_text, minute_text
from baoxue.imports.values import mask_numbers
from baoxue.reconcile import engine
from baoxue.reconcile.models import CATEGORY_LABELS, ReconciliationRun, RunChild

KINDS = ("children", "suspected", "dropouts")
# Children of compulsory age: everything but those outside the age or gone.
_OF_AGE = [c for c in engine.CATEGORIES if c not in {engine.NOT_OF_AGE, engine.GONE}]
# Children not known to be in school: 名单未更新 too, so that nobody forgets them meanwhile.
_SUSPECTED = [
    engine.SUSPECTED,
    engine.TO_VERIFY,
    engine.NEVER_ENROLLED,
    engine.SUSPENDED,
    engine.LIST_MISSING,
]


def title(kind: str) -> str:
    return {
        "children": _("适龄儿童少年台账"),
        "suspected": _("疑似辍学台账"),
        "dropouts": _("辍学台账"),
    }[kind]


def _headers(kind: str) -> list[str]:
    common = [_("序号"), _("姓名"), _("性别"), _("出生日期"), _("身份证号"), _("村"), _("组/屯")]
    if kind == "dropouts":
        return [*common, _("原就读学校"), _("类型"), _("案件状态"), _("立案时间"), _("依据")]
    return [*common, _("学校"), _("年级"), _("类别"), _("依据"), _("重点群体"), _("案件状态")]


def _id_number(enc: str, masked: str, full: bool) -> str:
    if not full:
        return masked
    return crypto.decrypt(enc) if enc else ""


def rows(run: ReconciliationRun, kind: str, user: Any, *, full_ids: bool) -> Iterator[list[Any]]:
    """The ledger's data rows, in the user's scope (None: the whole run, for the shell)."""
    if kind == "dropouts":
        cases = Case.objects.filter(
            child__in=RunChild.objects.filter(run=run).values("child_id"),
            kind__in=[Case.Kind.DROPPED_OUT, Case.Kind.NEVER_ENROLLED],
        ).exclude(status__in=[Case.Status.SUSPECTED, Case.Status.DISMISSED])
        if user is not None:
            cases = cases.visible_to(user)
        for n, c in enumerate(
            cases.select_related("child__village", "child__group", "child__current_school")
            .order_by("child__village__name", "child__name")
            .iterator(chunk_size=2000),
            start=1,
        ):
            child = c.child
            yield [
                n,
                child.name,
                child.get_sex_display(),
                child.birth_date.isoformat() if child.birth_date else "",
                _id_number(child.id_number_enc, child.id_number_masked, full_ids),
                child.village.name,
                child.group.name if child.group else "",
                child.current_school.name if child.current_school else "",
                c.get_kind_display(),
                c.get_status_display(),
                day_text(c.opened_at),
                # The note a person opened the case with: a number typed into it is masked, as
                # the documents scrub it (this column goes to every reader of the ledger).
                mask_numbers(c.basis),
            ]
        return
    results = RunChild.objects.filter(run=run)
    if user is not None:
        results = results.visible_to(user)
    results = results.filter(category__in=_OF_AGE if kind == "children" else _SUSPECTED)
    open_cases = dict(
        Case.objects.open()
        .filter(child__in=results.values("child_id"))
        .values_list("child_id", "status")
    )
    status_labels = dict(Case.Status.choices)
    for n, r in enumerate(
        results.select_related("child", "village", "school", "child__group")
        .order_by("village__name", "child__name", "child_id")
        .iterator(chunk_size=2000),
        start=1,
    ):
        child = r.child
        case_status = open_cases.get(child.pk)
        yield [
            n,
            child.name,
            child.get_sex_display(),
            child.birth_date.isoformat() if child.birth_date else "",
            _id_number(child.id_number_enc, child.id_number_masked, full_ids),
            r.village.name if r.village else "",
            child.group.name if child.group else "",
            r.school.name if r.school else "",
            child.current_grade or "",
            str(CATEGORY_LABELS[r.category]),
            mask_numbers(r.basis),  # it may name a school a person typed (在外地就读)
            _("是") if r.key_group else "",
            str(status_labels[case_status]) if case_status else "",
        ]


def write_xlsx(
    target: str | Path | IO[bytes] | Any,
    run: ReconciliationRun,
    kind: str,
    user: Any,
    *,
    full_ids: bool,
) -> int:
    """Write the ledger; returns the number of data rows."""
    # A path gets constant memory (rows streamed to a temporary file); a response or buffer
    # is written in memory, as xlsxwriter needs for a file-like target.
    workbook = open_workbook(
        target, {"constant_memory": True, "in_memory": not isinstance(target, str | Path)}
    )
    sheet = workbook.add_worksheet(title(kind))
    cells = CellWriter(workbook, sheet)
    bold = workbook.add_format({"bold": True, "bg_color": "#DDEBF7", "border": 1})
    text = workbook.add_format({"num_format": "@"})
    headers = _headers(kind)
    cells.text(
        0,
        0,
        _("%(area)s %(title)s（比对日期 %(day)s，%(when)s 比对）")
        % {
            "area": run.area.name,
            "title": title(kind),
            "day": f"{run.day:%Y-%m-%d}",
            "when": minute_text(run.created_at),
        },
        bold,
    )
    for col, header in enumerate(headers):
        cells.text(1, col, header, bold)
    sheet.set_column(1, 1, 10)
    sheet.set_column(4, 4, 21, text)
    sheet.set_column(5, len(headers) - 1, 14)
    count = 0
    for count, row in enumerate(rows(run, kind, user, full_ids=full_ids), start=1):
        for col, value in enumerate(row):
            if isinstance(value, int) and col == 0:
                cells.number(count + 1, col, value)
            else:
                cells.text(count + 1, col, str(value))  # ID numbers stay text
    sheet.freeze_panes(2, 2)
    workbook.close()
    return count


def write_csv(
    handle: IO[str], run: ReconciliationRun, kind: str, user: Any, *, full_ids: bool
) -> int:
    writer = csv.writer(handle)
    writer.writerow(_headers(kind))
    count = 0
    for row in rows(run, kind, user, full_ids=full_ids):
        writer.writerow([safe_cell(value) for value in row])
        count += 1
    return count
