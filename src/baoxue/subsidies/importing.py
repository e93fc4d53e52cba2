"""资助名单: a programme's beneficiary list for a term, matched to registered students.

A list never creates children: a student the registry does not know is reported, since a
subsidy for someone not on the 学籍 is itself a finding. Each (student, programme, term) is
one row; importing the list again changes nothing, and a corrected amount updates it.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from typing import Any

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from baoxue.core.bulk import update_objects
from baoxue.core.services import log_action
from baoxue.imports.pipeline import ImportContext, Progress
from baoxue.imports.sources.base import (
    Action,
    Field,
    Planned,
    Record,
    RowIssue,
    flags_unsafe_text,
    required_text,
)
from baoxue.imports.sources.children import id_issues
from baoxue.imports.sources.matching import (
    CHUNK,
    GRADE_FIELD,
    ID_FIELD,
    NAME_FIELD,
    NUMBER_FIELD,
    SCHOOL_CODE_FIELD,
    SCHOOL_NAME_FIELD,
    StudentIndex,
    find_student,
    identity_issues,
    name_issue,
    not_our_student,
    out_of_scope,
    repeats_in_file,
    school_named,
)
from baoxue.imports.values import CellError, clean_text
from baoxue.registry.models import School
from baoxue.subsidies.models import Subsidy, SubsidyProgram, program_key
from baoxue.subsidies.terms import parse_term

_CENT = Decimal("0.01")
_MAX_AMOUNT = Decimal("100000000")  # the column holds 8 digits before the point
_AMOUNT_NOISE = re.compile(r"[\s元￥¥]|^RMB", re.IGNORECASE)
# Commas only as thousands separators: 1,250 and 12,500.50, not 625，750 (two amounts?), 1,25.
_THOUSANDS = re.compile(r"-?\d{1,3}(?:,\d{3})+(?:\.\d*)?")


def parse_amount(value: object) -> Decimal | None:
    """Yuan, to the fen: 625, 625.5, '1,250', '625元', '￥625.00'. Empty → None."""
    if value is None:
        return None
    shown = clean_text(value)
    if isinstance(value, bool):
        raise CellError(_("金额“%(value)s”不是数字") % {"value": shown})
    text = _AMOUNT_NOISE.sub("", shown)
    if not text:
        return None
    # A Chinese comma separates two things (625，750); an ASCII one may group thousands.
    if "," in text:
        if "，" in str(value) or not _THOUSANDS.fullmatch(text):
            raise CellError(
                _("金额“%(value)s”中的逗号位置不对（只能用作千位分隔，如 1,250），请核对")
                % {"value": shown}
            )
        text = text.replace(",", "")
    try:
        amount = Decimal(text)
    except InvalidOperation:
        raise CellError(_("金额“%(value)s”不是数字") % {"value": shown}) from None
    if not amount.is_finite():
        raise CellError(_("金额“%(value)s”不是数字") % {"value": shown})
    if amount < 0:
        raise CellError(_("金额“%(value)s”不能是负数") % {"value": shown})
    if amount >= _MAX_AMOUNT:
        raise CellError(_("金额“%(value)s”太大，请核对") % {"value": shown})
    if amount != amount.quantize(_CENT):
        raise CellError(_("金额“%(value)s”最多到分（两位小数）") % {"value": shown})
    return amount.quantize(_CENT)


class SubsidiesSource:
    code = "subsidies"
    label = gettext_lazy("资助名单")
    fields = [
        NAME_FIELD,
        ID_FIELD,
        NUMBER_FIELD,
        SCHOOL_NAME_FIELD,
        SCHOOL_CODE_FIELD,
        GRADE_FIELD,
        Field(
            "program",
            "资助项目",
            ("项目名称", "资助项目名称", "资助类型", "补助项目", "补助类型", "项目"),
            required_text("资助项目"),
            True,
            "家庭经济困难寄宿生生活补助",
        ),
        Field(
            "term",
            "学期",
            ("资助学期", "发放学期", "学年学期", "学年度学期"),
            parse_term,
            True,
            "2025秋",
            help="2025秋、2025年秋季学期、2025-2026学年第一学期",
        ),
        Field(
            "amount",
            "金额",
            ("资助金额", "补助金额", "发放金额", "金额（元）", "金额(元)", "补助标准"),
            parse_amount,
            False,
            "625",
        ),
    ]

    @flags_unsafe_text
    def check(self, record: Record, ctx: ImportContext) -> list[RowIssue]:
        return id_issues(record, "身份证号", stored=False) + identity_issues(record)

    def plan(
        self, records: list[Record], ctx: ImportContext
    ) -> tuple[list[Planned], list[RowIssue]]:
        issues: list[RowIssue] = []
        # By code, not name: name order depends on the database's collation.
        programs = list(SubsidyProgram.objects.order_by("code"))
        by_key = {key: p for p in programs for key in p.match_keys()}
        known = "、".join(p.name for p in programs)
        index = StudentIndex(records)
        matched: list[Record] = []
        for record in records:
            v = record.values
            program = by_key.get(program_key(v["program"]))
            if program is None:
                issues.append(
                    RowIssue(
                        record.row_number,
                        "资助项目",
                        "program_unknown",
                        _("无法识别的资助项目“%(p)s”，系统中的项目有：%(known)s")
                        % {"p": v["program"], "known": known},
                    )
                )
                continue
            school, warning = school_named(record, ctx)
            if warning is not None:
                issues.append(warning)
            if ctx.school is not None and school is not None and school.pk != ctx.school.pk:
                issues.append(not_our_student(record, ctx))
                continue
            found = find_student(index, record, ctx, school)
            if isinstance(found, RowIssue):
                issues.append(found)
                continue
            enrollment = found.enrollment
            # Where the subsidy was paid: the school the list names, else the student's.
            if school is not None:
                school_id: int | None = school.pk
            elif enrollment is not None:
                school_id = enrollment.school_id
            else:
                school_id = found.child.current_school_id
            problem = out_of_scope(record, ctx, found.child) or name_issue(record, found.child)
            if problem is not None:
                issues.append(problem)
                if problem.severity == "error":
                    continue
            if school is not None and enrollment is not None and enrollment.school_id != school.pk:
                issues.append(
                    RowIssue(
                        record.row_number,
                        "学校",
                        "school_differs",
                        _("名单上的学校与该学生在系统中的学籍学校不同，按名单上的学校记录"),
                        "warning",
                    )
                )
            v.update(child=found.child, enrollment=enrollment, program_obj=program)
            v["school_id"], v["school_named"] = school_id, school
            matched.append(record)

        dropped, repeats = repeats_in_file(
            [
                ((r.values["child"].pk, r.values["program_obj"].pk, r.values["term"]), r)
                for r in matched
            ],
            meaning=lambda r: (r.values.get("amount"), r.values["school_id"]),
        )
        issues.extend(repeats)
        matched = [r for r in matched if r.row_number not in dropped]

        existing = self._existing(matched)
        plan: list[Planned] = []
        for record in matched:
            v = record.values
            current = existing.get((v["child"].pk, v["program_obj"].pk, v["term"]))
            if current is None:
                plan.append(Planned(record, Action.CREATE))
                continue
            new = v.get("amount")
            changes: dict[str, tuple[Any, Any]] = {}
            # A blank amount says nothing about the amount: it never erases one.
            if new is not None and new != current.amount:
                changes["amount"] = (current.amount, new)
            # A newer list that names the school corrects it; one that names none keeps it.
            named: School | None = v["school_named"]
            if named is not None and named.pk != current.school_id:
                old = current.school.name if current.school is not None else ""
                changes["school"] = (old, named.name)
            action = Action.UPDATE if changes else Action.UNCHANGED
            plan.append(Planned(record, action, current, changes))
        return plan, issues

    @staticmethod
    def _existing(records: list[Record]) -> dict[tuple[int, int, str], Subsidy]:
        child_ids = sorted({r.values["child"].pk for r in records})
        terms = sorted({r.values["term"] for r in records})
        found: dict[tuple[int, int, str], Subsidy] = {}
        for start in range(0, len(child_ids), CHUNK):
            for s in Subsidy.objects.filter(
                child_id__in=child_ids[start : start + CHUNK], term__in=terms
            ).select_related("school"):
                found[(s.child_id, s.program_id, s.term)] = s
        return found

    def commit(self, plan: list[Planned], ctx: ImportContext, progress: Progress) -> None:
        # The pipeline's context may carry the batch being committed (see the module note in
        # the report); without one the rows simply have no batch.
        batch_id: Any = ctx.batch_id
        created = [
            Subsidy(
                child=v["child"],
                enrollment=v["enrollment"],
                program=v["program_obj"],
                term=v["term"],
                amount=v.get("amount"),
                school_id=v["school_id"],
                source_batch_id=batch_id,
            )
            for p in plan
            if p.action == Action.CREATE
            for v in [p.record.values]
        ]
        Subsidy.objects.bulk_create(created, batch_size=1000)
        progress("commit", len(created), len(plan))
        updated: list[Subsidy] = []
        for p in plan:
            if p.action != Action.UPDATE:
                continue
            subsidy: Subsidy = p.target
            v = p.record.values
            if "amount" in p.changes:
                subsidy.amount = p.changes["amount"][1]
            if "school" in p.changes:
                subsidy.school_id, subsidy.enrollment = v["school_id"], v["enrollment"]
            subsidy.source_batch_id = batch_id or subsidy.source_batch_id
            updated.append(subsidy)
        update_objects(updated, ["amount", "school", "enrollment", "source_batch_id"])
        log_action(
            actor=ctx.actor,
            action="import.subsidies_committed",
            obj=ctx.township,
            data={
                "created": len(created),
                "updated": len(updated),
                "unchanged": sum(1 for p in plan if p.action == Action.UNCHANGED),
            },
        )
        progress("commit", len(plan), len(plan))
