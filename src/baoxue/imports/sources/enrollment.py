"""学籍: a school's (or many schools') student-status export, in the national system's columns.

A newer export updates what changed and records the 学籍异动 it implies (休学, 复学, 转出, 毕业,
死亡, a move to another school); child details from the 学籍 only fill blanks in the registry,
since the 户籍 side is the authority on who a child is.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import date
from typing import Any

from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from baoxue.accounts.actors import signed_in
from baoxue.core import crypto, idnumbers
from baoxue.core.bulk import (
    BackgroundWrites,
    RowWriter,
    filter_in,
    indexes_deferred,
    update_objects,
    update_rows,
    write_all,
)
from baoxue.core.policy import cutoff_date
from baoxue.core.services import log_action
from baoxue.core.text import names_close
from baoxue.imports.places import PLACEHOLDER_KEY
from baoxue.imports.sources.base import (
    Action,
    Field,
    Planned,
    Record,
    RowIssue,
    flags_unsafe_text,
    guess_school_kind,
    person_name,
)
from baoxue.imports.sources.children import (
    CLAIM,
    GUARDIAN_COLUMNS,
    ITEMS,
    READ_BY_ENROLLMENT,
    VARIANTS,
    ChildIndex,
    child_defaults,
    duplicates_in_file,
    give_id_number,
    guardian_change,
    guardian_issues,
    guardian_values,
    id_hash,
    id_issues,
    id_parser,
    known_guardians,
    may_take_number,
    new_child_values,
    parse_left_behind,
    place_columns_of,
    plan_discrepancies,
    relation_of,
    row_content,
    row_items,
    save_guardians,
    write_discrepancies,
)
from baoxue.imports.sources.disability import parse_category
from baoxue.imports.sources.roster import ID_ALIASES
from baoxue.imports.values import (
    CellError,
    clean_text,
    number_cell_text,
    parse_bool,
    parse_date,
    parse_int,
    parse_sex,
)
from baoxue.registry.counts import counts_mark_stale
from baoxue.registry.models import (
    Child,
    Discrepancy,
    DocumentType,
    Enrollment,
    EnrollmentEvent,
    Guardian,
    School,
)
from baoxue.registry.services import (
    CHILD_COLUMNS,
    ENDED_STATUSES,
    ID_FIELDS,
    SCHOOL_VALUE_COLUMNS,
    STUDENT_NUMBER_COLUMNS,
    refresh_school_status_bulk,
    school_values,
    student_number_values,
)

# The columns of the rows a commit writes (core.bulk.RowWriter(columns=...)), beside
# registry.services' CHILD_COLUMNS and SCHOOL_VALUE_COLUMNS: a new child's flags from the file,
# a new enrollment and an event.
_FLAGS = (
    "left_behind",
    "has_disability",
    "is_orphan",
    "is_migrant",
    "disability_category",
    "document_type",
    "document_number_enc",
    "document_number_masked",
)
_ENROLLMENT_COLUMNS = (
    "id",
    "child_id",
    "school_id",
    "grade",
    "class_name",
    "is_boarding",
    "status",
    "entry_date",
    "is_current",
    "import_fingerprint",
    "with_class",
    "auxiliary_number",
    "class_number",
    *STUDENT_NUMBER_COLUMNS,
)
_NEW_CHILD_COLUMNS = ("id", *CHILD_COLUMNS, *_FLAGS, *SCHOOL_VALUE_COLUMNS)


_EVENT_COLUMNS = (
    "enrollment_id",
    "kind",
    "date",
    "other_school_id",
    "other_school_name",
    "created_by_id",
    "reference",
    "reason",
)

_STATUS_WORDS = {
    "在读": "01",
    "在校": "01",
    "正常": "01",
    "休学": "02",
    "退学": "03",
    "停学": "04",
    "复学": "05",
    "流失": "06",
    "辍学": "06",
    "毕业": "07",
    "结业": "08",
    "肄业": "09",
    "转出": "10",
    "转学": "10",
    "转学转出": "10",
    "死亡": "11",
    "保留入学资格": "12",
    "公派出国": "13",
    "出国": "13",
    "开除": "14",
    "下落不明": "15",
    "其他": "99",
}

# How a status change reads as a 学籍异动.
_EVENT_FOR_STATUS = {
    "02": EnrollmentEvent.Kind.SUSPENSION,
    "05": EnrollmentEvent.Kind.RESUMPTION,
    "07": EnrollmentEvent.Kind.GRADUATION,
    "10": EnrollmentEvent.Kind.TRANSFER_OUT,
    "11": EnrollmentEvent.Kind.DEATH,
}


def _promoted(old: Enrollment, new_school: School, new_grade: int) -> bool:
    """A move from a primary school's last grade to the first grade of a junior school:
    the primary-to-junior hand-over (小升初), not a transfer."""
    return (
        old.school.highest_grade == 6
        and old.grade == 6
        and new_grade == 7
        and new_school.lowest_grade == 7
    )


def parse_status(value: object) -> str:
    text = clean_text(value)
    if not text:
        return "01"
    if text.isdigit() and text.zfill(2) in Enrollment.Status.values:
        return text.zfill(2)
    for word, code in _STATUS_WORDS.items():
        if text == word or text.startswith(word):
            return code
    raise CellError(
        _("无法识别的学籍状态“%(text)s”，可填：在读、休学、复学、转出、毕业、死亡等")
        % {"text": text}
    )


def parse_grade(value: object) -> int | None:
    """A grade (三年级, 初一, 7); empty → None: the row's 班级 or 入学年月 may tell it."""
    return parse_int(value, field_label="年级", minimum=1, maximum=9)


_RE_COHORT = re.compile(r"((?:19|20)[0-9]{2})级")


def grade_in_class(text: str) -> tuple[int | None, int | None]:
    """What a 班级 says of the grade: (grade, None) for 一年级(1)班, 七年级3班, 初一(2)班;
    (None, year) for 2024级1班 (the year the class began, whose grade depends on the school's
    first grade and the school year); (None, None) for 1班."""
    text = clean_text(text).replace(" ", "")
    if not text:
        return None, None
    cohort = _RE_COHORT.match(text)
    if cohort:
        return None, int(cohort[1])
    for end in range(len(text), 1, -1):  # 三年级(2)班, 三年级, 初一(2)班 …
        try:
            grade = parse_int(text[:end], field_label="年级", minimum=1, maximum=9)
        except CellError:
            continue
        if grade is not None and not text[:end].isdigit():
            return grade, None
    return None, None


_DOCUMENT_WORDS = (
    ("居住证", DocumentType.HMT_RESIDENCE),
    ("通行证", DocumentType.HMT_PERMIT),
    ("护照", DocumentType.PASSPORT),
)


def parse_document_type(value: object) -> str:
    """身份证件类型: '' for the 居民身份证 (and a blank cell), else a DocumentType."""
    text = clean_text(value)
    if not text or text in {"居民身份证", "身份证", "居民身份证号", "1", "01"}:
        return ""
    for word, kind in _DOCUMENT_WORDS:
        if word in text:
            return str(kind)
    return str(DocumentType.OTHER)


def _keep_as_document(v: dict[str, Any]) -> None:
    """A number on a row whose document is not a 居民身份证: kept as that document's, not
    checked (nor counted, nor matched) as an ID number."""
    info = v.get("id_info")
    number = (info.normalized or info.raw) if info is not None else ""
    v["document_type"] = v["id_type"]
    if number:
        v["document_number_enc"] = crypto.encrypt(number)
        v["document_number_masked"] = idnumbers.mask(number)
    v["id_info"] = idnumbers.parse("")


_NO_DISABILITY = {"无", "无残疾", "否", "非残疾", "正常", "0", "00"}


def parse_disability_kind(value: object) -> str:
    """残疾类型 (视力残疾, 听力残疾 …) as the registry's category; '' for none."""
    text = clean_text(value)
    if not text or text in _NO_DISABILITY:
        return ""
    return parse_category(text)


