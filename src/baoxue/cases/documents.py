"""Word documents for a case: the legal notices (filled from a template the township may edit)
and the whole 一人一案 file.

A notice is a docxtpl template: `template_path(kind, township_code)` finds the township's own
copy in DATA_DIR/templates/notices/<township code>/, the installation's in
DATA_DIR/templates/notices/, or the bundled default (built by scripts/make_notice_templates.py),
and `notice_context` gives the values its {{ placeholders }} can use:

    child_name, child_sex, child_birth_date, child_ethnicity, child_description
    village, group, home_place, address, township, county, township_government,
    education_bureau, school, grade, class_name, return_school
    guardian_name, guardian_relation, guardian_phone, guardian_work_place
    contact_name, contact_phone
    document_title, document_number, issuer, signer, issued_on, deadline, served_on
    penalty_number, penalty_issued_on, began_on, case_kind, reasons, legal_basis, today

Every value is a string (a blank date is a space to write one in by hand). No document carries
the full ID number: free text is scrubbed of anything shaped like one, in case someone typed
it into a note. Every notice is addressed to the guardian or names them, so a child without a
recorded guardian gets none until one is recorded. Times are in local time (core.times).

The 一人一案 file carries the case's photos (JPEG, PNG), made smaller so that a file with a
dozen phone photos still goes by e-mail; other attachments are listed by name.
"""

from __future__ import annotations

import zipfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from io import BytesIO
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from docx.enum.text import WD_ALIGN_PARAGRAPH
from docx.opc.exceptions import PackageNotFoundError
from docx.shared import Cm
from docxtpl import DocxTemplate
from jinja2 import StrictUndefined, TemplateError, TemplateSyntaxError, UndefinedError
from jinja2.exceptions import SecurityError
from jinja2.sandbox import SandboxedEnvironment
from lxml.etree import LxmlError

from baoxue.cases import evidence
from baoxue.cases.models import (
    CATEGORY_LABELS,
    Attachment,
    Case,
    CaseEvent,
    EscalationDocument,
    FollowUp,
    Placement,
    Responsibility,
    ReturnAttempt,
)
from baoxue.cases.services import MEASURES
from baoxue.cases.workflow import DISMISS_REASONS, DROPOUT_REASONS, level_name
from baoxue.core.attachments import small_photo
from baoxue.core.times import local
from baoxue.core.wordfiles import new_document, scrub
from baoxue.core.wordfiles import pairs as _pairs
from baoxue.core.wordfiles import table as _table
from baoxue.registry.models import Child, Enrollment, Guardian, School

NOTICE_KINDS = {
    EscalationDocument.Kind.SCHOOL_REPORT.value: gettext_lazy("学校关于学生辍学情况的书面报告"),
    EscalationDocument.Kind.RETURN_NOTICE.value: gettext_lazy("限期复学通知书"),
    EscalationDocument.Kind.ORDER_NOTICE.value: gettext_lazy("责令送被监护人接受义务教育通知书"),
    EscalationDocument.Kind.DEMAND.value: gettext_lazy("催告书"),
}
BUNDLED_TEMPLATES = Path(__file__).resolve().parent / "notice_templates"

_NUMERALS = "一二三四五六七八九"
# Room on the printed copy to write in what the case does not know yet.
BLANK = "　" * 6
# Whom a notice names as the contact: the township cadre for the village (government line,
# level 2 by default), or for the school's report the class teacher (education line, level 3).
_CONTACT_LEVELS = {
    Responsibility.Line.GOVERNMENT.value: (2, 3, 4, 1),
    Responsibility.Line.EDUCATION.value: (3, 4, 2, 1),
}
_EVENT_KINDS = {
    "transition": gettext_lazy("状态变更"),
    "responsibility": gettext_lazy("落实包保责任人"),
    "attempt": gettext_lazy("劝返记录"),
    "document": gettext_lazy("法律文书"),
    "attachment": gettext_lazy("上传附件"),
    "plan": gettext_lazy("帮扶方案"),
    "follow_up": gettext_lazy("跟踪记录"),
    "opened": gettext_lazy("立案"),
    "handover": gettext_lazy("交接"),
    "moved": gettext_lazy("随儿童迁居转出"),
    "merged": gettext_lazy("重复记录已合并"),
    "merged_in": gettext_lazy("合并进来的重复记录的案件"),
    "merge_undone": gettext_lazy("撤销合并"),
}
# Photos in the 一人一案 file: made small by core.attachments.small_photo (a 12-megapixel phone
# photo of several MB becomes a few hundred KB) and printed PHOTO_WIDTH_CM wide (less for a tall
# one, so that it fits the page). HEIC (no decoder here) and PDF are listed by name.
PHOTO_WIDTH_CM = 14.0
PHOTO_MAX_HEIGHT_CM = 20.0


