"""Reconciliation quality through the user's path: the files offices send, the real imports and
the real 比对, scored against a synthetic township whose truth is known.

What it measures (issue 19, item 7; STYLE.md point 14)
    The script makes up one township, 培秀苗族乡 (the demo's twelve villages and their 屯, its
    eight schools), with --children children on the 户籍 roster (default 3,000) and --migrants
    more in its schools only, and knows the state each child is really in. It writes the
    files the offices would send, as xlsx with a merged title row above the header
    (xlsxwriter; ID numbers and 学籍号 as text, 年级 and day counts as numbers), runs
    ``baoxue init``, ``baoxue import`` (as the account init creates: 系统管理员 and the
    township office) and ``baoxue reconcile --export --discrepancies`` through
    baoxue.cli.main in this process on a fresh data dir, and scores what the user gets back:
    the 适龄儿童少年台账 and the 信息不一致 list (read with python-calamine), and a few
    counts and the run's links from the database (the ORM).

    The children
        Names from ``baoxue.demo.names`` (steep surname weights, 字辈 shared by siblings,
        twins), so many children share a name and a birth date; families with a 户号, a head,
        a guardian, a phone, a 留守 state, some of them 脱贫户/监测户, some children disabled.
        Valid 18-digit ID numbers, region 450225; migrants (随迁子女) have numbers of other
        counties and are on no roster. Births inside the compulsory window of today's school
        year (cut-off 31 August: 2010-09-01..2020-08-31 in 2026-27), about 8 % outside it.
        Everything is dated from today's school year (baoxue.core.policy), so the same seed
        gives the same files and figures on any day of one school year.

    True states, and the 类别 the files should give
        local            local school, 在读/复学                           -> 在本地就读
        on_leave         local school, 10-22 days of 病假 in the month      -> 请假
        absent           local school, 10-17 of 22 days absent without leave
                         (名在人不在)                                      -> 疑似辍学
        outside          studies outside the county: no 学籍 in any file   -> 待核实
        elsewhere        on the county's list of children studying outside -> 在外地就读
        transfer_named   转出 at the local school, and on that list        -> 在外地就读
        transfer_unnamed 转出 at the local school, receiving school unknown -> 待核实
        suspended        休学                                              -> 休学
        dropped          流失/退学/下落不明 (this term, or last spring and
                         not listed since)                                 -> 疑似辍学
        unlisted         在读 last spring, missing from this term's list    -> 疑似辍学
        grad_no_junior   小学毕业 last spring, no junior 学籍               -> 疑似辍学
        never            never enrolled: no 学籍 anywhere                   -> 待核实
        completed        初中毕业 last spring                               -> 已完成义务教育
        deceased         户口状态 死亡 (half still 在读 at school)          -> not in the ledger
        not_of_age       born outside the window (some still at school)    -> not in the ledger
        migrant          not on the roster, in a local school              -> 在本地就读
    'outside' and 'never' look the same in the files (verification tells them apart). The
    pupils of the two teaching points move to the central primary school for grade 4, and 5 %
    of the other pupils change primary school between the terms: the newer list records a
    move (转出 at the old school, 转入 at the new one).

    The files, imported in this order
        1. the township's 户籍人口名册 (公民身份号码, 出生日期 as 20140901, 户号, 户主姓名,
           与户主关系, 监护人姓名, 监护人电话, 留守情况, 户口状态 …);
        2. each school's 学籍 export of last spring (期末: grade 6 and grade 9 as 毕业), then
        3. each school's export of this term (在读, 复学, 休学, 转出, 流失 …), one file per
           school (the village schools give 村 and 户口所在地, the others 户口所在地 only);
           the first import creates the schools (kind from the name, 学校标识码 given);
        4. the county's list of the township's children studying outside the county (a 学籍
           export at six schools of another county, which the county admin registers first,
           as in /admin/: registry.services.region_create and school_create);
        5. the 脱贫户/监测户名单 (whole households, the adults with their own numbers);
        6. the 残联名单 (残疾人证号, a few adults);
        7. each school's attendance of last month: 应到天数 22, 缺勤天数, 请假天数, 缺勤原因,
           and no 连续缺勤天数 column.

    What the files carry (each a parameter with a default share)
        A child's 学籍 is one national record: its damage is the same in every 学籍 row of the
        child (both terms, primary and junior school, the county's list, the attendance).
        --id-damaged: its ID number is a valid-checksum typo (one of the first 17 digits
        changed, check character recomputed), a bad-checksum typo (a wrong digit, two
        neighbours swapped, a wrong check character), 15 digits, or missing; its 学籍号 is G +
        that number (L + digits without one). --id-corrected of those show the corrected
        number in this term's rows while the 学籍号 keeps the old one. --name-variant: the 学籍
        spells the name another way (homophone 龙瑶/龙遥, 吴/伍; one character added, dropped
        or changed). --birth-off: its birth date differs (day and month swapped, or one day
        off). --roster-missing / --roster-fifteen: the roster row has no ID number / 15
        digits. --repeat / --repeat-diff: a roster or 学籍 row listed twice, the same or with
        a difference (another class or phone, a misspelt name), right after itself or at the
        end of the file. The attendance names the students as their school does.

The figures
    Ledger rows are joined to the true children by ID number (the true one, or the damaged
    one a record was made from), else by name + birth date + village. A child's category is
    that of its row with the roster's number (else its first row); other rows of the same
    child are extra records, counted apart. Registry records are mapped to children the same
    way, merged ones too (Child.merged_into, where the registry merges the records the 比对
    links).

    Targets (PASS/FAIL each; the exit status is 0 only when all pass)
      * recall of the out-of-school children the files can reveal >= 99.5 %: children in the
        states never / dropped / unlisted / grad_no_junior / absent / transfer_unnamed with a
        ledger row in 待核实, 疑似辍学 or 失学 (a case is opened).
      * in a local school but flagged <= 0.2 %: children in the states local / on_leave /
        migrant with any ledger row (their own or an extra record's) in those categories.
      * link F1 >= 99.5 %: over the pairs (a child's roster record, each record of it not on
        the roster); predicted pairs are the run's RunChild.linked_child and its merges (the
        run names one partner per roster record: another record it carried is counted as
        linked to its child, and said so).
      * registry children (Child.objects of the township: as its lists count them, merged
        records once) within 0.5 % of the true children (roster + migrants);
      * current enrollments (is_current, not ended, not marked missing from the list)
        within 0.5 % of the children the newest lists give as 在读/复学/休学;
      * discrepancy recall >= 99 %: the (child, 项目) that a file row with the child's
        registered, valid number gives differently (name, birth date), where the last file of
        that source still does (a later file agreeing closes it); false rows <= 1 %: rows of
        the list about a (child, 项目) that no file made differ.
    Also shown, with no target: the confusion table (rows: true state; columns: the ledger's
    类别, 名单未更新 included, and "absent" for no row), extra and unmatched ledger rows, the
    ledger's 学校 and 重点群体 against the truth, the import problems of every file (from its
    --errors list), the time of each step, and the failing children with their files' rows,
    ledger rows and registry records.

How to run
    .venv/bin/python bench/reconcile_quality.py                     # 3,000 children, ~20 s
    .venv/bin/python bench/reconcile_quality.py --children 10000 --seed 7 --json out.json
    .venv/bin/python bench/reconcile_quality.py --backend postgresql  # database bench_quality
    .venv/bin/python bench/reconcile_quality.py --work /tmp/rq --keep # keep files, data dir
    .venv/bin/python bench/reconcile_quality.py --commit HEAD         # a commit's src/

    SQLite in a fresh data dir (a temporary folder, or --work, emptied first); PostgreSQL in
    --pg-database on --pg-server (DATABASE_URL), dropped and created by the script, and
    dropped afterwards unless --keep. Each command's output and problem list are kept under
    the work folder (logs/, errors/). --commit measures a commit's src/ (git archive, first
    on PYTHONPATH) rather than the working tree that others may be editing. The same
    arguments and source on the same day give the same files and figures. Progress goes to
    stderr, the tables to stdout.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time
import unicodedata
from collections import Counter, defaultdict
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from _common import (  # bench/ is on sys.path when a script runs
    log,
    pg_create_database,
    pg_drop_database,
    source_tree,
    source_version,
)

if not os.environ.get("BAOXUE_BENCH_SOURCE"):  # --commit: its src/ is first on PYTHONPATH
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

import xlsxwriter
from python_calamine import CalamineWorkbook

from baoxue.core import idnumbers
from baoxue.core.text import pinyin_keys
from baoxue.demo import names
from baoxue.reconcile import engine

SEED = 2026
TOWNSHIP_CODE = names.TOWNSHIP_CODE  # 450225212
TOWNSHIP_NAME = names.TOWNSHIP_NAME
COUNTY_NAME = names.COUNTY_NAME
REGION = names.COUNTY_CODE  # 450225
MIGRANT_REGIONS = ("450221", "450222", "450226", "452226", "522633")
MIGRANT_HOMES = ("贵州省从江县丙妹镇", "贵州省榕江县古州镇", "广西壮族自治区三江侗族自治县古宜镇")
USER = "admin"  # the account init creates: 系统管理员 and the township office
PG_SERVER = "postgresql://postgres@127.0.0.1:5432"
PG_DATABASE = "bench_quality"

RECALL_TARGET = 0.995
FLAGGED_TARGET = 0.002
F1_TARGET = 0.995
COUNT_TOLERANCE = 0.005
DISC_RECALL_TARGET = 0.99
DISC_FALSE_TARGET = 0.01

SCHOOL_DAYS = 22  # 应到天数 of the month's attendance report

# True states (see the docstring) and the category the files should give.
EXPECTED = {
    "local": engine.IN_SCHOOL,
    "on_leave": engine.ON_LEAVE,
    "absent": engine.SUSPECTED,
    "outside": engine.TO_VERIFY,
    "elsewhere": engine.ELSEWHERE,
    "transfer_named": engine.ELSEWHERE,
    "transfer_unnamed": engine.TO_VERIFY,
    "suspended": engine.SUSPENDED,
    "dropped": engine.SUSPECTED,
    "unlisted": engine.SUSPECTED,
    "grad_no_junior": engine.SUSPECTED,
    "never": engine.TO_VERIFY,
    "completed": engine.COMPLETED,
    "deceased": engine.GONE,
    "not_of_age": engine.NOT_OF_AGE,
    "migrant": engine.IN_SCHOOL,
}
STATE_ORDER = list(EXPECTED)
REVEALABLE = frozenset(
    {"never", "dropped", "unlisted", "grad_no_junior", "absent", "transfer_unnamed"}
)
IN_LOCAL_SCHOOL = frozenset({"local", "on_leave", "migrant"})
CASES = engine.CASE_CATEGORIES
NOT_IN_LEDGER = frozenset({engine.NOT_OF_AGE, engine.GONE})  # the ledger lists children of age
ABSENT = "(absent)"  # no row of the ledger

# Relative weights of the states of a roster child inside the age window.
STATE_WEIGHTS = [
    ("local", 77.6),
    ("on_leave", 0.8),
    ("absent", 0.6),
    ("outside", 10.0),
    ("elsewhere", 1.0),
    ("transfer_named", 2.5),
    ("transfer_unnamed", 1.0),
    ("suspended", 0.4),
    ("dropped", 0.6),
    ("unlisted", 0.3),
    ("grad_no_junior", 0.4),
    ("never", 0.4),
    ("deceased", 0.1),
]
ID_DAMAGE_WEIGHTS = [
    ("valid_typo", 20),
    ("wrong_digit", 25),
    ("swap", 10),
    ("check", 10),
    ("fifteen", 10),
    ("missing", 25),
]
BAD_CHECKSUM = frozenset({"wrong_digit", "swap", "check"})
NAME_VARIANT_WEIGHTS = [("homophone", 45), ("added", 15), ("dropped", 15), ("changed", 25)]

# The schools (the demo township's), and six of another county for the children studying
# outside it (the county's list).
LOCAL_SCHOOLS = [s["name"] for s in names.SCHOOLS]
SCHOOL_CODE = {s["name"]: s["code"] for s in names.SCHOOLS}
CENTRAL = next(s["name"] for s in names.SCHOOLS if "中心小学" in s["name"])
JUNIOR = next(s["name"] for s in names.SCHOOLS if s["kind"] == "junior")
VILLAGE_PRIMARY = {
    s["village_index"]: s["name"]
    for s in names.SCHOOLS
    if s["kind"] == "primary" and s["name"] != CENTRAL
}
VILLAGE_POINT = {
    s["village_index"]: s["name"] for s in names.SCHOOLS if s["kind"] == "teaching_point"
}
# Schools whose export has a 村 column (the others give 户口所在地 only).
WITH_VILLAGE_COLUMN = frozenset(VILLAGE_PRIMARY.values()) | frozenset(VILLAGE_POINT.values())
OUTSIDE_COUNTY = ("柳州市城中区", "450202000000")
OUTSIDE_PRIMARY = [
    ("柳州市城中区公园路小学", "2145020101"),
    ("柳州市城中区水南路小学", "2145020102"),
    ("柳州市城中区文惠小学", "2145020103"),
]
OUTSIDE_JUNIOR = [
    ("柳州市第十二中学", "2145020201"),
    ("柳州市第二十五中学", "2145020202"),
    ("柳州市城中区东环路中学", "2145020203"),
]
OUTSIDE_CODE = dict(OUTSIDE_PRIMARY + OUTSIDE_JUNIOR)

# Characters that names here use, plus common same-sound alternatives, for homophone variants.
_EXTRA_CHARS = (
    "君钧均峻骏晖徽惠蕙玮炜薇隆伍武阳时史良琦淇祺婧靖菁晶昕忻芯芸云耘韵闻玟皓昊灏颢韬滔"
    "羽禹毓誉瑜锐蕊庭霆廷亭莉俐力立利黎洁捷婕茜芊霖淋凌灵菱翎伶铃鸣旻珉闽佳家加锋枫丰风"
    "奉桦骅花雁焱研颜岩彦晏宴宜仪伊懿亿义易蒙萌盟师施斯丝择则朋彭方舫坊虹弘洪泓敬镜琛臣"
    "承城程丞呈越岳跃粤慷靓梁恺铠楷锴智至治致滨宾兵冰蔷墙威维唯巍"
)
GIVEN_CHARS = sorted(set(names.GIVEN_NAME_CHARS_MALE) | set(names.GIVEN_NAME_CHARS_FEMALE))


def _homophone_table() -> dict[str, list[str]]:
    pool: set[str] = set()
    pool.update(names.GIVEN_NAME_CHARS_MALE, names.GIVEN_NAME_CHARS_FEMALE)
    pool.update(names.GENERATION_CHARS, _EXTRA_CHARS)
    for pairs in names.SURNAMES_BY_ETHNICITY.values():
        pool.update(s for s, _w in pairs)
    table: dict[str, list[str]] = defaultdict(list)
    for ch in sorted(pool):
        table[pinyin_keys(ch)[0]].append(ch)
    return {k: v for k, v in table.items() if len(v) > 1}


HOMOPHONES = _homophone_table()


# --- the synthetic township ---------------------------------------------------------------------


@dataclass(frozen=True)
class Anchor:
    """Today's school year, as the registry computes it (baoxue.core.policy)."""

    today: date
    cutoff: date  # 31 August that started the school year
    earliest: date
    latest: date
    autumn: bool  # today is in the autumn term

    @property
    def year(self) -> int:
        return self.cutoff.year

    def term_title(self) -> str:
        return f"{self.year}年秋季学期" if self.autumn else f"{self.year + 1}年春季学期"

    def month(self) -> date:
        """The first day of last month: the attendance report's month."""
        first = self.today.replace(day=1)
        return (first - timedelta(days=1)).replace(day=1)