def parse_with_class(value: object) -> bool | None:
    text = clean_text(value)
    if text in {"随班就读", "是随班就读"}:
        return True
    if text in {"非随班就读", "不是随班就读"}:
        return False
    return parse_bool(value, field_label="随班就读")


def _fills(child: Child, v: dict[str, Any]) -> dict[str, tuple[Any, Any]]:
    """What the 学籍 adds to a registered child that lacks it (it only fills blanks): the
    disability its 残疾类型 names, and, for a child without an ID number, the other document
    its row gives."""
    found: dict[str, tuple[Any, Any]] = {}
    if v.get("disability_category") and not child.has_disability:
        found["disability"] = ("", v["disability_category"])
    if v.get("document_type") and not child.document_type and not child.id_number_hash:
        found["document"] = ("", v.get("document_number_masked", ""))
    return found


MEMBERS = 4
_PARENTS = (Guardian.Relation.FATHER, Guardian.Relation.MOTHER)


def _guardian_from_members(v: dict[str, Any]) -> None:
    """The guardian among the family members: the one marked 是否监护人, else the first
    parent, else the first member named; the 联系电话 of that member is the guardian's (the
    row's own 联系电话, without a 监护人 column, is the household's)."""
    members = []
    for n in range(1, MEMBERS + 1):
        name = v.get(f"member{n}_name", "")
        if name:
            relation = relation_of(v.get(f"member{n}_relation", ""))
            info = v.get(f"member{n}_id")
            number = info.value if info is not None and info.is_valid else ""
            members.append(
                (
                    name,
                    relation,
                    v.get(f"member{n}_phone", ""),
                    v.get(f"member{n}_guardian"),
                    number,
                )
            )
    if not members:
        return
    chosen = (
        next((m for m in members if m[3]), None)
        or next((m for m in members if m[1] in _PARENTS), None)
        or members[0]
    )
    v["guardian_name"], v["guardian_relation"] = chosen[0], chosen[1]
    v["guardian_phone"] = chosen[2] or v.get("guardian_phone", "")
    v["guardian_id"] = chosen[4]  # only a valid number: a guardian is not checked row by row


def _first_grade(school_name: str) -> int:
    """A school not registered yet: its first grade by its name (中学: 7)."""
    return 7 if guess_school_kind(school_name) == "junior" else 1


def grade_from_year(first_grade: int, began: int, today: date) -> int | None:
    """The grade now of a class that began in the school year `began` at `first_grade`."""
    grade = first_grade + cutoff_date(today).year - began
    return grade if 1 <= grade <= 9 else None


def parse_boarding(value: object) -> bool | None:
    text = clean_text(value)
    if text in {"走读", "非住校"}:
        return False
    if text in {"住校", "寄宿", "寄宿生"}:
        return True
    return parse_bool(value, field_label="是否住校")


def parse_student_number(value: object) -> str:
    text = idnumbers.normalize(number_cell_text(value, student_number=True)).upper()
    if text and not (text[0] in "GLJ" or text.isdigit()):
        raise CellError(_("学籍号“%(text)s”格式不对，应为 G 加身份证号") % {"text": text})
    return text


def _child_of(p: Planned) -> Child | None:
    child: Child | None = p.record.values.get("child")
    return child


def _text_of(limit: int, label: str) -> Callable[[object], str]:
    """A short code kept as text (学籍辅号, 班内学号): a number cell loses nothing, a longer one
    than the registry keeps is refused, not cut."""

    def parse(value: object) -> str:
        text = number_cell_text(value) if isinstance(value, int | float) else clean_text(value)
        if len(text) > limit:
            raise CellError(
                _("%(label)s“%(text)s”太长（超过 %(n)s 个字符）")
                % {"label": label, "text": text, "n": limit}
            )
        return text

    return parse


def _flag(label: str) -> Callable[[object], bool | None]:
    return lambda value: parse_bool(value, field_label=label)


@dataclass(slots=True)
class _Registered:
    """What a plan reads of the registry once for all its rows (EnrollmentSource._registered)."""

    # 学籍号 hash → every enrollment with that number, ended ones too.
    with_number: dict[str, list[Enrollment]]
    # Row number → the enrollment the row's 学籍号 finds to update (EnrollmentSource._by_number).
    by_number: dict[int, Enrollment]
    # (child, school) → the child's current 学籍 there, for rows the number found none for.
    current: dict[tuple[int, int], Enrollment]
    # Child → its current 学籍 at every school.
    elsewhere: dict[int, list[Enrollment]]
    # Child → its guardians, name → phone.
    guardians: dict[int, dict[str, str]]


@dataclass(slots=True)
class _Rows:
    """The row writers of one commit, and who and when its 学籍异动 are recorded by and on."""

    children: RowWriter
    enrollments: RowWriter
    events: RowWriter
    guardians: RowWriter
    actor_id: int | None
    today: date

    def event(self, enrollment_id: int, kind: str, date: Any, other: Any, reason: str) -> None:
        """A 学籍异动 of an enrollment, `other` the school it moved from or to."""
        self.events.add(
            (
                enrollment_id,
                kind,
                date,
                None if other is None else other.pk,
                "" if other is None else other.name,
                self.actor_id,
                "",
                reason,
            )
        )

    def enrollment(
        self, v: dict[str, Any], enrollment_id: int, child_id: int, school_id: int, entry: Any
    ) -> None:
        """A new current 学籍 from a row's values."""
        self.enrollments.add(
            (
                enrollment_id,
                child_id,
                school_id,
                v["grade"],
                v.get("class_name", ""),
                bool(v.get("is_boarding")),
                v.get("status") or "01",
                entry,
                True,
                v.get("fingerprint", ""),
                bool(v.get("with_class")),
                v.get("auxiliary_number", ""),
                v.get("class_number", ""),
                *student_number_values(
                    v.get("student_number", ""),
                    # A record claiming another child's number claims its 学籍号 too:
                    # kept, no key (the number finds the registered child's 学籍).
                    hashed="" if CLAIM in v else v.get("_number_hash"),
                ),
            )
        )


