"""What a campaign hands upward: each visit as the 家访记录表 (Word, with its photos and the
guardian's signature) and the campaign's ledger (xlsx, one row per household)."""

from __future__ import annotations

from io import BytesIO
from typing import IO, Any

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from docx.shared import Cm

from baoxue.core.attachments import small_photo
from baoxue.core.sheets import write_xlsx
from baoxue.core.times import day_text, minute_text
from baoxue.core.wordfiles import new_document, pairs, scrub, table
from baoxue.visits import services
from baoxue.visits.models import HomeVisit, VisitCampaign, VisitChild, VisitTarget

PHOTO_WIDTH_CM = 12.0
SIGNATURE_WIDTH_CM = 5.0


def _labels(keys: list[str], words: dict[str, Any]) -> str:
    return "、".join(str(words[k]) for k in keys if k in words)


def visit_docx(visit: HomeVisit) -> bytes:
    """The 家访记录表 of one visit, as the township files it."""
    target = visit.target
    doc = new_document(_("家访记录表"))
    doc.add_paragraph(_("家访记录表"), style="Title")
    household = target.household
    pairs(
        doc,
        [
            (_("活动"), target.campaign.name),
            (_("户主或儿童"), target.label),
            (
                _("住址"),
                " ".join(
                    p for p in (target.village.name, household.address if household else "") if p
                ),
            ),
            (_("走访方式"), visit.get_method_display()),
            (_("走访日期"), day_text(visit.visited_on)),
            (_("走访人员"), visit.visitors),
            (_("接待人"), visit.people_met),
            (_("监护情况"), visit.guardianship),
            (_("家庭经济情况"), visit.economy),
            (_("享受的资助"), _labels(visit.subsidies, services.SUBSIDY_ITEMS)),
            (_("宣传讲解"), _labels(visit.explained, services.LAW_ITEMS)),
        ],
    )
    doc.add_paragraph(_("儿童情况"), style="Heading 1")
    table(
        doc,
        [
            _("姓名"),
            _("性别"),
            _("出生日期"),
            _("学校年级"),
            _("见到本人"),
            _("现状"),
            _("所在地或学校"),
            _("学习和情绪"),
        ],
        [_child_row(c) for c in visit.children.select_related("child__current_school")],
    )
    doc.add_paragraph(_("发现的问题、帮扶措施和跟进"), style="Heading 1")
    pairs(
        doc,
        [
            (_("发现的问题"), visit.problems),
            (_("帮扶措施"), visit.help_given),
            (_("需在此日前跟进"), day_text(visit.follow_up_by)),
            (_("记录人"), f"{visit.recorded_by or ''} {minute_text(visit.recorded_at)}"),
        ],
    )
    photos = list(visit.photos.order_by("uploaded_at", "id"))
    doc.add_paragraph(_("照片"), style="Heading 1")
    shown = 0
    for item in (p for p in photos if not p.is_signature):
        made = small_photo(item)
        if made is None:
            doc.add_paragraph(
                scrub(_("（照片 %(name)s 未能放入，请在系统中查看）") % {"name": item.name})
            )
            continue
        doc.add_picture(BytesIO(made[0]), width=Cm(PHOTO_WIDTH_CM))
        shown += 1
    if not shown:
        doc.add_paragraph(_("（无）"))
    doc.add_paragraph(_("监护人签名："))
    for item in (p for p in photos if p.is_signature):
        made = small_photo(item, side=800)
        if made is not None:
            doc.add_picture(BytesIO(made[0]), width=Cm(SIGNATURE_WIDTH_CM))
    out = BytesIO()
    doc.save(out)
    return out.getvalue()


def _child_row(row: VisitChild) -> list[str]:
    child = row.child
    school = child.current_school.name if child.current_school else ""
    if school and child.current_grade:
        school = f"{school} {child.current_grade}年级{child.current_class}"
    return [
        child.name,
        child.get_sex_display(),
        day_text(child.birth_date),
        school,
        _("是") if row.seen else _("否"),
        row.get_status_display() if row.status else "",
        row.where,
        row.study_mood,
    ]


LEDGER_HEADERS = [
    gettext_lazy("序号"),
    gettext_lazy("村"),
    gettext_lazy("户主或儿童"),
    gettext_lazy("住址"),
    gettext_lazy("学校班级"),
    gettext_lazy("列入原因"),
    gettext_lazy("走访人"),
    gettext_lazy("状态"),
    gettext_lazy("走访日期"),
    gettext_lazy("走访方式"),
    gettext_lazy("儿童现状"),
    gettext_lazy("发现的问题"),
    gettext_lazy("帮扶措施"),
    gettext_lazy("跟进日期"),
]


def _class_text(target: VisitTarget) -> str:
    if target.school is None:
        return ""
    grade = f" {target.grade}年级{target.class_name}" if target.grade else ""
    return f"{target.school.name}{grade}"


def ledger_xlsx(
    target_rows: list[VisitTarget], campaign: VisitCampaign, out: IO[bytes] | Any
) -> int:
    """The campaign's ledger: one row per household (its latest visit), as the county takes it."""
    latest: dict[int, HomeVisit] = {}
    for visit in (
        HomeVisit.objects.filter(target__in=[t.pk for t in target_rows])
        .order_by("target_id", "-visited_on", "-pk")
        .prefetch_related("children__child")
    ):
        latest.setdefault(visit.target_id, visit)
    rows = []
    for n, t in enumerate(target_rows, start=1):
        last = latest.get(t.pk)
        found = (
            "；".join(
                f"{c.child.name}：{c.get_status_display()}" for c in last.children.all() if c.status
            )
            if last
            else ""
        )
        rows.append(
            [
                n,
                t.village.name,
                t.label,
                t.household.address if t.household else "",
                _class_text(t),
                "、".join(t.group_labels),
                str(t.visitor or ""),
                t.get_status_display(),
                day_text(last.visited_on) if last else "",
                last.get_method_display() if last else "",
                found,
                last.problems if last else "",
                last.help_given if last else "",
                day_text(last.follow_up_by) if last else "",
            ]
        )
    return write_xlsx(
        out,
        sheet=_("家访台账"),
        title=_("%(name)s 家访台账") % {"name": campaign.name},
        headers=[str(h) for h in LEDGER_HEADERS],
        rows=rows,
        widths={1: 10, 2: 12, 3: 22, 4: 20, 5: 20, 10: 24, 11: 30, 12: 30},
    )
