"""Reconciliation quality: the matching engine (比对) against a synthetic area with known truth.

What it measures (issue: reconciliation quality)
    The script makes up one area (default 50,000 children on the 户籍 roster, twelve villages)
    whose truth it knows: for every child the state it is really in, and which registry records
    describe it. From that truth it writes what the files would show, runs
    ``baoxue.reconcile.engine.reconcile`` on them exactly as ``reconcile.services.run_execute``
    does (no decisions yet: a first run) and scores the engine's output against the truth.

    The children
        Names from ``baoxue.demo.names`` (steep surname weights, 字辈 shared by siblings, twins),
        so many children share a name and a birth date. Valid 18-digit ID numbers, region 450225,
        real birth dates. Most births inside the compulsory age window (2010-09-01..2020-08-31,
        cut-off 2026-08-31, school year 2026-27), about 8 % outside it. A few roster records
        carry no ID number (--roster-missing); some children in the local schools are not on
        the roster at all (--migrants: 随迁子女 with IDs from other counties).

    True states, and the category the files alone should give (what the engine is told)
        local            local school, 在读/复学 (01/05)                        -> in_school
        on_leave         local school, long absence covered by sick leave      -> on_leave
        absent           local school, long absence without leave (名在人不在)  -> suspected
        outside          enrolled outside the area: no local 学籍 at all       -> to_verify
        elsewhere        a non-local school's 学籍 (01) is in the registry     -> elsewhere
        transfer_named   转出 (10) with a named receiving school                -> elsewhere
        transfer_unnamed 转出 (10), receiving school not confirmed              -> to_verify
        suspended        休学 (02)                                             -> suspended
        dropped          流失/退学/下落不明 (06/03/15), no transfer              -> suspected
        unlisted         left without a status: 01, but the school's latest complete
                         list no longer has it (Enrolled.missing_from_list)    -> suspected
        grad_no_junior   小学毕业 (07 at a primary school), no junior 学籍       -> suspected
        never            never enrolled: no 学籍 anywhere                       -> to_verify
        completed        初中毕业 (07 at the junior school, grade 9)            -> completed
        deceased         marked deceased on the roster                         -> gone
        not_of_age       born outside the window (some with a 学籍)             -> not_of_age
        migrant          not on the roster, in a local school                  -> in_school
    'outside' and 'never' look the same in the files: both are to_verify, and verification
    (a transfer certificate, a call, a visit) tells them apart. Junior students often carry
    their primary school's 07 row as history; some pupils carry a 转出 row from a move
    inside the area.

    How the files reach the engine (mirrors imports.sources.enrollment + children.ChildIndex)
        Every 学籍 row (a child's current row, and its history rows) is clean or, with
        probability --damaged, damaged: one wrong digit, two adjacent characters swapped, a
        wrong check character, written as 15 digits, or no ID at all; a missing ID comes with
        a homophone name (吴/伍, 军/俊, 辉/晖, same pinyin) 40 % of the time, another damage 15 %.
        --damage-unit row damages each row on its own (a junior school's file may have a typo
        that the primary school's file had not); 'child' gives all rows of a child one shared
        presentation. The rows are imported file by file (history files first, one file per
        school) as the 学籍 import does: a valid ID joins the record with that number; a row
        without a valid ID joins the one record with the same name, birth date and village
        among records without a valid ID (several: the row is rejected, counted); otherwise it
        makes a new record (on_roster False) that the engine has to link back to its roster
        child (methods id / id_repair / name). A damaged row gives the roster's village 95 %
        of the time. 15-digit numbers are given to the engine as the 15 digits with id_valid
        False (the import itself would upgrade them to the roster's number and join the
        roster record; here they exercise id_repair). A name variant with a valid, known
        number is rejected by the import as a conflict, so clean rows keep the roster name.
        --birth-off (default 0, not in the issue's list) also moves the birth date of that
        share of damaged rows (day and month swapped, or one day off).

The figures
    Confusion tables of roster children (and migrants): rows = true state (and, aggregated, the
    category the files should give), columns = the engine's category.

    Targets
      * recall of the out-of-school children the files can reveal >= 99.5 %: children in the
        states never / dropped / unlisted / grad_no_junior / absent / transfer_unnamed whose
        category is a case category (suspected, to_verify, never_enrolled). Missing one is the
        worst error.
      * in a local school but flagged <= 0.2 %: children in the states local / on_leave whose
        category is a case category, as a share of all of them (a failed link leaves the
        roster child without its 学籍: to_verify; a 学籍 split over two records: suspected).
      * link F1 >= 99.5 %: over the pairs (roster record, separate 学籍 record) that are one
        child; predicted pairs are ``linkage.links`` with left != right. Pairs the engine puts
        in the review queue instead are not errors but human work: counted separately (the
        queue's size, and how many true pairs ended there rather than linked); for the F1
        they are not linked.

How to run
    .venv/bin/python bench/reconcile_quality.py                      # 50,000 children, ~5 s
    .venv/bin/python bench/reconcile_quality.py --children 5000 --seed 7
    .venv/bin/python bench/reconcile_quality.py --damaged 0.05 --damage-unit child --json out.json

    No database and no Django settings: the engine is pure. The same arguments give the same
    area and the same figures. Progress goes to stderr; the tables to stdout. The exit status is
    0 when every target passes, 1 otherwise.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

from baoxue.core import idnumbers
from baoxue.core.text import pinyin_keys
from baoxue.demo import names
from baoxue.reconcile import engine

SEED = 2026
EARLIEST = date(2010, 9, 1)  # the compulsory window for the cut-off 2026-08-31
LATEST = date(2020, 8, 31)
OLDER = (date(2008, 1, 1), date(2010, 8, 31))
YOUNGER = (date(2020, 9, 1), date(2022, 12, 31))
REGION = names.COUNTY_CODE  # 450225
MIGRANT_REGIONS = ("450221", "450222", "450226", "452226", "522633")
VILLAGES = 12

RECALL_TARGET = 0.995
FLAGGED_TARGET = 0.002
F1_TARGET = 0.995

# True states (see the docstring) and the category the files alone should give.
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
IN_LOCAL_SCHOOL = frozenset({"local", "on_leave"})
CASES = engine.CASE_CATEGORIES

# Relative weights of the states of a child inside the age window.
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
DAMAGE_WEIGHTS = [
    ("wrong_digit", 30),
    ("swap", 15),
    ("check", 10),
    ("fifteen", 10),
    ("missing", 35),
]
HOMOPHONE_SHARE = {"missing": 0.40}  # other damage kinds: HOMOPHONE_OTHER
HOMOPHONE_OTHER = 0.15
SAME_VILLAGE = 0.95  # the 学籍 gives the roster's village

# Schools: local primaries and junior schools (the area's county), schools elsewhere.
LOCAL_PRIMARY = list(range(1, 21))
LOCAL_JUNIOR = list(range(21, 25))
OUTSIDE_PRIMARY = list(range(101, 131))
OUTSIDE_JUNIOR = list(range(131, 161))
JUNIOR = frozenset(LOCAL_JUNIOR + OUTSIDE_JUNIOR)
LOCAL = frozenset(LOCAL_PRIMARY + LOCAL_JUNIOR)

# Characters that names here use, plus common same-sound alternatives, for homophone variants.
_EXTRA_CHARS = (
    "君钧均峻骏晖徽惠蕙玮炜薇隆伍武阳时史良琦淇祺婧靖菁晶昕忻芯芸云耘韵闻玟皓昊灏颢韬滔"
    "羽禹毓誉瑜锐蕊庭霆廷亭莉俐力立利黎洁捷婕茜芊霖淋凌灵菱翎伶铃鸣旻珉闽佳家加锋枫丰风"
    "奉桦骅花雁焱研颜岩彦晏宴宜仪伊懿亿义易蒙萌盟师施斯丝择则朋彭方舫坊虹弘洪泓敬镜琛臣"
    "承城程丞呈越岳跃粤慷靓梁恺铠楷锴智至治致滨宾兵冰蔷墙威维唯巍"
)


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


# --- the synthetic area -----------------------------------------------------------------------


@dataclass
class Presentation:
    """How a row shows the child: its ID number as written, and its name."""

    kind: str  # clean, wrong_digit, swap, check, fifteen, missing
    id_text: str
    name: str
    village: int
    birth: date
    homophone: bool = False


@dataclass
class Row:
    """One 学籍 row of a file (the child's current one, or an older one kept as history)."""

    enrolled: engine.Enrolled
    history: bool  # imported from an earlier file
    carries_attendance: bool = False
    presentation: Presentation | None = None


@dataclass
class TrueChild:
    idx: int
    name: str
    sex: str
    birth: date
    id_number: str
    village: int
    state: str
    on_roster: bool = True
    roster_id_missing: bool = False
    rows: list[Row] = field(default_factory=list)
    attendance: engine.Attendance | None = None
    key: int | None = None  # the roster record (None for migrants until imported)


@dataclass
class Record:
    """A registry record as the engine sees it, and whose rows it holds (the truth)."""

    key: int
    name: str
    sex: str
    birth: date
    id_number: str
    id_valid: bool
    village: int
    on_roster: bool
    owner: int  # TrueChild.idx of the child that made it (roster record: that child)
    kind: str = "roster"  # damage kind of the row that made it, for separate records
    homophone: bool = False
    enrolled: list[engine.Enrolled] = field(default_factory=list)
    owners: set[int] = field(default_factory=set)  # every child whose rows it holds


def school_cohort(birth: date) -> int:
    """0 for the youngest compulsory cohort (born 2019-09..2020-08) .. 9 for the oldest."""
    start = birth.year if birth.month >= 9 else birth.year - 1
    return 2019 - start


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


def damage(rng: random.Random, child: TrueChild, birth_off: float = 0.0) -> Presentation:
    kind = rng.choices([k for k, _ in DAMAGE_WEIGHTS], [w for _, w in DAMAGE_WEIGHTS])[0]
    n = child.id_number
    if kind == "wrong_digit":
        i = rng.randrange(17)
        text = n[:i] + rng.choice([d for d in "0123456789" if d != n[i]]) + n[i + 1 :]
    elif kind == "swap":
        spots = [i for i in range(17) if n[i] != n[i + 1] and n[i + 1] != "X"]
        i = rng.choice(spots)
        text = n[:i] + n[i + 1] + n[i] + n[i + 2 :]
    elif kind == "check":
        text = n[:17] + rng.choice([c for c in "0123456789X" if c != n[17]])
    elif kind == "fifteen":
        text = n[:6] + n[8:17]
    else:
        text = ""
    name = child.name
    variant = None
    if rng.random() < HOMOPHONE_SHARE.get(kind, HOMOPHONE_OTHER):
        variant = homophone(rng, child.name)
    village = child.village if rng.random() < SAME_VILLAGE else rng.randint(1, VILLAGES)
    birth = child.birth
    if birth_off and rng.random() < birth_off:  # not in the list: off by default
        swapped = None
        if birth.day <= 12 and birth.day != birth.month:
            swapped = birth.replace(month=birth.day, day=birth.month)
        birth = swapped or birth + timedelta(days=rng.choice([-1, 1]))
    return Presentation(kind, text, variant or name, village, birth, variant is not None)


def clean(child: TrueChild) -> Presentation:
    return Presentation("clean", child.id_number, child.name, child.village, child.birth)


def make_rows(rng: random.Random, child: TrueChild) -> None:
    """The 学籍 rows and attendance that the child's true state leaves in the files."""
    state = child.state
    if state == "not_of_age":
        if child.birth < EARLIEST:
            roll = rng.random()
            if roll < 0.3:  # started late: still in grade 9
                child.rows.append(current_local(rng, child, 9))
            elif roll < 0.6:
                child.rows.append(junior_graduate(rng, 2026 if roll < 0.45 else 2025))
        return
    c = school_cohort(child.birth)
    grade = c + 1 if c == 0 or rng.random() < 0.8 else c
    if grade >= 10:  # on time, so the oldest cohort finished junior school last summer
        grade = 9
        if state in {"local", "on_leave", "absent"}:
            child.state = state = "completed"
    if state == "grad_no_junior" and grade < 7:
        child.state = state = "dropped"
    if state in {"local", "on_leave", "absent", "migrant"}:
        if grade >= 7 and rng.random() < 0.5:  # the primary school's 毕业 row, kept
            school = rng.choice(LOCAL_PRIMARY)
            end = date(2026 - (grade - 7), 7, 1)
            child.rows.append(Row(engine.Enrolled(school, True, "07", 6, False, end), True))
        elif rng.random() < 0.05:  # moved between two schools of the area
            now = current_local(rng, child, grade)
            pool = LOCAL_JUNIOR if grade >= 7 else LOCAL_PRIMARY
            old = rng.choice([x for x in pool if x != now.enrolled.school])
            end = date(2026, rng.randint(3, 10), 1)
            to = f"本地学校{now.enrolled.school}"
            e = engine.Enrolled(old, True, "10", grade, False, end, transfer_to=to)
            child.rows += [Row(e, True), now]
        if not any(row.carries_attendance for row in child.rows):
            child.rows.append(current_local(rng, child, grade))
        if state == "on_leave":
            longest = rng.randint(10, 60)
            child.attendance = engine.Attendance(longest, longest + rng.randint(0, 5), "病假")
        elif state == "absent":
            longest = rng.randint(10, 40)
            leave = 0 if rng.random() < 0.7 else rng.randint(1, longest - 1)
            child.attendance = engine.Attendance(longest, leave)
        elif rng.random() < 0.6:
            longest = rng.randint(5, 9) if rng.random() < 0.03 else rng.randint(0, 4)
            child.attendance = engine.Attendance(longest, rng.randint(0, longest))
    elif state == "completed":
        if rng.random() < 0.5:
            end = date(2023, 7, 1)
            school = rng.choice(LOCAL_PRIMARY)
            child.rows.append(Row(engine.Enrolled(school, True, "07", 6, False, end), True))
        child.rows.append(junior_graduate(rng, 2026))
    elif state == "elsewhere":
        school = rng.choice(OUTSIDE_JUNIOR if grade >= 7 else OUTSIDE_PRIMARY)
        e = engine.Enrolled(school, False, "01", grade, True, junior_school=grade >= 7)
        child.rows.append(Row(e, False))
    elif state in {"transfer_named", "transfer_unnamed"}:
        to = f"外县学校{rng.randint(1, 400)}" if state == "transfer_named" else ""
        school = local_school(rng, grade)
        end = date(2026, rng.randint(2, 11), 1)
        e = engine.Enrolled(school, True, "10", grade, True, end, grade >= 7, to)
        child.rows.append(Row(e, False))
    elif state == "suspended":
        school = local_school(rng, grade)
        child.rows.append(Row(engine.Enrolled(school, True, "02", grade, True), False))
    elif state == "dropped":
        status = rng.choices(["06", "03", "15"], [60, 25, 15])[0]
        school = local_school(rng, grade)
        end = date(2026, rng.randint(1, 11), 1)
        e = engine.Enrolled(school, True, status, grade, True, end, grade >= 7)
        child.rows.append(Row(e, False))
    elif state == "unlisted":
        school = local_school(rng, grade)
        e = engine.Enrolled(school, True, "01", grade, True, None, grade >= 7)
        child.rows.append(Row(replace(e, missing_from_list=True), False))
    elif state == "grad_no_junior":
        school = rng.choice(LOCAL_PRIMARY)
        end = date(2026 - (grade - 7), 7, 1)
        child.rows.append(Row(engine.Enrolled(school, True, "07", 6, True, end), False))
    elif state == "deceased" and rng.random() < 0.5:  # the school has not closed the 学籍
        child.rows.append(current_local(rng, child, grade))


def local_school(rng: random.Random, grade: int) -> int:
    return rng.choice(LOCAL_JUNIOR if grade >= 7 else LOCAL_PRIMARY)


def current_local(rng: random.Random, child: TrueChild, grade: int) -> Row:
    status = "05" if rng.random() < 0.03 else "01"
    school = local_school(rng, grade)
    return Row(engine.Enrolled(school, True, status, grade, True, None, grade >= 7), False, True)


def junior_graduate(rng: random.Random, year: int) -> Row:
    school = rng.choice(LOCAL_JUNIOR)
    return Row(engine.Enrolled(school, True, "07", 9, True, date(year, 7, 1), True), False)


def make_area(args: argparse.Namespace) -> list[TrueChild]:
    rng = random.Random(args.seed)
    used: set[str] = set()
    children: list[TrueChild] = []
    states = [s for s, _ in STATE_WEIGHTS]
    weights = [w for _, w in STATE_WEIGHTS]

    def one(family: dict[str, Any], birth: date, sex: str, on_roster: bool) -> TrueChild:
        given = names.pick_given_name(
            rng, sex, family["generation"] if (sex == "M" or rng.random() < 0.5) else None
        )
        region = REGION if on_roster else rng.choice(MIGRANT_REGIONS)
        if not on_roster:
            state = "migrant"
        elif not EARLIEST <= birth <= LATEST:
            state = "not_of_age"
        else:
            state = rng.choices(states, weights)[0]
        child = TrueChild(
            idx=len(children),
            name=family["surname"] + given,
            sex=sex,
            birth=birth,
            id_number=make_id(rng, region, birth, sex, used),
            village=family["village"],
            state=state,
            on_roster=on_roster,
        )
        if on_roster and rng.random() < args.roster_missing:
            child.roster_id_missing = True
        make_rows(rng, child)
        children.append(child)
        return child

    def birth_of() -> date:
        roll = rng.random()
        if roll < 0.04:
            return random_date(rng, *OLDER)
        if roll < 0.08:
            return random_date(rng, *YOUNGER)
        return random_date(rng, EARLIEST, LATEST)

    def families(total: int, on_roster: bool) -> None:
        end = len(children) + total
        while len(children) < end:
            ethnicity = names.pick_ethnicity(rng)
            family = {
                "surname": names.pick_surname(rng, ethnicity),
                "village": rng.randint(1, VILLAGES),
                "generation": rng.choice(names.GENERATION_CHARS) if rng.random() < 0.4 else None,
            }
            size = rng.choices([1, 2, 3], [45, 40, 15])[0]
            for _ in range(size):
                if len(children) >= end:
                    break
                sex = "M" if rng.random() < 0.53 else "F"
                birth = birth_of() if on_roster else random_date(rng, EARLIEST, LATEST)
                first = one(family, birth, sex, on_roster)
                if rng.random() < 0.012 and len(children) < end:  # a twin
                    twin_sex = sex if rng.random() < 0.6 else ("F" if sex == "M" else "M")
                    one(family, first.birth, twin_sex, on_roster)

    families(args.children, True)
    families(int(args.children * args.migrants), False)
    # Presentations: which rows the files show damaged, and how.
    for child in children:
        if args.damage_unit == "child":
            damaged = rng.random() < args.damaged
            shared = damage(rng, child, args.birth_off) if damaged else clean(child)
            for row in child.rows:
                row.presentation = shared
        else:
            for row in child.rows:
                damaged = rng.random() < args.damaged
                row.presentation = damage(rng, child, args.birth_off) if damaged else clean(child)
    return children


# --- the registry: the roster, then the 学籍 files imported as the import does -----------------


@dataclass
class Registry:
    children: list[TrueChild]
    records: dict[int, Record] = field(default_factory=dict)
    by_hash: dict[str, list[int]] = field(default_factory=lambda: defaultdict(list))
    by_name: dict[tuple[str, date, int], list[int]] = field(
        default_factory=lambda: defaultdict(list)
    )
    attendance: dict[int, engine.Attendance] = field(default_factory=dict)
    rejected: list[tuple[int, str]] = field(default_factory=list)  # (child idx, why)
    next_key: int = 1

    def add(self, record: Record) -> None:
        self.records[record.key] = record
        if record.id_valid:
            self.by_hash[record.id_number].append(record.key)
        else:
            self.by_name[(record.name, record.birth, record.village)].append(record.key)


def parsed(id_text: str, kind: str) -> tuple[str, bool]:
    if kind == "fifteen":
        return id_text, False  # as the issue asks: the 15 digits, not valid
    info = idnumbers.parse(id_text)
    return (info.value if info.is_valid else info.normalized), info.is_valid


def build_registry(children: list[TrueChild]) -> Registry:
    reg = Registry(children)
    for child in children:
        if not child.on_roster:
            continue
        number = "" if child.roster_id_missing else child.id_number
        record = Record(
            reg.next_key,
            child.name,
            child.sex,
            child.birth,
            number,
            bool(number),
            child.village,
            True,
            child.idx,
            owners={child.idx},
        )
        child.key = reg.next_key
        reg.next_key += 1
        reg.add(record)
    # Files: history first, then the current ones; one file per school; rows in a file shuffled
    # by the seed (the area's own order). Each file sees the records earlier files made.
    files: dict[tuple[bool, int], list[tuple[TrueChild, Row]]] = defaultdict(list)
    for child in children:
        for row in child.rows:
            files[(not row.history, row.enrolled.school)].append((child, row))
    for _file_key, rows in sorted(files.items()):
        made: list[Record] = []
        for child, row in rows:
            p = row.presentation or clean(child)
            number, valid = parsed(p.id_text, p.kind)
            target: int | None = None
            if valid:
                found = reg.by_hash.get(number, [])
                if found:
                    target = found[0]
                    other = reg.records[target]
                    if other.name != p.name or other.birth != p.birth:
                        reg.rejected.append((child.idx, "conflict"))
                        continue
            else:
                found = reg.by_name.get((p.name, p.birth, p.village), [])
                if len(found) > 1:
                    reg.rejected.append((child.idx, "ambiguous"))
                    continue
                if found:
                    target = found[0]
            if target is None:
                record = Record(
                    reg.next_key,
                    p.name,
                    child.sex,
                    p.birth,
                    number,
                    valid,
                    p.village,
                    False,
                    child.idx,
                    ("migrant:" if not child.on_roster else "")
                    + (p.kind if p.kind != "clean" else "clean(roster without ID)"),
                    p.homophone,
                )
                reg.next_key += 1
                reg.records[record.key] = record
                made.append(record)
                target = record.key
            record = reg.records[target]
            record.enrolled.append(row.enrolled)
            record.owners.add(child.idx)
            if not child.on_roster and child.key is None:
                child.key = record.key
            if row.carries_attendance and child.attendance is not None:
                reg.attendance.setdefault(target, child.attendance)
        for record in made:  # the next file's index knows them
            reg.add(record)
    return reg


# --- scoring ----------------------------------------------------------------------------------


def score(
    children: list[TrueChild], reg: Registry, results: list[engine.Result], linkage: engine.Linkage
) -> dict[str, Any]:
    by_key = {r.child: r for r in results}
    confusion: dict[str, Counter[str]] = defaultdict(Counter)
    predicted: dict[int, engine.Result] = {}
    for child in children:
        key = child.key
        if key is None:  # a migrant whose rows were all rejected
            continue
        result = by_key.get(key)
        if result is None:  # a migrant's record carried by a roster child: linked wrongly
            confusion[child.state]["(carried)"] += 1
            continue
        predicted[child.idx] = result
        confusion[child.state][result.category] += 1
    by_category: dict[str, Counter[str]] = defaultdict(Counter)
    for state, row in confusion.items():
        by_category[EXPECTED[state]].update(row)

    revealable = [c for c in children if c.state in REVEALABLE]
    revealed = [c for c in revealable if c.idx in predicted and predicted[c.idx].category in CASES]
    in_local = [c for c in children if c.state in IN_LOCAL_SCHOOL]
    flagged = [c for c in in_local if predicted[c.idx].category in CASES]

    # Links: true pairs are (roster record, separate record made from that child's rows).
    true_pairs = {
        (children[r.owner].key, r.key)
        for r in reg.records.values()
        if not r.on_roster and children[r.owner].on_roster
    }
    links = [x for x in linkage.links if x.left != x.right]
    pred_pairs = {(x.left, x.right) for x in links}
    tp = len(true_pairs & pred_pairs)
    precision = tp / len(pred_pairs) if pred_pairs else 1.0
    recall = tp / len(true_pairs) if true_pairs else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    review_pairs = {(x.left, x.right) for x in linkage.review}
    true_in_review = {p for p in true_pairs - pred_pairs if p in review_pairs}
    methods: dict[str, Counter[str]] = defaultdict(Counter)
    for x in links:
        methods[x.method]["right" if (x.left, x.right) in true_pairs else "wrong"] += 1
    review_methods = Counter(x.method for x in linkage.review)
    unlinked = true_pairs - pred_pairs
    linked_records = {x.right for x in links}
    standalone = Counter(
        by_key[r.key].category
        for r in reg.records.values()
        if not r.on_roster
        and children[r.owner].on_roster
        and r.key not in linked_records
        and r.key in by_key
    )
    by_left = linkage.by_left()
    right_linked = {x.right for x in linkage.links}
    why_unlinked: Counter[str] = Counter()
    for lk, rk in unlinked:
        found = by_left.get(lk)
        if (lk, rk) in review_pairs:
            why_unlinked["in the review queue"] += 1
        elif found is not None and found.right == lk:
            why_unlinked["roster record linked to itself (it holds 学籍 rows too)"] += 1
        elif found is not None:
            why_unlinked["roster record linked to another record"] += 1
        elif rk in right_linked:
            why_unlinked["学籍 record linked to another roster record"] += 1
        else:
            why_unlinked["no link, not in review"] += 1
    kinds_total = Counter(
        reg.records[rk].kind + ("+homophone" if reg.records[rk].homophone else "")
        for _lk, rk in true_pairs
    )
    kinds_unlinked = Counter(
        reg.records[rk].kind + ("+homophone" if reg.records[rk].homophone else "")
        for _lk, rk in unlinked
    )
    return {
        "confusion": confusion,
        "by_category": by_category,
        "predicted": predicted,
        "revealable": revealable,
        "revealed": revealed,
        "in_local": in_local,
        "flagged": flagged,
        "true_pairs": true_pairs,
        "pred_pairs": pred_pairs,
        "tp": tp,
        "precision": precision,
        "recall": recall,
        "f1": f1,
        "review_pairs": review_pairs,
        "true_in_review": true_in_review,
        "methods": methods,
        "review_methods": review_methods,
        "standalone": standalone,
        "kinds_total": kinds_total,
        "kinds_unlinked": kinds_unlinked,
        "why_unlinked": why_unlinked,
    }


# --- output -----------------------------------------------------------------------------------

SHORT = {
    engine.IN_SCHOOL: "in_sch",
    engine.ON_LEAVE: "leave",
    engine.SUSPENDED: "susp",
    engine.ELSEWHERE: "elsew",
    engine.TO_VERIFY: "verify",
    engine.NEVER_ENROLLED: "never",
    engine.SUSPECTED: "suspct",
    engine.NOT_OF_AGE: "n_age",
    engine.COMPLETED: "compl",
    engine.GONE: "gone",
    engine.EXEMPT: "exempt",
    "(carried)": "carrd",
}


def pct(x: float) -> str:
    return f"{100 * x:.3f} %"


def table(
    title: str, rows: list[tuple[str, str, Counter[str]]], columns: list[str], label: str
) -> list[str]:
    width = max(len(label), *(len(r[0]) for r in rows)) + 1
    out = [title, ""]
    head = f"{label:<{width}} {'expected':<10}" + "".join(f"{SHORT[c]:>8}" for c in columns)
    head += f"{'total':>9}{'right':>10}"
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
        line = f"{name:<{width}} {expected:<10}" + "".join(
            f"{counts.get(c, 0) or '.':>8}" for c in columns
        )
        out.append(line + f"{n:>9}{100 * right / n if n else 0:>9.2f}%")
    out.append("-" * len(head))
    line = f"{'all':<{width}} {'':<10}" + "".join(f"{total.get(c, 0):>8}" for c in columns)
    out.append(line + f"{n_all:>9}{100 * right_all / n_all if n_all else 0:>9.2f}%")
    return out


def describe(child: TrueChild, reg: Registry, s: dict[str, Any], linkage: engine.Linkage) -> str:
    lines = [
        f"  child #{child.key} {child.name} {child.sex} {child.birth} village {child.village}"
        f" state={child.state}" + (" (roster record has no ID)" if child.roster_id_missing else "")
    ]
    if child.attendance is not None:
        a = child.attendance
        lines.append(
            f"    attendance: longest absence {a.longest_absence_days} d, leave {a.days_leave} d"
        )
    records = [r for r in reg.records.values() if child.idx in r.owners]
    for r in records:
        what = "roster" if r.on_roster else f"separate, {r.kind}"
        rows = "; ".join(
            f"{e.status} school {e.school} grade {e.grade}"
            + (" current" if e.is_current else " history")
            + (f" -> {e.transfer_to}" if e.transfer_to else "")
            for e in r.enrolled
        )
        lines.append(
            f"    record #{r.key} ({what}): {r.name} {r.birth} id={r.id_number or '-'}"
            f"{' valid' if r.id_valid else ''} village {r.village}"
            + (f"; others' rows too: {sorted(r.owners - {child.idx})}" if len(r.owners) > 1 else "")
            + f"; 学籍: {rows or 'none'}"
        )
    result = s["predicted"].get(child.idx)
    if result is not None:
        link = result.link
        link_text = (
            f"{link.method} #{link.left}->#{link.right} score {link.score}"
            if link is not None
            else "none"
        )
        if link is not None and link.right != link.left:
            other = reg.records[link.right]
            if child.idx not in other.owners:
                owner = reg.children[other.owner]
                link_text += (
                    f" = WRONG: #{other.key} {other.name} ({other.kind}) is child"
                    f" {owner.name} {owner.birth} state={owner.state}"
                    + (f" (roster #{owner.key})" if owner.on_roster else " (not on the roster)")
                )
        lines.append(f"    predicted: {result.category} ({result.basis}); link: {link_text}")
    keys = {r.key for r in records}
    review = [x for x in linkage.review if x.left in keys or x.right in keys]
    for x in review[:4]:
        other = x.right if x.left in keys else x.left
        o = reg.records[other]
        lines.append(
            f"    review: #{x.left}->#{x.right} {x.method} {x.score}"
            f" (other side #{other} {o.name}, owner state {child_state(o, reg)})"
        )
    return "\n".join(lines)


def child_state(record: Record, reg: Registry) -> str:
    return reg.children[record.owner].state


def report(
    args: argparse.Namespace,
    children: list[TrueChild],
    reg: Registry,
    linkage: engine.Linkage,
    s: dict[str, Any],
    seconds: float,
) -> tuple[list[str], dict[str, Any]]:
    out: list[str] = []
    roster = sum(1 for c in children if c.on_roster)
    separate = [r for r in reg.records.values() if not r.on_roster]
    n_rows = sum(len(c.rows) for c in children)
    out += [
        "Reconciliation quality (bench/reconcile_quality.py)",
        f"  children on the roster {roster:,}  migrants (学籍 only) {len(children) - roster:,}"
        f"  seed {args.seed}  damaged {args.damaged}  damage unit {args.damage_unit}"
        f"  roster without ID {args.roster_missing}  migrants {args.migrants}"
        f"  birth off {args.birth_off}",
        f"  compulsory window {EARLIEST}..{LATEST}  absence threshold 10 days",
        f"  学籍 rows {n_rows:,}  registry records {len(reg.records):,}"
        f" (separate 学籍 records {len(separate):,})  rows the import rejected"
        f" {len(reg.rejected)} {dict(Counter(w for _i, w in reg.rejected))}",
        f"  engine.reconcile: {seconds:.1f} s",
        "",
    ]
    columns = [
        c
        for c in [*engine.CATEGORIES, "(carried)"]
        if any(row.get(c) for row in s["confusion"].values())
    ]
    rows = [
        (state, EXPECTED[state], s["confusion"][state])
        for state in STATE_ORDER
        if s["confusion"].get(state)
    ]
    out += table("Confusion by true state (columns: the engine's category)", rows, columns, "state")
    out.append("")
    cat_rows = [
        (cat, cat, s["by_category"][cat]) for cat in engine.CATEGORIES if s["by_category"].get(cat)
    ]
    out += table(
        "Confusion by category (rows: the category the files should give)",
        cat_rows,
        columns,
        "true",
    )
    out.append("")
    n_true = len(s["true_pairs"])
    n_pred = len(s["pred_pairs"])
    out += [
        "Links (roster record -> separate 学籍 record)",
        f"  true pairs {n_true:,}  linked {n_pred:,}  right {s['tp']:,}"
        f"  wrong {n_pred - s['tp']:,}  true pairs in review {len(s['true_in_review']):,}"
        f"  true pairs neither linked nor in review"
        f" {n_true - s['tp'] - len(s['true_in_review']):,}",
        f"  review queue {len(s['review_pairs']):,} pairs"
        f" {dict(sorted(s['review_methods'].items()))}"
        f" (of which true pairs {len(s['true_in_review']):,})",
        "  by method: "
        + "  ".join(
            f"{m} {c['right']} right / {c['wrong']} wrong" for m, c in sorted(s["methods"].items())
        ),
        "  true pairs by damage (unlinked / total): "
        + "  ".join(
            f"{k} {s['kinds_unlinked'].get(k, 0)}/{v}" for k, v in sorted(s["kinds_total"].items())
        ),
        "  why true pairs were not linked: "
        + (str(dict(s["why_unlinked"].most_common())) if s["why_unlinked"] else "-"),
        "  separate records of roster children left standing alone, by their category: "
        + (str(dict(sorted(s["standalone"].items()))) if s["standalone"] else "none"),
        "",
    ]
    recall = len(s["revealed"]) / len(s["revealable"]) if s["revealable"] else 1.0
    flagged = len(s["flagged"]) / len(s["in_local"]) if s["in_local"] else 0.0
    targets = [
        (
            "recall of out-of-school children the files can reveal",
            f"{len(s['revealed'])}/{len(s['revealable'])} = {pct(recall)}",
            f">= {pct(RECALL_TARGET)}",
            recall >= RECALL_TARGET,
        ),
        (
            "in a local school but flagged (suspected/to_verify/never)",
            f"{len(s['flagged'])}/{len(s['in_local'])} = {pct(flagged)}",
            f"<= {pct(FLAGGED_TARGET)}",
            flagged <= FLAGGED_TARGET,
        ),
        (
            "link F1",
            pct(s["f1"]),
            f">= {pct(F1_TARGET)}",
            s["f1"] >= F1_TARGET,
        ),
        ("  link precision", pct(s["precision"]), "", None),
        ("  link recall", pct(s["recall"]), "", None),
    ]
    out.append("Targets")
    out.append(f"  {'measure':<58}{'value':>26}{'target':>14}  result")
    for measure, value, target, ok in targets:
        verdict = "" if ok is None else ("PASS" if ok else "FAIL")
        out.append(f"  {measure:<58}{value:>26}{target:>14}  {verdict}")
    data = {
        "parameters": {
            "children": args.children,
            "seed": args.seed,
            "damaged": args.damaged,
            "damage_unit": args.damage_unit,
            "roster_missing": args.roster_missing,
            "migrants": args.migrants,
            "birth_off": args.birth_off,
        },
        "confusion": {k: dict(v) for k, v in s["confusion"].items()},
        "by_category": {k: dict(v) for k, v in s["by_category"].items()},
        "links": {
            "true_pairs": n_true,
            "linked": n_pred,
            "right": s["tp"],
            "precision": s["precision"],
            "recall": s["recall"],
            "f1": s["f1"],
            "review_queue": len(s["review_pairs"]),
            "true_pairs_in_review": len(s["true_in_review"]),
            "by_method": {k: dict(v) for k, v in s["methods"].items()},
            "why_unlinked": dict(s["why_unlinked"]),
        },
        "targets": {
            "recall": recall,
            "recall_pass": recall >= RECALL_TARGET,
            "flagged": flagged,
            "flagged_pass": flagged <= FLAGGED_TARGET,
            "f1": s["f1"],
            "f1_pass": s["f1"] >= F1_TARGET,
        },
        "engine_seconds": round(seconds, 3),
    }
    return out, data


def examples(
    children: list[TrueChild], reg: Registry, linkage: engine.Linkage, s: dict[str, Any], n: int
) -> list[str]:
    out: list[str] = []
    missed = [c for c in s["revealable"] if c not in s["revealed"]]
    groups = [
        ("Out-of-school children not revealed", missed),
        ("Children in a local school that were flagged", s["flagged"]),
    ]
    wrong = sorted(s["pred_pairs"] - s["true_pairs"])
    owners = [reg.records[left].owner for left, _right in wrong]
    groups.append(("Wrong links (the roster child's side)", [children[i] for i in owners]))
    lost = sorted(s["true_pairs"] - s["pred_pairs"] - s["true_in_review"])
    groups.append(
        (
            "True pairs neither linked nor in review",
            [children[reg.records[k].owner] for k, _ in lost],
        )
    )
    for title, group in groups:
        if not group:
            continue
        out += ["", f"{title}: {len(group)} (first {min(n, len(group))})"]
        if group is s["flagged"] or group is missed:
            why = Counter(
                (s["predicted"][c.idx].category, s["predicted"][c.idx].basis)
                if c.idx in s["predicted"]
                else ("-", "-")
                for c in group
            )
            out += [f"  {k}: {v}" for k, v in why.most_common()]
        out += [describe(c, reg, s, linkage) for c in group[:n]]
    return out


# --- main -------------------------------------------------------------------------------------


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--children", type=int, default=50_000, help="children on the roster")
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument(
        "--damaged", type=float, default=0.02, help="share of 学籍 rows with a damaged ID/name"
    )
    parser.add_argument(
        "--damage-unit",
        choices=["row", "child"],
        default="row",
        help="damage each 学籍 row on its own, or all rows of a child alike",
    )
    parser.add_argument(
        "--roster-missing", type=float, default=0.003, help="share of roster records without ID"
    )
    parser.add_argument(
        "--migrants",
        type=float,
        default=0.03,
        help="children in local schools not on the roster, as a share of --children",
    )
    parser.add_argument(
        "--birth-off",
        type=float,
        default=0.0,
        help="share of damaged 学籍 rows whose birth date differs too (not in the issue; 0)",
    )
    parser.add_argument("--examples", type=int, default=5, help="failing cases shown per kind")
    parser.add_argument("--json", type=Path, help="write the figures here as JSON")
    return parser.parse_args(argv)


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    started = time.perf_counter()
    print(f"generating {args.children:,} children (seed {args.seed}) ...", file=sys.stderr)
    children = make_area(args)
    print(f"  {time.perf_counter() - started:.1f} s; importing the 学籍 rows ...", file=sys.stderr)
    reg = build_registry(children)
    records = reg.records
    person = {
        k: engine.Person(k, r.name, r.sex, r.birth, r.id_number, r.village, r.id_valid)
        for k, r in records.items()
    }
    state_of = {c.key: c for c in children if c.on_roster}
    engine_children = [
        engine.Child(
            person[k],
            on_roster=r.on_roster,
            deceased=r.on_roster and state_of[k].state == "deceased",
        )
        for k, r in records.items()
    ]
    enrollments = {k: list(r.enrolled) for k, r in records.items() if r.enrolled}
    settings = engine.CategorySettings(earliest_birth=EARLIEST, latest_birth=LATEST)
    print(
        f"  {len(records):,} records, {len(enrollments):,} with 学籍; running the engine ...",
        file=sys.stderr,
    )
    t0 = time.perf_counter()
    results, linkage = engine.reconcile(
        engine_children, enrollments, reg.attendance, category_settings=settings
    )
    seconds = time.perf_counter() - t0
    print(f"  engine {seconds:.1f} s; scoring ...", file=sys.stderr)
    s = score(children, reg, results, linkage)
    lines, data = report(args, children, reg, linkage, s, seconds)
    targets = data["targets"]
    ok = targets["recall_pass"] and targets["flagged_pass"] and targets["f1_pass"]
    lines += examples(children, reg, linkage, s, args.examples)
    print("\n".join(lines))
    if args.json:
        args.json.write_text(json.dumps(data, ensure_ascii=False, indent=2), encoding="utf-8")
    print(f"done in {time.perf_counter() - started:.1f} s", file=sys.stderr)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