@dataclass
class Family:
    idx: int
    surname: str
    ethnicity: str
    village: int  # index into names.VILLAGES
    group: str
    number: str  # 户号
    head: str
    head_id: str
    spouse: str
    spouse_id: str
    guardian: str
    phone: str
    left_behind: str
    generation: str | None
    migrant: bool
    kind: tuple[str, str] = ("", "")  # (户类型, 监测对象类别) on the 脱贫户/监测户 list
    home: str = ""  # a migrant family's 户口所在地
    children: list[int] = field(default_factory=list)


@dataclass
class Shown:
    """How the national 学籍 record shows the child (every 学籍 row of the child alike)."""

    id_text: str
    id_kind: str  # clean, valid_typo, wrong_digit, swap, check, fifteen, missing
    name: str
    name_kind: str  # '' or homophone, added, dropped, changed
    birth: date
    birth_kind: str  # '' or swapped, day_off
    student_number: str
    corrected: bool = False  # this term's rows show the true number (学籍号 unchanged)


@dataclass
class XRow:
    """One 学籍 row of the child: in last spring's export, this term's, or the county's list
    of children studying outside."""

    term: str  # prev, cur, outside
    school: str
    grade: int
    status: str


@dataclass
class TrueChild:
    idx: int
    name: str
    sex: str
    birth: date
    id_number: str
    ethnicity: str
    family: int
    relation: str
    state: str
    on_roster: bool = True
    roster_kind: str = "clean"  # clean, missing, fifteen
    shown: Shown | None = None
    rows: list[XRow] = field(default_factory=list)
    grade: int = 0
    attendance: tuple[int, int, str] | None = None  # 缺勤天数, 请假天数, 缺勤原因
    disability: tuple[str, str] | None = None  # category and grade digits of the card
    klass: str = "1班"

    @property
    def roster_id(self) -> str:
        if self.roster_kind == "missing":
            return ""
        if self.roster_kind == "fifteen":
            return fifteen(self.id_number)
        return self.id_number


@dataclass
class Area:
    anchor: Anchor
    families: list[Family]
    children: list[TrueChild]


def school_cohort(birth: date, anchor: Anchor) -> int:
    """0 for the youngest compulsory cohort .. 9 for the oldest (by the cut-off)."""
    start = birth.year if birth.month >= 9 else birth.year - 1
    return anchor.year - 7 - start


def random_date(rng: random.Random, lo: date, hi: date) -> date:
    return lo + timedelta(days=rng.randrange((hi - lo).days + 1))


def make_id(rng: random.Random, region: str, birth: date, sex: str, used: set[str]) -> str:
    while True:
        seq = rng.randrange(1000)
        if (seq % 2 == 1) != (sex == "M"):
            seq = (seq + 1) % 1000
        first = f"{region}{birth:%Y%m%d}{seq:03d}"
        number = first + idnumbers.check_character(first)
        if number not in used:
            used.add(number)
            return number


def fifteen(number: str) -> str:
    return number[:6] + number[8:17]


def homophone(rng: random.Random, name: str) -> str | None:
    """The name with one character replaced by another of the same pinyin, or None."""
    given = list(range(1, len(name)))
    rng.shuffle(given)
    order = [0, *given] if rng.random() < 0.25 else [*given, 0]
    sound = pinyin_keys(name)[0]
    for i in order:
        options = [c for c in HOMOPHONES.get(pinyin_keys(name[i])[0], []) if c != name[i]]
        rng.shuffle(options)
        for c in options:
            variant = name[:i] + c + name[i + 1 :]
            if pinyin_keys(variant)[0] == sound:
                return variant
    return None


def name_variant(rng: random.Random, name: str, kind: str | None = None) -> tuple[str, str]:
    """Another spelling of the name as files write it, and how it differs."""
    if kind is None:
        kind = rng.choices(*zip(*NAME_VARIANT_WEIGHTS, strict=True))[0]
    if kind == "dropped" and len(name) < 3:
        kind = "homophone"
    if kind == "homophone":
        variant = homophone(rng, name)
        if variant is not None:
            return variant, kind
        kind = "changed"
    if kind == "added":
        at = rng.randint(1, len(name))
        return name[:at] + rng.choice(GIVEN_CHARS) + name[at:], kind
    if kind == "dropped":
        at = rng.randrange(1, len(name))
        return name[:at] + name[at + 1 :], kind
    at = rng.randrange(1, len(name))
    sound = pinyin_keys(name[at])[0]
    options = [c for c in GIVEN_CHARS if c != name[at] and pinyin_keys(c)[0] != sound]
    return name[:at] + rng.choice(options) + name[at + 1 :], "changed"


def damaged_id(rng: random.Random, number: str, kind: str, used: set[str]) -> str:
    if kind == "missing":
        return ""
    if kind == "fifteen":
        return fifteen(number)
    if kind == "check":
        return number[:17] + rng.choice([c for c in "0123456789X" if c != number[17]])
    for _attempt in range(200):
        if kind == "swap":
            spots = [i for i in range(16) if number[i] != number[i + 1]]
            i = rng.choice(spots)
            first = number[:i] + number[i + 1] + number[i] + number[i + 2 : 17]
        else:
            i = rng.randrange(17)
            digit = rng.choice([d for d in "0123456789" if d != number[i]])
            first = number[:i] + digit + number[i + 1 : 17]
        if kind == "valid_typo":
            text = first + idnumbers.check_character(first)
            if idnumbers.parse(text).is_valid and text not in used:
                used.add(text)
                return text
        else:
            text = first + number[17]
            if not idnumbers.parse(text).is_valid:
                return text
    return number[:17] + rng.choice([c for c in "0123456789X" if c != number[17]])


def off_birth(rng: random.Random, birth: date) -> tuple[date, str]:
    if birth.day <= 12 and birth.day != birth.month:
        return birth.replace(month=birth.day, day=birth.month), "swapped"
    return birth + timedelta(days=rng.choice([-1, 1])), "day_off"


def primary_school(village: int | None, grade: int) -> str:
    if village is not None and grade <= 3 and village in VILLAGE_POINT:
        return VILLAGE_POINT[village]
    if village is not None and village in VILLAGE_PRIMARY:
        return VILLAGE_PRIMARY[village]
    return CENTRAL


