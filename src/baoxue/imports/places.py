"""Resolving the place and school names a file uses to the registry's regions and schools.

Unknown villages, groups and schools are collected as proposals: the preview lists them and
the commit creates them, in the same transaction as the rows that need them.
"""

from __future__ import annotations

from typing import Any

from django.db.models import Q
from django.utils.translation import gettext as _

from baoxue.accounts.actors import Actor
from baoxue.core.text import homophones
from baoxue.imports.sources.base import RowIssue, group_key, guess_school_kind, village_key
from baoxue.imports.values import clean_text
from baoxue.registry.models import Region, School
from baoxue.registry.services import region_create, school_create

PLACEHOLDER_VILLAGE = "（村未注明）"
PLACEHOLDER_KEY = village_key(PLACEHOLDER_VILLAGE)


# Characters that tell two places apart by design (一组/二组, 东山/西山, 大寨/小寨): names
# that differ by one of them are two places, not a typo.
_DISTINCT = set("一二三四五六七八九十百0123456789东西南北上下前后左右中内外大小新老旧高低长")
# 形近字 typed for one another in place names (homophones are found by their pinyin).
_LOOKALIKE = [
    "己已巳", "未末", "士土", "日曰", "戊戌戍", "太犬", "人入", "王玉主", "木本术", "刀力",
    "田由甲申", "千干于", "天夫", "折拆", "贝见", "岑芩", "峒垌洞", "坳拗", "寨砦",
    "岜巴", "弄垄", "坡波",
]  # fmt: skip
_LOOKS_LIKE = {(a, b) for group in _LOOKALIKE for a in group for b in group if a != b}


def resembles(new: str, known: str) -> bool:
    """A place name probably typed for a known one: the same length, one character differs,
    and the two are homophones (乌玲 / 乌岭) or look alike (岜 / 巴), neither being a number or
    a direction word."""
    if len(new) != len(known) or len(new) < 2:
        return False
    differ = [(a, b) for a, b in zip(new, known, strict=True) if a != b]
    if len(differ) != 1:
        return False
    a, b = differ[0]
    if a in _DISTINCT or b in _DISTINCT:
        return False
    return (a, b) in _LOOKS_LIKE or homophones(a, b)


class Places:
    def __init__(self, township: Region, decisions: dict[str, str] | None = None) -> None:
        """`decisions`: for a village name that resembles a known one, the person's answer,
        by its key: the known village's key (it is that village) or '' (a new village)."""
        self.township = township
        self.decisions = decisions or {}
        # A new village name that resembles a known one, undecided: key → the known key.
        self.doubtful: dict[str, str] = {}
        self.villages: dict[str, Region] = {}
        self.groups: dict[tuple[int, str], Region] = {}
        for region in Region.objects.filter(path__startswith=township.path).exclude(pk=township.pk):
            if region.level == Region.Level.VILLAGE:
                self.villages[village_key(region.name)] = region
        for region in Region.objects.filter(
            level=Region.Level.GROUP, parent__in=list(self.villages.values())
        ):
            self.groups[(region.parent_id or 0, group_key(region.name))] = region
        self.new_villages: dict[str, str] = {}
        self.new_groups: dict[tuple[str, str], str] = {}
        self._by_length = sorted(self.villages, key=len, reverse=True)

    # -- lookups during validation -----------------------------------------------------------
    def key_of(self, name: str) -> str:
        """The key of a village name: 乌岭村, 乌岭村委会 and 乌岭 are one village; 城东社区 is
        not 城东村. A bare name (城东) is the 社区 of that name when the township has no
        such 村."""
        key = village_key(name)
        if key and key not in self.villages and key + "社区" in self.villages:
            return key + "社区"
        return key

    def village_ref(self, name: str) -> str:
        """A key for the village (existing or proposed); '' when no name is given."""
        key = self.key_of(name)
        if not key:
            return ""
        if key not in self.villages and self.decisions.get(key) in self.villages:
            return self.decisions[key]  # a person said: it is that village, misspelt
        if key not in self.villages and key not in self.new_villages:
            if key not in self.decisions:
                like = next((k for k in self._by_length if resembles(key, k)), None)
                if like is not None:
                    self.doubtful[key] = like
            # “新寨村委会” and “新寨村民委员会” are 新寨村 (the committee is not the village).
            text = clean_text(name)
            self.new_villages[key] = text if text.endswith("社区") else key + "村"
        return key

    def group_ref(self, village: str, name: str) -> str:
        key = group_key(name)
        if not key or not village:
            return ""
        existing = self.villages.get(village)
        if existing is not None and (existing.pk, key) in self.groups:
            return key
        self.new_groups.setdefault((village, key), name)
        return key

    def find_in_address(self, address: str) -> tuple[str, str]:
        """(village key, group name) read off an address such as
        “广西融水县培秀乡乌岭村上寨屯12号”, matching the township's known villages."""
        for key in self._by_length:
            village = self.villages[key]
            for form in (village.name, key + "村", key):
                at = address.find(form)
                if at >= 0:
                    rest = address[at + len(form) :]
                    group = ""
                    for suffix in ("屯", "组"):
                        end = rest.find(suffix)
                        if 0 < end <= 6:
                            group = rest[: end + 1]
                            break
                    return key, group
        return "", ""

    def proposals(self) -> dict[str, list[str]]:
        return {
            "villages": sorted(self.new_villages.values()),
            "groups": sorted(
                f"{self._village_label(v)} {name}" for (v, _key), name in self.new_groups.items()
            ),
        }

    def retain(self, used: list[dict[str, Any]]) -> None:
        """Keep only the proposals that the given rows' values (village_key, group_key) use:
        a row rejected after its places were resolved must not create them on commit."""
        villages = {v.get("village_key", "") for v in used}
        pairs = {(v.get("village_key", ""), v.get("group_key", "")) for v in used}
        self.new_villages = {k: n for k, n in self.new_villages.items() if k in villages}
        self.new_groups = {k: n for k, n in self.new_groups.items() if k in pairs}
        self.doubtful = {k: like for k, like in self.doubtful.items() if k in villages}

    def questions(self) -> list[dict[str, Any]]:
        """The new village names that resemble a known village and no one has answered for:
        the preview asks (no default), and the commit waits for the answer."""
        return [
            {
                "key": key,
                "name": self.new_villages.get(key, key),
                "like": self.villages[like].name,
                "like_key": like,
            }
            for key, like in sorted(self.doubtful.items())
        ]

    def _village_label(self, key: str) -> str:
        if key in self.villages:
            return self.villages[key].name
        return self.new_villages.get(key, key)

    # -- at commit ---------------------------------------------------------------------------
    def create_proposed(self, actor: Actor) -> None:
        for key, name in sorted(self.new_villages.items()):
            if key not in self.villages:
                self.villages[key] = region_create(
                    name=name, level="village", parent=self.township, actor=actor
                )
        for (village, key), name in sorted(self.new_groups.items()):
            parent = self.villages[village]
            if (parent.pk, key) not in self.groups:
                label = name if name.endswith(("屯", "组")) else name + "屯"
                self.groups[(parent.pk, key)] = region_create(
                    name=label, level="group", parent=parent, actor=actor
                )

    def village(self, key: str) -> Region:
        if not key:
            return self.placeholder_village()
        return self.villages[key]

    def group(self, village_key_: str, key: str) -> Region | None:
        if not key:
            return None
        return self.groups.get((self.village(village_key_).pk, key))

    def placeholder_village(self) -> Region:
        """Where a student whose home village the file does not say is registered until
        someone corrects it (shown in lists like any village, so it is noticed)."""
        key = PLACEHOLDER_KEY
        if key not in self.villages:
            existing = Region.objects.filter(parent=self.township, name=PLACEHOLDER_VILLAGE).first()
            self.villages[key] = existing or region_create(
                name=PLACEHOLDER_VILLAGE, level="village", parent=self.township
            )
        return self.villages[key]


