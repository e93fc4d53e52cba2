"""脱贫户/监测户名单: the rural-revitalisation office's list of households and their members.

The file has one row per person. Rows are grouped into households by the household number
(户编号/户号) within the village, or by the head's ID number (within the village) when the list
has no number; the head's ID is kept on the household, as a lookup hash, so that two heads of
the same name stay two households on every later import. Each
household gets the tags the list gives it (脱贫户, and the 防返贫监测 category), and every
member whose ID number is a registered child is attached to that household. Members who are
not registered children (the adults, mostly) are fine: their rows plan as unchanged.

Only what the list says is written; a blank tag cell changes nothing. A household tagged by
an earlier list that is missing from a newer one is *not* untagged: a household drops off the
list for many reasons (moved, merged, a partial export), so removing a tag needs a person's
decision, not an import.

The 户编号 of the monitoring system and the 户号 of the 户籍 roster are different numbering
schemes. When a list's number is unknown in the village but the household's registered
children already belong to one household there with the same head, the tags go to that
household instead of a new, childless duplicate.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from baoxue.core import crypto, idnumbers
from baoxue.core.bulk import update_objects, update_rows
from baoxue.core.services import log_action
from baoxue.imports.places import place_record
from baoxue.imports.reading import FileRefused
from baoxue.imports.sources.base import (
    Action,
    Field,
    Planned,
    Record,
    RowIssue,
    flags_unsafe_text,
    person_name,
    required_text,
)
from baoxue.imports.sources.children import (
    CLAIM,
    ChildIndex,
    duplicates_in_file,
    id_hash,
    id_issues,
    id_parser,
    plan_discrepancies,
    write_discrepancies,
)
from baoxue.imports.sources.roster import ID_ALIASES
from baoxue.imports.values import CellError, clean_text, parse_bool, parse_date
from baoxue.registry.counts import counts_mark_stale
from baoxue.registry.models import Child, Discrepancy, Household, Region

Monitoring = Household.MonitoringType


def _child_of(p: Planned) -> Child | None:
    """The registered child a row of the list is (most rows are adults: None)."""
    child: Child | None = p.record.values.get("child_found")
    return child


# A row that says "监测对象" without saying which kind.
MONITORED_UNSPECIFIED = "?"
HEAD_RELATIONS = frozenset({"户主", "本人", "户主本人", "本人（户主）", "本人(户主)"})


# --- cell parsers -------------------------------------------------------------------------------
@dataclass(frozen=True)
class Tags:
    """What one cell says about a household; None = says nothing about it."""

    lifted: bool | None = None
    monitoring: str | None = None


_NOT_LIFTED = {"一般农户", "一般户", "农户", "非脱贫户", "非贫困户", "否", "不是", "无", "0", "N"}
_LIFTED = {"脱贫户", "脱贫", "已脱贫", "脱贫人口", "脱贫户（含监测）", "是", "1", "Y", "√"}
_MONITORED = {"监测对象", "监测户", "防返贫监测对象", "监测对象户", "是监测对象"}
_NOT_MONITORED = {
    "否",
    "无",
    "不是",
    "非监测对象",
    "非监测户",
    "0",
    "N",
    "风险已消除",
    "已消除风险",
    "风险消除",
}


def _monitoring_in(text: str) -> str | None:
    if "不稳定" in text:
        return Monitoring.UNSTABLE
    if "边缘" in text:
        return Monitoring.MARGINAL
    if "突发" in text or "严重困难" in text:
        return Monitoring.SUDDEN_HARDSHIP
    return None


def parse_household_kind(value: object) -> Tags:
    """户类型 / 脱贫属性 / 是否脱贫户: 脱贫户, 一般农户, 是/否, or a monitoring category."""
    text = clean_text(value).replace(" ", "")
    if not text:
        return Tags()
    kind = _monitoring_in(text)
    if kind == Monitoring.UNSTABLE:
        return Tags(True, kind)  # 脱贫不稳定户 is a 脱贫户 by definition
    if kind == Monitoring.MARGINAL:
        return Tags(False, kind)  # 边缘易致贫户 are ordinary households by definition
    if kind is not None:
        return Tags(None, kind)  # 突发严重困难户 may or may not be a 脱贫户
    if text.upper() in _LIFTED:
        return Tags(True, None)
    if text.upper() in _NOT_LIFTED:
        return Tags(False, None)
    if text in _MONITORED:
        return Tags(None, MONITORED_UNSPECIFIED)
    raise CellError(
        _(
            "无法识别的户类型“%(text)s”，可填：脱贫户、一般农户、脱贫不稳定户、边缘易致贫户、突发严重困难户"
        )
        % {"text": text}
    )


def parse_monitoring(value: object) -> Tags:
    """监测对象类别: 脱贫不稳定户, 边缘易致贫户, 突发严重困难户, or 否/无/风险已消除."""
    text = clean_text(value).replace(" ", "")
    if not text:
        return Tags()
    kind = _monitoring_in(text)
    if kind is not None:
        return Tags(True if kind == Monitoring.UNSTABLE else None, kind)
    if text.upper() in _NOT_MONITORED:
        return Tags(None, "")
    if text in _MONITORED or text == "是":
        return Tags(None, MONITORED_UNSPECIFIED)
    raise CellError(
        _("无法识别的监测对象类别“%(text)s”，可填：脱贫不稳定户、边缘易致贫户、突发严重困难户、无")
        % {"text": text}
    )


_EXACT_LIMIT = 10**15
NUMBER_MAX_LENGTH = Household._meta.get_field("number").max_length or 32


def parse_risk_eliminated(value: object) -> bool | None:
    """风险是否消除: 是 / 否 (已消除, 未消除 too)."""
    text = clean_text(value).replace(" ", "")
    if text in {"已消除", "消除", "风险已消除"}:
        return True
    if text in {"未消除", "风险未消除"}:
        return False
    return parse_bool(value, field_label="风险是否消除")


def parse_person_number(value: object) -> str:
    """人编号 as text (long digits: refused when Excel kept only 15 of them)."""
    text = parse_household_number(value)
    return text[:32]


def parse_household_number(value: object) -> str:
    """户编号 as text. The monitoring system's numbers are long; typed into a number cell,
    Excel has kept only their first 15 digits."""
    if (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and (not math.isfinite(value) or abs(value) >= _EXACT_LIMIT)
    ):
        raise CellError(
            _(
                "户编号被 Excel 存成了数字，后几位已经丢失。请把这一列设置为“文本”格式后"
                "重新填写完整编号。"
            )
        )
    text = clean_text(value)
    if len(text) > NUMBER_MAX_LENGTH:
        raise CellError(
            _("户编号“%(text)s”太长（超过 %(n)s 个字符），请核对")
            % {"text": text, "n": NUMBER_MAX_LENGTH}
        )
    return text


def other_townships(index: ChildIndex, township: Region) -> dict[int, str]:
    """Names of the other townships the matched children are registered in, in one query
    (for the message that says where a child is)."""
    ids = {c.township_id for cs in index.by_hash.values() for c in cs} - {township.pk}
    return dict(Region.objects.filter(pk__in=ids).values_list("id", "name")) if ids else {}


# --- planning -----------------------------------------------------------------------------------
@dataclass
class HouseholdPlan:
    """One household of the file: its rows, the registry's household (None = create one) and
    the tag changes."""

    key: tuple[str, ...]
    village_key: str
    group_key: str
    number: str
    head_name: str = ""
    head_id: str = ""
    phone: str = ""
    rows: list[tuple[Record, Child | None]] = field(default_factory=list)
    household: Household | None = None
    lifted: bool | None = None
    monitoring: str | None = None
    risk_on: date | None = None
    changes: dict[str, tuple[Any, Any]] = field(default_factory=dict)


def _monitoring_label(value: str | None) -> str:
    if value is None:
        return ""
    return str(Monitoring(value).label)


def _lifted_label(value: bool | None) -> str:
    if value is None:
        return ""
    return _("脱贫户") if value else _("非脱贫户")


class HouseholdsSource:
    code = "households"
    label = gettext_lazy("脱贫户/监测户名单")
    fields = [
        Field(
            "household_number", "户编号", ("户号", "户籍编号", "家庭编号"), parse_household_number
        ),
        Field("head_name", "户主姓名", ("户主",), clean_text, False, "吴老大"),
        Field(
            "head_id",
            "户主身份证号",
            ("户主身份证号码", "户主证件号码", "户主公民身份号码", "户主身份证件号码"),
            id_parser,
            False,
            "450225198001010013",
        ),
        Field(
            "name",
            "姓名",
            ("成员姓名", "家庭成员姓名", "人员姓名", "人口姓名"),
            person_name("姓名"),
            True,
            "吴俊辉",
        ),
        Field(
            "id_info",
            "身份证号",
            ("成员身份证号", "成员证件号码", "成员身份证号码", *ID_ALIASES),
            id_parser,
            False,
            "450225201605020011",
        ),
        Field(
            "relation_to_head", "与户主关系", ("与户主关系名称", "关系"), clean_text, False, "子"
        ),
        Field(
            "birth_date",
            "出生日期",
            ("出生年月", "出生年月日"),
            parse_date,
            False,
            "2016-05-02",
        ),
        Field(
            "village",
            "村",
            ("行政村", "村委", "村委会", "所属村", "村社区", "村（社区）", "村名"),
            required_text("村"),
            True,
            "乌岭村",
        ),
        Field(
            "group",
            "组/屯",
            ("组", "屯", "自然村", "自然屯", "村民小组", "组别", "所属组", "组屯"),
            clean_text,
            False,
            "上寨屯",
        ),
        Field(
            "is_lifted_from_poverty",
            "户类型",
            (
                "脱贫属性",
                "是否脱贫户",
                "脱贫户",
                "脱贫户属性",
                "户属性",
                "农户类型",
                "脱贫户类型",
            ),
            parse_household_kind,
            False,
            "脱贫户",
        ),
        Field(
            "monitoring_type",
            "监测对象类别",
            (
                "监测类型",
                "监测对象类型",
                "防返贫监测类型",
                "监测户类型",
                "监测类别",
                "易返贫致贫户(监测对象)类型",
                "易返贫致贫户类型",
                "易返贫致贫户监测对象类别",
            ),
            parse_monitoring,
            False,
            "脱贫不稳定户",
        ),
        Field(
            "phone",
            "联系电话",
            ("电话", "手机号码", "户主联系电话", "联系方式", "户联系电话", "人联系电话"),
            clean_text,
        ),
        Field(
            "risk_eliminated",
            "风险是否消除",
            ("风险是否已消除", "是否风险消除", "是否消除风险"),
            parse_risk_eliminated,
            False,
            "否",
        ),
        Field("risk_eliminated_on", "风险消除时间", ("风险消除日期",), parse_date, False, ""),
        # The monitoring system's own number of the person: kept on the registered child
        # (Child.person_number), the way back into that system's lists.
        Field(
            "person_number",
            "人编号",
            ("人员编号", "成员编号"),
            parse_person_number,
            in_template=False,
        ),
    ]

    # -- per row ---------------------------------------------------------------------------------
    @flags_unsafe_text
    def check(self, record: Record, ctx: Any) -> list[RowIssue]:
        v = record.values
        if "is_lifted_from_poverty" not in v and "monitoring_type" not in v:
            raise FileRefused(_("缺少“户类型”（脱贫属性）或“监测对象类别”列，无法知道各户的类别。"))
        issues = id_issues(record, "身份证号")
        kind: Tags = v.get("is_lifted_from_poverty") or Tags()
        watch: Tags = v.get("monitoring_type") or Tags()
        n = record.row_number
        if kind.lifted is False and watch.lifted is True:
            return [
                RowIssue(
                    n,
                    "户类型",
                    "tags_conflict",
                    _("户类型是“一般农户”，监测对象类别却是“脱贫不稳定户”，两者矛盾，请核实"),
                )
            ]
        specific = {
            t.monitoring for t in (kind, watch) if t.monitoring not in (None, MONITORED_UNSPECIFIED)
        }
        if len(specific) > 1:
            return [
                RowIssue(
                    n,
                    "监测对象类别",
                    "tags_conflict",
                    _("户类型与监测对象类别给出了不同的监测类型（%(a)s），请核实")
                    % {"a": "、".join(sorted(_monitoring_label(m) for m in specific))},
                )
            ]
        lifted = kind.lifted if kind.lifted is not None else watch.lifted
        monitoring = watch.monitoring if watch.monitoring is not None else kind.monitoring
        if v.get("risk_eliminated"):
            # 风险已消除: no longer a monitored household, whatever type it had (kept: the day).
            monitoring = ""
            v["risk_on"] = v.get("risk_eliminated_on") or ctx.today
        if monitoring == MONITORED_UNSPECIFIED:
            monitoring = specific.pop() if specific else None
            if monitoring is None:
                issues.append(
                    RowIssue(
                        n,
                        "监测对象类别",
                        "monitoring_unspecified",
                        _("注明是监测对象，但没有写明监测类别，监测类型未改动"),
                        "warning",
                    )
                )
        v["tags"] = Tags(lifted, monitoring)
        record.warnings = issues
        return list(issues)

    # -- the whole file --------------------------------------------------------------------------
    def plan(self, records: list[Record], ctx: Any) -> tuple[list[Planned], list[RowIssue]]:
        issues = duplicates_in_file(records, {f.name: f.label for f in self.fields})
        places = ctx.places
        keep: list[Record] = []
        for record in records:
            v = record.values
            if v.get("reject") or v.get("skip"):
                continue
            problem = place_record(record, places, ctx.village_ids)
            if problem is not None:
                issues.append(problem)
                continue
            keep.append(record)

        index = ChildIndex(keep, ctx.township)
        townships = other_townships(index, ctx.township)
        groups: dict[tuple[str, ...], HouseholdPlan] = {}
        for record in keep:
            v = record.values
            n = record.row_number
            key = self._key(record)
            if key is None:
                issues.append(
                    RowIssue(
                        n,
                        "户编号",
                        "no_household",
                        _("没有户编号，也没有有效的户主身份证号，无法确定属于哪一户"),
                    )
                )
                continue
            # Only an ID number identifies a child here: the list has no birth dates to
            # match on, and most of its people are adults. The number finds the child
            # registered with it, or the one of the village registered without one (the
            # same name and the number's birth date).
            village = places.villages.get(v["village_key"]) if id_hash(record) else None
            child, problem = index.find(record, village, reveal=ctx.may_quote)
            if CLAIM in v:
                # The list registers no child: a row that does not bear its number out is
                # kept in its household, tied to no child.
                del v[CLAIM]
                problem = RowIssue(
                    n,
                    "身份证号",
                    "id_claimed",
                    _("身份证号与系统中已登记的儿童相同，但姓名对不上，未关联到该儿童，请核实"),
                    "warning",
                )
            if problem is not None:
                issues.append(problem)
                if problem.severity == "error":
                    continue
            if child is not None and child.township_id != ctx.township.pk:
                issues.append(
                    RowIssue(
                        n,
                        "身份证号",
                        "elsewhere",
                        _("该儿童登记在其他乡镇（%(t)s），未关联到户")
                        % {"t": townships[child.township_id]},
                        "warning",
                    )
                )
                child = None
            v["child_found"] = child
            group = groups.get(key)
            if group is None:
                group = groups[key] = HouseholdPlan(
                    key=key,
                    village_key=v["village_key"],
                    group_key=v.get("group_key", ""),
                    number=v.get("household_number", ""),
                )
            group.rows.append((record, child))

        plan: list[Planned] = []
        households = self._resolve(groups, ctx, issues)
        for group in groups.values():
            if group.household is None and not group.number and not group.head_name:
                for record, _child in group.rows:
                    issues.append(
                        RowIssue(
                            record.row_number,
                            "户主姓名",
                            "no_head",
                            _("没有户编号，也无法确定户主姓名，无法对应到户"),
                        )
                    )
                continue
            plan.extend(self._plan_group(group, households, issues))
        plan.sort(key=lambda p: p.record.row_number)
        plan_discrepancies(plan, ctx, Discrepancy.Source.HOUSEHOLDS, index, child_of=_child_of)
        return plan, issues

    @staticmethod
    def _key(record: Record) -> tuple[str, ...] | None:
        v = record.values
        number = v.get("household_number", "")
        if number:
            return ("number", v["village_key"], number)
        head: idnumbers.IdInfo | None = v.get("head_id")
        if head is not None and head.value:
            return ("head", v["village_key"], head.value)
        return None

    @classmethod
    def _head_id(cls, rows: list[Record]) -> str:
        """The head's ID number: the 户主身份证号 column, or the ID of the row that is the
        head; '' when the list gives neither as a valid number."""
        for record in rows:
            head: idnumbers.IdInfo | None = record.values.get("head_id")
            if head is not None and head.is_valid:
                return head.value
        for record in rows:
            info: idnumbers.IdInfo | None = record.values.get("id_info")
            if info is not None and info.is_valid and cls._is_head(record):
                return info.value
        return ""

    @staticmethod
    def _is_head(record: Record) -> bool:
        v = record.values
        if v.get("relation_to_head", "").replace(" ", "") in HEAD_RELATIONS:
            return True
        head: idnumbers.IdInfo | None = v.get("head_id")
        info: idnumbers.IdInfo | None = v.get("id_info")
        return bool(head and info and head.value and head.value == info.value)

    def _resolve(
        self, groups: dict[tuple[str, ...], HouseholdPlan], ctx: Any, issues: list[RowIssue]
    ) -> dict[int, Household]:
        """Find each group's household in the registry, in a few bulk queries, and settle
        its head, phone and tags. Returns the households the matched children are in."""
        places = ctx.places
        for group in groups.values():
            heads = [r for r, _c in group.rows if self._is_head(r)]
            first = group.rows[0][0].values
            group.head_name = first.get("head_name") or (heads[0].values["name"] if heads else "")
            group.head_id = crypto.lookup_hash(self._head_id([r for r, _c in group.rows]))
            group.phone = next(
                (r.values["phone"] for r, _c in group.rows if r.values.get("phone")), ""
            )[:32]  # the column's width: a cell may hold several numbers
            self._settle_tags(group, issues)

        numbered = [g for g in groups.values() if g.number and g.village_key in places.villages]
        by_number = {
            (h.village_id, h.number): h
            for h in Household.objects.filter(
                village_id__in={places.villages[g.village_key].pk for g in numbered},
                number__in={g.number for g in numbered},
            )
        }
        child_household_ids = {
            c.household_id for g in groups.values() for _r, c in g.rows if c and c.household_id
        }
        unnumbered = [
            g for g in groups.values() if not g.number and g.village_key in places.villages
        ]
        unnumbered_villages = {places.villages[g.village_key].pk for g in unnumbered}
        # A household without a number is known by its head's ID number; by the head's name
        # only where neither the list nor the registry has that number.
        by_head_id: dict[tuple[int, str], list[Household]] = {}
        for h in Household.objects.filter(
            village_id__in=unnumbered_villages,
            head_id_hash__in={g.head_id for g in unnumbered if g.head_id},
        ):
            by_head_id.setdefault((h.village_id, h.head_id_hash), []).append(h)
        by_head: dict[tuple[int, str], list[Household]] = {}
        for h in Household.objects.filter(
            village_id__in=unnumbered_villages,
            number="",
            head_name__in={g.head_name for g in unnumbered if g.head_name},
        ):
            by_head.setdefault((h.village_id, h.head_name), []).append(h)
        households = {
            h.pk: h
            for h in Household.objects.filter(pk__in=child_household_ids).select_related("village")
        }

        claimed: set[int] = set()
        for g in numbered:
            found = by_number.get((places.villages[g.village_key].pk, g.number))
            if found is not None:
                g.household = found
                claimed.add(found.pk)
        for group in groups.values():
            if group.household is not None:
                continue
            village = places.villages.get(group.village_key)
            if village is None:
                continue  # a proposed village: every household in it is new
            # The registered children of the household already live in one household of
            # this village, under the same head: that is the family, whatever the list
            # numbers it.
            theirs = {c.household_id for _r, c in group.rows if c and c.household_id}
            if len(theirs) == 1:
                candidate = households[theirs.pop()]
                if (
                    candidate.village_id == village.pk
                    and candidate.pk not in claimed
                    and candidate.head_name in ("", group.head_name)
                    # A head of the same name with another ID number is another family.
                    and candidate.head_id_hash in ("", group.head_id or candidate.head_id_hash)
                ):
                    group.household = candidate
                    claimed.add(candidate.pk)
                    continue
            if not group.number:
                known = by_head_id.get((village.pk, group.head_id), []) if group.head_id else []
                same = [h for h in known if h.pk not in claimed]
                if not same:
                    # By the head's name: a household whose head's ID is not known yet, or,
                    # when the list gives no valid ID for the head (blank, mistyped), any.
                    same = [
                        h
                        for h in by_head.get((village.pk, group.head_name), [])
                        if h.pk not in claimed and not (group.head_id and h.head_id_hash)
                    ]
                if len(same) == 1:
                    group.household = same[0]
                    claimed.add(same[0].pk)
        return households

    @staticmethod
    def _settle_tags(group: HouseholdPlan, issues: list[RowIssue]) -> None:
        lifted = {r.values["tags"].lifted for r, _c in group.rows} - {None}
        monitoring = {r.values["tags"].monitoring for r, _c in group.rows} - {None}
        if len(lifted) > 1 or len(monitoring) > 1:
            rows = "、".join(str(r.row_number) for r, _c in group.rows)
            for record, _child in group.rows:
                issues.append(
                    RowIssue(
                        record.row_number,
                        "户类型",
                        "household_tags_differ",
                        _(
                            "同一户（第 %(rows)s 行）的户类型或监测类别不一致，"
                            "该户的标记未改动，请核实"
                        )
                        % {"rows": rows},
                        "warning",
                    )
                )
        group.lifted = lifted.pop() if len(lifted) == 1 else None
        group.monitoring = monitoring.pop() if len(monitoring) == 1 else None
        if group.monitoring == "":
            days = [d for r, _c in group.rows if (d := r.values.get("risk_on")) is not None]
            group.risk_on = max(days) if days else None

    def _plan_group(
        self, group: HouseholdPlan, households: dict[int, Household], issues: list[RowIssue]
    ) -> list[Planned]:
        household = group.household
        if household is None:
            group.changes = {
                "is_lifted_from_poverty": ("", _lifted_label(bool(group.lifted))),
                "monitoring_type": ("", _monitoring_label(group.monitoring or "")),
            }
        else:
            if group.lifted is not None and household.is_lifted_from_poverty != group.lifted:
                group.changes["is_lifted_from_poverty"] = (
                    _lifted_label(household.is_lifted_from_poverty),
                    _lifted_label(group.lifted),
                )
            if group.monitoring is not None and household.monitoring_type != group.monitoring:
                group.changes["monitoring_type"] = (
                    _monitoring_label(household.monitoring_type),
                    _monitoring_label(group.monitoring),
                )
            if group.risk_on is not None and household.risk_eliminated_on != group.risk_on:
                group.changes["risk_eliminated_on"] = (
                    str(household.risk_eliminated_on or ""),
                    group.risk_on.isoformat(),
                )
            for name, value in (("head_name", group.head_name), ("phone", group.phone)):
                if value and not getattr(household, name):
                    group.changes[name] = ("", value)
            if group.head_id and not household.head_id_hash:
                group.changes["head_id_hash"] = ("", _("已记录"))
        heads = [r for r, _c in group.rows if self._is_head(r)]
        leader = heads[0] if heads else group.rows[0][0]
        label = group.number or group.head_name
        planned: list[Planned] = []
        for record, child in group.rows:
            v = record.values
            v["household_plan"] = group
            v["attach"] = None
            changes: dict[str, tuple[Any, Any]] = {}
            number = v.get("person_number", "")
            if child is not None and number and child.person_number != number:
                changes["person_number"] = (child.person_number, number)
            if child is not None:
                if child.household_id is None:
                    v["attach"] = child
                    changes["household"] = ("", label)
                elif household is None or child.household_id != household.pk:
                    other = households[child.household_id]
                    issues.append(
                        RowIssue(
                            record.row_number,
                            "身份证号",
                            "other_household",
                            _(
                                "该儿童在系统中属于另一户（%(village)s，户主 %(head)s，户号 "
                                "%(number)s），未改动，请核实"
                            )
                            % {
                                "village": other.village.name,
                                "head": other.head_name or "—",
                                "number": other.number or "—",
                            },
                            "warning",
                        )
                    )
            if record is leader:
                changes = {**group.changes, **changes}
                if household is None:
                    planned.append(Planned(record, Action.CREATE, None, changes))
                    continue
            action = Action.UPDATE if changes else Action.UNCHANGED
            planned.append(Planned(record, action, child or household, changes))
        return planned

    # -- writing ---------------------------------------------------------------------------------
    def commit(self, plan: list[Planned], ctx: Any, progress: Any) -> None:
        places = ctx.places
        places.create_proposed(ctx.actor)
        groups: dict[int, HouseholdPlan] = {}
        for p in plan:
            group = p.record.values["household_plan"]
            groups.setdefault(id(group), group)
        new: list[Household] = []
        changed: list[Household] = []
        fields: set[str] = set()
        for group in groups.values():
            if group.household is None:
                village = places.village(group.village_key)
                group.household = Household(
                    number=group.number,
                    head_name=group.head_name,
                    head_id_hash=group.head_id,
                    phone=group.phone,
                    village=village,
                    group=places.group(group.village_key, group.group_key),
                    township_id=village.parent_id,
                    county_id=ctx.township.parent_id,
                    is_lifted_from_poverty=bool(group.lifted),
                    monitoring_type=group.monitoring or "",
                    risk_eliminated_on=group.risk_on,
                )
                new.append(group.household)
            elif group.changes:
                household = group.household
                if "is_lifted_from_poverty" in group.changes:
                    household.is_lifted_from_poverty = bool(group.lifted)
                if "monitoring_type" in group.changes:
                    household.monitoring_type = group.monitoring or ""
                if "risk_eliminated_on" in group.changes:
                    household.risk_eliminated_on = group.risk_on
                for name in ("head_name", "phone"):
                    if name in group.changes:
                        setattr(household, name, group.changes[name][1])
                if "head_id_hash" in group.changes:
                    household.head_id_hash = group.head_id
                fields |= set(group.changes)
                changed.append(household)
        Household.objects.bulk_create(new, batch_size=1000)
        if changed:
            update_objects(changed, sorted(fields))
        progress("commit", len(new) + len(changed), len(plan))
        now = timezone.now()
        children: list[Child] = []
        for p in plan:
            child = p.record.values.get("attach")
            if child is None:
                continue
            child.household = p.record.values["household_plan"].household
            child.version += 1
            child.updated_at = now
            children.append(child)
        if children:
            update_objects(children, ["household", "version", "updated_at"])
        update_rows(
            Child,
            ["person_number"],
            [
                (p.record.values["child_found"].pk, p.changes["person_number"][1])
                for p in plan
                if "person_number" in p.changes
            ],
        )
        discrepancies = write_discrepancies(ctx)
        counts_mark_stale(county_ids={ctx.township.parent_id})
        log_action(
            actor=ctx.actor,
            action="import.households_committed",
            obj=ctx.township,
            data={
                "households_created": len(new),
                "households_updated": len(changed),
                "children_attached": len(children),
                "discrepancies": discrepancies,
            },
        )
        progress("commit", len(plan), len(plan))