# --- small formatting helpers ------------------------------------------------------------------


def format_day(day: date | None, blank: str = "") -> str:
    if day is None:
        return blank
    return _("%(year)s年%(month)s月%(day)s日") % {
        "year": day.year,
        "month": day.month,
        "day": day.day,
    }


def format_month(day: date | None, blank: str = "") -> str:
    if day is None:
        return blank
    return _("%(year)s年%(month)s月") % {"year": day.year, "month": day.month}


def format_moment(moment: datetime | None) -> str:
    if moment is None:
        return ""
    moment = local(moment)
    return f"{format_day(moment.date())} {moment:%H:%M}"


def format_grade(grade: int | None) -> str:
    if grade is None or not 1 <= grade <= len(_NUMERALS):
        return ""
    return _("%(grade)s年级") % {"grade": _NUMERALS[grade - 1]}


def blank_date() -> str:
    # Room to write a date by hand on the printed copy.
    return _("　　年　　月　　日")


def legal_basis() -> str:
    return _(
        "根据《中华人民共和国义务教育法》第五条、第十四条、第五十八条，《中华人民共和国"
        "未成年人保护法》第十六条和《中华人民共和国家庭教育促进法》的有关规定"
    )


def _labels(codes: Iterable[Any], labels: dict[str, Any]) -> str:
    return "、".join(str(labels.get(str(code), code)) for code in codes or [])


def _reasons(case: Case) -> str:
    return _labels(case.reasons, DROPOUT_REASONS)


# --- what a document needs, in a handful of queries --------------------------------------------


def _load_case(case: Case) -> Case:
    """The case again with everything a document prints about the child and the place, in one
    query, whatever the caller had loaded."""
    return Case.objects.select_related(
        "child__household",
        "child__village",
        "child__group",
        "child__township",
        "township__parent",
        "village",
        "school",
        "previous_village",
        "previous_school",
        "closed_by",
        "reported_by",
    ).get(pk=case.pk)


def primary_guardian(guardians: Sequence[Guardian]) -> Guardian | None:
    """The guardian marked primary, else the first (None when there is none)."""
    return next((g for g in guardians if g.is_primary), guardians[0] if guardians else None)


def _enrollment(child: Child, case: Case) -> Enrollment | None:
    """The latest enrollment, at the case's school when the child has one there."""
    enrollments = list(child.enrollments.select_related("school")[:10])
    at_school = [e for e in enrollments if case.school_id and e.school_id == case.school_id]
    return (at_school or enrollments or [None])[0]


def _contact(responsibilities: Sequence[Responsibility], line: str) -> Responsibility | None:
    current = {r.level: r for r in responsibilities if r.line == line and r.ended_at is None}
    return next((current[level] for level in _CONTACT_LEVELS[line] if level in current), None)


def _home_place(child: Child) -> str:
    return "".join(p.name for p in (child.village, child.group) if p is not None)


def _address(child: Child) -> str:
    if child.address:
        return child.address
    return child.household.address if child.household is not None else ""


def _child_description(child: Child, birth: str) -> str:
    parts = [
        child.get_sex_display() if child.sex else "",
        _("%(day)s出生") % {"day": birth} if birth else "",
        child.ethnicity,
    ]
    return "，".join(str(p) for p in parts if p)


def _county(case: Case) -> str:
    township = case.township
    if township is not None and township.parent is not None:
        return township.parent.name
    return ""


# --- notices ------------------------------------------------------------------------------------