def place_record(record: Any, places: Places, village_ids: frozenset[int] | None) -> Any:
    """Resolve a record's 村 and 组/屯 to keys (existing or proposed places) and check the
    user's villages: a RowIssue when the village is not one of theirs, else None."""
    v = record.values
    if village_ids is not None:
        # Checked before anything is proposed: a row outside the user's villages must not
        # create a village (or a 屯) when the batch is committed.
        existing = places.villages.get(places.key_of(v["village"]))
        if existing is None or existing.pk not in village_ids:
            return RowIssue(
                record.row_number,
                "村",
                "scope",
                _("“%(v)s”不是您负责的村，未导入") % {"v": v["village"]},
            )
    v["village_key"] = places.village_ref(v["village"])
    v["group_key"] = places.group_ref(v["village_key"], v.get("group", ""))
    return None


def unnamed_school(code: str) -> str:
    return _("学校 %(code)s（名称待补）") % {"code": code}


class Schools:
    def __init__(self, township: Region) -> None:
        self.township = township
        schools = list(
            School.objects.filter(Q(township=township) | Q(county_id=township.parent_id))
        )
        self.by_code = {s.code: s for s in schools if s.code}
        self.by_name: dict[str, School] = {}
        for s in schools:
            # Names inside the township win over same-named schools elsewhere in the county.
            if s.township_id == township.pk or s.name not in self.by_name:
                self.by_name[s.name] = s
        self.new: dict[str, tuple[str, str]] = {}  # key → (name, code)

    def ref(self, *, code: str, name: str) -> str:
        """A key for the school (existing or proposed); '' when the row names none."""
        if code and code in self.by_code:
            return "code:" + code
        if code:
            # The code may belong to a school anywhere (codes are national).
            found = School.objects.filter(code=code).first()
            if found is not None:
                self.by_code[code] = found
                return "code:" + code
        if name and name in self.by_name:
            return "name:" + name
        if not name and not code:
            return ""
        key = ("code:" + code) if code else ("name:" + name)
        # A 学校标识码 with no name (the national template has no 学校名称 column): a school
        # of the township under that code, to be named by someone who knows it.
        self.new.setdefault(key, (name or unnamed_school(code), code))
        return key

    def proposals(self) -> list[str]:
        return sorted(
            f"{name}（{code}）" if code and code not in name else name
            for name, code in self.new.values()
        )

    def retain(self, used: list[dict[str, Any]]) -> None:
        """Keep only the proposals that the given rows' values (school_key) use: a school
        named only by rows that are not imported (another school's, for a school's user) is
        not created."""
        keys = {v.get("school_key", "") for v in used}
        self.new = {k: value for k, value in self.new.items() if k in keys}

    def create_proposed(self, actor: Actor) -> None:
        for _key, (name, code) in sorted(self.new.items()):
            kind = guess_school_kind(name)
            low, high = (7, 9) if kind == "junior" else (1, 9) if kind == "nine_year" else (1, 6)
            school = school_create(
                name=name,
                kind=kind,
                region=self.township,
                code=code,
                lowest_grade=low,
                highest_grade=high if kind != "other" else 9,
                actor=actor,
            )
            if code:
                self.by_code[code] = school
            self.by_name[name] = school

    def get(self, key: str) -> School:
        kind, _sep, value = key.partition(":")
        return self.by_code[value] if kind == "code" else self.by_name[value]

    def peek(self, key: str) -> School | None:
        """The existing school for a key, None for a proposed one."""
        try:
            return self.get(key)
        except KeyError:
            return None
