"""残联残疾儿童名单: the disability federation's list of card holders.

The second-generation 残疾人证号 is 20 characters: the holder's 18-character ID number, then
one digit for the category (1 视力 … 7 多重) and one for the grade (1 一级 … 4 四级). The card
number is the key: it names the child (by the ID number's keyed hash) and says the category and
grade, so the 残疾类别 and 残疾等级 columns, when present, are only checked against it.

A registered child gets the disability flag, category, grade and the (encrypted) card number.
A child who is not registered is added when of compulsory age, in the village the list names;
the list also holds adults and pre-school children, whose rows are skipped with a note. The
guardian in the list is recorded for new children only: for registered children the 户籍 side
is the authority on who their guardians are.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from baoxue.core import crypto, idnumbers
from baoxue.core.bulk import update_objects
from baoxue.core.policy import compulsory_birth_range
from baoxue.core.services import log_action
from baoxue.imports.pipeline import masked_cell
from baoxue.imports.places import place_record
from baoxue.imports.sources.base import (
    Action,
    Field,
    Planned,
    Record,
    RowIssue,
    flags_unsafe_text,
    person_name,
)
from baoxue.imports.sources.children import (
    CLAIM,
    ChildIndex,
    duplicates_in_file,
    give_id_number,
    guardian_issues,
    id_issues,
    id_parser,
    may_take_number,
    plan_discrepancies,
    write_discrepancies,
)
from baoxue.imports.sources.households import other_townships
from baoxue.imports.sources.roster import ID_ALIASES
from baoxue.imports.values import CellError, clean_text, parse_date, parse_sex
from baoxue.registry.counts import counts_mark_stale
from baoxue.registry.models import Child, Discrepancy, Guardian
from baoxue.registry.services import ID_FIELDS, apply_id_columns, build_child, id_columns

CATEGORIES = {
    "1": "视力残疾",
    "2": "听力残疾",
    "3": "言语残疾",
    "4": "肢体残疾",
    "5": "智力残疾",
    "6": "精神残疾",
    "7": "多重残疾",
}
GRADES = {"1": "一级", "2": "二级", "3": "三级", "4": "四级"}
CARD_LENGTH = 20

_RE_SCIENTIFIC = re.compile(r"[+-]?[0-9]+(?:\.[0-9]*)?E[+-]?[0-9]+", re.IGNORECASE)
_CN_GRADE = {"一": "1", "二": "2", "三": "3", "四": "4", "壹": "1", "贰": "2", "叁": "3", "肆": "4"}


@dataclass(frozen=True)
class Card:
    number: str  # the 20 characters
    id_info: idnumbers.IdInfo
    category: str  # label, e.g. 智力残疾
    grade: str  # label, e.g. 二级

    @property
    def masked(self) -> str:
        return idnumbers.mask(self.number[:18]) + self.number[18:]


def parse_card(value: object) -> Card | None:
    """A 第二代残疾人证号, checked: 18-character ID number + category 1–7 + grade 1–4."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        raise CellError(
            _(
                "残疾人证号被 Excel 存成了数字，后几位已经丢失。请在 Excel 或 WPS 中把这一列"
                "设置为“文本”格式后重新录入完整证号（或在证号前加英文单引号 '）。"
            )
        )
    text = idnumbers.normalize(clean_text(value))
    if not text:
        return None
    if _RE_SCIENTIFIC.fullmatch(text):
        raise CellError(
            _("残疾人证号显示成了科学计数法（%(value)s），后几位已经丢失，请按文本重新录入")
            % {"value": text}
        )
    if len(text) != CARD_LENGTH:
        if len(text) == 18:
            raise CellError(
                _(
                    "残疾人证号只有 18 位，像是身份证号。残疾人证号应为 20 位："
                    "身份证号加残疾类别、残疾等级各 1 位"
                )
            )
        raise CellError(
            _(
                "残疾人证号“%(value)s”应为 20 位（身份证号 18 位 + 类别 1 位 + 等级 1 位），"
                "现在是 %(n)s 位"
            )
            % {"value": masked_cell(text), "n": len(text)}
        )
    info = idnumbers.parse(text[:18])
    if not info.is_valid:
        reason = {
            idnumbers.IdStatus.BAD_CHECKSUM: _("校验位不符"),
            idnumbers.IdStatus.BAD_DATE: _("出生日期部分无效"),
        }.get(info.status, _("位数或字符不对"))
        raise CellError(
            _("残疾人证号的前 18 位不是有效的身份证号（%(reason)s），请核对") % {"reason": reason}
        )
    category, grade = text[18], text[19]
    if category not in CATEGORIES:
        raise CellError(
            _(
                "残疾人证号第 19 位是残疾类别，应为 1–7（视力、听力、言语、肢体、智力、精神、"
                "多重），现在是“%(c)s”"
            )
            % {"c": category}
        )
    if grade not in GRADES:
        raise CellError(
            _("残疾人证号第 20 位是残疾等级，应为 1–4（一级到四级），现在是“%(g)s”") % {"g": grade}
        )
    return Card(text, info, CATEGORIES[category], GRADES[grade])