def template_path(kind: str, township_code: str = "") -> Path:
    """The template for a notice: the township's own (DATA_DIR/templates/notices/<township
    code>/), else the installation's (DATA_DIR/templates/notices/), else the bundled default.
    One installation may serve several townships, each with its own letterhead."""
    if kind not in NOTICE_KINDS:
        raise ValueError(f"no notice template for document kind {kind!r}")
    folder = Path(settings.DATA_DIR) / "templates" / "notices"
    candidates = [folder / township_code] if township_code else []
    for own in (*(c / f"{kind}.docx" for c in candidates), folder / f"{kind}.docx"):
        if own.is_file():
            return own
    return BUNDLED_TEMPLATES / f"{kind}.docx"


def notice_context(
    case: Case, kind: str, document: EscalationDocument | None = None
) -> dict[str, str]:
    """The values a notice's placeholders can use (listed in this module's docstring). A
    child without a recorded guardian is a ValidationError: every notice is addressed to the
    guardian or names them, and one reading "（监护人，联系电话）" cannot be served."""
    if kind not in NOTICE_KINDS:
        raise ValueError(f"no notice for document kind {kind!r}")
    if document is not None and document.case_id != case.pk:
        raise ValueError("the document belongs to another case")
    case = _load_case(case)
    child = case.child
    guardian = _notice_guardian(child, kind)
    enrollment = _enrollment(child, case)
    responsibilities = list(case.responsibilities.filter(ended_at=None))
    penalty = (
        case.documents.filter(kind=EscalationDocument.Kind.PENALTY)
        .order_by("-issued_on", "-id")
        .first()
    )
    township = case.township or child.township
    county = _county(case)
    school, grade, class_name = _notice_school(case, enrollment)
    birth = format_day(child.birth_date)
    contact = _notice_contact(responsibilities, kind)
    township_government = _("%(township)s人民政府") % {"township": township.name}
    if kind == EscalationDocument.Kind.SCHOOL_REPORT:
        default_signer = school.name if school is not None else ""
    else:
        default_signer = township_government
    values: dict[str, Any] = {
        "child_name": child.name,
        "child_sex": child.get_sex_display() if child.sex else "",
        "child_birth_date": birth,
        "child_ethnicity": child.ethnicity,
        "child_description": _child_description(child, birth),
        "village": child.village.name,
        "group": child.group.name if child.group is not None else "",
        "home_place": _home_place(child),
        "address": _address(child),
        "township": township.name,
        "county": county,
        "township_government": township_government,
        "education_bureau": (
            _("%(county)s教育局") % {"county": county} if county else _("县级教育行政部门")
        ),
        "school": school.name if school is not None else "",
        "grade": format_grade(grade),
        "class_name": class_name,
        "return_school": school.name if school is not None else _("就近学校"),
        "guardian_name": guardian.name,
        "guardian_relation": guardian.get_relation_display() or _("监护人"),
        # No phone on record: room to write it in by hand.
        "guardian_phone": guardian.phone or BLANK,
        "guardian_work_place": guardian.work_place,
        "contact_name": contact.name if contact is not None else "",
        "contact_phone": contact.phone if contact is not None else "",
        **_notice_particulars(case, kind, document, penalty, default_signer),
    }
    return {key: scrub(value) for key, value in values.items()}


def _notice_guardian(child: Child, kind: str) -> Guardian:
    """The guardian a notice is addressed to, or a ValidationError asking to record one."""
    guardian = primary_guardian([g for g in child.guardians.all() if g.name.strip()])
    if guardian is None:
        raise ValidationError(
            _(
                "%(child)s还没有登记监护人，无法生成%(title)s：文书要写明监护人的姓名、与儿童的"
                "关系和联系电话。请先在儿童页面登记监护人，再生成文书。"
            )
            % {"child": child.name, "title": NOTICE_KINDS[kind]}
        )
    return guardian


def _notice_school(
    case: Case, enrollment: Enrollment | None
) -> tuple[School | None, int | None, str]:
    """The school a notice names, with the grade and class only when enrolled at that school."""
    school = case.school or (enrollment.school if enrollment is not None else None)
    if enrollment is not None and (school is None or enrollment.school_id == school.pk):
        return school, enrollment.grade, enrollment.class_name
    return school, None, ""