def school_for(child: TrueChild, family: Family, grade: int) -> str:
    if grade >= 7:
        return JUNIOR
    return primary_school(None if family.migrant else family.village, grade)


def make_rows(rng: random.Random, child: TrueChild, family: Family, anchor: Anchor) -> None:
    """The 学籍 rows and attendance that the child's true state leaves in the files."""
    rows = child.rows
    if child.state == "not_of_age":
        roll = rng.random()
        if child.birth < anchor.earliest:
            if roll < 0.3:  # started late: still in grade 9
                child.grade = 9
                rows += [XRow("prev", JUNIOR, 8, "在读"), XRow("cur", JUNIOR, 9, "在读")]
            elif roll < 0.6:
                rows.append(XRow("prev", JUNIOR, 9, "毕业"))
        elif roll < 0.1:  # started school a year early
            child.grade = 1
            rows.append(XRow("cur", school_for(child, family, 1), 1, "在读"))
        return
    c = school_cohort(child.birth, anchor)
    grade = c + 1 if c == 0 or rng.random() < 0.8 else c
    state = child.state
    if grade >= 10:  # on time, so the oldest cohort finished junior school last summer
        grade = 9
        if state in {"local", "on_leave", "absent"}:
            child.state = state = "completed"
    if state == "grad_no_junior" and grade != 7:
        child.state = state = "dropped"
    if state == "unlisted" and grade == 1:
        child.state = state = "dropped"
    child.grade = grade
    now = school_for(child, family, grade)

    def spring(status: str = "在读") -> None:
        """Last spring's row of a child who was at school then (grade - 1)."""
        if grade == 1:
            return
        if grade == 7:
            rows.append(XRow("prev", school_for(child, family, 6), 6, "毕业"))
            return
        school = school_for(child, family, grade - 1)
        if grade <= 6 and school == now and rng.random() < 0.05:  # changed primary school
            school = rng.choice([s for s in (CENTRAL, *VILLAGE_PRIMARY.values()) if s != now])
        rows.append(XRow("prev", school, grade - 1, status))

    if state in {"local", "on_leave", "absent", "migrant"}:
        spring()
        rows.append(XRow("cur", now, grade, "复学" if rng.random() < 0.03 else "在读"))
        if state == "on_leave":
            days = rng.randint(10, SCHOOL_DAYS)  # written as 缺勤天数 or as 请假天数
            child.attendance = rng.choice([(days, 0, "病假"), (0, days, "病假")])
        elif state == "absent":
            reason = rng.choice(["厌学在家", "无故缺勤", ""])
            child.attendance = (rng.randint(10, 17), 0, reason)
        else:
            roll = rng.random()
            if roll < 0.02:
                child.attendance = (rng.randint(5, 9), 0, "无故缺勤")
            elif roll < 0.12:
                days = rng.randint(1, 3)
                child.attendance = rng.choice([(days, 0, ""), (0, days, "事假"), (days, 0, "病假")])
            else:
                child.attendance = (0, 0, "")
    elif state == "completed":
        rows.append(XRow("prev", JUNIOR, 9, "毕业"))
    elif state == "suspended":
        spring()
        rows.append(XRow("cur", now, grade, "休学"))
    elif state == "dropped":
        status = rng.choices(["流失", "退学", "下落不明"], [60, 25, 15])[0]
        if grade >= 2 and grade != 7 and rng.random() < 0.3:  # left in the spring
            rows.append(XRow("prev", school_for(child, family, grade - 1), grade - 1, status))
        else:
            spring()
            rows.append(XRow("cur", now, grade, status))
    elif state == "unlisted":
        if grade == 7:  # the primary school never marked the 毕业
            rows.append(XRow("prev", school_for(child, family, 6), 6, "在读"))
        else:
            rows.append(XRow("prev", school_for(child, family, grade - 1), grade - 1, "在读"))
    elif state == "grad_no_junior":
        rows.append(XRow("prev", school_for(child, family, 6), 6, "毕业"))
    elif state in {"transfer_named", "transfer_unnamed"}:
        spring()
        rows.append(XRow("cur", now, grade, "转出"))
        if state == "transfer_named":
            pool = OUTSIDE_JUNIOR if grade >= 7 else OUTSIDE_PRIMARY
            rows.append(XRow("outside", rng.choice(pool)[0], grade, "在读"))
    elif state == "elsewhere":
        pool = OUTSIDE_JUNIOR if grade >= 7 else OUTSIDE_PRIMARY
        rows.append(XRow("outside", rng.choice(pool)[0], grade, "在读"))
    elif state == "deceased" and rng.random() < 0.5:  # the school has not closed the 学籍
        spring()
        rows.append(XRow("cur", now, grade, "在读"))


def make_area(args: argparse.Namespace, anchor: Anchor) -> Area:
    rng = random.Random(args.seed)
    used: set[str] = set()
    families: list[Family] = []
    children: list[TrueChild] = []
    states = [s for s, _ in STATE_WEIGHTS]
    weights = [w for _, w in STATE_WEIGHTS]
    older = (date(anchor.year - 18, 1, 1), anchor.earliest - timedelta(days=1))
    younger = (anchor.latest + timedelta(days=1), date(anchor.year - 4, 12, 31))
    household_seq: Counter[int] = Counter()

    def adult(sex: str, surname: str) -> tuple[str, str]:
        birth = random_date(rng, date(anchor.year - 50, 1, 1), date(anchor.year - 24, 12, 31))
        name = surname + names.adult_given_name(rng, sex)
        return name, make_id(rng, REGION, birth, sex, used)

    def new_family(migrant: bool) -> Family:
        ethnicity = names.pick_ethnicity(rng)
        surname = names.pick_surname(rng, ethnicity)
        village = rng.randrange(len(names.VILLAGES))
        household_seq[village] += 1
        head, head_id = adult("M", surname)
        spouse, spouse_id = adult("F", names.pick_surname(rng, ethnicity))
        if rng.random() < 0.7:
            guardian, left = head, "非留守"
        elif rng.random() < 0.5:
            guardian, left = spouse, "单亲外出"
        else:  # both parents away: a grandparent
            guardian, left = adult("M", surname)[0], "双亲外出"
        roll = rng.random()
        kind = ("", "")
        if not migrant:
            if roll < 0.20:
                kind = ("脱贫户", "无")
            elif roll < 0.22:
                kind = ("脱贫户", "脱贫不稳定户")
            elif roll < 0.24:
                kind = ("一般农户", "边缘易致贫户")
            elif roll < 0.25:
                kind = ("一般农户", "突发严重困难户")
        family = Family(
            idx=len(families),
            surname=surname,
            ethnicity=ethnicity,
            village=village,
            group=rng.choice(names.VILLAGES[village][1]),
            number=f"{household_seq[village]:04d}",
            head=head,
            head_id=head_id,
            spouse=spouse,
            spouse_id=spouse_id,
            guardian=guardian,
            phone=f"1{rng.choice('3589')}{rng.randrange(10**9):09d}",
            left_behind=left,
            generation=rng.choice(names.GENERATION_CHARS) if rng.random() < 0.4 else None,
            migrant=migrant,
            kind=kind,
            home=rng.choice(MIGRANT_HOMES) if migrant else "",
        )
        families.append(family)
        return family

    def one(family: Family, birth: date, sex: str) -> TrueChild:
        taken = {children[i].name for i in family.children}
        for _attempt in range(50):
            generation = family.generation if (sex == "M" or rng.random() < 0.5) else None
            name = family.surname + names.pick_given_name(rng, sex, generation)
            if name not in taken:
                break
        region = rng.choice(MIGRANT_REGIONS) if family.migrant else REGION
        if family.migrant:
            state = "migrant"
        elif not anchor.earliest <= birth <= anchor.latest:
            state = "not_of_age"
        else:
            state = rng.choices(states, weights)[0]
        child = TrueChild(
            idx=len(children),
            name=name,
            sex=sex,
            birth=birth,
            id_number=make_id(rng, region, birth, sex, used),
            ethnicity=family.ethnicity,
            family=family.idx,
            relation="子" if sex == "M" else "女",  # the head is the father
            state=state,
            on_roster=not family.migrant,
        )
        if child.on_roster:
            roll = rng.random()
            if roll < args.roster_missing:
                child.roster_kind = "missing"
            elif roll < args.roster_missing + args.roster_fifteen:
                child.roster_kind = "fifteen"
            if rng.random() < 0.015:
                child.disability = (str(rng.randint(1, 7)), str(rng.randint(1, 4)))
        make_rows(rng, child, family, anchor)
        big = bool(child.rows) and child.rows[-1].school in (CENTRAL, JUNIOR)
        child.klass = f"{1 + child.idx % (2 if big else 1)}班"
        family.children.append(child.idx)
        children.append(child)
        return child

    def birth_of() -> date:
        roll = rng.random()
        if roll < 0.04:
            return random_date(rng, *older)
        if roll < 0.08:
            return random_date(rng, *younger)
        return random_date(rng, anchor.earliest, anchor.latest)

    def populate(total: int, migrant: bool) -> None:
        end = len(children) + total
        while len(children) < end:
            family = new_family(migrant)
            size = rng.choices([1, 2, 3], [45, 40, 15])[0]
            for _ in range(size):
                if len(children) >= end:
                    break
                sex = "M" if rng.random() < 0.53 else "F"
                birth = random_date(rng, anchor.earliest, anchor.latest) if migrant else birth_of()
                first = one(family, birth, sex)
                if rng.random() < 0.012 and len(children) < end:  # a twin
                    twin_sex = sex if rng.random() < 0.6 else ("F" if sex == "M" else "M")
                    one(family, first.birth, twin_sex)

    populate(args.children, False)
    populate(int(args.children * args.migrants), True)
    # The 学籍 record of every child with a 学籍 row: its damage, shared by all its rows.
    for child in children:
        if not child.rows:
            continue
        id_kind, id_text = "clean", child.id_number
        if rng.random() < args.id_damaged:
            id_kind = rng.choices(*zip(*ID_DAMAGE_WEIGHTS, strict=True))[0]
            id_text = damaged_id(rng, child.id_number, id_kind, used)
        name, name_kind = child.name, ""
        if rng.random() < args.name_variant:
            name, name_kind = name_variant(rng, child.name)
        birth, birth_kind = child.birth, ""
        if rng.random() < args.birth_off:
            birth, birth_kind = off_birth(rng, child.birth)
        number = f"G{id_text}" if id_text else f"L{birth:%Y%m%d}{rng.randrange(10**9):09d}"
        corrected = id_kind != "clean" and rng.random() < args.id_corrected
        child.shown = Shown(id_text, id_kind, name, name_kind, birth, birth_kind, number, corrected)
    return Area(anchor, families, children)


# --- the files ----------------------------------------------------------------------------------


