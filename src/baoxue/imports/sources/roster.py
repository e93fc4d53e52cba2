"""户籍 population roster: every child of a village or township, with household and guardian."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from baoxue.core.bulk import (
    BackgroundWrites,
    RowWriter,
    indexes_deferred,
    update_objects,
    write_all,
)
from baoxue.core.services import log_action
from baoxue.core.text import pinyin_keys
from baoxue.imports.places import place_record
from baoxue.imports.sources.base import (
    Action,
    Field,
    Planned,
    Record,
    RowIssue,
    age_on,
    flags_unsafe_text,
    person_name,
    required_text,
)
from baoxue.imports.sources.children import (
    CHUNK,
    DIFFERS,
    FINDINGS,
    GUARDIAN_COLUMNS,
    READ_BY_ROSTER,
    ChildIndex,
    child_defaults,
    child_fields_changed,
    duplicates_in_file,
    give_id_number,
    guardian_change,
    guardian_issues,
    guardian_values,
    id_issues,
    id_parser,
    known_guardians,
    may_take_number,
    new_child_values,
    origin,
    parse_left_behind,
    place_columns_of,
    plan_discrepancies,
    save_guardians,
    write_discrepancies,
)
from baoxue.imports.values import CellError, clean_text, parse_bool, parse_date, parse_sex
from baoxue.registry.counts import counts_mark_stale
from baoxue.registry.models import Child, Discrepancy, Guardian, Household
from baoxue.registry.services import CHILD_COLUMNS, ID_FIELDS, Finding

ID_ALIASES = ("身份证号码", "公民身份号码", "身份证件号", "身份证件号码", "证件号码", "身份证")


def _target(p: Planned) -> Any:
    return p.target


def _flag(label: str) -> Callable[[object], bool | None]:
    return lambda value: parse_bool(value, field_label=label)


def parse_register_status(value: object) -> str:
    """户口状态: '' for 正常 (or blank), 'moved' for 迁出, 'deceased' for 死亡/注销(死亡)."""
    text = clean_text(value)
    if not text or text in {"正常", "在册", "有效", "户籍在册", "常住"}:
        return ""
    if "死" in text:
        return "deceased"
    if "迁出" in text or "迁移" in text or "外迁" in text or text == "注销":
        return "moved"
    raise CellError(_("无法识别的户口状态“%(text)s”，可填：正常、迁出、死亡") % {"text": text})


# The flags a new child takes from its roster row (the others only ever change a child).
# What a new child takes from its row besides CHILD_COLUMNS (a blank: the column's default).
_CREATE_FLAGS = ("address", "left_behind", "is_orphan", "is_migrant", "is_deceased", "moved_away")


ADULT_AGE = 18
# 与户主关系 of a child whose head is its parent, its grandparent, or another relative.
_CHILD_OF_HEAD = ("子", "女", "儿")
_GRANDCHILD_OF_HEAD = ("孙", "外孙")
_RELATIVE_OF_HEAD = ("侄", "甥", "弟", "妹")
_HEAD = {"户主", "本人", "本人（户主）", "户主本人", "01", "02"}


def _household_key(v: dict[str, Any]) -> tuple[str, str] | None:
    """Rows of one household: its 户号 within the village, else its head's name."""
    village = v.get("village", "")
    if v.get("household_number"):
        return village, "no:" + v["household_number"]
    if v.get("head_name"):
        return village, "head:" + v["head_name"]
    return None