def parse_category(value: object) -> str:
    """残疾类别 as its label: 智力, 智力残疾, 5 → 智力残疾."""
    text = clean_text(value).replace(" ", "")
    if not text:
        return ""
    if text in CATEGORIES:
        return CATEGORIES[text]
    for label in CATEGORIES.values():
        if text in (label, label[:2], label[:2] + "类"):
            return label
    if text in {"多重", "多重残疾", "综合"}:
        return CATEGORIES["7"]
    raise CellError(
        _("无法识别的残疾类别“%(text)s”，可填：视力、听力、言语、肢体、智力、精神、多重")
        % {"text": text}
    )


_VALID_STATUS = {"有效", "正常", "在册", "已认证", "认证通过", "持证"}


def parse_card_status(value: object) -> str:
    """状态 of the card: '' when it is valid (or blank), else as the list writes it."""
    text = clean_text(value).replace(" ", "")
    return "" if not text or text in _VALID_STATUS else text[:16]


def _card_from_columns(v: dict[str, Any], row: int) -> RowIssue | None:
    """A row without a 残疾人证号: the card from the ID number, the category and the grade, as
    the federation builds it (ID + category digit + grade digit); without both, no number,
    the category and grade the list gives."""
    info: idnumbers.IdInfo | None = v.get("id_info")
    if info is None or not info.is_valid:
        return RowIssue(
            row,
            "残疾人证号",
            "required",
            _("缺少残疾人证号，身份证号也没有（或无效），无法确定是谁"),
        )
    category, grade = v.get("category", ""), v.get("grade", "")
    digits = {label: code for code, label in CATEGORIES.items()}.get(category, "")
    level = {label: code for code, label in GRADES.items()}.get(grade, "")
    number = info.value + digits + level if digits and level else ""
    v["card"] = Card(number, info, category, grade)
    return None


def parse_grade(value: object) -> str:
    """残疾等级 as its label: 二级, 2级, 2, 贰级 → 二级."""
    text = clean_text(value).replace(" ", "")
    if not text:
        return ""
    digit = text.removeprefix("残疾").removesuffix("级").removesuffix("等")
    digit = _CN_GRADE.get(digit, digit)
    if digit in GRADES:
        return GRADES[digit]
    raise CellError(
        _("无法识别的残疾等级“%(text)s”，可填：一级、二级、三级、四级") % {"text": text}
    )


