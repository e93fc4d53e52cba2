"""辍学台账 from the cases: one row per case with the child, the 双线四包 people, the 劝返
count and latest result, the legal steps, the placement and the dates. Written with
xlsxwriter in constant-memory mode, cases read in chunks of CHUNK with a fixed number of
queries per chunk, so memory stays flat for any number of cases."""

from __future__ import annotations

import os
import tempfile
from collections import defaultdict
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from django.db.models import QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from baoxue.accounts.permissions import can_reveal_id_number
from baoxue.cases import workflow
from baoxue.cases.models import Case, EscalationDocument, Placement, Responsibility, ReturnAttempt
from baoxue.core import crypto
from baoxue.core.sheets import CellWriter, open_workbook
from baoxue.core.times import day_text, minute_text
from baoxue.registry.models import Child, Guardian

CHUNK = 2000


def headers() -> list[str]:
    return [
        _("序号"),
        _("姓名"),
        _("性别"),
        _("出生日期"),
        _("身份证号"),
        _("村"),
        _("组/屯"),
        _("学校"),
        _("类型"),
        _("状态"),
        _("辍学开始月份"),
        _("原因"),
        _("重点群体"),
        _("监护人"),
        _("联系电话"),
        _("政府线责任人"),
        _("教育线责任人"),
        _("劝返次数"),
        _("最近劝返"),
        _("法律文书"),
        _("安置方式"),
        _("安置日期"),
        _("立案日期"),
        _("结案日期"),
        _("下一步期限"),
        _("是否逾期"),
    ]


# The case and child columns a row needs, read as tuples (no model instances: a county's
# 50,000 cases would spend more time building objects than writing the file).
_COLUMNS = (
    "pk",
    "kind",
    "status",
    "began_on",
    "reasons",
    "key_group",
    "opened_at",
    "closed_at",
    "next_due",
    "village__name",
    "school__name",
    "child_id",
    "child__name",
    "child__sex",
    "child__birth_date",
    "child__id_number_masked",
    "child__id_number_enc",
    "child__group__name",
)