def _notice_contact(responsibilities: Sequence[Responsibility], kind: str) -> Responsibility | None:
    """The person a notice names as the contact (see _CONTACT_LEVELS)."""
    line = (
        Responsibility.Line.EDUCATION
        if kind == EscalationDocument.Kind.SCHOOL_REPORT
        else Responsibility.Line.GOVERNMENT
    )
    return _contact(responsibilities, line)


def _notice_particulars(
    case: Case,
    kind: str,
    document: EscalationDocument | None,
    penalty: EscalationDocument | None,
    default_signer: str,
) -> dict[str, Any]:
    """The notice's own values: its title, number, signer, dates, the penalty it cites, the law."""
    issuer = document.issuer if document is not None else ""
    return {
        "document_title": NOTICE_KINDS[kind],
        "document_number": document.number if document is not None else "",
        "issuer": issuer,
        # Who signs: the issuer on record, else who issues this kind of notice.
        "signer": issuer or default_signer,
        "issued_on": format_day(
            document.issued_on if document is not None else timezone.localdate()
        ),
        "deadline": format_day(document.deadline if document else None, blank_date()),
        "served_on": format_day(document.served_on if document else None, blank_date()),
        "penalty_number": penalty.number if penalty is not None and penalty.number else BLANK,
        "penalty_issued_on": format_day(penalty.issued_on if penalty else None, blank_date()),
        "began_on": format_month(case.began_on, _("　　年　　月")),
        "case_kind": case.get_kind_display(),
        "reasons": _reasons(case) or BLANK,
        "legal_basis": legal_basis(),
        "today": format_day(timezone.localdate()),
    }


def render_notice(case: Case, kind: str, document: EscalationDocument | None = None) -> bytes:
    """The filled notice as .docx bytes. A template that cannot be filled (a placeholder left
    open, a misspelt name, not a Word file) is a ValidationError naming the file."""
    path = template_path(kind, case.township.code if case.township is not None else "")
    context = notice_context(case, kind, document)
    # Sandboxed: the template is a file a township uploads, so it must not reach Python
    # internals. Strict: a misspelt placeholder is an error, not a notice with a blank name.
    environment = SandboxedEnvironment(undefined=StrictUndefined, autoescape=True)
    template = DocxTemplate(path)
    try:
        template.render(context, environment)
        out = BytesIO()
        template.save(out)
    except (
        TemplateError,
        LxmlError,
        PackageNotFoundError,
        zipfile.BadZipFile,
        KeyError,
        ValueError,
    ) as exc:
        own = not path.is_relative_to(BUNDLED_TEMPLATES)
        # Only the name relative to the data directory: the server's paths are not the user's.
        name = f"templates/notices/{path.name}" if own else path.name
        error = _template_error(exc)
        if own:
            message = _(
                "文书模板“%(file)s”有错误，无法生成%(title)s：%(error)s。请用 Word 或 WPS 打开"
                "该文件，检查 {{ }} 占位符是否完整、名称是否正确；也可以删除该文件，改用系统"
                "默认模板。"
            )
        else:
            message = _("系统默认文书模板“%(file)s”有错误，无法生成%(title)s：%(error)s。")
        raise ValidationError(
            message % {"file": name, "title": NOTICE_KINDS[kind], "error": error}
        ) from exc
    return out.getvalue()


def _template_error(exc: Exception) -> str:
    """What is wrong with a template, in words a township's staff can act on; Jinja's own
    message (English) follows in brackets for whoever helps them."""
    if not isinstance(exc, TemplateError):
        return _("文件不是有效的 Word（.docx）文档，或者内容已损坏")
    detail = (exc.message or exc.__class__.__name__).rstrip(".")
    if isinstance(exc, TemplateSyntaxError):
        return _("有 {{ }} 或 {%% %%} 没有写完整（%(detail)s）") % {"detail": detail}
    if isinstance(exc, UndefinedError):
        return _("有系统不认识的占位符（%(detail)s）") % {"detail": detail}
    if isinstance(exc, SecurityError):
        return _("有不允许使用的写法（%(detail)s）") % {"detail": detail}
    return detail


