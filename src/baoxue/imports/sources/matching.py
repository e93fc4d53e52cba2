"""Finding the registered student a list row names, for lists that describe students already
in the registry (资助名单, 考勤统计): they never create children.

The 学籍号 is the first key (it names an enrollment), the ID number's keyed hash the second;
the file's name must agree with the registry's. Everything is read in a few bulk queries per
5,000 rows. Shared by the subsidy and attendance sources (their apps declare them; imports
keeps what sources share).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from django.utils.translation import gettext as _

from baoxue.core import crypto, idnumbers
from baoxue.core.text import names_close
from baoxue.imports.pipeline import ImportContext
from baoxue.imports.sources.base import Field, Record, RowIssue, person_name
from baoxue.imports.sources.children import id_hash, id_parser
from baoxue.imports.sources.enrollment import parse_student_number
from baoxue.imports.sources.roster import ID_ALIASES
from baoxue.imports.values import CellError, clean_text, parse_int
from baoxue.registry.models import Child, Enrollment, School

CHUNK = 5000

NAME_FIELD = Field("name", "姓名", ("学生姓名",), person_name("姓名"), True, "吴俊辉")
ID_FIELD = Field("id_info", "身份证号", ID_ALIASES, id_parser, False, "450225201605020011")
NUMBER_FIELD = Field(
    "student_number",
    "学籍号",
    ("全国学籍号", "学籍编号", "学生学籍号"),
    parse_student_number,
    False,
    "G450225201605020011",
)

SCHOOL_NAME_FIELD = Field(
    "school_name",
    "学校名称",
    ("学校", "就读学校", "所在学校"),
    clean_text,
    False,
    "培秀苗族乡中心小学",
)
SCHOOL_CODE_FIELD = Field(
    "school_code", "学校标识码", ("学校代码", "学校识别码"), clean_text, False, "2145993101"
)


def parse_optional_grade(value: object) -> int | None:
    """The lists' 年级, which these imports only carry along (the 学籍 says the grade): a
    value that is not a compulsory grade (学前班, 高一) is no reason to refuse the row."""
    try:
        return parse_int(value, field_label="年级", minimum=1, maximum=9)
    except CellError:
        return None


GRADE_FIELD = Field(
    "grade", "年级", ("年级名称", "所在年级", "就读年级"), parse_optional_grade, False, "3"
)


def number_hashes(number: str) -> list[str]:
    """Keyed hashes a 学籍号 may be stored under: as written, and with the G/L/J prefix that
    lists copied from the ID column lack."""
    if not number:
        return []
    forms = [number]
    if number[:1].isdigit():
        forms += [prefix + number for prefix in "GLJ"]
    return [crypto.lookup_hash(f) for f in forms]


def identity_issues(record: Record) -> list[RowIssue]:
    """A row must carry a usable key: a valid ID number or a 学籍号."""
    v = record.values
    info: idnumbers.IdInfo | None = v.get("id_info")
    if v.get("student_number"):
        return []
    if info is None or info.status == idnumbers.IdStatus.EMPTY:
        return [
            RowIssue(
                record.row_number,
                "身份证号",
                "no_key",
                _("身份证号和学籍号至少要填一项，否则无法确定是哪名学生"),
            )
        ]
    if not info.is_valid:
        return [
            RowIssue(
                record.row_number,
                "身份证号",
                "id_invalid",
                _("身份证号无效，无法确定是哪名学生；请更正身份证号或填写学籍号"),
            )
        ]
    return []


def school_named(record: Record, ctx: ImportContext) -> tuple[School | None, RowIssue | None]:
    """The registered school a row names, if any; a name we do not know is a warning (the
    student's own enrollment says where they study), never a new school."""
    v = record.values
    code, name = v.get("school_code", ""), v.get("school_name", "")
    school = ctx.schools.by_code.get(code) if code else None
    if school is None and name:
        school = ctx.schools.by_name.get(name)
    if school is None and (code or name):
        return None, RowIssue(
            record.row_number,
            "学校",
            "school_unknown",
            _("学校“%(s)s”不在系统中，按学生的学籍学校记录") % {"s": name or code},
            "warning",
        )
    return school, None


@dataclass
class Found:
    child: Child
    # The enrollment at the preferred school if the child has one there, else the current one.
    enrollment: Enrollment | None


class StudentIndex:
    """Registered students for a batch of records, loaded in bulk."""

    def __init__(self, records: Iterable[Record]) -> None:
        records = list(records)
        id_hashes = sorted({h for r in records if (h := id_hash(r))})
        n_hashes = sorted(
            {h for r in records for h in number_hashes(r.values.get("student_number", ""))}
        )
        self.children_by_hash: dict[str, list[Child]] = {}
        for start in range(0, len(id_hashes), CHUNK):
            for child in Child.objects.filter(id_number_hash__in=id_hashes[start : start + CHUNK]):
                self.children_by_hash.setdefault(child.id_number_hash, []).append(child)
        self.children: dict[int, Child] = {
            c.pk: c for found in self.children_by_hash.values() for c in found
        }
        self.child_ids_by_number: dict[str, set[int]] = {}
        for start in range(0, len(n_hashes), CHUNK):
            for e in Enrollment.objects.filter(
                student_number_hash__in=n_hashes[start : start + CHUNK]
            ).select_related("child"):
                self.child_ids_by_number.setdefault(e.student_number_hash, set()).add(e.child_id)
                self.children.setdefault(e.child_id, e.child)
        self.enrollments: dict[int, list[Enrollment]] = {}
        ids = sorted(self.children)
        for start in range(0, len(ids), CHUNK):
            for e in Enrollment.objects.filter(child_id__in=ids[start : start + CHUNK]).order_by(
                "-is_current", "-entry_date", "-id"
            ):
                self.enrollments.setdefault(e.child_id, []).append(e)

    def find(self, record: Record, *, preferred_school: School | None) -> Found | RowIssue:
        """The student a row names, or why it cannot be told. The caller checks scope before
        `name_issue`, so that a mismatch never shows the name of someone out of scope."""
        v = record.values
        n = record.row_number
        by_number: set[int] = set()
        for h in number_hashes(v.get("student_number", "")):
            by_number |= self.child_ids_by_number.get(h, set())
        by_id = self.children_by_hash.get(id_hash(record), [])
        if len(by_id) > 1:
            return RowIssue(
                n,
                "身份证号",
                "id_shared",
                _("该身份证号在系统中已被 %(n)s 人使用，请先核实更正") % {"n": len(by_id)},
            )
        if len(by_number) > 1:
            return RowIssue(
                n,
                "学籍号",
                "number_shared",
                _("该学籍号在系统中属于 %(n)s 名学生，请先核实更正") % {"n": len(by_number)},
            )
        if by_number and by_id and by_id[0].pk not in by_number:
            return RowIssue(
                n,
                "学籍号",
                "number_other_child",
                _("学籍号与身份证号在系统中对应的不是同一名学生，请核实"),
            )
        if by_number:
            child = self.children[next(iter(by_number))]
            row_hash = id_hash(record)
            if row_hash and child.id_number_hash and child.id_number_hash != row_hash:
                return RowIssue(
                    n,
                    "身份证号",
                    "number_other_child",
                    _("学籍号对应的学生在系统中登记的身份证号与本行不同，请核实"),
                )
        elif by_id:
            child = by_id[0]
        else:
            return RowIssue(n, "姓名", "not_found", _("系统中没有这名学生，请先导入学籍"))
        return Found(child, self._enrollment(child, preferred_school))

    def _enrollment(self, child: Child, school: School | None) -> Enrollment | None:
        # Already ordered current first, then the latest.
        enrollments = self.enrollments.get(child.pk, [])
        if school is not None:
            for e in enrollments:
                if e.school_id == school.pk:
                    return e
        for e in enrollments:
            if e.is_current:
                return e
        return None


def not_our_student(record: Record, ctx: ImportContext) -> RowIssue:
    """What a school's user is told about a row that is not a current student of the school,
    whatever the reason (no such student, another school's, a former one, a number shared by
    two children): one message, so that the answer reveals nothing about children outside
    the school."""
    assert ctx.school is not None
    return RowIssue(
        record.row_number,
        "学校",
        "scope",
        _(
            "不是本校（%(s)s）在读学生，或系统中没有这名学生，未导入；"
            "请核对身份证号、学籍号，或先导入本校学籍"
        )
        % {"s": ctx.school.name},
    )


def find_student(
    index: StudentIndex, record: Record, ctx: ImportContext, school: School | None
) -> Found | RowIssue:
    """index.find, with a school user's answers made one (see not_our_student)."""
    found = index.find(record, preferred_school=school or ctx.school)
    if ctx.school is None:
        return found
    if isinstance(found, RowIssue) or found.child.current_school_id != ctx.school.pk:
        return not_our_student(record, ctx)
    return found


def out_of_scope(record: Record, ctx: ImportContext, child: Child) -> RowIssue | None:
    """A township office imports only its township's children, a village user only its
    villages'. (A school user's rows are its current students already: find_student.)"""
    n = record.row_number
    if ctx.school is not None:
        return None
    if child.township_id != ctx.township.pk:
        return RowIssue(
            n,
            "姓名",
            "scope",
            _("不是本乡镇（%(t)s）的学生，未导入") % {"t": ctx.township.name},
        )
    if ctx.village_ids is not None and child.village_id not in ctx.village_ids:
        return RowIssue(n, "姓名", "scope", _("不是本村的学生，未导入"))
    return None


def name_issue(record: Record, child: Child) -> RowIssue | None:
    """The row's name against the student's. Another spelling of the same name (the 学籍's
    龙遥 for the roster's 龙瑶: a homophone, one character off) is the same student: a
    warning, the row is imported (the 学籍 import keeps the difference as 信息不一致)."""
    name = record.values["name"]
    if name == child.name:
        return None
    if names_close(name, child.name):
        return RowIssue(
            record.row_number,
            "姓名",
            "name_variant",
            _("姓名与系统中登记的“%(name)s”写法不同（同音或一字之差），已按学籍号或身份证号导入")
            % {"name": child.name},
            "warning",
        )
    return RowIssue(
        record.row_number,
        "姓名",
        "name_mismatch",
        _("姓名与系统中登记的“%(name)s”不同，请核实") % {"name": child.name},
    )


def repeats_in_file(
    keyed: list[tuple[tuple[object, ...], Record]],
    meaning: Callable[[Record], object] | None = None,
) -> tuple[set[int], list[RowIssue]]:
    """Rows that land on the same target. A repeat is skipped with a warning; rows that
    disagree are all rejected (which one is right cannot be told). `meaning`: what a row
    says about its target (the same amount written 2025秋 or 2025年秋季学期 is a repeat);
    without it, rows repeat only cell for cell. Returns the row numbers to drop and the
    issues."""
    said = meaning or (lambda r: r.original)
    groups: dict[tuple[object, ...], list[Record]] = {}
    for key, record in keyed:
        groups.setdefault(key, []).append(record)
    dropped: set[int] = set()
    issues: list[RowIssue] = []
    for group in groups.values():
        if len(group) < 2:
            continue
        first = group[0]
        if all(said(r) == said(first) for r in group[1:]):
            for r in group[1:]:
                dropped.add(r.row_number)
                issues.append(
                    RowIssue(
                        r.row_number,
                        "",
                        "repeat",
                        _("与第 %(row)s 行是同一条记录，内容相同，已跳过")
                        % {"row": first.row_number},
                        "warning",
                    )
                )
            continue
        rows = "、".join(str(r.row_number) for r in group)
        for r in group:
            dropped.add(r.row_number)
            issues.append(
                RowIssue(
                    r.row_number,
                    "",
                    "duplicate",
                    _("第 %(rows)s 行是同一名学生的同一条记录，但内容不同，均未导入")
                    % {"rows": rows},
                )
            )
    return dropped, issues