@dataclass
class FileRow:
    child: int | None  # None: an adult of a list
    cells: list[Any]
    # What the row says of its child: (ID number as written, name, birth date or None).
    says: tuple[str, str, date | None] | None = None
    repeat: str = ""  # '', same, diff


@dataclass
class SentFile:
    source: str  # the `baoxue import` source
    path: Path
    label: str
    rows: int = 0


def write_xlsx(path: Path, title: str, headers: list[str], rows: list[FileRow]) -> None:
    """An office's xlsx: a merged title row, the header, every cell text except numbers."""
    workbook = xlsxwriter.Workbook(str(path))
    sheet = workbook.add_worksheet("Sheet1")
    bold = workbook.add_format({"bold": True, "align": "center", "font_size": 14})
    head = workbook.add_format({"bold": True, "border": 1})
    text = workbook.add_format({"num_format": "@"})
    sheet.merge_range(0, 0, 0, len(headers) - 1, title, bold)
    for col, header in enumerate(headers):
        sheet.write_string(1, col, header, head)
    sheet.set_column(0, len(headers) - 1, 14, text)
    for r, row in enumerate(rows, start=2):
        for col, value in enumerate(row.cells):
            if isinstance(value, int | float):
                sheet.write_number(r, col, value)
            elif value:
                sheet.write_string(r, col, str(value))
    workbook.close()


def with_repeats(
    rng: random.Random,
    rows: list[FileRow],
    args: argparse.Namespace,
    alter: Any,
) -> list[FileRow]:
    """The rows with some listed twice: the same (copied twice), or with a difference that
    `alter(row)` makes (another class, another phone, a misspelt name); the copy right after
    the row or at the end of the file."""
    out: list[FileRow] = []
    at_end: list[FileRow] = []
    for row in rows:
        out.append(row)
        if row.child is None:
            continue
        roll = rng.random()
        copy: FileRow | None = None
        if roll < args.repeat:
            copy = FileRow(row.child, list(row.cells), row.says, "same")
        elif roll < args.repeat + args.repeat_diff:
            copy = alter(row)
        if copy is not None:
            (out if rng.random() < 0.5 else at_end).append(copy)
    rows = out + at_end
    for n, row in enumerate(rows, start=1):
        row.cells[0] = n  # 序号
    return rows


ROSTER_HEADERS = [
    "序号", "姓名", "性别", "公民身份号码", "出生日期", "民族", "村", "组/屯", "户号", "户主姓名",
    "与户主关系", "监护人姓名", "监护人电话", "留守情况", "户口状态",
]  # fmt: skip
ENROLLMENT_HEADERS = [
    "序号", "姓名", "性别", "身份证件号", "学籍号", "出生日期", "民族", "学校标识码", "学校名称",
    "年级", "班级", "入学年月", "学生当前状态", "户口所在地", "村", "监护人姓名",
    "监护人联系电话", "是否留守儿童", "是否进城务工人员随迁子女",
]  # fmt: skip
ATTENDANCE_HEADERS = [
    "序号", "姓名", "学籍号", "身份证号", "学校名称", "年级", "班级", "月份", "应到天数",
    "缺勤天数", "请假天数", "缺勤原因",
]  # fmt: skip
HOUSEHOLD_HEADERS = [
    "序号", "户编号", "户主姓名", "户主身份证号", "姓名", "身份证号", "与户主关系", "出生日期",
    "村", "组/屯", "户类型", "监测对象类别", "联系电话",
]  # fmt: skip
DISABILITY_HEADERS = [
    "序号", "姓名", "性别", "残疾人证号", "身份证号", "残疾类别", "残疾等级", "出生日期", "村",
    "组/屯", "监护人", "联系电话",
]  # fmt: skip