# --- the whole 一人一案 file ---------------------------------------------------------------------


def case_file(case: Case, *, moved_away: bool = False) -> bytes:
    """控辍保学一人一案档案: everything recorded on the case, as one .docx.

    `moved_away`: for the place the child moved away from (which still reads the case for a
    while, see Case.previous_village): the file holds what that place saw — the records up
    to the move, the place it left, guardians without their phones — and nothing of where the
    child lives now."""
    records = _case_records(case, moved_away=moved_away)
    case, moved = records.case, records.moved
    doc = _new_document()
    place = _place(records)
    _add_title(doc, records, place.village)
    _add_child(doc, records.child, records.enrollment, place)
    _add_overview(doc, case, moved)
    _add_responsibilities(doc, records.responsibilities)
    _add_attempts(doc, records.attempts)
    _add_documents(doc, records.documents)
    _add_plan(doc, case, moved)
    _add_placements(doc, records.placements)
    _add_follow_ups(doc, records.follow_ups)
    _add_closing(doc, case, moved)
    _add_history(doc, records.events)
    _add_attachments(doc, records.attachments)
    out = BytesIO()
    doc.save(out)
    return out.getvalue()


@dataclass(frozen=True)
class _CaseRecords:
    """Everything the 一人一案 file prints, loaded up front in a fixed number of queries."""

    case: Case
    child: Child
    guardians: list[Guardian]
    enrollment: Enrollment | None
    responsibilities: list[Responsibility]
    # When the child moved away, for the file of the place it left; else None.
    moved: datetime | None
    attempts: list[ReturnAttempt]
    documents: list[EscalationDocument]
    placements: list[Placement]
    follow_ups: list[FollowUp]
    events: list[CaseEvent]
    attachments: list[Attachment]


def _case_records(case: Case, *, moved_away: bool) -> _CaseRecords:
    """The case and its records in the file's order, up to the move for the place it left."""
    case = _load_case(case)
    child = case.child
    guardians = list(child.guardians.all())
    enrollment = None if moved_away else _enrollment(child, case)
    responsibilities = sorted(
        case.responsibilities.all(),
        key=lambda r: (r.line != Responsibility.Line.GOVERNMENT, r.level, r.assigned_at, r.pk),
    )
    moved = case.moved_at if moved_away else None
    # For the place the child moved away from, the records up to the move only.
    cut: dict[str, Any] = {} if moved is None else {"created_at__lte": moved}
    attempts = list(case.attempts.filter(**cut).order_by("attempted_on", "id"))
    documents = list(case.documents.filter(**cut).order_by("issued_on", "id"))
    placements = list(
        case.placements.filter(**cut).select_related("school").order_by("placed_on", "id")
    )
    follow_ups = list(
        case.follow_ups.filter(
            **({} if moved is None else {"done_on__lte": timezone.localdate(moved)})
        ).order_by("due_on", "id")
    )
    events = list(
        case.events.filter(**({} if moved is None else {"at__lte": moved}))
        .select_related("actor")
        .order_by("at", "id")
    )
    attachments = list(
        case.attachments.filter(**({} if moved is None else {"uploaded_at__lte": moved}))
        .select_related("attempt", "document")
        .order_by("uploaded_at", "id")
    )
    if moved is not None:
        responsibilities = [r for r in responsibilities if r.assigned_at <= moved]
    return _CaseRecords(
        case=case,
        child=child,
        guardians=guardians,
        enrollment=enrollment,
        responsibilities=responsibilities,
        moved=moved,
        attempts=attempts,
        documents=documents,
        placements=placements,
        follow_ups=follow_ups,
        events=events,
        attachments=attachments,
    )


@dataclass(frozen=True)
class _Place:
    """What the file shows of where the child lives and learns, and of the guardians."""

    village: str
    home: str
    address: str
    school: School | None
    guardians: str