class EnrollmentSource:
    code = "enrollment"
    label = gettext_lazy("学籍名册")
    fields = [
        Field("name", "姓名", ("学生姓名",), person_name("姓名"), True, "吴俊辉"),
        Field(
            "id_info",
            "身份证件号",
            ("身份证号", *ID_ALIASES),
            id_parser,
            False,
            "450225201605020011",
        ),
        Field(
            "id_type",
            "身份证件类型",
            ("证件类型", "身份证类型"),
            parse_document_type,
            False,
            "居民身份证",
        ),
        Field(
            "student_number",
            "学籍号",
            ("全国学籍号", "学籍编号", "学生学籍号"),
            parse_student_number,
            False,
            "G450225201605020011",
        ),
        Field("sex", "性别", (), parse_sex, False, "男"),
        Field(
            "birth_date", "出生日期", ("出生年月", "出生年月日"), parse_date, False, "2016-05-02"
        ),
        Field("ethnicity", "民族", (), clean_text, False, "苗族"),
        Field(
            "school_code", "学校标识码", ("学校代码", "学校识别码"), clean_text, False, "2145993101"
        ),
        Field(
            "school_name",
            "学校名称",
            ("学校", "就读学校", "所在学校"),
            clean_text,
            False,
            "培秀苗族乡中心小学",
        ),
        # Required unless the 班级 (一年级(1)班, 初一(2)班, 2024级1班) or the 入学年月 tells it.
        Field(
            "grade",
            "年级",
            ("年级名称", "所在年级", "就读年级"),
            parse_grade,
            False,
            "3",
            required_unless=("class_name", "entry_date"),
        ),
        Field("class_name", "班级", ("班级名称", "班号", "所在班级"), clean_text, False, "1班"),
        Field(
            "entry_date",
            "入学年月",
            ("入学日期", "入学时间", "入校年月"),
            parse_date,
            False,
            "2023-09",
        ),
        Field(
            "status",
            "学生当前状态",
            ("学籍状态", "当前状态", "在校状态", "学生状态"),
            parse_status,
            False,
            "在读",
        ),
        Field(
            "is_boarding",
            "是否住校",
            ("就读方式", "是否寄宿", "寄宿生", "是否寄宿生"),
            parse_boarding,
            False,
            "走读",
        ),
        Field("village", "村", ("户籍村", "行政村", "所属村"), clean_text, False, "乌岭村"),
        Field("group", "组/屯", ("屯", "组", "自然屯"), clean_text, False, "上寨屯"),
        Field(
            "household_address",
            "户口所在地",
            (
                "户籍所在地",
                "户口地址",
                "户口所在地详细地址",
                "户口详细地址",
                "家庭住址",
                "现住址",
                "家庭地址",
            ),
            clean_text,
            False,
            "广西融水县培秀乡乌岭村上寨屯",
        ),
        Field(
            "left_behind",
            "是否留守儿童",
            ("留守儿童", "留守情况"),
            parse_left_behind,
            False,
            "非留守儿童",
        ),
        Field(
            "has_disability", "是否残疾人", ("是否残疾", "残疾"), _flag("是否残疾人"), False, "否"
        ),
        Field(
            "disability_kind",
            "残疾类型",
            ("残疾类别",),
            parse_disability_kind,
            False,
            "无残疾",
        ),
        Field("with_class", "随班就读", ("是否随班就读",), parse_with_class, False, "否"),
        Field(
            "auxiliary_number",
            "学籍辅号",
            ("学籍辅助号",),
            _text_of(32, "学籍辅号"),
            False,
            "",
            in_template=False,
        ),
        Field(
            "class_number",
            "班内学号",
            ("班内序号",),
            _text_of(16, "班内学号"),
            False,
            "",
            in_template=False,
        ),
        Field("is_orphan", "是否孤儿", ("孤儿",), _flag("是否孤儿"), False, "否"),
        Field(
            "is_migrant",
            "是否进城务工人员随迁子女",
            ("是否随迁子女", "随迁子女"),
            _flag("是否随迁子女"),
            False,
            "否",
        ),
        Field("guardian_name", "监护人姓名", ("监护人", "家长姓名"), clean_text, False, "吴老大"),
        Field(
            "guardian_phone",
            "监护人联系电话",
            ("监护人电话", "联系电话", "家长电话"),
            clean_text,
            False,
            "13800000001",
        ),
        # The national template's family members (成员1姓名 … 成员2职务; some exports write
        # 家庭成员1姓名): the one marked 监护人, else the first parent, is the guardian.
        *(
            member
            for n in range(1, MEMBERS + 1)
            for member in (
                Field(
                    f"member{n}_name",
                    f"成员{n}姓名",
                    (f"家庭成员{n}姓名",),
                    clean_text,
                    in_template=False,
                ),
                Field(
                    f"member{n}_relation",
                    f"成员{n}关系",
                    (f"家庭成员{n}关系",),
                    clean_text,
                    in_template=False,
                ),
                Field(
                    f"member{n}_phone",
                    f"成员{n}联系电话",
                    (f"家庭成员{n}联系电话", f"成员{n}电话", f"家庭成员{n}电话"),
                    clean_text,
                    in_template=False,
                ),
                Field(
                    f"member{n}_id",
                    f"成员{n}身份证件号",
                    (f"家庭成员{n}身份证件号", f"成员{n}身份证号", f"家庭成员{n}身份证号"),
                    id_parser,
                    in_template=False,
                ),
                Field(
                    f"member{n}_guardian",
                    f"成员{n}是否监护人",
                    (f"家庭成员{n}是否监护人",),
                    _flag(f"成员{n}是否监护人"),
                    in_template=False,
                ),
            )
        ),
    ]

    @flags_unsafe_text
    def check(self, record: Record, ctx: Any) -> list[RowIssue]:
        v = record.values
        if not v.get("guardian_name"):
            _guardian_from_members(v)
        if v.get("id_type"):
            _keep_as_document(v)
        kind = v.get("disability_kind")
        if kind:
            v["has_disability"], v["disability_category"] = True, kind
        issues = id_issues(record, "身份证件号") + guardian_issues(
            record, "监护人姓名", "监护人联系电话"
        )
        number = v.get("student_number", "")
        info = v.get("id_info")
        if (
            number
            and number[:1] in "GLJ"
            and info is not None
            and info.is_valid
            and number[1:] != info.value
        ):
            issues.append(
                RowIssue(
                    record.row_number,
                    "学籍号",
                    "number_mismatch",
                    _("学籍号与身份证号不一致，请核实"),
                    "warning",
                )
            )
        if (
            not v.get("school_code")
            and not v.get("school_name")
            and ctx.school is None
            and ctx.default_school is None
        ):
            issues.append(
                RowIssue(record.row_number, "学校名称", "school", _("缺少学校名称或学校标识码"))
            )
        if v.get("grade") is None:
            issues += self._grade_elsewhere(record, ctx)
        return issues

    @staticmethod
    def _grade_elsewhere(record: Record, ctx: Any) -> list[RowIssue]:
        """No 年级: from the 班级 (一年级(1)班, 初一(2)班) here, or the year the class or the
        pupil began (2024级1班, 入学年月) once the school is known (plan); counted for the
        preview, which says how the grades were found."""
        v = record.values
        grade, began = grade_in_class(v.get("class_name", ""))
        how = ctx.notes.setdefault("grade_from", {})
        if grade is not None:
            v["grade"] = grade
            how["class"] = how.get("class", 0) + 1
            return []
        entry = v.get("entry_date")
        if began is None and entry is not None:
            began = cutoff_date(entry).year
        if began is None:
            return [
                RowIssue(
                    record.row_number,
                    "年级",
                    "required",
                    _("年级不能为空（班级、入学年月也看不出年级）"),
                )
            ]
        v["_grade_began"] = began
        key = "cohort" if entry is None or _RE_COHORT.match(v.get("class_name", "")) else "entry"
        how[key] = how.get(key, 0) + 1
        return []

    def plan(self, records: list[Record], ctx: Any) -> tuple[list[Planned], list[RowIssue]]:
        """What committing the rows does: a new or updated 学籍 a row, and the rows refused."""
        issues = duplicates_in_file(records, {f.name: f.label for f in self.fields})
        keep = self._placed(records, ctx, issues)
        index = ChildIndex(keep, ctx.township, only=READ_BY_ENROLLMENT)
        registered = self._registered(keep, index, ctx)
        plan: list[Planned] = []
        for record in keep:
            row_plan = self._plan_row(record, registered, index, ctx, issues)
            if row_plan is not None:
                plan.append(row_plan)
        plan, same = self._one_row_each(plan)
        issues += same
        issues += self._one_number_each(plan)
        plan_discrepancies(plan, ctx, Discrepancy.Source.ENROLLMENT, index, child_of=_child_of)
        planned = {p.record.row_number for p in plan}
        not_planned = [r.values for r in records if r.row_number not in planned]
        self._absent_from_list(plan, keep, ctx, named=not_planned + ctx.rejected_values)
        self._stale_fingerprints(plan, ctx)
        return plan, issues

    def _placed(self, records: list[Record], ctx: Any, issues: list[RowIssue]) -> list[Record]:
        """The rows to plan, each given its school and place keys; the others refused."""
        places, schools = ctx.places, ctx.schools
        keep: list[Record] = []
        # A file names a few dozen schools and a few hundred places, 100,000 times over:
        # each distinct spelling is resolved once.
        school_refs: dict[tuple[str, str], tuple[str, School | None]] = {}
        place_refs: dict[tuple[str, str, str], tuple[str, str]] = {}
        for record in records:
            v = record.values
            if v.get("reject") or v.get("skip"):
                continue
            spelling = (v.get("school_code", ""), v.get("school_name", ""))
            found = school_refs.get(spelling)
            if found is None:
                key = schools.ref(code=spelling[0], name=spelling[1])
                own = ctx.school or ctx.default_school
                if not key and own is not None:
                    key = schools.ref(code=own.code, name=own.name)
                found = school_refs[spelling] = (key, schools.peek(key))
            key, school = found
            refused = self._refused(record, spelling, school, ctx)
            if refused is not None:
                issues.append(refused)
                continue
            v["school_key"] = key
            village = v.get("village", "")
            where = (village, v.get("group", ""), "" if village else v.get("household_address", ""))
            refs = place_refs.get(where)
            if refs is None:
                if village:
                    vk = places.village_ref(village)
                    refs = (vk, places.group_ref(vk, where[1]))
                else:
                    vk, group = places.find_in_address(where[2])
                    refs = (vk, places.group_ref(vk, group) if vk else "")
                place_refs[where] = refs
            v["village_key"], v["group_key"] = refs
            keep.append(record)
        return keep

    def _refused(
        self, record: Record, spelling: tuple[str, str], school: School | None, ctx: Any
    ) -> RowIssue | None:
        """Why a row is not planned (no grade, not this school's, a grade it lacks), or None."""
        v = record.values
        if v.get("grade") is None:
            # A grade from the year the class began: the school's first grade then.
            first = school.lowest_grade if school is not None else _first_grade(spelling[1])
            v["grade"] = grade_from_year(first, v.pop("_grade_began"), ctx.today)
            if v["grade"] is None:
                return RowIssue(
                    record.row_number,
                    "年级",
                    "grade",
                    _("从班级或入学年月推算不出在读年级，请填写年级"),
                )
        if ctx.school is not None and (school is None or school.pk != ctx.school.pk):
            return self._not_own_school(
                record.row_number, spelling, school, ctx.school, self._also_theirs(ctx)
            )
        if school is not None and not school.lowest_grade <= v["grade"] <= school.highest_grade:
            return RowIssue(
                record.row_number,
                "年级",
                "grade",
                _("%(s)s 没有 %(g)s 年级") % {"s": school.name, "g": v["grade"]},
            )
        return None

    def _registered(self, keep: list[Record], index: ChildIndex, ctx: Any) -> _Registered:
        """What the registry holds of the rows' students, each enrollment and child read once."""
        for r in keep:
            n = r.values.get("student_number")
            r.values["_number_hash"] = crypto.lookup_hash(n) if n else ""
        # One instance per enrollment (found by 学籍号 and as a matched child's current one),
        # without its child or school joined in: a newer export of 100,000 students loads
        # each of them once.
        loaded: dict[int, Enrollment] = {}
        read = [
            f.name
            for f in Enrollment._meta.concrete_fields
            # updated_at is set, not read, by the commit: its conversion (a timezone-aware
            # datetime a row) is the dearest of all the columns.
            if f.name
            not in ("public_id", "student_number_enc", "student_number_masked", "updated_at")
        ]
        with_number = self._with_numbers(keep, loaded, read)
        by_number: dict[int, Enrollment] = {}
        for r in keep:
            chosen = self._by_number(with_number.get(r.values["_number_hash"], ()), r, ctx)
            if chosen is not None:
                by_number[r.row_number] = chosen
        matched = [c.pk for c in index.children()]
        current, elsewhere = self._current_enrollments(
            keep, index, with_number, by_number, loaded, read
        )
        missing = self._join_children_and_schools(loaded, index)
        # The guardians of every child a row may update (matched, or found by its 学籍号).
        guardians = (
            known_guardians([*matched, *missing])
            if any(r.values.get("guardian_name") for r in keep)
            else {}
        )
        return _Registered(with_number, by_number, current, elsewhere, guardians)

    @staticmethod
    def _with_numbers(
        keep: list[Record], loaded: dict[int, Enrollment], read: list[str]
    ) -> dict[str, list[Enrollment]]:
        """The enrollments with each row's 学籍号, by its keyed hash."""
        numbers = sorted({h for r in keep if (h := r.values["_number_hash"])})
        # Every enrollment with a row's 学籍号, ended ones too: the number stays with the child
        # for life (a primary school's graduate keeps it at the junior school).
        with_number: dict[str, list[Enrollment]] = {}
        # The exclude repeats the partial index's condition, so SQLite uses the index.
        for e in filter_in(
            Enrollment.objects.all().exclude(student_number_hash=""),
            "student_number_hash",
            numbers,
            fields=read,
        ):
            with_number.setdefault(e.student_number_hash, []).append(loaded.setdefault(e.pk, e))
        return with_number

    @staticmethod
    def _current_enrollments(
        keep: list[Record],
        index: ChildIndex,
        with_number: dict[str, list[Enrollment]],
        by_number: dict[int, Enrollment],
        loaded: dict[int, Enrollment],
        read: list[str],
    ) -> tuple[dict[tuple[int, int], Enrollment], dict[int, list[Enrollment]]]:
        """The current 学籍 rows may update without a 学籍号: by (child, school), and by child."""
        # Current enrollments of the matched children of rows whose 学籍号 found none to update
        # (a newer export finds every row by its number: nothing to read here), and of the
        # children a number found only in an ended enrollment or, for a school's user, at
        # another school.
        # (Records claiming a number have none of their own, as those found by name.)
        unnumbered = {c.pk for cs in index.by_name.values() for c in cs} | {
            c.pk for cs in index.by_claim.values() for c in cs
        }
        for r in keep:
            if r.row_number not in by_number:
                unnumbered.update(c.pk for c in index.by_hash.get(id_hash(r), ()))
                unnumbered.update(e.child_id for e in with_number.get(r.values["_number_hash"], ()))
        current: dict[tuple[int, int], Enrollment] = {}
        elsewhere: dict[int, list[Enrollment]] = {}
        for e in filter_in(
            Enrollment.objects.all().filter(is_current=True).exclude(status__in=ENDED_STATUSES),
            "child_id",
            sorted(unnumbered),
            fields=read,
        ):
            e = loaded.setdefault(e.pk, e)
            current.setdefault((e.child_id, e.school_id), e)
            elsewhere.setdefault(e.child_id, []).append(e)
        return current, elsewhere

    @staticmethod
    def _join_children_and_schools(loaded: dict[int, Enrollment], index: ChildIndex) -> list[int]:
        """The loaded enrollments given their children and schools; returns the children read."""
        # Their children (those the index did not load) and schools, once each.
        children = {c.pk: c for c in index.children()}
        missing = sorted({e.child_id for e in loaded.values()} - children.keys())
        for c in filter_in(Child.objects.all(), "id", missing, fields=READ_BY_ENROLLMENT):
            children[c.pk] = c
        school_ids = {e.school_id for e in loaded.values()}
        schools_by_id = School.objects.in_bulk(school_ids) if school_ids else {}
        for e in loaded.values():
            # Into the relation cache directly: the same as `e.child = …` for a child whose
            # id the enrollment holds, without the descriptor's checks (200,000 of them).
            cache = e._state.fields_cache
            cache["child"] = children[e.child_id]
            cache["school"] = schools_by_id[e.school_id]
        return missing

    def _plan_row(
        self,
        record: Record,
        registered: _Registered,
        index: ChildIndex,
        ctx: Any,
        issues: list[RowIssue],
    ) -> Planned | None:
        """One row's plan: a new 学籍, or the update of the one it finds; None if refused."""
        v = record.values
        # A row that names no village made its child in the placeholder village: it is
        # looked for there (a row without a valid ID number is matched by name, birth date
        # and village), else the same file imported again would make the child again.
        village = ctx.places.villages.get(v["village_key"] or PLACEHOLDER_KEY)
        existing = registered.by_number.get(record.row_number)
        numbered = registered.with_number.get(v["_number_hash"], []) if v["_number_hash"] else []
        child, problem = index.find(record, village, reveal=ctx.may_quote)
        if CLAIM in v or (
            child is not None
            and existing is not None
            and existing.child_id != child.pk
            and not self._earlier_record(existing, child, record)
        ):
            # A 学籍号 is G and the ID number: it does not bear out a number the row's
            # name does not, and a record claiming a number updates only its own 学籍.
            existing = None
        if problem is not None:
            issues.append(problem)
            if problem.severity == "error":
                return None
        row_hash = id_hash(record)
        taken = self._number_taken(record, child, numbered, row_hash, ctx)
        if taken is not None:
            issues.append(taken)
            return None
        if child is None and numbered and CLAIM not in v:
            # Found by its 学籍号 only: its child (an ended 学籍, or another school's, gives
            # the child but not the enrollment to update).
            child = (existing or max(numbered, key=lambda e: e.pk)).child
            index.compare(record, child, village if v.get("village") else None)
        v["child"] = child
        given = self._given(child, v, row_hash)
        school = ctx.schools.peek(v["school_key"])
        if existing is None and child is not None and school is not None:
            existing = self._current_at(child, school, registered, ctx)
        if existing is None:
            return Planned(record, Action.CREATE, None, given)
        return self._planned_update(record, existing, given, school, registered.guardians)

    def _number_taken(
        self,
        record: Record,
        child: Child | None,
        numbered: list[Enrollment],
        row_hash: str,
        ctx: Any,
    ) -> RowIssue | None:
        """Why a row whose 学籍号 the registry gives another child is refused, or None."""
        if numbered and (
            child.pk not in {e.child_id for e in numbered}
            and not any(self._earlier_record(e, child, record) for e in numbered)
            if child is not None
            # A new ID number with the 学籍号 of a child registered under another one.
            else row_hash and all(e.child.id_number_hash not in ("", row_hash) for e in numbered)
        ):
            other = numbered[-1].child
            return RowIssue(
                record.row_number,
                "学籍号",
                "number_other_child",
                # Named only to a user who may see that child (the number may be
                # another township's, or another school's for a school's user).
                _("该学籍号在系统中属于另一名儿童（%(n)s），请核实") % {"n": other.name}
                if ctx.may_quote(other)
                else _("该学籍号在系统中属于另一名儿童，请核实"),
            )
        return None

    @staticmethod
    def _given(child: Child | None, v: dict[str, Any], row_hash: str) -> dict[str, tuple[Any, Any]]:
        """The blanks a row fills in its registered child: ID number, disability, document."""
        # The 学籍 fills a blank: the ID number of a child registered without a valid one.
        given = (
            {"id_number": ("", v["id_info"].value)}
            if child is not None and row_hash and may_take_number(child)
            else {}
        )
        if child is not None:
            given.update(_fills(child, v))
        return given

    @staticmethod
    def _current_at(
        child: Child, school: School, registered: _Registered, ctx: Any
    ) -> Enrollment | None:
        """The current 学籍 a row updates that its 学籍号 did not find: here, or one elsewhere."""
        existing = registered.current.get((child.pk, school.pk))
        others = registered.elsewhere.get(child.pk, [])
        if existing is None and len(others) == 1 and ctx.school is None:
            # Studying at another school until now: a move, recorded as 转出 there
            # and 转入 here (a school importing its own list does not close another
            # school's 学籍; that school's next file or the reconciliation will).
            existing = others[0]
        return existing

    def _planned_update(
        self,
        record: Record,
        existing: Enrollment,
        given: dict[str, tuple[Any, Any]],
        school: School | None,
        guardians: dict[int, dict[str, str]],
    ) -> Planned:
        """The update of a row's 学籍 (unchanged when nothing differs): its changes and fills."""
        v = record.values
        changes = {**self._changes(existing, v, school), **given}
        # The 学籍 only fills blanks in a child's family: a guardian for a child without
        # one, a phone for a guardian without one (the 户籍 side is the authority).
        guardian = guardian_change(v, guardians.get(existing.child_id, {}), fill_only=True)
        if guardian is not None:
            changes["guardian"] = guardian
        return Planned(record, Action.UPDATE if changes else Action.UNCHANGED, existing, changes)

    @staticmethod
    def covers(plan: list[Planned], ctx: Any) -> tuple[set[int], set[int]]:
        """The schools a whole 学籍 list covers: those of its rows, and of the rows found
        unchanged without being read (a partial list covers none)."""
        if not ctx.complete_list:
            return set(), set()
        schools = {
            school.pk
            for p in plan
            if (school := ctx.schools.peek(p.record.values.get("school_key", ""))) is not None
        }
        targets = sorted(set(ctx.skipped_targets))
        for start in range(0, len(targets), 5000):
            schools.update(
                Enrollment.objects.filter(pk__in=targets[start : start + 5000])
                .values_list("school_id", flat=True)
                .distinct()
            )
        return schools, set()

    @staticmethod
    def _earlier_record(enrollment: Enrollment, child: Child, record: Record) -> bool:
        """The 学籍 a row's 学籍号 finds belongs to a record an earlier file made of this very
        child under a mistyped number (one no longer valid, or valid but one slip from the
        row's corrected one), with a close name and birth date: the row updates that 学籍,
        and the 比对 merges the record into the child."""
        other = enrollment.child
        if other.id_claim_hash or not names_close(other.name, child.name):
            return False
        if not (
            other.birth_date is None
            or child.birth_date is None
            or idnumbers.dates_close(other.birth_date, child.birth_date)
        ):
            return False
        if not other.id_number_hash:
            return True
        info: idnumbers.IdInfo | None = record.values.get("id_info")
        # Rare (a conflict): the other record's number is read for this comparison only.
        stored = Child.records.filter(pk=other.pk).values_list("id_number_enc", flat=True)
        return info is not None and idnumbers.one_slip(crypto.decrypt(stored[0]), info.value)

    @staticmethod
    def _stale_fingerprints(plan: list[Planned], ctx: Any) -> None:
        """Rows checked in full and found unchanged whose enrollment does not hold their
        digest (imported before digests, entered by hand, another mapping): the commit stores
        it, so that the same row in the next file is known without being parsed. A write of
        that column only: nothing the registry says changes."""
        stale = [
            (p.target.pk, digest)
            for p in plan
            if p.action == Action.UNCHANGED
            and p.target is not None
            and (digest := p.record.values.get("fingerprint"))
            and p.target.import_fingerprint != digest
        ]
        if stale:
            ctx.notes["stale_fingerprints"] = stale
            ctx.notes["writes"] = True

    @staticmethod
    def _by_number(found: Iterable[Enrollment], record: Record, ctx: Any) -> Enrollment | None:
        """The enrollment that a row found by its 学籍号 updates, among those with the number.

        One at the row's school: a current one, or, when the row itself says the 学籍 ended
        (the graduation list again), the newest. Else, for a township-wide import, a current
        one at another school: the child moved. A number found only in ended enrollments
        elsewhere (a primary school's graduate in the junior school's list) or, for a
        school's own list, at another school, updates none: the row makes a new enrollment
        for that child (a school's list never closes another school's 学籍)."""
        found = list(found)
        if not found:
            return None

        def active(e: Enrollment) -> bool:
            return e.is_current and e.status not in ENDED_STATUSES

        def rank(e: Enrollment) -> tuple[bool, int]:
            return active(e), e.pk

        v = record.values
        school = ctx.schools.peek(v["school_key"])
        ended = (v.get("status") or "01") in ENDED_STATUSES
        here = [
            e
            for e in found
            if school is not None and e.school_id == school.pk and (ended or active(e))
        ]
        if here:
            return max(here, key=rank)
        if ctx.school is not None:
            return None
        elsewhere = [e for e in found if active(e)]
        return max(elsewhere, key=rank) if elsewhere else None

    @staticmethod
    def _also_theirs(ctx: Any) -> frozenset[int]:
        """The other schools the importing user may import into (a principal of a 中心校 and
        its 教学点), read once per import."""
        found = ctx.notes.get("also_theirs")
        if found is None:
            # The sources' registry imports this source to register it: read when an import
            # runs, once every source is registered.
            from baoxue.imports.registry import import_grants

            found = ctx.notes["also_theirs"] = frozenset(
                g.school.pk for g in import_grants(ctx.actor, "enrollment") if g.school is not None
            )
        return found

    @staticmethod
    def _not_own_school(
        row: int,
        spelling: tuple[str, str],
        named: School | None,
        own: School,
        also_theirs: frozenset[int] = frozenset(),
    ) -> RowIssue:
        """Why a school's own import refuses a row of another school, and, where the row's
        school is not one the registry knows, how to make the file this school's."""
        code, name = spelling
        if named is not None and named.pk in also_theirs:
            return RowIssue(
                row,
                "学校名称",
                "scope",
                _(
                    "该行是 %(other)s 的学生，这次是导入到 %(s)s，未导入；"
                    "请在“导入到”中选择 %(other)s，再上传一次这个文件"
                )
                % {"other": named.name, "s": own.name},
            )
        if named is not None:
            return RowIssue(
                row,
                "学校名称",
                "scope",
                _("该行是 %(other)s 的学生，不是本校（%(s)s）的，未导入")
                % {"other": named.name, "s": own.name},
            )
        if code:
            return RowIssue(
                row,
                "学校标识码",
                "scope",
                _("学校标识码“%(code)s”不是本校（%(s)s）的标识码%(own)s，未导入")
                % {
                    "code": code,
                    "s": own.name,
                    "own": _("（%(c)s）") % {"c": own.code} if own.code else "",
                },
            )
        return RowIssue(
            row,
            "学校名称",
            "scope",
            _(
                "学校名称“%(name)s”与本校在系统中的名称“%(s)s”不一致，未导入。如果这是本校的"
                "名册，请把学校名称改为“%(s)s”%(code)s后重新导入"
            )
            % {
                "name": name,
                "s": own.name,
                "code": _("，或填写学校标识码 %(c)s") % {"c": own.code} if own.code else "",
            },
        )

    @staticmethod
    def _child_id(p: Planned) -> int:
        return int(p.target.child_id if p.target is not None else p.record.values["child"].pk)

    @staticmethod
    def _one_row_each(plan: list[Planned]) -> tuple[list[Planned], list[RowIssue]]:
        """Rows of one school that found the same 学籍 (one by its 学籍号, another by its ID
        number or by name) are one student written twice: the fullest row is imported, the
        others set aside with what they say of the child differently kept as discrepancies
        (VARIANTS), and what they say of the 学籍 in their warning. (Rows of two schools may
        both stand: the old school's 转出 and the new school's 在读 of a student who moved.)"""
        groups: dict[tuple[Any, ...], list[Planned]] = {}
        for p in plan:
            v = p.record.values
            if p.target is not None:
                groups.setdefault(("enrollment", p.target.pk, v["school_key"]), []).append(p)
            elif v.get("child") is not None:
                groups.setdefault(("new", v["child"].pk, v["school_key"]), []).append(p)
        twice = [ps for ps in groups.values() if len(ps) > 1]
        if not twice:
            return plan, []
        issues: list[RowIssue] = []
        dropped: set[int] = set()
        labels = {f.name: f.label for f in EnrollmentSource.fields}
        for ps in twice:
            contents = [row_content(p.record) for p in ps]
            best = max(range(len(ps)), key=lambda i: (len(contents[i]), -i))
            kept = ps[best]
            kept_items = row_items(kept.record)
            for i, p in enumerate(ps):
                if p is kept:
                    continue
                dropped.add(id(p))
                differs = [
                    (item, value, p.record.row_number)
                    for item, value in row_items(p.record).items()
                    if kept_items.get(item) != value
                ]
                kept.record.values.setdefault(VARIANTS, []).extend(differs)
                other = [
                    k
                    for k in sorted(set(contents[i]) | set(contents[best]))
                    if contents[i].get(k) != contents[best].get(k) and k not in ITEMS
                ]
                if "id_info" in other and "id_number" in kept.changes:
                    # Two numbers for one child: neither is written (_one_number_each).
                    del kept.changes["id_number"]
                    if kept.action == Action.UPDATE and not kept.changes:
                        kept.action = Action.UNCHANGED
                issues.append(
                    RowIssue(
                        p.record.row_number,
                        "姓名",
                        "same_student",
                        _(
                            "与第 %(row)s 行是同一名学生的同一条学籍，已按第 %(row)s 行（信息较全的"
                            "一行）导入%(other)s；请核对"
                        )
                        % {
                            "row": kept.record.row_number,
                            "other": _("，本行的%(cols)s与之不同")
                            % {"cols": "、".join(str(labels.get(k, k)) for k in other)}
                            if other
                            else "",
                        },
                        "warning",
                    )
                )
        return [p for p in plan if id(p) not in dropped], issues

    def _one_number_each(self, plan: list[Planned]) -> list[RowIssue]:
        """A child the file gives two different ID numbers (a row found by its 学籍号, another
        by name) gets neither: the rows are imported, the number is left for a person."""
        rows: dict[int, dict[str, list[int]]] = {}
        for p in plan:
            if "id_number" in p.changes:
                numbers = rows.setdefault(self._child_id(p), {})
                numbers.setdefault(p.changes["id_number"][1], []).append(p.record.row_number)
        issues: list[RowIssue] = []
        for p in plan:
            if "id_number" not in p.changes or len(rows[self._child_id(p)]) < 2:
                continue
            del p.changes["id_number"]
            if p.action == Action.UPDATE and not p.changes:
                p.action = Action.UNCHANGED
            together = sorted(n for ns in rows[self._child_id(p)].values() for n in ns)
            issues.append(
                RowIssue(
                    p.record.row_number,
                    "身份证号",
                    "numbers_differ",
                    _("第 %(rows)s 行是同一名儿童，身份证号却不同，身份证号未写入，请核实")
                    % {"rows": "、".join(map(str, together))},
                    "warning",
                )
            )
        return issues

    @staticmethod
    def _end_ended(succeeded: dict[int, int], now: Any) -> None:
        """The children's current 学籍 that have ended (毕业, 转出 …) and are not the one
        just written stop being current: each child's current 学籍 is the one it studies
        under (the 比对 reads its school and attendance from it)."""
        children = sorted(succeeded)
        new = set(succeeded.values())
        for start in range(0, len(children), 5000):
            Enrollment.objects.filter(
                child_id__in=children[start : start + 5000],
                is_current=True,
                status__in=ENDED_STATUSES,
            ).exclude(pk__in=new).update(is_current=False, import_fingerprint="", updated_at=now)

    def _give_id_numbers(self, plan: list[Planned], now: Any) -> int:
        """Registered children without a valid ID number whose 学籍 gives one: few, so
        read whole here (their old, flagged number is kept as the original)."""
        given: dict[int, str] = {}
        for p in plan:
            if "id_number" in p.changes:
                given[self._child_id(p)] = p.changes["id_number"][1]
        children = list(filter_in(Child.objects.all(), "id", sorted(given)))
        for child in children:
            give_id_number(child, given[child.pk])
            child.version += 1
            child.updated_at = now
        if children:
            update_objects(children, [*ID_FIELDS, "version", "updated_at"])
        return len(children)

    def _fill_children(self, plan: list[Planned], now: Any) -> None:
        """Registered children the rows tell a disability or a document of (_fills): few,
        read whole here."""
        wanted: dict[int, dict[str, Any]] = {}
        for p in plan:
            if "disability" in p.changes or "document" in p.changes:
                wanted[self._child_id(p)] = p.record.values
        children = list(filter_in(Child.objects.all(), "id", sorted(wanted)))
        fields: set[str] = set()
        for child in children:
            v = wanted[child.pk]
            if v.get("disability_category") and not child.has_disability:
                child.has_disability, child.disability_category = True, v["disability_category"]
                fields |= {"has_disability", "disability_category"}
            if v.get("document_type") and not child.document_type and not child.id_number_hash:
                child.document_type = v["document_type"]
                child.document_number_enc = v.get("document_number_enc", "")
                child.document_number_masked = v.get("document_number_masked", "")
                fields |= {"document_type", "document_number_enc", "document_number_masked"}
            child.version += 1
            child.updated_at = now
        if children:
            update_objects(children, [*sorted(fields), "version", "updated_at"])

    @staticmethod
    def _changes(e: Enrollment, v: dict[str, Any], school: Any) -> dict[str, tuple[Any, Any]]:
        changes: dict[str, tuple[Any, Any]] = {}
        if school is None or e.school_id != school.pk:
            changes["school"] = (e.school.name, v.get("school_name") or v.get("school_code"))
        for name in (
            "grade",
            "class_name",
            "status",
            "is_boarding",
            "entry_date",
            "with_class",
            "auxiliary_number",
            "class_number",
        ):
            new = v.get(name)
            if name == "status" and new is None:
                new = "01"
            if new is None or new == "":
                continue
            if getattr(e, name) != new:
                changes[name] = (getattr(e, name), new)
        if e.absent_from_list_since is not None:
            changes["absent_from_list_since"] = (e.absent_from_list_since, None)  # listed again
        return changes

    @staticmethod
    def _scope_schools(ctx: Any) -> list[int]:
        if ctx.school is not None:
            return [ctx.school.pk]
        return list(School.objects.filter(township=ctx.township).values_list("pk", flat=True))

    def known_fingerprints(self, ctx: Any) -> dict[str, int]:
        """Digest → enrollment, for the file rows that the current enrollments in scope were
        last imported from (see Enrollment.import_fingerprint)."""
        return dict(
            Enrollment.objects.filter(school_id__in=self._scope_schools(ctx), is_current=True)
            .exclude(import_fingerprint="")
            .values_list("import_fingerprint", "pk")
        )

    def _absent_from_list(
        self, plan: list[Planned], keep: list[Record], ctx: Any, *, named: list[dict[str, Any]]
    ) -> None:
        """The file is its schools' list for this term: a current 学籍 of a school the file
        covers that the file does not list (and that nothing has flagged yet) is marked on
        commit, and shown in the preview. Cleared when a later file lists it again.

        `named`: the values of the rows that are not imported (rejected, or repeats): a student
        whose 学籍号 or ID number such a row gives is listed, only not updated (a mistyped
        entry date must not make a pupil a suspected dropout)."""
        if not ctx.complete_list:
            return
        covered_keys = {r.values["school_key"] for r in keep}
        covered = {s.pk for k in covered_keys if (s := ctx.schools.peek(k)) is not None}
        in_scope = Enrollment.objects.filter(
            school_id__in=self._scope_schools(ctx), is_current=True
        )
        # The same list again: the skipped rows (each a distinct current 学籍 in scope) are
        # all of them, so none is left out. One count instead of loading them all.
        if not keep and len(set(ctx.skipped_targets)) == in_scope.count():
            return
        seen = {p.target.pk for p in plan if p.target is not None} | set(ctx.skipped_targets)
        current = in_scope.exclude(status__in=ENDED_STATUSES)
        school_of = dict(current.values_list("pk", "school_id"))
        covered |= {school_of[pk] for pk in ctx.skipped_targets if pk in school_of}
        if named:
            numbers = {crypto.lookup_hash(n) for v in named if (n := v.get("student_number"))} - {
                ""
            }
            ids = {
                crypto.lookup_hash(info.value)
                for v in named
                if (info := v.get("id_info")) is not None and info.is_valid
            }
            for pk, number_hash, child_hash in current.values_list(
                "pk", "student_number_hash", "child__id_number_hash"
            ):
                if number_hash in numbers or (child_hash and child_hash in ids):
                    seen.add(pk)
        flagged = set(current.exclude(absent_from_list_since=None).values_list("pk", flat=True))
        absent = sorted(
            pk
            for pk, school_id in school_of.items()
            if school_id in covered and pk not in seen and pk not in flagged
        )
        if absent:
            names = dict(School.objects.filter(pk__in=covered).values_list("pk", "name"))
            per_school: dict[str, int] = {}
            for pk in absent:
                name = names.get(school_of[pk], "")
                per_school[name] = per_school.get(name, 0) + 1
            ctx.notes["absent_from_list"] = {"ids": absent, "schools": per_school}
            ctx.notes["writes"] = True

    def commit(self, plan: list[Planned], ctx: Any, progress: Any) -> None:
        """Bulk writes (core.bulk): new children, enrollments and their 学籍异动 as rows, no
        model instances; the updated enrollments by core.bulk.update_objects."""
        ctx.places.create_proposed(ctx.actor)
        ctx.schools.create_proposed(ctx.actor)
        now = timezone.now()
        written, succeeded, updated = self._write_rows(plan, ctx, now, progress)
        self._save_updated(updated, now)
        if stale := ctx.notes.get("stale_fingerprints"):
            update_rows(Enrollment, ["import_fingerprint"], stale)
        self._end_ended(succeeded, now)
        ids_given = self._give_id_numbers(plan, now)
        self._fill_children(plan, now)
        discrepancies = write_discrepancies(ctx)
        guardians_filled = self._fill_guardians(plan)
        absent = self._mark_absent(ctx, now)
        self._refresh_children(plan, ctx)
        log_action(
            actor=ctx.actor,
            action="import.enrollment_committed",
            obj=ctx.township,
            data={
                "enrollments_created": written["Enrollment"],
                "updated": len(updated),
                "children_created": written["Child"],
                "guardians_added": written["Guardian"] + guardians_filled,
                "absent_from_list": absent,
                "id_numbers_given": ids_given,
                "discrepancies": discrepancies,
            },
        )
        progress("commit", len(plan), len(plan))

    def _write_rows(
        self, plan: list[Planned], ctx: Any, now: Any, progress: Any
    ) -> tuple[dict[str, int], dict[int, int], list[Enrollment]]:
        """The new rows written (children, guardians, 学籍, 学籍异动), the updated 学籍 set."""
        actor_id = ctx.actor.pk if signed_in(ctx.actor) else None
        creating = sum(1 for p in plan if p.action == Action.CREATE)
        moving = sum(1 for p in plan if p.action == Action.UPDATE and "school" in p.changes)
        adding = {
            Child: creating,
            Enrollment: creating + moving,
            EnrollmentEvent: creating + 2 * moving,
            Guardian: creating,
        }
        with (
            indexes_deferred(adding) as deferred,
            BackgroundWrites(small_cache=bool(deferred)) as background,
        ):
            # The rows are written by a helper thread while the next ones are built here: no
            # database access on this thread until write_all (places and ids come first).
            # Rows as tuples in the writers' column order: a dict a row would cost more
            # than SQLite's own work on it.
            rows = _Rows(
                children=RowWriter(Child, now, background, columns=_NEW_CHILD_COLUMNS),
                enrollments=RowWriter(Enrollment, now, background, columns=_ENROLLMENT_COLUMNS),
                events=RowWriter(EnrollmentEvent, now, background, columns=_EVENT_COLUMNS),
                guardians=RowWriter(Guardian, now, background, columns=GUARDIAN_COLUMNS),
                actor_id=actor_id,
                today=ctx.today,
            )
            # Written in name order: eight of the child table's indexes lead with the name (or its
            # pinyin), so their pages fill one after another instead of at random.
            creates = sorted(
                (p for p in plan if p.action == Action.CREATE),
                key=lambda p: p.record.values["name"],
            )
            # The enrollments in the children's order: the child_id index fills in order too.
            new_child = [p for p in creates if p.record.values.get("child") is None]
            moves = [p for p in plan if p.action == Action.UPDATE and "school" in p.changes]
            child_ids = rows.children.reserve(len(new_child))
            ids = iter(rows.enrollments.reserve(len(creates) + len(moves)))
            self._write_new_children(new_child, child_ids, rows, ctx)
            # The new children and guardians are all there: their tables' indexes are built
            # by the helper thread while the enrollments are made here.
            rows.children.write()
            rows.guardians.write()
            deferred.build_now(Child, background)
            deferred.build_now(Guardian, background)
            progress("commit", len(new_child), len(plan) + len(new_child))
            succeeded = self._write_new_enrollments(creates, ids, rows, ctx)
            updated = self._write_updates(plan, ids, rows, ctx)
            written = write_all([rows.children, rows.enrollments, rows.events, rows.guardians])
        return written, succeeded, updated

    @staticmethod
    def _write_new_children(
        new_child: list[Planned], child_ids: list[int], rows: _Rows, ctx: Any
    ) -> None:
        """The children the rows make, with their guardians, as rows; each row told its child."""
        places, schools = ctx.places, ctx.schools
        flag_defaults = list(zip(_FLAGS, child_defaults(_FLAGS), strict=True))
        # Per village and 屯, and per school: looked up once (and before the writes
        # start: the placeholder village may need a query), not once a child.
        place_of = place_columns_of((p.record for p in new_child), places)
        school_of: dict[str, int] = {}
        for p in new_child:
            key = p.record.values["school_key"]
            if key not in school_of:
                school_of[key] = schools.get(key).pk
        for p, child_id in zip(new_child, child_ids, strict=True):
            v = p.record.values
            school_id = school_of[v["school_key"]]
            place = place_of[(v["village_key"], v.get("group_key", ""))]
            rows.children.add(
                (
                    child_id,
                    *new_child_values(p.record, place),
                    *[
                        default if (value := v.get(k)) is None or value == "" else value
                        for k, default in flag_defaults
                    ],
                    # A child made by this import has only this enrollment: its school
                    # columns are known now, so no second pass over it is needed after.
                    *school_values(
                        v.get("status") or "01", school_id, v["grade"], v.get("class_name", "")
                    ),
                )
            )
            guardian = guardian_values(child_id, v)
            if guardian is not None:
                rows.guardians.add(guardian)
            v["child_id"] = child_id
            v["child_is_new"] = True

    @staticmethod
    def _write_new_enrollments(
        creates: list[Planned], ids: Iterator[int], rows: _Rows, ctx: Any
    ) -> dict[int, int]:
        """A new 学籍 and its 入学 a row; returns registered child → its new 学籍."""
        # Registered children given a new 学籍 (the junior school's list finding a primary
        # graduate): a current 学籍 of theirs that has ended is history now.
        succeeded: dict[int, int] = {}
        for p in creates:
            v = p.record.values
            enrollment_id = next(ids)
            child_id = v["child_id"] if v.get("child_is_new") else v["child"].pk
            if not v.get("child_is_new"):
                succeeded[child_id] = enrollment_id
            entry = v.get("entry_date")
            rows.enrollment(v, enrollment_id, child_id, ctx.schools.get(v["school_key"]).pk, entry)
            rows.event(enrollment_id, EnrollmentEvent.Kind.ENROLLED, entry or rows.today, None, "")
        return succeeded

    def _write_updates(
        self, plan: list[Planned], ids: Iterator[int], rows: _Rows, ctx: Any
    ) -> list[Enrollment]:
        """The 学籍 the rows update, changed in memory, with their 学籍异动 as rows."""
        updated: list[Enrollment] = []
        for p in plan:
            if p.action != Action.UPDATE:
                continue
            e = p.target
            e.import_fingerprint = p.record.values.get("fingerprint", "")
            if "school" in p.changes:
                self._write_move(p, ids, rows, ctx)
            else:
                self._write_changes(p, rows)
            updated.append(e)
        return updated

    @staticmethod
    def _write_move(p: Planned, ids: Iterator[int], rows: _Rows, ctx: Any) -> None:
        """A move to another school: the old 学籍 ended, a new one started, each with its event."""
        v = p.record.values
        e = p.target
        today = rows.today
        # Moved to another school: the old 学籍 ends with a transfer out, the new one
        # starts with a transfer in; or, from the last grade of a primary school to
        # the first of a junior school (小升初), with a graduation and an entry.
        school = ctx.schools.get(v["school_key"])
        status, out_kind, in_kind = (
            (
                Enrollment.Status.GRADUATED,
                EnrollmentEvent.Kind.GRADUATION,
                EnrollmentEvent.Kind.ENROLLED,
            )
            if _promoted(e, school, v["grade"])
            else (
                Enrollment.Status.TRANSFERRED_OUT,
                EnrollmentEvent.Kind.TRANSFER_OUT,
                EnrollmentEvent.Kind.TRANSFER_IN,
            )
        )
        e.status, e.end_date, e.is_current = status, today, False
        e.import_fingerprint = ""
        rows.event(e.pk, out_kind, today, school, "")
        new_id = next(ids)
        rows.enrollment(v, new_id, e.child_id, school.pk, v.get("entry_date") or today)
        rows.event(new_id, in_kind, today, e.school, "")

    @staticmethod
    def _write_changes(p: Planned, rows: _Rows) -> None:
        """A 学籍's changes from its row set in memory; a changed status recorded as its 异动."""
        e = p.target
        for name, (_old, value) in p.changes.items():
            if name not in {"guardian", "id_number"}:  # written after the rows, with the others
                setattr(e, name, value)
        if "status" in p.changes:
            kind = _EVENT_FOR_STATUS.get(e.status, EnrollmentEvent.Kind.STATUS_CHANGE)
            if kind in {EnrollmentEvent.Kind.TRANSFER_OUT, EnrollmentEvent.Kind.GRADUATION}:
                e.end_date = rows.today
            rows.event(
                e.pk,
                kind,
                rows.today,
                None,
                _("学籍导入：%(old)s → %(new)s")
                % {
                    "old": Enrollment.Status(p.changes["status"][0]).label,
                    "new": Enrollment.Status(e.status).label,
                },
            )

    @staticmethod
    def _save_updated(updated: list[Enrollment], now: Any) -> None:
        """The updated 学籍 saved in bulk, each stamped with the commit's time."""
        for e in updated:
            e.updated_at = now  # update_objects does not apply auto_now
        update_objects(
            updated,
            [
                "grade",
                "class_name",
                "status",
                "is_boarding",
                "entry_date",
                "with_class",
                "auxiliary_number",
                "class_number",
                "end_date",
                "is_current",
                "import_fingerprint",
                "absent_from_list_since",
                "updated_at",
            ],
        )

    @staticmethod
    def _fill_guardians(plan: list[Planned]) -> int:
        """The blanks filled in the families of registered children; returns how many."""
        # Registered children named with a guardian: the blanks of their families filled.
        return save_guardians(
            [
                (p.record.values["child"].pk, p.record.values)
                for p in plan
                if not p.record.values.get("child_is_new")
                and p.record.values.get("child") is not None
                and (p.action == Action.CREATE or "guardian" in p.changes)
            ],
            fill_only=True,
        )

    @staticmethod
    def _mark_absent(ctx: Any, now: Any) -> int:
        """The 学籍 the list leaves out (_absent_from_list) marked absent; returns how many."""
        absent = ctx.notes.get("absent_from_list", {}).get("ids", [])
        for start in range(0, len(absent), 5000):
            Enrollment.objects.filter(pk__in=absent[start : start + 5000]).update(
                absent_from_list_since=ctx.today, import_fingerprint="", updated_at=now
            )
        return len(absent)

    @staticmethod
    def _refresh_children(plan: list[Planned], ctx: Any) -> None:
        """The school columns of the children whose 学籍 changed refreshed; counts made stale."""
        touched = {
            p.record.values["child"].pk
            for p in plan
            if p.action != Action.UNCHANGED and not p.record.values.get("child_is_new")
        } | {p.target.child_id for p in plan if p.action == Action.UPDATE}
        refresh_school_status_bulk(child_ids=touched)
        counts_mark_stale(county_ids={ctx.township.parent_id})