class Writer:
    """Writes every file the offices send, and keeps what each row says (the truth)."""

    def __init__(self, area: Area, folder: Path, args: argparse.Namespace) -> None:
        self.area = area
        self.folder = folder
        self.args = args
        self.rng = random.Random(args.seed + 1)
        self.files: list[SentFile] = []
        # Per file, in the order of the imports: its source, and for each child the
        # (name, birth date) of its rows that carry the child's registered, valid number.
        self.said: list[tuple[str, str, dict[int, list[tuple[str, date | None]]]]] = []

    def family(self, child: TrueChild) -> Family:
        return self.area.families[child.family]

    def save(self, source: str, name: str, title: str, headers: list[str], rows: list[FileRow]):
        path = self.folder / name
        write_xlsx(path, title, headers, rows)
        self.files.append(SentFile(source, path, name, len(rows)))
        seen: dict[int, list[tuple[str, date | None]]] = defaultdict(list)
        for row in rows:
            if row.child is None or row.says is None:
                continue
            known = self.registered(self.area.children[row.child])
            if known is not None and resolves_to(row.says[0], known[0]):
                seen[row.child].append(row.says[1:])
        self.said.append((source, name, seen))

    def disagreements(self) -> dict[tuple[int, str], set[str]]:
        """The (child, 项目) the discrepancy list should show, with the files that make them:
        per source, the last file that says something of the child's item decides (a value
        that differs from the registered record opens it; the registered value closes it)."""
        state: dict[tuple[int, str, str], tuple[bool, str]] = {}
        for source, label, seen in self.said:
            for i, values in seen.items():
                known = self.registered(self.area.children[i])
                assert known is not None
                for item, at, held in (("name", 0, known[1]), ("birth_date", 1, known[2])):
                    given = {v[at] for v in values if v[at]}
                    if given:
                        state[(i, item, source)] = (any(v != held for v in given), label)
        found: dict[tuple[int, str], set[str]] = defaultdict(set)
        for (i, item, _source), (differs, label) in state.items():
            if differs:
                found[(i, item)].add(label)
        return found

    def write_all(self) -> list[SentFile]:
        a = self.area.anchor
        self.roster()
        for term in ("prev", "cur"):
            for school in LOCAL_SCHOOLS:
                title = f"{a.year}年春季学期（期末）" if term == "prev" else a.term_title()
                self.enrollment(term, school, f"{school}{title}学生名册")
        self.enrollment(
            "outside",
            None,
            f"{COUNTY_NAME}户籍在{TOWNSHIP_NAME}、在县外就读学生名单（{a.term_title()}）",
        )
        self.households()
        self.disability()
        for school in LOCAL_SCHOOLS:
            self.attendance(school)
        return self.files

    # -- 户籍 ----------------------------------------------------------------------------------
    def roster(self) -> None:
        a = self.area.anchor
        rows: list[FileRow] = []
        listed = [c for c in self.area.children if c.on_roster]
        listed.sort(key=lambda c: (self.family(c).village, self.family(c).number, c.birth))
        for c in listed:
            f = self.family(c)
            cells = [
                0,
                c.name,
                "男" if c.sex == "M" else "女",
                c.roster_id,
                f"{c.birth:%Y%m%d}",
                c.ethnicity,
                names.VILLAGES[f.village][0],
                f.group,
                f.number,
                f.head,
                c.relation,
                f.guardian,
                f.phone,
                f.left_behind,
                "死亡" if c.state == "deceased" else "正常",
            ]
            rows.append(FileRow(c.idx, cells, (c.roster_id, c.name, c.birth)))

        def alter(row: FileRow) -> FileRow:
            assert row.says is not None
            cells = list(row.cells)
            says = row.says
            if self.rng.random() < 0.5:
                cells[1], _kind = name_variant(self.rng, row.says[1])
                says = (says[0], cells[1], says[2])
            else:
                cells[12] = f"1{self.rng.choice('3589')}{self.rng.randrange(10**9):09d}"
            return FileRow(row.child, cells, says, "diff")

        rows = with_repeats(self.rng, rows, self.args, alter)
        title = f"{TOWNSHIP_NAME}{a.year}年{'秋季' if a.autumn else '春季'}学期户籍人口名册"
        self.save("roster", "01-户籍人口名册.xlsx", title, ROSTER_HEADERS, rows)

    # -- 学籍 ----------------------------------------------------------------------------------
    def registered(self, child: TrueChild) -> tuple[str, str, date] | None:
        """(number, name, birth date) of the child's registered record, when the registry knows
        it by a valid number before the 学籍 comes: the roster's (its row has a number), or,
        for a migrant, the record its first 学籍 row made."""
        s = child.shown
        if child.on_roster:
            if child.roster_kind != "missing":
                return child.id_number, child.name, child.birth
            # Registered without a number: the first 学籍 row of the same name, birth date
            # and village gives it hers.
            if (
                s is not None
                and resolves_to(s.id_text, child.id_number)
                and (s.name, s.birth) == (child.name, child.birth)
            ):
                return child.id_number, child.name, child.birth
            return None
        if s is None or s.id_kind in BAD_CHECKSUM or s.id_kind == "missing":
            return None
        number = child.id_number if s.id_kind == "fifteen" else s.id_text
        return number, s.name, s.birth

    def enrollment_row(self, child: TrueChild, row: XRow) -> FileRow:
        f = self.family(child)
        s = child.shown
        assert s is not None
        id_text = child.id_number if (row.term != "prev" and s.corrected) else s.id_text
        village = "" if f.migrant else names.VILLAGES[f.village][0]
        address = (
            f.home
            if f.migrant
            else f"广西壮族自治区柳州市{COUNTY_NAME}{TOWNSHIP_NAME}{village}{f.group}"
        )
        stage_start = 7 if row.grade >= 7 else 1
        year = self.area.anchor.year - (1 if row.term == "prev" else 0)
        entry = f"{year - (row.grade - stage_start)}-09"
        school = row.school
        code = OUTSIDE_CODE.get(school) or SCHOOL_CODE[school]
        cells = [
            0,
            s.name,
            "男" if child.sex == "M" else "女",
            id_text,
            s.student_number,
            f"{s.birth:%Y-%m-%d}",
            child.ethnicity,
            code,
            school,
            row.grade,
            child.klass,
            entry,
            row.status,
            address,
            village,
            f.guardian,
            f.phone,
            "非留守儿童" if f.left_behind == "非留守" else "留守儿童",
            "是" if f.migrant else "否",
        ]
        return FileRow(child.idx, cells, (id_text, s.name, s.birth))

    def enrollment(self, term: str, school: str | None, title: str) -> None:
        rows: list[FileRow] = []
        listed = [
            (c, r)
            for c in self.area.children
            for r in c.rows
            if r.term == term and (school is None or r.school == school)
        ]
        listed.sort(key=lambda x: (x[1].school, x[1].grade, x[0].klass, x[0].idx))
        for c, r in listed:
            rows.append(self.enrollment_row(c, r))
        with_village = school in WITH_VILLAGE_COLUMN or school is None

        def alter(row: FileRow) -> FileRow:
            assert row.says is not None
            cells = list(row.cells)
            says = row.says
            if self.rng.random() < 0.5:
                cells[10] = "3班" if cells[10] == "2班" else "2班"
            else:
                cells[1], _kind = name_variant(self.rng, cells[1], "changed")
                says = (says[0], cells[1], says[2])
            return FileRow(row.child, cells, says, "diff")

        rows = with_repeats(self.rng, rows, self.args, alter)
        headers = list(ENROLLMENT_HEADERS)
        if not with_village:
            at = headers.index("村")
            headers.pop(at)
            for row in rows:
                row.cells.pop(at)
        if term == "outside":
            name = "30-县外就读学生名单.xlsx"
        else:
            n = LOCAL_SCHOOLS.index(str(school)) + 1
            which = ("1", "上学期") if term == "prev" else ("2", "本学期")
            name = f"{which[0]}{n}-{school}-{which[1]}学籍.xlsx"
        self.save("enrollment", name, title, headers, rows)

    # -- 脱贫户/监测户, 残联 -------------------------------------------------------------------
    def households(self) -> None:
        rows: list[FileRow] = []
        for f in self.area.families:
            if not f.kind[0]:
                continue
            number = f"{TOWNSHIP_CODE}{f.village + 1:03d}{int(f.number):05d}"
            village = names.VILLAGES[f.village][0]
            people: list[tuple[int | None, str, str, str, date | None]] = [
                (None, f.head, f.head_id, "户主", None),
                (None, f.spouse, f.spouse_id, "配偶", None),
            ]
            for i in f.children:
                c = self.area.children[i]
                people.append((i, c.name, c.id_number, c.relation, c.birth))
            for child, name, number_id, relation, birth in people:
                cells = [
                    0,
                    number,
                    f.head,
                    f.head_id,
                    name,
                    number_id,
                    relation,
                    f"{birth:%Y-%m-%d}" if birth else "",
                    village,
                    f.group,
                    f.kind[0],
                    f.kind[1],
                    f.phone,
                ]
                says = (number_id, name, birth) if child is not None else None
                rows.append(FileRow(child, cells, says))
        for n, row in enumerate(rows, start=1):
            row.cells[0] = n
        self.save(
            "households",
            "40-脱贫户监测户名单.xlsx",
            f"{TOWNSHIP_NAME}脱贫户和防返贫监测对象家庭成员名单",
            HOUSEHOLD_HEADERS,
            rows,
        )

    def disability(self) -> None:
        from baoxue.imports.sources.disability import CATEGORIES, GRADES

        rows: list[FileRow] = []
        for c in self.area.children:
            if c.disability is None:
                continue
            f = self.family(c)
            cat, grade = c.disability
            cells = [
                0,
                c.name,
                "男" if c.sex == "M" else "女",
                c.id_number + cat + grade,
                c.id_number,
                CATEGORIES[cat],
                GRADES[grade],
                f"{c.birth:%Y-%m-%d}",
                names.VILLAGES[f.village][0],
                f.group,
                f.guardian,
                f.phone,
            ]
            rows.append(FileRow(c.idx, cells, (c.id_number, c.name, c.birth)))
        for f in self.area.families[:: max(1, len(self.area.families) // 5)][:5]:  # adults
            cells = [0, f.head, "男", f.head_id + "42", f.head_id, "肢体残疾", "二级", ""]
            cells += [names.VILLAGES[f.village][0], f.group, f.head, f.phone]
            rows.append(FileRow(None, cells))
        for n, row in enumerate(rows, start=1):
            row.cells[0] = n
        self.save(
            "disability",
            "50-残联残疾儿童名单.xlsx",
            f"{COUNTY_NAME}残疾人联合会 {TOWNSHIP_NAME}持证残疾人名单",
            DISABILITY_HEADERS,
            rows,
        )

    # -- 考勤 ----------------------------------------------------------------------------------
    def attendance(self, school: str) -> None:
        month = self.area.anchor.month()
        rows: list[FileRow] = []
        listed = [
            (c, r)
            for c in self.area.children
            for r in c.rows
            if r.term == "cur" and r.school == school and c.attendance is not None
        ]
        listed.sort(key=lambda x: (x[1].grade, x[0].klass, x[0].idx))
        for c, r in listed:
            s = c.shown
            assert s is not None and c.attendance is not None
            absent, leave, reason = c.attendance
            cells = [
                0,
                s.name,
                s.student_number,
                c.id_number if s.corrected else s.id_text,
                school,
                r.grade,
                c.klass,
                f"{month.year}年{month.month}月",
                SCHOOL_DAYS,
                absent,
                leave,
                reason,
            ]
            rows.append(FileRow(c.idx, cells))
        for n, row in enumerate(rows, start=1):
            row.cells[0] = n
        n = LOCAL_SCHOOLS.index(school) + 1
        self.save(
            "attendance",
            f"6{n}-{school}-考勤.xlsx",
            f"{school}{month.year}年{month.month}月学生考勤统计表",
            ATTENDANCE_HEADERS,
            rows,
        )


def resolves_to(id_text: str, number: str) -> bool:
    """Whether a cell's ID number is `number` once the import reads it (15 digits upgraded)."""
    if not id_text:
        return False
    if id_text == number:
        return True
    return len(id_text) == 15 and fifteen(number) == id_text


# --- through the command line -------------------------------------------------------------------


@dataclass
class Step:
    label: str
    seconds: float
    code: int = 0
    summary: str = ""
    errors: Path | None = None


class Shell:
    """`baoxue …` run in this process (baoxue.cli.main), its output kept in the work folder."""

    def __init__(self, work: Path, data_dir: Path) -> None:
        self.work = work
        self.data_dir = data_dir
        self.logs = work / "logs"
        self.logs.mkdir(parents=True, exist_ok=True)
        self.steps: list[Step] = []

    def run(self, label: str, argv: list[str], errors: Path | None = None) -> Step:
        from baoxue import cli

        out, err = io.StringIO(), io.StringIO()
        started = time.perf_counter()
        with redirect_stdout(out), redirect_stderr(err):
            try:
                code = cli.main(argv)
            except SystemExit as exc:  # argparse
                code = int(exc.code or 0)
        seconds = time.perf_counter() - started
        text = out.getvalue()
        number = len(self.steps) + 1
        (self.logs / f"{number:02d}.txt").write_text(
            f"$ baoxue {' '.join(argv)}\n(exit {code}, {seconds:.2f} s)\n\n{text}\n--- stderr\n"
            + re.sub(r"\r[^\n]*(?=\r)", "", err.getvalue()),
            encoding="utf-8",
        )
        lines = [line for line in text.splitlines() if line.strip()]
        summary = next(
            (
                line
                for line in lines
                if " rows: " in line or " children in " in line or "ready in" in line
            ),
            lines[-1] if lines else "",
        )
        step = Step(label, seconds, code, summary.strip(), errors)
        self.steps.append(step)
        log(f"  {label}: {seconds:.1f} s, exit {code}: {step.summary}")
        if code != 0:
            raise SystemExit(f"`baoxue {argv[0]}` failed ({code}); see {self.logs}")
        return step

    def data(self) -> list[str]:
        return ["--data-dir", str(self.data_dir)]


def setup_instance(shell: Shell) -> None:
    """`baoxue init` for the township, and the other county's schools (as its admin would
    register them in /admin/)."""
    shell.run(
        "init",
        [
            "init",
            *shell.data(),
            "--township-code",
            TOWNSHIP_CODE,
            "--township-name",
            TOWNSHIP_NAME,
            "--county-name",
            COUNTY_NAME,
        ],
    )
    from baoxue.registry.services import region_create, school_create

    county = region_create(name=OUTSIDE_COUNTY[0], level="county", code=OUTSIDE_COUNTY[1])
    for (name, code), junior in [(s, False) for s in OUTSIDE_PRIMARY] + [
        (s, True) for s in OUTSIDE_JUNIOR
    ]:
        school_create(
            name=name,
            kind="junior" if junior else "primary",
            region=county,
            code=code,
            lowest_grade=7 if junior else 1,
            highest_grade=9 if junior else 6,
        )


def anchor_today() -> Anchor:
    from baoxue.core.policy import compulsory_birth_range, cutoff_date, term_label

    today = date.today()
    earliest, latest = compulsory_birth_range(today)
    return Anchor(today, cutoff_date(today), earliest, latest, term_label(today).endswith("秋"))


def import_all(shell: Shell, files: list[SentFile]) -> None:
    errors = shell.work / "errors"
    errors.mkdir(exist_ok=True)
    for f in files:
        report = errors / f.label
        shell.run(
            f"import {f.source} {f.label} ({f.rows:,} rows)",
            [
                "import",
                f.source,
                str(f.path),
                *shell.data(),
                "--user",
                USER,
                "--errors",
                str(report),
            ],
            errors=report,
        )


def reconcile(shell: Shell) -> tuple[Path, Path]:
    ledger = shell.work / "适龄儿童少年台账.xlsx"
    disc = shell.work / "信息不一致.xlsx"
    shell.run(
        "reconcile",
        [
            "reconcile",
            *shell.data(),
            "--township",
            TOWNSHIP_CODE + "000",
            "--export",
            str(ledger),
            "--discrepancies",
            str(disc),
        ],
    )
    return ledger, disc


# --- reading what the user gets back ------------------------------------------------------------


def read_table(path: Path) -> list[dict[str, str]]:
    """The rows of the first sheet under its header (the first row with 姓名), as text."""
    rows = CalamineWorkbook.from_path(str(path)).get_sheet_by_index(0).to_python()
    at = next(i for i, row in enumerate(rows) if "姓名" in [str(c) for c in row])
    headers = [str(c) for c in rows[at]]
    out = []
    for row in rows[at + 1 :]:
        cells = ["" if c is None else str(c) for c in row]
        if not any(cells):
            continue
        if cells and cells[0].endswith(".0"):
            cells[0] = cells[0][:-2]
        out.append(dict(zip(headers, cells, strict=False)))
    return out


ISSUE_NUMBERS = re.compile(r"[0-9][0-9X*\-]*|“[^”]*”|（[^）]*）")


def issue_kinds(step: Step) -> Counter[tuple[str, str]]:
    """(错误/提醒, the reason with its numbers and quotes taken out) of an import's problem
    list."""
    found: Counter[tuple[str, str]] = Counter()
    if step.errors is None or not step.errors.exists():
        return found
    rows = CalamineWorkbook.from_path(str(step.errors)).get_sheet_by_index(0).to_python()
    for row in rows[1:]:
        found[(str(row[1]), ISSUE_NUMBERS.sub("…", str(row[3])))] += 1
    return found


@dataclass
class Index:
    """Which true child an ID number or a (name, birth date, village) denotes."""

    by_id: dict[str, int] = field(default_factory=dict)
    true_id: dict[str, int] = field(default_factory=dict)
    by_name: dict[tuple[str, str, str], list[int]] = field(
        default_factory=lambda: defaultdict(list)
    )

    def child(self, number: str, name: str, birth: str, village: str) -> int | None:
        if number:
            found = self.by_id.get(number)
            if found is not None:
                return found
        candidates = self.by_name.get((name, birth, village), [])
        return candidates[0] if candidates else None


PLACEHOLDER = "（村未注明）"


def build_index(area: Area) -> Index:
    index = Index()
    for c in area.children:
        f = area.families[c.family]
        village = PLACEHOLDER if f.migrant else names.VILLAGES[f.village][0]
        index.true_id[c.id_number] = c.idx
        index.by_id[c.id_number] = c.idx
        if c.roster_kind == "fifteen":
            index.by_id[fifteen(c.id_number)] = c.idx
        if c.on_roster:
            index.by_name[(c.name, c.birth.isoformat(), village)].append(c.idx)
        s = c.shown
        if s is not None:
            if s.id_text and s.id_text not in index.by_id:
                index.by_id[s.id_text] = c.idx
            key = (s.name, s.birth.isoformat(), village)
            if c.idx not in index.by_name[key]:
                index.by_name[key].append(c.idx)
    return index


@dataclass
class LedgerRow:
    child: int | None
    category: str
    basis: str
    number: str
    name: str
    school: str = ""
    key_group: bool = False
    primary: bool = False


def read_ledger(
    path: Path, area: Area, index: Index
) -> tuple[list[LedgerRow], dict[int, list[LedgerRow]]]:
    from baoxue.reconcile.models import CATEGORY_LABELS

    code_of = {str(label): code for code, label in CATEGORY_LABELS.items()}
    rows: list[LedgerRow] = []
    by_child: dict[int, list[LedgerRow]] = defaultdict(list)
    for r in read_table(path):
        number = r.get("身份证号", "")
        child = index.child(number, r["姓名"], r.get("出生日期", ""), r.get("村", ""))
        row = LedgerRow(
            child,
            code_of.get(r["类别"], r["类别"]),
            r.get("依据", ""),
            number,
            r["姓名"],
            r.get("学校", ""),
            r.get("重点群体", "") == "是",
        )
        rows.append(row)
        if child is not None:
            by_child[child].append(row)
    for i, found in by_child.items():
        c = area.children[i]
        own = [r for r in found if r.number == c.id_number]
        if not own and c.on_roster:
            own = [r for r in found if not r.number and r.name == c.name]
        (own or found)[0].primary = True
    return rows, by_child


# --- scoring ------------------------------------------------------------------------------------


def score(
    area: Area,
    writer: Writer,
    index: Index,
    ledger: list[LedgerRow],
    by_child: dict[int, list[LedgerRow]],
    disc_rows: list[dict[str, str]],
    db: dict[str, Any],
) -> dict[str, Any]:
    children = area.children
    confusion: dict[str, Counter[str]] = defaultdict(Counter)
    category: dict[int, str] = {}
    for c in children:
        rows = by_child.get(c.idx, [])
        primary = next((r for r in rows if r.primary), None)
        category[c.idx] = primary.category if primary is not None else ABSENT
        confusion[c.state][category[c.idx]] += 1
    extra: dict[str, Counter[str]] = defaultdict(Counter)
    for c in children:
        for r in by_child.get(c.idx, []):
            if not r.primary:
                extra[c.state][r.category] += 1
    unmatched = [r for r in ledger if r.child is None]

    # The ledger's 学校 and 重点群体 of the child's own row, against the truth (no target).
    school_wrong: Counter[tuple[str, str]] = Counter()
    schooled = 0
    key_wrong: Counter[str] = Counter()
    keyed = 0
    for c in children:
        primary = next((r for r in by_child.get(c.idx, []) if r.primary), None)
        if primary is None:
            continue
        now = current_school(c)
        if now:
            schooled += 1
            if primary.school != now:
                grade = f"grade {c.grade}" if c.grade else "?"
                school_wrong[(grade, "no school" if not primary.school else "another school")] += 1
        key = bool(area.families[c.family].kind[0])
        keyed += 1
        if primary.key_group != key:
            key_wrong["key group not shown" if key else "shown, not a key group"] += 1

    def flagged_any(c: TrueChild) -> bool:
        return any(r.category in CASES for r in by_child.get(c.idx, []))

    revealable = [c for c in children if c.state in REVEALABLE]
    revealed = [c for c in revealable if flagged_any(c)]
    in_local = [c for c in children if c.state in IN_LOCAL_SCHOOL]
    flagged = [c for c in in_local if flagged_any(c)]
    flagged_by_extra = [
        c for c in flagged if category[c.idx] not in CASES
    ]  # only an extra record of the child is in a case category

    # The discrepancy list against what the files made differ.
    from baoxue.registry.models import Discrepancy

    item_of = {str(label): code for code, label in Discrepancy.Item.choices}
    expected = set(writer.disagreements())
    listed: set[tuple[int, str]] = set()
    false_rows: list[dict[str, str]] = []
    for r in disc_rows:
        child = index.by_id.get(r.get("身份证号", ""))
        item = item_of.get(r.get("项目", ""), r.get("项目", ""))
        if child is None or (child, item) not in expected:
            false_rows.append(r)
        else:
            listed.add((child, item))
    missed_disc = sorted(expected - listed)

    # Links: the registry's records of each true child (from the database).
    records: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for rec in db["records"]:
        if rec["child"] is not None:
            records[rec["child"]].append(rec)
    # True pairs: the child's roster record and each record of it not on the roster (made by
    # a 学籍 row the import could not join to it).
    true_pairs: set[tuple[int, int]] = set()
    for c in children:
        recs = records.get(c.idx, [])
        roster = [r for r in recs if r["on_roster"]]
        if len(roster) != 1:
            continue
        for r in recs:
            if not r["on_roster"]:
                true_pairs.add((roster[0]["pk"], r["pk"]))
    # Predicted: the run's RunChild.linked_child, and the records it merged (either way round).
    pred_pairs = {pair(lk, rk) for lk, rk in db["links"]}
    true_pairs = {pair(lk, rk) for lk, rk in true_pairs}
    named = {pk for p in pred_pairs for pk in p}
    carried_unnamed = [pk for pk in db["carried"] if pk not in named]
    true_right = {rk: lk for lk, rk in true_pairs} | {lk: rk for lk, rk in true_pairs}
    assumed = {pair(true_right[pk], pk) for pk in carried_unnamed if pk in true_right}
    tp = len(true_pairs & pred_pairs) + len(assumed)
    n_pred = len(pred_pairs) + len(assumed)
    precision = tp / n_pred if n_pred else 1.0
    recall = tp / len(true_pairs) if true_pairs else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    review = set(db["review"])
    in_review = {p for p in true_pairs - pred_pairs - assumed if p in review}
    owner = {rec["pk"]: rec["child"] for rec in db["records"]}
    wrong_links = [(lk, rk) for lk, rk in pred_pairs if owner.get(lk) != owner.get(rk)]

    # Counts.
    true_current = sum(
        1
        for c in children
        if any(
            (r.term == "cur" and r.status in {"在读", "复学", "休学"}) or r.term == "outside"
            for r in c.rows
        )
    )
    # Records beyond one a child, by what the child's files carry; records of no child.
    extra_records: Counter[str] = Counter()
    for i, recs in records.items():
        if len(recs) > 1:
            extra_records[damage_of(children[i])] += len(recs) - 1
    extra_records["(no true child)"] = sum(1 for rec in db["records"] if rec["child"] is None)
    return {
        "confusion": confusion,
        "category": category,
        "extra": extra,
        "unmatched": unmatched,
        "schooled": schooled,
        "school_wrong": school_wrong,
        "keyed": keyed,
        "key_wrong": key_wrong,
        "revealable": revealable,
        "revealed": revealed,
        "in_local": in_local,
        "flagged": flagged,
        "flagged_by_extra": flagged_by_extra,
        "disc_expected": expected,
        "disc_listed": listed,
        "disc_rows": len(disc_rows),
        "disc_false": false_rows,
        "disc_missed": missed_disc,
        "true_pairs": true_pairs,
        "pred_pairs": pred_pairs,
        "assumed": assumed,
        "carried_unnamed": carried_unnamed,
        "tp": tp,
        "precision": precision,
        "recall": recall,
        "f1": f1,
        "in_review": in_review,
        "wrong_links": wrong_links,
        "records": records,
        "true_children": len(children),
        "true_current": true_current,
        "extra_records": extra_records,
    }


def current_school(child: TrueChild) -> str:
    """The school the newest files say the child attends ('' for none)."""
    for term in ("cur", "outside"):
        for r in child.rows:
            if r.term == term and r.status in {"在读", "复学", "休学"}:
                return r.school
    return ""


def pair(a: int, b: int) -> tuple[int, int]:
    return (a, b) if a < b else (b, a)


def damage_of(child: TrueChild) -> str:
    """What a child's files carry, in a few words (clean: nothing)."""
    parts = [] if child.roster_kind == "clean" else [f"roster {child.roster_kind}"]
    s = child.shown
    if s is not None:
        if s.id_kind != "clean":
            parts.append(s.id_kind + (" corrected" if s.corrected else ""))
        if s.name_kind:
            parts.append(f"name {s.name_kind}")
        if s.birth_kind:
            parts.append(f"birth {s.birth_kind}")
    return ", ".join(parts) or "clean"


def read_database(index: Index) -> dict[str, Any]:
    """What the report needs from the database: the township's registry records (mapped to the
    true children by their numbers, else name + birth date + village), its current
    enrollments, and the last run's links and review queue."""
    from baoxue.core import crypto
    from baoxue.reconcile.models import MatchReview, ReconciliationRun, RunChild
    from baoxue.registry.models import Child, Enrollment, Region
    from baoxue.registry.services import ENDED_STATUSES

    area = Region.objects.get(code=TOWNSHIP_CODE + "000")
    # Every record, merged ones too (Child.objects hides a record merged into another, when
    # the registry merges: its base manager does not).
    children = Child._base_manager.filter(township=area)
    merging = any(f.name == "merged_into" for f in Child._meta.get_fields())
    enrollments: dict[int, list[tuple[str, str, bool, Any]]] = defaultdict(list)
    for child_id, school, status, is_current, absent in Enrollment.objects.filter(
        child__in=children
    ).values_list("child_id", "school__name", "status", "is_current", "absent_from_list_since"):
        enrollments[child_id].append((school, status, is_current, absent))
    run = ReconciliationRun.objects.filter(area=area).order_by("-pk").first()
    assert run is not None
    results = {
        r[0]: r[1:]
        for r in RunChild.objects.filter(run=run).values_list(
            "child_id", "category", "basis", "linked_child_id", "link_method"
        )
    }
    records = []
    columns = ["pk", "name", "birth_date", "village__name", "id_number_enc", "on_roster"]
    columns += ["id_status", "merged_into_id" if merging else "pk"]
    for pk, name, birth, village, enc, on_roster, id_status, merged in children.values_list(
        *columns
    ):
        number = crypto.decrypt(enc) if enc else ""
        records.append(
            {
                "pk": pk,
                "name": name,
                "birth": birth,
                "village": village,
                "number": number,
                "on_roster": on_roster,
                "id_status": id_status,
                "enrolled": bool(enrollments.get(pk)),
                "enrollments": enrollments.get(pk, []),
                "result": results.get(pk),
                "merged_into": merged if merging and merged != pk else None,
                "child": index.child(
                    number, name, birth.isoformat() if birth else "", village or ""
                ),
            }
        )
    links = [(pk, r[2]) for pk, r in results.items() if r[2] is not None and r[2] != pk]
    links += [(rec["merged_into"], rec["pk"]) for rec in records if rec["merged_into"]]
    carried = [rec["pk"] for rec in records if rec["pk"] not in results]
    review = list(
        MatchReview.objects.filter(status=MatchReview.Status.PENDING).values_list(
            "left_id", "right_id"
        )
    )
    current = Enrollment.objects.filter(
        child__in=children, is_current=True, absent_from_list_since=None
    ).exclude(status__in=ENDED_STATUSES)
    return {
        "run": run,
        "records": records,
        "links": links,
        "carried": carried,
        "review": review,
        # The registry's children as its lists count them (merged records not twice).
        "registry_children": Child.objects.filter(township=area).count(),
        "registry_rows": len(records),
        "merged": sum(1 for rec in records if rec["merged_into"]),
        "merging": merging,
        "current_enrollments": current.count(),
        "review_methods": Counter(
            MatchReview.objects.filter(status=MatchReview.Status.PENDING).values_list(
                "method", flat=True
            )
        ),
    }


# --- output -------------------------------------------------------------------------------------

SHORT = {
    engine.IN_SCHOOL: "in_sch",
    engine.ON_LEAVE: "leave",
    engine.SUSPENDED: "susp",
    engine.ELSEWHERE: "elsew",
    engine.TO_VERIFY: "verify",
    engine.NEVER_ENROLLED: "never",
    engine.SUSPECTED: "suspct",
    engine.LIST_MISSING: "listm",
    engine.NOT_OF_AGE: "n_age",
    engine.COMPLETED: "compl",
    engine.GONE: "gone",
    engine.EXEMPT: "exempt",
    ABSENT: "absent",
}


def pad(text: str, width: int) -> str:
    """`text` left-aligned in `width` columns of a terminal (a Chinese character takes two)."""
    wide = sum(1 for ch in text if unicodedata.east_asian_width(ch) in "WF")
    return text + " " * max(0, width - len(text) - wide)


def pct(x: float) -> str:
    return f"{100 * x:.3f} %"


def expected_column(state: str) -> str:
    wanted = EXPECTED[state]
    return ABSENT if wanted in NOT_IN_LEDGER else wanted


def table(
    title: str, rows: list[tuple[str, str, Counter[str]]], columns: list[str], label: str
) -> list[str]:
    width = max(len(label), *(len(r[0]) for r in rows)) + 1
    out = [title, ""]
    head = f"{label:<{width}} {'expected':<9}" + "".join(f"{SHORT[c]:>8}" for c in columns)
    head += f"{'total':>8}{'right':>9}"
    out.append(head)
    out.append("-" * len(head))
    total: Counter[str] = Counter()
    right_all = n_all = 0
    for name, expected, counts in rows:
        n = sum(counts.values())
        right = counts.get(expected, 0)
        right_all += right
        n_all += n
        total.update(counts)
        line = f"{name:<{width}} {SHORT[expected]:<9}" + "".join(
            f"{counts.get(c, 0) or '.':>8}" for c in columns
        )
        out.append(line + f"{n:>8}{100 * right / n if n else 0:>8.2f}%")
    out.append("-" * len(head))
    line = f"{'all':<{width}} {'':<9}" + "".join(f"{total.get(c, 0):>8}" for c in columns)
    out.append(line + f"{n_all:>8}{100 * right_all / n_all if n_all else 0:>8.2f}%")
    return out


def describe(area: Area, s: dict[str, Any], by_child: dict[int, list[LedgerRow]], i: int) -> str:
    c = area.children[i]
    f = area.families[c.family]
    home = "migrant" if f.migrant else names.VILLAGES[f.village][0]
    lines = [
        f"  {c.name} {c.sex} {c.birth} {c.id_number} {home}"
        f" state={c.state} grade={c.grade} roster={c.roster_kind}"
    ]
    sh = c.shown
    if sh is not None:
        lines.append(
            f"    学籍 record: {sh.name} ({sh.name_kind or 'same name'}) {sh.birth}"
            f" ({sh.birth_kind or 'same birth'}) id {sh.id_text or '-'} ({sh.id_kind}"
            f"{', corrected this term' if sh.corrected else ''}) 学籍号 {sh.student_number}"
        )
        lines.append(
            "    rows: "
            + "; ".join(f"{r.term} {r.school} g{r.grade} {r.status}" for r in c.rows)
            + (f"; attendance {c.attendance}" if c.attendance else "")
        )
    for r in by_child.get(i, []):
        lines.append(
            f"    ledger{' (own)' if r.primary else ' (extra)'}: {r.name} {r.number or '-'}"
            f" {r.category} — {r.basis}"
        )
    for rec in s["records"].get(i, []):
        res = rec["result"]
        result = (
            f"{res[0]} ({res[1]}); linked {res[2]} {res[3]}"
            if res is not None
            else (f"merged into #{rec['merged_into']}" if rec["merged_into"] else "carried")
        )
        lines.append(
            f"    record #{rec['pk']} {rec['name']} {rec['birth']} {rec['number'] or '-'}"
            f" {rec['id_status']}{' roster' if rec['on_roster'] else ''}: {result};"
            f" 学籍 {[(*e[:2], 'current' if e[2] else 'ended') for e in rec['enrollments']]}"
        )
    return "\n".join(lines)


def report(
    args: argparse.Namespace,
    area: Area,
    shell: Shell,
    files: list[SentFile],
    write_seconds: float,
    s: dict[str, Any],
    db: dict[str, Any],
    by_child: dict[int, list[LedgerRow]],
) -> tuple[list[str], dict[str, Any]]:
    children = area.children
    a = area.anchor
    out: list[str] = []
    roster = sum(1 for c in children if c.on_roster)
    out += [
        "Reconciliation quality through the command line (bench/reconcile_quality.py)",
        f"  source {source_version()}  backend {args.backend}  seed {args.seed}"
        f"  today {a.today} (school year {a.year}-{a.year + 1 - 2000:02d},"
        f" window {a.earliest}..{a.latest}, {a.term_title()})",
        f"  children on the roster {roster:,}  migrants {len(children) - roster:,}"
        f"  id damaged {args.id_damaged} (corrected {args.id_corrected})"
        f"  name variant {args.name_variant}  birth off {args.birth_off}"
        f"  roster missing {args.roster_missing} / fifteen {args.roster_fifteen}"
        f"  repeats {args.repeat} / with a difference {args.repeat_diff}",
        "",
        "Steps",
        f"  {pad(f'write the files ({len(files)} xlsx)', 66)}{write_seconds:>7.1f} s",
    ]
    for step in shell.steps:
        out.append(f"  {pad(step.label, 66)}{step.seconds:>7.1f} s  {step.summary}")
    total = write_seconds + sum(step.seconds for step in shell.steps)
    out.append(f"  {pad('total', 66)}{total:>7.1f} s")
    out.append("")
    out.append("Import problems (from each import's --errors list; numbers and quotes as …)")
    for step in shell.steps:
        kinds = issue_kinds(step)
        if not kinds:
            continue
        out.append(f"  {step.label}")
        for (severity, reason), n in kinds.most_common():
            out.append(f"    {n:>5} {severity} {reason[:110]}")
    out.append("")
    columns = [
        c
        for c in [*engine.CATEGORIES, ABSENT]
        if any(row.get(c) for row in s["confusion"].values())
        or c in {expected_column(st) for st in s["confusion"]}
    ]
    rows = [
        (state, expected_column(state), s["confusion"][state])
        for state in STATE_ORDER
        if s["confusion"].get(state)
    ]
    out += table(
        "Confusion by true state (columns: the ledger's 类别 of the child's own row;"
        " absent = no row)",
        rows,
        columns,
        "state",
    )
    labels = "  ".join(f"{SHORT[c]}={label}" for c, label in category_labels().items())
    out += [f"  {labels}  absent=not in the ledger", ""]
    extra_total = sum(sum(v.values()) for v in s["extra"].values())
    out.append(
        f"Extra ledger rows (another record of a child already in the ledger): {extra_total}"
    )
    for state in STATE_ORDER:
        if s["extra"].get(state):
            out.append(f"  {state:<17} {dict(s['extra'][state])}")
    out.append(f"Ledger rows matched to no true child: {len(s['unmatched'])}")
    for r in s["unmatched"][:5]:
        out.append(f"  {r.name} {r.number or '-'} {r.category} — {r.basis}")
    wrong = sum(s["school_wrong"].values())
    out.append(
        f"Ledger 学校 not the school the newest files name: {wrong}/{s['schooled']}"
        + (f" {dict(sorted(s['school_wrong'].items()))}" if wrong else "")
    )
    wrong = sum(s["key_wrong"].values())
    out.append(
        f"Ledger 重点群体 (脱贫户/监测户) wrong: {wrong}/{s['keyed']}"
        + (f" {dict(s['key_wrong'])}" if wrong else "")
    )
    out.append("")
    n_true = len(s["true_pairs"])
    out += [
        "Links (roster record -> another record of the child holding a 学籍; from the database)",
        f"  true pairs {n_true}  linked (RunChild.linked_child) {len(s['pred_pairs'])}"
        f"  carried without a named partner {len(s['carried_unnamed'])}"
        f" (of which records of a true pair {len(s['assumed'])}, counted as linked)",
        f"  right {s['tp']}  wrong {len(s['wrong_links'])}  true pairs in review"
        f" {len(s['in_review'])}  review queue {len(db['review'])}"
        f" {dict(sorted(db['review_methods'].items()))}",
        f"  link methods of the run: {dict(sorted(db['run'].links.items()))}",
        "",
    ]
    recall = len(s["revealed"]) / len(s["revealable"]) if s["revealable"] else 1.0
    flagged = len(s["flagged"]) / len(s["in_local"]) if s["in_local"] else 0.0
    reg_ratio = db["registry_children"] / s["true_children"] - 1
    cur_ratio = db["current_enrollments"] / s["true_current"] - 1 if s["true_current"] else 0.0
    n_exp = len(s["disc_expected"])
    disc_recall = len(s["disc_listed"]) / n_exp if n_exp else 1.0
    disc_false = len(s["disc_false"]) / s["disc_rows"] if s["disc_rows"] else 0.0
    targets = [
        (
            "recall of out-of-school children the files can reveal",
            f"{len(s['revealed'])}/{len(s['revealable'])} = {pct(recall)}",
            f">= {pct(RECALL_TARGET)}",
            recall >= RECALL_TARGET,
        ),
        (
            "in a local school but flagged (待核实/疑似辍学/失学, any row)",
            f"{len(s['flagged'])}/{len(s['in_local'])} = {pct(flagged)}",
            f"<= {pct(FLAGGED_TARGET)}",
            flagged <= FLAGGED_TARGET,
        ),
        (
            "  of which only through an extra record",
            f"{len(s['flagged_by_extra'])}",
            "",
            None,
        ),
        ("link F1", pct(s["f1"]), f">= {pct(F1_TARGET)}", s["f1"] >= F1_TARGET),
        ("  link precision", pct(s["precision"]), "", None),
        ("  link recall", pct(s["recall"]), "", None),
        (
            "registry children / true children",
            f"{db['registry_children']}/{s['true_children']} = {reg_ratio:+.2%}",
            f"within {COUNT_TOLERANCE:.1%}",
            abs(reg_ratio) <= COUNT_TOLERANCE,
        ),
        (
            "  registry_child rows (merged records too) / merged",
            f"{db['registry_rows']} / {db['merged']}" + ("" if db["merging"] else " (no merging)"),
            "",
            None,
        ),
        (
            "current enrollments / true ones",
            f"{db['current_enrollments']}/{s['true_current']} = {cur_ratio:+.2%}",
            f"within {COUNT_TOLERANCE:.1%}",
            abs(cur_ratio) <= COUNT_TOLERANCE,
        ),
        (
            "discrepancy recall (injected 户籍/学籍 disagreements listed)",
            f"{len(s['disc_listed'])}/{n_exp} = {pct(disc_recall)}",
            f">= {pct(DISC_RECALL_TARGET)}",
            disc_recall >= DISC_RECALL_TARGET,
        ),
        (
            "discrepancy list rows that are false",
            f"{len(s['disc_false'])}/{s['disc_rows']} = {pct(disc_false)}",
            f"<= {pct(DISC_FALSE_TARGET)}",
            disc_false <= DISC_FALSE_TARGET,
        ),
    ]
    out.append(
        "Registry records beyond one a child, by what the child's files carry:"
        f" {dict(s['extra_records'].most_common())}"
    )
    out.append("")
    out.append("Targets")
    out.append(f"  {pad('measure', 64)}{'value':>26}{'target':>16}  result")
    for measure, value, target, ok in targets:
        verdict = "" if ok is None else ("PASS" if ok else "FAIL")
        out.append(f"  {pad(measure, 64)}{value:>26}{target:>16}  {verdict}")
    passed = all(ok for *_rest, ok in targets if ok is not None)
    out.append(f"  {pad('all targets', 64)}{'':>26}{'':>16}  {'PASS' if passed else 'FAIL'}")
    data = {
        "parameters": {
            k: v
            for k, v in vars(args).items()
            if k not in {"json", "work", "keep", "examples", "commit"}
        },
        "today": a.today.isoformat(),
        "source": source_version(),
        "steps": [{"step": "write files", "seconds": round(write_seconds, 3)}]
        + [
            {"step": st.label, "seconds": round(st.seconds, 3), "summary": st.summary}
            for st in shell.steps
        ],
        "confusion": {k: dict(v) for k, v in s["confusion"].items()},
        "extra_rows": {k: dict(v) for k, v in s["extra"].items()},
        "unmatched_rows": len(s["unmatched"]),
        "school_wrong": {" / ".join(k): v for k, v in s["school_wrong"].items()},
        "key_group_wrong": dict(s["key_wrong"]),
        "links": {
            "true_pairs": n_true,
            "linked": len(s["pred_pairs"]),
            "carried_unnamed": len(s["carried_unnamed"]),
            "right": s["tp"],
            "wrong": len(s["wrong_links"]),
            "in_review": len(s["in_review"]),
            "review_queue": len(db["review"]),
            "precision": s["precision"],
            "recall": s["recall"],
            "f1": s["f1"],
        },
        "targets": {
            "recall": recall,
            "recall_pass": recall >= RECALL_TARGET,
            "flagged": flagged,
            "flagged_pass": flagged <= FLAGGED_TARGET,
            "f1": s["f1"],
            "f1_pass": s["f1"] >= F1_TARGET,
            "registry_children": db["registry_children"],
            "true_children": s["true_children"],
            "registry_pass": abs(reg_ratio) <= COUNT_TOLERANCE,
            "current_enrollments": db["current_enrollments"],
            "true_current": s["true_current"],
            "current_pass": abs(cur_ratio) <= COUNT_TOLERANCE,
            "discrepancy_recall": disc_recall,
            "discrepancy_recall_pass": disc_recall >= DISC_RECALL_TARGET,
            "discrepancy_false": disc_false,
            "discrepancy_false_pass": disc_false <= DISC_FALSE_TARGET,
            "all_pass": passed,
        },
    }
    return out, data


def category_labels() -> dict[str, str]:
    from baoxue.reconcile.models import CATEGORY_LABELS

    return {code: str(label) for code, label in CATEGORY_LABELS.items()}


def examples(
    area: Area, s: dict[str, Any], by_child: dict[int, list[LedgerRow]], n: int
) -> list[str]:
    out: list[str] = []
    missed = [c.idx for c in s["revealable"] if c not in s["revealed"]]
    wrong = [
        c.idx
        for c in area.children
        if s["category"][c.idx] != expected_column(c.state)
        and c.idx not in missed
        and c not in s["flagged"]
    ]
    groups = [
        ("Out-of-school children not revealed", missed),
        ("Children in a local school that were flagged", [c.idx for c in s["flagged"]]),
        ("Other children whose category is not the expected one", wrong),
    ]
    for title, group in groups:
        if not group:
            continue
        why = Counter((area.children[i].state, s["category"][i]) for i in group)
        out += ["", f"{title}: {len(group)} (first {min(n, len(group))})"]
        out += [f"  {state} -> {SHORT[cat]}: {k}" for (state, cat), k in why.most_common()]
        out += [describe(area, s, by_child, i) for i in group[:n]]
    if s["disc_missed"]:
        out += ["", f"Injected disagreements not on the list: {len(s['disc_missed'])}"]
        for child, item in s["disc_missed"][:n]:
            out.append(f"  {item} ({', '.join(sorted(_where(s, child, item)))})")
            out.append(describe(area, s, by_child, child))
    if s["disc_false"]:
        out += ["", f"Discrepancy rows that no file made differ: {len(s['disc_false'])}"]
        for r in s["disc_false"][:n]:
            out.append(
                f"  {r.get('姓名')} {r.get('身份证号')} {r.get('项目')}: 户籍 {r.get('户籍')!r}"
                f" 学籍 {r.get('学籍')!r} 其他 {r.get('其他来源')!r}"
            )
    return out


def _where(s: dict[str, Any], child: int, item: str) -> set[str]:
    return s.get("disc_where", {}).get((child, item), set())


# --- main ---------------------------------------------------------------------------------------


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--children", type=int, default=3000, help="children on the roster")
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument(
        "--migrants", type=float, default=0.03, help="children in local schools only, a share"
    )
    parser.add_argument(
        "--id-damaged", type=float, default=0.02, help="share of 学籍 records with a damaged ID"
    )
    parser.add_argument(
        "--id-corrected",
        type=float,
        default=0.3,
        help="of those, share whose rows this term show the corrected number",
    )
    parser.add_argument(
        "--name-variant", type=float, default=0.02, help="share of 学籍 records naming otherwise"
    )
    parser.add_argument(
        "--birth-off", type=float, default=0.01, help="share of 学籍 records with another birth"
    )
    parser.add_argument(
        "--roster-missing", type=float, default=0.003, help="share of roster rows without ID"
    )
    parser.add_argument(
        "--roster-fifteen", type=float, default=0.005, help="share of roster rows with 15 digits"
    )
    parser.add_argument(
        "--repeat", type=float, default=0.003, help="share of file rows listed twice, the same"
    )
    parser.add_argument(
        "--repeat-diff",
        type=float,
        default=0.003,
        help="share of file rows listed twice with a difference",
    )
    parser.add_argument(
        "--commit", help="measure this commit's src/ (git archive), not the working tree"
    )
    parser.add_argument("--backend", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--pg-server", default=PG_SERVER)
    parser.add_argument("--pg-database", default=PG_DATABASE)
    parser.add_argument("--work", type=Path, help="folder for the files and the data dir")
    parser.add_argument("--keep", action="store_true", help="keep the work folder / database")
    parser.add_argument("--examples", type=int, default=5, help="failing cases shown per kind")
    parser.add_argument("--json", type=Path, help="write the figures here as JSON")
    return parser.parse_args(argv)


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    if args.commit and not os.environ.get("BAOXUE_BENCH_SOURCE"):
        # The script again, in a process whose `baoxue` is the commit's.
        with source_tree(args.commit) as extra_env:
            command = [sys.executable, str(Path(__file__).resolve()), *argv]
            return subprocess.run(command, env={**os.environ, **extra_env}).returncode
    started = time.perf_counter()
    if args.work is not None:
        if args.work.exists():
            if any(args.work.iterdir()) and not (args.work / "files").is_dir():
                raise SystemExit(f"--work {args.work}: not empty and not a folder of this bench")
            shutil.rmtree(args.work)
        args.work.mkdir(parents=True)
        work = args.work
    else:
        work = Path(tempfile.mkdtemp(prefix="baoxue-bench-quality-"))
    data_dir = work / "data"
    files_dir = work / "files"
    files_dir.mkdir()
    os.environ.pop("DATABASE_URL", None)
    os.environ["BAOXUE_DATA_DIR"] = str(data_dir)
    if args.backend == "postgresql":
        pg_create_database(args.pg_server, args.pg_database)
        os.environ["DATABASE_URL"] = f"{args.pg_server}/{args.pg_database}"
    shell = Shell(work, data_dir)
    try:
        log(f"work folder {work} ({args.backend})")
        setup_instance(shell)
        anchor = anchor_today()
        log(f"generating {args.children:,} children (seed {args.seed}) and writing the files ...")
        t0 = time.perf_counter()
        area = make_area(args, anchor)
        writer = Writer(area, files_dir, args)
        files = writer.write_all()
        write_seconds = time.perf_counter() - t0
        log(f"  {len(files)} files in {write_seconds:.1f} s; importing ...")
        import_all(shell, files)
        log("reconciling ...")
        ledger_path, disc_path = reconcile(shell)
        log("scoring ...")
        index = build_index(area)
        ledger, by_child = read_ledger(ledger_path, area, index)
        disc_rows = read_table(disc_path)
        db = read_database(index)
        s = score(area, writer, index, ledger, by_child, disc_rows, db)
        s["disc_where"] = writer.disagreements()
        lines, data = report(args, area, shell, files, write_seconds, s, db, by_child)
        lines += examples(area, s, by_child, args.examples)
        print("\n".join(lines))
        if args.json:
            args.json.write_text(json.dumps(data, ensure_ascii=False, indent=2), encoding="utf-8")
        log(f"done in {time.perf_counter() - started:.1f} s")
        return 0 if data["targets"]["all_pass"] else 1
    finally:
        if not args.keep:
            if args.backend == "postgresql":
                from django.db import connections

                connections.close_all()
                pg_drop_database(args.pg_server, args.pg_database)
            if args.work is None:
                shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