def _place(records: _CaseRecords) -> _Place:
    """Where the child lives now, or for the place it left only that place and no phones."""
    case, child, guardians = records.case, records.child, records.guardians
    if records.moved is not None:
        left = case.previous_village or case.village
        village = left.name if left is not None else ""
        return _Place(
            village=village,
            home=_("已迁出%(place)s（现住址不显示）") % {"place": village},
            address="",
            school=case.previous_school,
            guardians="\n".join(
                f"{g.name}（{g.get_relation_display()}）" for g in guardians if g.name.strip()
            ),
        )
    enrollment = records.enrollment
    return _Place(
        village=case.village.name if case.village else child.village.name,
        home=_home_place(child),
        address=_address(child),
        school=case.school or (enrollment.school if enrollment is not None else None),
        guardians="\n".join(_guardian_line(g) for g in guardians),
    )


def _add_title(doc: Any, records: _CaseRecords, village: str) -> None:
    """The title, the township, village and times, and a note when the child has moved away."""
    case, moved = records.case, records.moved
    heading = doc.add_paragraph(style="Title")
    heading.alignment = WD_ALIGN_PARAGRAPH.CENTER
    heading.add_run(_("控辍保学一人一案档案"))
    township = case.township or records.child.township
    doc.add_paragraph(
        _("乡镇：%(township)s　　村：%(village)s　　立案时间：%(opened)s　　导出时间：%(now)s")
        % {
            "township": township.name,
            "village": village,
            "opened": format_moment(case.opened_at),
            "now": format_moment(timezone.now()),
        }
    )
    if moved is not None:
        doc.add_paragraph(
            _("该儿童已于 %(day)s 迁出本地，案件转由新所在地办理；本档案只含迁出前的记录。")
            % {"day": format_day(timezone.localdate(moved))}
        )


def _add_child(doc: Any, child: Child, enrollment: Enrollment | None, place: _Place) -> None:
    """Section 一: the child, the home, the school and the guardians."""
    doc.add_heading(_("一、儿童基本情况"), level=1)
    tags = child.key_group_tags()
    _pairs(
        doc,
        [
            (_("姓名"), child.name),
            (_("性别"), child.get_sex_display() if child.sex else ""),
            (_("出生日期"), format_day(child.birth_date)),
            (_("民族"), child.ethnicity),
            (_("村、组（屯）"), place.home),
            (_("住址"), place.address),
            (_("学校"), place.school.name if place.school is not None else ""),
            (
                _("年级、班级"),
                "".join([format_grade(enrollment.grade), enrollment.class_name])
                if enrollment is not None
                else "",
            ),
            (_("监护人"), place.guardians or _("（未登记）")),
            (_("重点群体"), "、".join(tags) or _("否")),
        ],
    )


def _add_overview(doc: Any, case: Case, moved: datetime | None) -> None:
    """Section 二: the case's kind, status, reasons, deadline and evidence."""
    doc.add_heading(_("二、案件概况"), level=1)
    _pairs(
        doc,
        [
            (_("类型"), case.get_kind_display()),
            (_("状态"), case.get_status_display()),
            (_("比对类别"), str(CATEGORY_LABELS.get(case.category, case.category))),
            (_("依据"), case.basis),
            (_("立案时间"), format_moment(case.opened_at)),
            (_("辍学开始月份"), format_month(case.began_on)),
            (_("辍学原因"), _reasons(case)),
            (
                _("排除原因"),
                _labels([case.dismiss_reason] if case.dismiss_reason else [], DISMISS_REASONS),
            ),
            (_("下一步期限"), format_day(case.next_due)),
            (
                _("排除或销号的证据"),
                ""
                if moved is not None
                else "\n".join(f"{label}：{value}" for label, value in evidence.describe(case)),
            ),
            (_("报告人"), str(case.reported_by) if case.reported_by else ""),
        ],
    )


def _add_responsibilities(doc: Any, responsibilities: Sequence[Responsibility]) -> None:
    """Section 三: the responsible people on both lines, current and past."""
    doc.add_heading(_("三、双线四包责任人"), level=1)
    _table(
        doc,
        [
            _("线"),
            _("层级"),
            _("姓名"),
            _("职务"),
            _("单位"),
            _("电话"),
            _("落实时间"),
            _("结束时间"),
        ],
        [
            [
                r.get_line_display(),
                level_name(r.line, r.level),
                r.name,
                r.role,
                r.unit,
                r.phone,
                format_moment(r.assigned_at),
                format_moment(r.ended_at) if r.ended_at else _("现任"),
            ]
            for r in responsibilities
        ],
    )