def _adults_aside(records: list[Record], ctx: Any) -> list[RowIssue]:
    """A whole-household 花名册: the adults' rows are skipped (each with a note) and give
    their household's children what they lack — the head's name, and, when the list has no
    监护人 column, the head as guardian (之子/之女: a parent, 孙子/外孙女: a grandparent) with the
    household's phone. How many adults were skipped is kept for the preview."""
    heads: dict[tuple[str, str], dict[str, Any]] = {}
    phones: dict[tuple[str, str], str] = {}
    issues: list[RowIssue] = []
    adults = 0
    for record in records:
        v = record.values
        if not v.get("adult"):
            continue
        adults += 1
        relation = v.get("relation_to_head", "")
        issues.append(
            RowIssue(
                record.row_number,
                "出生日期",
                "adult",
                _("成年人（%(rel)s），不登记为儿童，只用作户主或监护人")
                % {"rel": relation or _("家庭成员")},
                "warning",
            )
        )
        key = _household_key(v)
        if key is None:
            continue
        if v.get("guardian_phone") and (key not in phones or relation in _HEAD):
            phones[key] = v["guardian_phone"]
        if relation in _HEAD or v.get("name") == v.get("head_name"):
            heads[key] = v
    ctx.notes["adults_skipped"] = ctx.notes.get("adults_skipped", 0) + adults
    for record in records:
        v = record.values
        if v.get("adult"):
            continue
        key = _household_key(v)
        if key is None:
            continue
        head = heads.get(key)
        if not v.get("head_name") and head is not None:
            v["head_name"] = head["name"]
        if v.get("guardian_name") or not v.get("head_name") or v["head_name"] == v["name"]:
            continue
        relation = v.get("relation_to_head", "")
        if not relation and head is None:
            continue  # a head's name alone says nothing of who cares for the child
        v["guardian_name"] = v["head_name"]
        v["guardian_relation"] = _head_is(relation, head)
        v["guardian_phone"] = v.get("guardian_phone") or phones.get(key, "")
    return issues


def _head_is(relation: str, head: dict[str, Any] | None) -> str:
    """What the head of the household is to a child, by its 与户主关系 (之子 → a parent, by
    the head's sex when the list gives it)."""
    relation = relation.removeprefix("之")
    if any(word in relation for word in _GRANDCHILD_OF_HEAD):
        return "grandparent"
    if any(word in relation for word in _RELATIVE_OF_HEAD):
        return "relative"
    if any(word in relation for word in _CHILD_OF_HEAD):
        head = head or {}
        info = head.get("id_info")
        sex = head.get("sex") or (info.sex if info is not None and info.is_valid else "")
        return "father" if sex == "M" else "mother" if sex == "F" else "other"
    return "other"