def rows(
    user: Any, cases: QuerySet[Case], *, full_ids: bool, progress: Callable[[int], None] | None
) -> Iterator[list[Any]]:
    today = timezone.localdate()
    kinds = {k.value: str(k.label) for k in Case.Kind}
    statuses = {s.value: str(s.label) for s in Case.Status}
    sexes = {s.value: str(s.label) for s in Child.Sex}
    reasons_label = {k: str(v) for k, v in workflow.DROPOUT_REASONS.items()}
    results = {r.value: str(r.label) for r in ReturnAttempt.Result}
    document_kinds = {k.value: str(k.label) for k in EscalationDocument.Kind}
    placement_kinds = {k.value: str(k.label) for k in Placement.Kind}
    yes, overdue = _("是"), _("逾期")
    finished = set(Case.FINISHED)
    ids = list(cases.order_by("village_id", "child__name", "pk").values_list("pk", flat=True))
    n = 0
    for start in range(0, len(ids), CHUNK):
        chunk = ids[start : start + CHUNK]
        found = {r[0]: r for r in Case.objects.filter(pk__in=chunk).values_list(*_COLUMNS)}
        people: dict[int, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
        for case_id, line, name, phone in (
            Responsibility.objects.filter(case_id__in=chunk, ended_at=None)
            .order_by("case_id", "line", "level")
            .values_list("case_id", "line", "name", "phone")
        ):
            people[case_id][line].append(f"{name} {phone}".strip())
        attempts: dict[int, int] = defaultdict(int)
        last_result: dict[int, str] = {}
        for case_id, on, result in (
            ReturnAttempt.objects.filter(case_id__in=chunk)
            .order_by("case_id", "attempted_on", "id")
            .values_list("case_id", "attempted_on", "result")
        ):
            attempts[case_id] += 1
            last_result[case_id] = f"{on} {results.get(result, result)}"
        docs: dict[int, list[str]] = defaultdict(list)
        for case_id, kind, number in (
            EscalationDocument.objects.filter(case_id__in=chunk)
            .order_by("case_id", "issued_on", "id")
            .values_list("case_id", "kind", "number")
        ):
            docs[case_id].append(f"{document_kinds.get(kind, kind)}{number}")
        placed: dict[int, tuple[str, Any]] = {}
        for case_id, kind, on in (
            Placement.objects.filter(case_id__in=chunk)
            .order_by("case_id", "placed_on", "id")
            .values_list("case_id", "kind", "placed_on")
        ):
            placed[case_id] = (placement_kinds.get(kind, kind), on)
        guardians: dict[int, tuple[str, str]] = {}
        for child_id, name, phone in (
            Guardian.objects.filter(child_id__in=[r[11] for r in found.values()])
            .order_by("child_id", "-is_primary", "id")
            .values_list("child_id", "name", "phone")
        ):
            guardians.setdefault(child_id, (name, phone))
        for pk in chunk:
            r = found.get(pk)
            if r is None:
                continue
            n += 1
            (
                _pk,
                kind,
                status,
                began_on,
                reasons,
                key_group,
                opened_at,
                closed_at,
                next_due,
                village,
                school,
                child_id,
                name,
                sex,
                birth,
                masked,
                enc,
                group,
            ) = r
            guardian = guardians.get(child_id, ("", ""))
            placement = placed.get(pk)
            by_line = people.get(pk, {})
            yield [
                n,
                name,
                sexes.get(sex, ""),
                birth.isoformat() if birth else "",
                crypto.decrypt(enc) if full_ids and enc else masked,
                village or "",
                group or "",
                school or "",
                kinds.get(kind, kind),
                statuses.get(status, status),
                began_on.strftime("%Y-%m") if began_on else "",
                "、".join(reasons_label.get(x, x) for x in reasons or []),
                yes if key_group else "",
                guardian[0],
                guardian[1],
                "；".join(by_line.get(Responsibility.Line.GOVERNMENT, [])),
                "；".join(by_line.get(Responsibility.Line.EDUCATION, [])),
                attempts.get(pk, 0),
                last_result.get(pk, ""),
                "；".join(docs.get(pk, [])),
                placement[0] if placement else "",
                placement[1].isoformat() if placement else "",
                day_text(opened_at),
                day_text(closed_at),
                next_due.isoformat() if next_due else "",
                overdue
                if status not in finished and next_due is not None and next_due < today
                else "",
            ]
        if progress is not None:
            progress(min(start + CHUNK, len(ids)))


def write(
    user: Any,
    cases: QuerySet[Case],
    *,
    path: Path | None = None,
    full_ids: bool | None = None,
    progress: Callable[[int], None] | None = None,
) -> Path:
    """Write the ledger to `path` (a new temporary file when None) and return the path."""
    if full_ids is None:
        full_ids = can_reveal_id_number(user)
    if path is None:
        descriptor, name = tempfile.mkstemp(prefix="baoxue-ledger-", suffix=".xlsx")
        os.close(descriptor)
        path = Path(name)
    workbook = open_workbook(str(path), {"constant_memory": True})
    sheet = workbook.add_worksheet(_("辍学台账"))
    cells = CellWriter(workbook, sheet)
    bold = workbook.add_format({"bold": True, "bg_color": "#DDEBF7", "border": 1})
    text = workbook.add_format({"num_format": "@"})
    cells.text(0, 0, _("辍学台账（%(when)s 导出）") % {"when": minute_text(timezone.now())})
    columns = headers()
    for col, header in enumerate(columns):
        cells.text(1, col, header, bold)
    sheet.set_column(1, 1, 10)
    sheet.set_column(4, 4, 21, text)
    sheet.set_column(5, len(columns) - 1, 14)
    for row_number, row in enumerate(
        rows(user, cases, full_ids=full_ids, progress=progress), start=2
    ):
        cells.number(row_number, 0, row[0])
        for col in range(1, len(row)):
            value = row[col]
            if isinstance(value, int):
                cells.number(row_number, col, value)
            else:
                cells.text(row_number, col, value)  # ID numbers stay text
    sheet.freeze_panes(2, 2)
    workbook.close()
    return path