def _add_attempts(doc: Any, attempts: Sequence[ReturnAttempt]) -> None:
    """Section 四: the return attempts."""
    doc.add_heading(_("四、劝返记录"), level=1)
    _table(
        doc,
        [
            _("日期"),
            _("方式"),
            _("参与人员及电话"),
            _("见到的人"),
            _("沟通内容及帮扶"),
            _("结果及下一步"),
        ],
        [_attempt_row(a) for a in attempts],
    )


def _add_documents(doc: Any, documents: Sequence[EscalationDocument]) -> None:
    """Section 五: the legal documents issued."""
    doc.add_heading(_("五、法律文书"), level=1)
    _table(
        doc,
        [_("文书"), _("文号"), _("发文单位"), _("发文日期"), _("期限"), _("送达日期"), _("结果")],
        [
            [
                d.get_kind_display(),
                d.number,
                d.issuer,
                format_day(d.issued_on),
                format_day(d.deadline),
                format_day(d.served_on),
                d.outcome,
            ]
            for d in documents
        ],
    )


def _add_plan(doc: Any, case: Case, moved: datetime | None) -> None:
    """Section 六: the support plan (its note withheld from the place the child left)."""
    doc.add_heading(_("六、帮扶方案"), level=1)
    _pairs(
        doc,
        [
            (_("帮扶措施"), _labels(case.measures, MEASURES) or _("（未制定）")),
            (_("方案说明"), "" if moved is not None else case.plan_note),
        ],
    )


def _add_placements(doc: Any, placements: Sequence[Placement]) -> None:
    """Section 七: the placements."""
    doc.add_heading(_("七、安置情况"), level=1)
    _table(
        doc,
        [_("安置方式"), _("学校及年级"), _("安置日期"), _("延缓或免予入学依据"), _("复核日期")],
        [_placement_row(p) for p in placements],
    )


def _add_follow_ups(doc: Any, follow_ups: Sequence[FollowUp]) -> None:
    """Section 八: the follow-ups."""
    doc.add_heading(_("八、跟踪记录"), level=1)
    _table(
        doc,
        [_("应跟踪日期"), _("跟踪日期"), _("出勤"), _("缺勤天数"), _("情况")],
        [_follow_up_row(f) for f in follow_ups],
    )


def _add_closing(doc: Any, case: Case, moved: datetime | None) -> None:
    """Section 九: the closing, shown only when it came before any move away."""
    doc.add_heading(_("九、销号"), level=1)
    closed = case.closed_at is not None and (moved is None or case.closed_at <= moved)
    _pairs(
        doc,
        [
            (_("销号批准人"), case.close_approver if closed else ""),
            (_("销号依据"), case.close_evidence if closed else ""),
            (_("办理人"), str(case.closed_by) if closed and case.closed_by else ""),
            (_("结案时间"), format_moment(case.closed_at) if closed else ""),
        ],
    )


def _add_history(doc: Any, events: Sequence[CaseEvent]) -> None:
    """Section 十: the case's events, who did what and when."""
    doc.add_heading(_("十、办理经过"), level=1)
    _table(
        doc,
        [_("时间"), _("操作人"), _("事项"), _("状态变化")],
        [
            [
                format_moment(e.at),
                str(e.actor) if e.actor else _("系统"),
                str(_EVENT_KINDS.get(e.kind, e.kind)),
                _status_change(e.from_status, e.to_status),
            ]
            for e in events
        ],
    )


def _add_attachments(doc: Any, attachments: Sequence[Attachment]) -> None:
    """Section 十一: the photos and the other attachments."""
    doc.add_heading(_("十一、照片及附件"), level=1)
    _attachments(doc, attachments)