class RosterSource:
    code = "roster"
    label = gettext_lazy("户籍人口名册")
    fields = [
        Field(
            "name",
            "姓名",
            ("儿童姓名", "学生姓名", "人员姓名"),
            person_name("姓名"),
            True,
            "吴俊辉",
        ),
        Field("id_info", "身份证号", ID_ALIASES, id_parser, False, "450225201605020011"),
        Field("sex", "性别", (), parse_sex, False, "男"),
        Field(
            "birth_date",
            "出生日期",
            ("出生年月", "出生年月日", "出生时间", "生日"),
            parse_date,
            False,
            "2016-05-02",
        ),
        Field("ethnicity", "民族", (), clean_text, False, "苗族"),
        Field(
            "village",
            "村",
            (
                "行政村",
                "村委",
                "村委会",
                "所属村",
                "村社区",
                "村（社区）",
                "户籍村",
                "原行政村",
                "居委",
                "居委会",
                "村(居)委会",
                "村（居）",
                "所属行政村",
            ),
            required_text("村"),
            True,
            "乌岭村",
        ),
        Field(
            "group",
            "组/屯",
            ("屯", "组", "自然屯", "村民小组", "组别", "所属组", "组屯", "自然村", "自然村屯"),
            clean_text,
            False,
            "上寨屯",
        ),
        Field(
            "household_number",
            "户号",
            ("户编号", "户籍编号", "户号编码"),
            clean_text,
            False,
            "0012",
        ),
        Field("head_name", "户主姓名", ("户主",), clean_text, False, "吴老大"),
        Field("relation_to_head", "与户主关系", ("与户主关系名称",), clean_text, False, "子"),
        Field(
            "address", "住址", ("现住址", "家庭住址", "户籍地址", "详细地址"), clean_text, False, ""
        ),
        Field("guardian_name", "监护人姓名", ("监护人", "家长姓名"), clean_text, False, "吴老大"),
        Field(
            "guardian_phone",
            "监护人电话",
            ("联系电话", "监护人联系电话", "家长电话", "电话", "联系方式", "户联系电话"),
            clean_text,
            False,
            "13800000001",
        ),
        Field(
            "left_behind",
            "留守情况",
            ("是否留守儿童", "留守儿童"),
            parse_left_behind,
            False,
            "非留守",
        ),
        Field("is_orphan", "是否孤儿", ("孤儿",), _flag("是否孤儿"), False, "否"),
        Field(
            "register_status",
            "户口状态",
            ("户籍状态", "人员状态", "户口登记状态"),
            parse_register_status,
            False,
            "正常",
        ),
        Field("is_dead", "是否死亡", ("是否已死亡",), _flag("是否死亡"), False, "否"),
        Field(
            "is_migrant",
            "是否随迁子女",
            ("随迁子女", "流动儿童"),
            _flag("是否随迁子女"),
            False,
            "否",
        ),
    ]

    @flags_unsafe_text
    def check(self, record: Record, ctx: Any) -> list[RowIssue]:
        v = record.values
        if v.get("is_dead") and not v.get("register_status"):
            v["register_status"] = "deceased"
        info = v.get("id_info")
        birth = v.get("birth_date") or (info.birth_date if info is not None else None)
        if birth is not None and age_on(birth, ctx.today) >= ADULT_AGE:
            # A whole household's list: an adult is its head or a guardian, never a child.
            v["adult"] = True
            return []
        record.warnings = id_issues(record, "身份证号") + guardian_issues(
            record, "监护人姓名", "监护人电话"
        )
        return list(record.warnings)

    def plan(self, records: list[Record], ctx: Any) -> tuple[list[Planned], list[RowIssue]]:
        issues = _adults_aside(records, ctx)
        records = [r for r in records if not r.values.get("adult")]
        issues += duplicates_in_file(records, {f.name: f.label for f in self.fields})
        places = ctx.places
        keep: list[Record] = []
        for record in records:
            if record.values.get("reject") or record.values.get("skip"):
                continue
            v = record.values
            problem = place_record(record, places, ctx.village_ids)
            if problem is not None:
                issues.append(problem)
                continue
            keep.append(record)
        index = ChildIndex(keep, ctx.township, only=READ_BY_ROSTER)
        # The names of the places a moved child leaves, without a query a child (a matched
        # child is of this township: its village and 屯 are among the township's places).
        place_names = {r.pk: r.name for r in places.villages.values()} | {
            r.pk: r.name for r in places.groups.values()
        }
        matched_ids = [c.pk for c in index.children()]
        guardians = known_guardians(matched_ids)
        household_numbers: dict[int, str] = {}
        for start in range(0, len(matched_ids), CHUNK):
            household_numbers.update(
                Child.objects.filter(pk__in=matched_ids[start : start + CHUNK])
                .exclude(household=None)
                .values_list("pk", "household__number")
            )
        plan: list[Planned] = []
        for record in keep:
            village = places.villages.get(record.values["village_key"])
            child, problem = index.find(
                record, village, villages=ctx.village_ids, reveal=ctx.may_quote
            )
            if problem is not None:
                issues.append(problem)
                if problem.severity == "error":
                    continue
            if child is None:
                plan.append(Planned(record, Action.CREATE))
                continue
            if child.township_id != ctx.township.pk:
                issues.append(
                    RowIssue(
                        record.row_number,
                        "身份证号",
                        "elsewhere",
                        _("该儿童已登记在其他乡镇（%(t)s），未导入") % {"t": child.township},
                    )
                )
                continue
            changes = child_fields_changed(child, self._child_values(record, ctx))
            self._authority(record, child, changes)
            group_key = record.values.get("group_key", "")
            group = places.groups.get((village.pk, group_key)) if village and group_key else None
            moved_village = village is None or child.village_id != village.pk
            moved_group = bool(group_key) and (group is None or group.pk != child.group_id)
            if moved_village or moved_group:
                changes["village_id"] = (
                    " ".join(
                        place_names.get(pk, "") for pk in (child.village_id, child.group_id) if pk
                    ).strip(),
                    f"{record.values['village']} {record.values.get('group', '')}".strip(),
                )
            info = record.values.get("id_info")
            if info is not None and info.is_valid and may_take_number(child):
                changes["id_number"] = (child.id_status, info.value)
            v = record.values
            guardian = guardian_change(v, guardians.get(child.pk, {}), fill_only=False)
            if guardian is not None:
                changes["guardian"] = guardian
            number = v.get("household_number", "")
            if number and household_numbers.get(child.pk) != number:
                changes["household"] = (household_numbers.get(child.pk, ""), number)
            plan.append(
                Planned(record, Action.UPDATE if changes else Action.UNCHANGED, child, changes)
            )
        plan_discrepancies(plan, ctx, Discrepancy.Source.ROSTER, index, child_of=_target)
        return plan, issues

    @staticmethod
    def covers(plan: list[Planned], ctx: Any) -> tuple[set[int], set[int]]:
        """The villages the roster lists (each one's whole roster; rows refused included:
        the village sent its list)."""
        places = ctx.places
        villages = {
            v.pk
            for p in plan
            if (v := places.villages.get(p.record.values["village_key"])) is not None
        }
        return set(), villages

    @staticmethod
    def _authority(record: Record, child: Child, changes: dict[str, tuple[Any, Any]]) -> None:
        """The 户籍 is the authority on who a child is. A child registered from another list
        (a 学籍, the 残联's) takes the roster's name, birth date, sex and ethnicity, and the
        other list's values are kept as discrepancies for its school to correct. A child
        already on the roster keeps its name and birth date (a person decides between two
        rosters: FINDINGS); its sex and ethnicity follow the newer roster, as its village."""
        v = record.values
        differs = v.get(DIFFERS, [])
        findings: list[Finding] = []
        row = record.row_number
        if child.on_roster:
            for item, held, value in differs:
                if item in {"name", "birth_date"}:
                    changes.pop(item, None)
                    findings.append(Finding(item, "roster", value, held, "roster", row, child.pk))
        else:
            was = origin(child)
            for item, held, value in differs:
                if item in {"name", "birth_date", "sex", "ethnicity"}:
                    if item == "name":
                        changes["name"] = (child.name, v["name"])
                    findings.append(Finding(item, was, held, value, "roster", row, child.pk))
        v[FINDINGS] = findings

    @staticmethod
    def _child_values(record: Record, ctx: Any) -> dict[str, Any]:
        v = record.values
        return {
            "sex": v.get("sex", ""),
            "ethnicity": v.get("ethnicity", ""),
            "birth_date": v.get("birth_date"),
            "address": v.get("address", ""),
            # A blank cell (None) changes nothing; 非留守 or 否 says so, and is written.
            "left_behind": v.get("left_behind"),
            "is_orphan": v.get("is_orphan"),
            "is_migrant": v.get("is_migrant"),
            "on_roster": True,
            # Only a status that says so changes these; a blank or 正常 leaves them as they are.
            "is_deceased": True if v.get("register_status") == "deceased" else None,
            "moved_away": True if v.get("register_status") == "moved" else None,
        }

    def commit(self, plan: list[Planned], ctx: Any, progress: Any) -> None:
        places = ctx.places
        places.create_proposed(ctx.actor)
        households = self._households(plan, ctx)
        creates = [p for p in plan if p.action == Action.CREATE]
        updates = [p for p in plan if p.action == Action.UPDATE]
        now = timezone.now()
        with (
            indexes_deferred({Child: len(creates), Guardian: len(creates)}) as deferred,
            BackgroundWrites(small_cache=bool(deferred)) as background,
        ):
            # New children and their guardians as rows (core.bulk), written by a helper thread
            # while the next are built: no database access here until write_all.
            # Rows as tuples in the writers' column order (no dict a row).
            children = RowWriter(
                Child, now, background, columns=("id", *CHILD_COLUMNS, "on_roster", *_CREATE_FLAGS)
            )
            guardians = RowWriter(Guardian, now, background, columns=GUARDIAN_COLUMNS)
            flag_defaults = child_defaults(_CREATE_FLAGS)
            child_ids = children.reserve(len(creates))
            place_of = place_columns_of((p.record for p in creates), places)
            for i, (p, child_id) in enumerate(zip(creates, child_ids, strict=True)):
                v = p.record.values
                place = place_of[(v["village_key"], v.get("group_key", ""))]
                row = self._child_values(p.record, ctx)
                household = households.get((place["village_id"], v.get("household_number", "")))
                children.add(
                    (
                        child_id,
                        *new_child_values(
                            p.record,
                            place,
                            household_id=household.pk if household is not None else None,
                        ),
                        True,  # on_roster
                        *[
                            default if (value := row[k]) is None or value == "" else value
                            for k, default in zip(_CREATE_FLAGS, flag_defaults, strict=True)
                        ],
                    )
                )
                guardian = guardian_values(child_id, v)
                if guardian is not None:
                    guardians.add(guardian)
                v["child_id"] = child_id
                if i % 2000 == 0:
                    progress("commit", i, len(plan))
            written = write_all([children, guardians])
        changed: list[Child] = []
        fields: set[str] = set()
        # The plan read no ID-number columns: those of the children given a number are read
        # now, in one query a chunk.
        given = [p.target.pk for p in updates if "id_number" in p.changes]
        id_columns = {
            pk: dict(zip(ID_FIELDS, rest, strict=True))
            for start in range(0, len(given), CHUNK)
            for pk, *rest in Child.objects.filter(pk__in=given[start : start + CHUNK]).values_list(
                "pk", *ID_FIELDS
            )
        }
        for p in updates:
            child = p.target
            v = p.record.values
            for name, (_old, new) in p.changes.items():
                if name == "id_number":
                    for column, stored in id_columns[child.pk].items():
                        setattr(child, column, stored)
                    give_id_number(child, new)
                    fields |= set(ID_FIELDS)
                elif name in {"guardian", "household"}:
                    continue  # written below with the households and guardians
                elif name == "name":
                    child.name = new
                    child.name_pinyin, child.name_initials = pinyin_keys(new)
                    fields |= {"name", "name_pinyin", "name_initials"}
                elif name == "village_id":
                    village = places.village(v["village_key"])
                    child.village = village
                    child.group = places.group(v["village_key"], v.get("group_key", ""))
                    fields |= {"village", "group"}
                else:
                    setattr(child, name, new)
                    fields.add(name)
            household = households.get((child.village_id, v.get("household_number", "")))
            if household is not None and child.household_id != household.pk:
                child.household = household
                fields.add("household")
            child.version += 1
            child.updated_at = timezone.now()  # update_objects does not apply auto_now
            changed.append(child)
        if changed:
            update_objects(changed, sorted(fields | {"version", "updated_at"}))
        save_guardians(
            [(p.target.pk, p.record.values) for p in plan if p.action != Action.CREATE],
            fill_only=False,
        )
        discrepancies = write_discrepancies(ctx)
        counts_mark_stale(county_ids={ctx.township.parent_id})
        log_action(
            actor=ctx.actor,
            action="import.roster_committed",
            obj=ctx.township,
            data={
                "created": written["Child"],
                "updated": len(changed),
                "discrepancies": discrepancies,
            },
        )
        progress("commit", len(plan), len(plan))

    @staticmethod
    def _households(plan: list[Planned], ctx: Any) -> dict[tuple[int, str], Household]:
        places = ctx.places
        wanted: dict[tuple[int, str], dict[str, Any]] = {}
        for p in plan:
            v = p.record.values
            number = v.get("household_number", "")
            if not number:
                continue
            village = places.village(v["village_key"])
            wanted.setdefault(
                (village.pk, number),
                {
                    "village": village,
                    "group": places.group(v["village_key"], v.get("group_key", "")),
                    "head_name": v.get("head_name", ""),
                },
            )
        existing = {
            (h.village_id, h.number): h
            for h in Household.objects.filter(
                village_id__in={k[0] for k in wanted}, number__in={k[1] for k in wanted}
            )
        }
        missing = [
            Household(
                number=number,
                head_name=data["head_name"],
                village=data["village"],
                group=data["group"],
                township_id=data["village"].parent_id,
                county_id=ctx.township.parent_id,
            )
            for (vid, number), data in wanted.items()
            if (vid, number) not in existing
        ]
        Household.objects.bulk_create(missing, batch_size=1000)
        for h in missing:
            existing[(h.village_id, h.number)] = h
        return existing