class DisabilitySource:
    code = "disability"
    label = gettext_lazy("残联残疾儿童名单")
    fields = [
        Field(
            "name",
            "姓名",
            ("儿童姓名", "残疾人姓名", "持证人姓名"),
            person_name("姓名"),
            True,
            "龙雨欣",
        ),
        Field("sex", "性别", (), parse_sex, False, "女"),
        Field(
            "card",
            "残疾人证号",
            (
                "残疾证号",
                "残疾人证号码",
                "证号",
                "残疾证号码",
                "残疾人证编号",
                "持证号",
                "残疾人证",
            ),
            parse_card,
            False,
            "45022520121009002X52",
            # A list of certified people by ID number, category and grade (残疾人认证) has no
            # card number: the ID number stands in.
            required_unless=("id_info",),
        ),
        Field(
            "id_info", "身份证号", (*ID_ALIASES, "证件号"), id_parser, False, "45022520121009002X"
        ),
        Field(
            "category",
            "残疾类别",
            ("残疾类型", "类别", "残疾种类"),
            parse_category,
            False,
            "智力残疾",
        ),
        Field("grade", "残疾等级", ("等级", "残疾级别"), parse_grade, False, "二级"),
        Field(
            "birth_date",
            "出生日期",
            ("出生年月", "出生年月日", "出生时间"),
            parse_date,
            False,
            "2012-10-09",
        ),
        Field(
            "village",
            "村",
            ("行政村", "村委", "村委会", "所属村", "村社区", "村（社区）", "户籍村", "居委"),
            clean_text,
            False,
            "乌岭村",
        ),
        Field(
            "address",
            "户口地址",
            ("户籍地址", "户口所在地址", "户口所在地", "家庭住址", "联系地址", "居住地址"),
            clean_text,
            False,
            "",
        ),
        Field(
            "card_status",
            "状态",
            ("证件状态", "认证状态", "持证状态", "残疾证状态"),
            parse_card_status,
            False,
            "有效",
        ),
        Field(
            "group",
            "组/屯",
            ("组", "屯", "自然屯", "自然村", "村民小组", "组别", "组屯"),
            clean_text,
            False,
            "下寨屯",
        ),
        Field("guardian_name", "监护人", ("监护人姓名", "家长姓名"), clean_text, False, "龙大"),
        Field(
            "guardian_phone",
            "联系电话",
            ("监护人电话", "监护人联系电话", "家长电话", "电话"),
            clean_text,
            False,
            "13800000002",
        ),
        Field("notes", "备注", ("说明",), clean_text, False, ""),
    ]

    @flags_unsafe_text
    def check(self, record: Record, ctx: Any) -> list[RowIssue]:
        v = record.values
        n = record.row_number
        if v.get("card") is None:
            problem = _card_from_columns(v, n)
            if problem is not None:
                return [problem]
        card: Card = v["card"]
        info: idnumbers.IdInfo | None = v.get("id_info")
        if info is None or info.status == idnumbers.IdStatus.EMPTY:
            v["id_info"] = card.id_info
        elif info.value != card.id_info.value:
            return [
                RowIssue(
                    n,
                    "身份证号",
                    "card_mismatch",
                    _("身份证号与残疾人证号的前 18 位不一致，无法确定是谁，请核实"),
                )
            ]
        issues = id_issues(record, "身份证号")
        for name, column, wanted in (
            ("category", "残疾类别", card.category),
            ("grade", "残疾等级", card.grade),
        ):
            given = v.get(name, "")
            if given and given != wanted:
                issues.append(
                    RowIssue(
                        n,
                        column,
                        "card_disagrees",
                        _("%(column)s填的是“%(given)s”，残疾人证号表示“%(wanted)s”，以证号为准")
                        % {"column": column, "given": given, "wanted": wanted},
                        "warning",
                    )
                )
        issues += guardian_issues(record, "监护人", "联系电话")
        record.warnings = issues
        return list(issues)

    def plan(self, records: list[Record], ctx: Any) -> tuple[list[Planned], list[RowIssue]]:
        issues = duplicates_in_file(records, {f.name: f.label for f in self.fields})
        places = ctx.places
        keep = [r for r in records if not r.values.get("reject") and not r.values.get("skip")]
        index = ChildIndex(keep, ctx.township)
        townships = other_townships(index, ctx.township)
        earliest, latest = compulsory_birth_range(ctx.today)
        plan: list[Planned] = []

        claimed: set[int] = set()

        def registered(record: Record, village: Any) -> bool:
            """Whether the row is a registered child's (then planned or reported). A row
            whose number another child holds without the row bearing it out is not: it is
            registered as a record of its own (CLAIM), asked once."""
            if record.row_number in claimed:
                return False
            child, problem = index.find(record, village, reveal=ctx.may_quote)
            if CLAIM in record.values:
                claimed.add(record.row_number)
            if problem is not None:
                issues.append(problem)
                if problem.severity == "error":
                    return True
            if child is None:
                return False
            self._plan_registered(record, child, ctx, townships, plan, issues)
            return True

        for record in keep:
            v = record.values
            n = record.row_number
            card: Card = v["card"]
            if registered(record, None):
                continue
            birth = card.id_info.birth_date
            if birth is None or not earliest <= birth <= latest:
                issues.append(
                    RowIssue(
                        n,
                        "残疾人证号",
                        "not_school_age",
                        _("不在义务教育年龄段，跳过"),
                        "warning",
                    )
                )
                continue
            if not v.get("village") and v.get("address"):
                # A 户口地址 without a 村 column: the village it names.
                key, group = places.find_in_address(v["address"])
                if key:
                    v["village"] = places.villages[key].name
                    v.setdefault("group", group)
            if not v.get("village"):
                issues.append(
                    RowIssue(
                        n,
                        "村",
                        "village_needed",
                        _("该儿童尚未登记，新登记需要填写所在的村"),
                    )
                )
                continue
            problem = place_record(record, places, ctx.village_ids)
            if problem is not None:
                issues.append(problem)
                continue
            # Registered in that village without a valid ID number (same name and birth
            # date): the card's number is hers.
            if registered(record, places.villages.get(v["village_key"])):
                continue
            plan.append(
                Planned(
                    record,
                    Action.CREATE,
                    None,
                    {
                        "category": ("", card.category),
                        "grade": ("", card.grade),
                        "card": ("", card.masked),
                    },
                )
            )
        plan_discrepancies(
            plan, ctx, Discrepancy.Source.DISABILITY, index, child_of=lambda p: p.target
        )
        return plan, issues

    def _plan_registered(
        self,
        record: Record,
        child: Child,
        ctx: Any,
        townships: dict[int, str],
        plan: list[Planned],
        issues: list[RowIssue],
    ) -> None:
        n = record.row_number
        if child.township_id != ctx.township.pk:
            issues.append(
                RowIssue(
                    n,
                    "残疾人证号",
                    "elsewhere",
                    _("该儿童登记在其他乡镇（%(t)s），未导入")
                    % {"t": townships[child.township_id]},
                )
            )
            return
        if ctx.village_ids is not None and child.village_id not in ctx.village_ids:
            issues.append(RowIssue(n, "村", "scope", _("该儿童不在您负责的村，未导入")))
            return
        changes = self._changes(child, record.values["card"])
        status = record.values.get("card_status")
        if status is not None and status != child.disability_card_status:
            changes["card_status"] = (child.disability_card_status, status)
        plan.append(Planned(record, Action.UPDATE if changes else Action.UNCHANGED, child, changes))

    @staticmethod
    def _changes(child: Child, card: Card) -> dict[str, tuple[Any, Any]]:
        changes: dict[str, tuple[Any, Any]] = {}
        if may_take_number(child):
            changes["id_number"] = (child.id_status, card.id_info.value)
        if not child.has_disability:
            changes["has_disability"] = (_("否"), _("是"))
        if card.category and child.disability_category != card.category:
            changes["category"] = (child.disability_category, card.category)
        if card.grade and child.disability_grade != card.grade:
            changes["grade"] = (child.disability_grade, card.grade)
        current = child.disability_card_number
        if card.number and current != card.number:
            shown = idnumbers.mask(current[:18]) + current[18:] if current else ""
            changes["card"] = (shown, card.masked)
        return changes

    def commit(self, plan: list[Planned], ctx: Any, progress: Any) -> None:
        places = ctx.places
        places.create_proposed(ctx.actor)
        new_children: list[Child] = []
        guardians: list[Guardian] = []
        for p in plan:
            if p.action != Action.CREATE:
                continue
            v = p.record.values
            card: Card = v["card"]
            child = build_child(
                name=v["name"],
                village=places.village(v["village_key"]),
                group=places.group(v["village_key"], v.get("group_key", "")),
                id_number=card.id_info.value,
                birth_date=v.get("birth_date") or card.id_info.birth_date,
                sex=v.get("sex", ""),
                has_disability=True,
                disability_category=card.category,
                disability_grade=card.grade,
                disability_card_enc=crypto.encrypt(card.number),
                disability_card_status=v.get("card_status", ""),
                notes=v.get("notes", ""),
            )
            if CLAIM in v:
                apply_id_columns(child, id_columns(card.id_info.value).claimed())
            new_children.append(child)
            if v.get("guardian_name"):
                guardians.append(
                    Guardian(
                        child=child,
                        name=v["guardian_name"],
                        phone=v.get("guardian_phone", ""),
                        relation=Guardian.Relation.OTHER,
                        is_primary=True,
                    )
                )
        Child.objects.bulk_create(new_children, batch_size=1000)
        for p, child in zip(
            [p for p in plan if p.action == Action.CREATE], new_children, strict=True
        ):
            p.record.values["child_id"] = child.pk
        Guardian.objects.bulk_create(guardians, batch_size=1000)
        progress("commit", len(new_children), len(plan))
        now = timezone.now()
        changed: list[Child] = []
        given = False
        for p in plan:
            if p.action != Action.UPDATE:
                continue
            child = p.target
            card = p.record.values["card"]
            child.has_disability = True
            child.disability_category = card.category or child.disability_category
            child.disability_grade = card.grade or child.disability_grade
            if "card_status" in p.changes:
                child.disability_card_status = p.record.values.get("card_status", "")
            if "card" in p.changes:
                child.disability_card_enc = crypto.encrypt(card.number)
            if "id_number" in p.changes:
                give_id_number(child, card.id_info.value)
                given = True
            child.version += 1
            child.updated_at = now
            changed.append(child)
        if changed:
            update_objects(
                changed,
                [
                    "has_disability",
                    "disability_category",
                    "disability_grade",
                    "disability_card_enc",
                    "disability_card_status",
                    *(ID_FIELDS if given else ()),
                    "version",
                    "updated_at",
                ],
            )
        discrepancies = write_discrepancies(ctx)
        counts_mark_stale(county_ids={ctx.township.parent_id})
        log_action(
            actor=ctx.actor,
            action="import.disability_committed",
            obj=ctx.township,
            data={
                "created": len(new_children),
                "updated": len(changed),
                "discrepancies": discrepancies,
            },
        )
        progress("commit", len(plan), len(plan))