def _attachments(doc: Any, attachments: Sequence[Attachment]) -> None:
    """Each photo, made small, with its caption; then the attachments that are not photos
    or cannot be read, by name. A damaged or lost file never stops the export."""
    if not attachments:
        doc.add_paragraph(_("（无）"))
        return
    listed: list[str] = []
    for item in attachments:
        photo = small_photo(item) if item.is_photo else None
        if photo is None:
            listed.append(_listed_line(item))
            continue
        data, width, height = photo
        doc.add_picture(
            BytesIO(data), width=Cm(min(PHOTO_WIDTH_CM, PHOTO_MAX_HEIGHT_CM * width / height))
        )
        doc.add_paragraph(scrub(_caption(item)))
    if listed:
        doc.add_paragraph(_("以下附件未放入本档案，请在系统中查看："))
        for line in listed:
            doc.add_paragraph(scrub(line))


def _belongs_to(item: Attachment) -> str:
    if item.attempt is not None:
        return _("劝返记录（%(day)s）") % {"day": format_day(item.attempt.attempted_on)}
    if item.document is not None:
        return " ".join(p for p in (item.document.get_kind_display(), item.document.number) if p)
    return ""


def _caption(item: Attachment) -> str:
    parts = [
        item.name,
        _belongs_to(item),
        _("%(when)s上传") % {"when": format_moment(item.uploaded_at)},
    ]
    return "　".join(p for p in parts if p)


def _listed_line(item: Attachment) -> str:
    if item.content_type == "application/pdf":
        why = _("PDF 扫描件")
    elif item.is_photo:
        why = _("照片无法读取，文件可能已损坏")
    elif item.content_type.startswith("image/"):
        why = _("HEIC 等格式的照片")
    else:
        why = _("其他文件")
    return _("%(caption)s（%(why)s）") % {"caption": _caption(item), "why": why}


def _guardian_line(guardian: Guardian) -> str:
    parts = [
        _("%(name)s（%(relation)s）")
        % {
            "name": guardian.name,
            "relation": guardian.get_relation_display(),
        },
        guardian.phone,
        _("务工地：%(place)s") % {"place": guardian.work_place} if guardian.work_place else "",
        _("主要监护人") if guardian.is_primary else "",
    ]
    return "　".join(str(p) for p in parts if p)


def _attempt_row(attempt: ReturnAttempt) -> list[str]:
    talk = [
        _("沟通：%(text)s") % {"text": attempt.said} if attempt.said else "",
        _("帮扶：%(text)s") % {"text": attempt.offered} if attempt.offered else "",
    ]
    outcome = [
        attempt.get_result_display(),
        _("下一步：%(text)s") % {"text": attempt.next_step} if attempt.next_step else "",
        _("（%(day)s）") % {"day": format_day(attempt.next_date)} if attempt.next_date else "",
    ]
    return [
        format_day(attempt.attempted_on),
        attempt.get_method_display(),
        attempt.people,
        attempt.met,
        "\n".join(str(t) for t in talk if t),
        "\n".join(str(t) for t in outcome if t),
    ]


def _placement_row(placement: Placement) -> list[str]:
    where = "".join(
        [placement.school.name if placement.school else "", format_grade(placement.grade)]
    )
    exemption = [
        _("监护人申请：%(text)s") % {"text": placement.application}
        if placement.application
        else "",
        _("结论：%(text)s") % {"text": placement.conclusion} if placement.conclusion else "",
        _("批准人：%(text)s") % {"text": placement.approver} if placement.approver else "",
    ]
    return [
        placement.get_kind_display(),
        where,
        format_day(placement.placed_on),
        "\n".join(str(t) for t in exemption if t),
        format_day(placement.review_date),
    ]


def _follow_up_row(follow_up: FollowUp) -> list[str]:
    return [
        format_day(follow_up.due_on),
        format_day(follow_up.done_on) if follow_up.done_on else _("未跟踪"),
        follow_up.get_attendance_display() if follow_up.attendance else "",
        str(follow_up.absent_days) if follow_up.absent_days is not None else "",
        follow_up.note,
    ]


def _status_change(before: str, after: str) -> str:
    if not before and not after:
        return ""
    labels = dict(Case.Status.choices)
    return f"{labels.get(before, before or '—')} → {labels.get(after, after or '—')}"


def _new_document() -> Any:
    return new_document(_("控辍保学一人一案档案"))
