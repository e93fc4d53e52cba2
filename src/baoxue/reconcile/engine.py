"""The matching engine (比对): pure functions over tables, no ORM.

Two lists of people are linked — the 户籍 side (children on the population roster) and the 学籍
side (children who have a student-status record) — and then every child is put in one
category from the facts gathered about it.

Linking, in order, each step only for records the earlier steps left unlinked:

1. ``same``: the registry already knows both records are one child (an import matched them).
2. ``decided``: a user confirmed the pair in the review queue. Rejected pairs are never linked.
3. ``id``: the same well-formed ID number.
4. ``id_repair``: an ID number whose check character fails on one side is one typo (a wrong
   digit, two swapped neighbours, a wrong check character) or a century (15 digits) away
   from the other side's number — accepted only when the names are the same (or sound the
   same) and the birth dates agree; several candidates go to review.
5. ``name``: records without a usable ID number on at least one side, blocked on birth date
   and sex; names compared by characters and by pinyin (吴/伍, 龙/隆 are close); a unique best
   candidate at or above ``auto_score`` is linked, one at or above ``review_score`` (or a tie:
   many children share a name) goes to the review queue.
   ``id_typo``: two valid numbers, each passing its own check character, one slip apart (one
   of the first 17 digits, or two neighbours swapped: a system that computes the check
   character for whatever was typed) are one child when the names agree (characters or
   sound), and the sex and the birth date too; a near pair with weaker evidence goes to the
   review queue, never to a link. Other valid, different numbers are two people.

``id_claim``: a record that only claims a number another record holds (its row did not
bear the number out: registry Child.IdStatus.CLAIMED) is put in the review queue beside
that record, never linked to it by the engine.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

from rapidfuzz.distance import Levenshtein

from baoxue.core import idnumbers, policy
from baoxue.core.text import days_text, pinyin_keys

SAME = "same"
DECIDED = "decided"
ID = "id"
ID_REPAIR = "id_repair"
NAME = "name"
ID_TYPO = "id_typo"
ID_CLAIM = "id_claim"
METHODS = (SAME, DECIDED, ID, ID_REPAIR, NAME, ID_TYPO, ID_CLAIM)

# The records, links and results a county's run makes by the million: plain slotted classes,
# treated as values and never changed. Not frozen: a frozen dataclass sets each field
# through object.__setattr__, which made the six million objects of a 1,000,000-child run
# cost about 6 s more (four times a plain one's construction). unsafe_hash keeps them
# usable in sets and as keys, as frozen ones were.
_VALUE = {"slots": True, "unsafe_hash": True}


@dataclass(**_VALUE)
class Person:
    """One record of one list. `key` identifies it within its list (the registry child id);
    a record with the same key on both sides is one child already."""

    key: int
    name: str
    sex: str = ""
    birth: date | None = None
    # A well-formed number (id_valid) may be given as any key that is the same for the same
    # number (the registry passes its keyed hash, so valid numbers need no decrypting); a
    # damaged one as its digits, so that its repairs can be tried ('' for none).
    id_number: str = ""
    place: int | None = None  # the village, for tie-breaking
    id_valid: bool = False
    # The number (in id_number's form for a valid one) that this record claims while another
    # record holds it ('' for none).
    claim: str = ""


def person(
    key: int,
    name: str,
    *,
    sex: str = "",
    birth: date | None = None,
    id_number: str = "",
    place: int | None = None,
) -> Person:
    """A Person whose ID number's validity is worked out here (tests, small lists)."""
    info = idnumbers.parse(id_number)
    number = info.value if info.is_valid else info.normalized
    return Person(key, name, sex, birth, number, place, info.is_valid)


@dataclass(**_VALUE)
class Link:
    left: int
    right: int
    method: str
    score: float


@dataclass
class Linkage:
    links: list[Link] = field(default_factory=list)
    review: list[Link] = field(default_factory=list)

    def by_left(self) -> dict[int, Link]:
        """Each roster record's link to another record (else to itself)."""
        found: dict[int, Link] = {}
        for link in self.links:
            if link.left not in found or found[link.left].right == link.left:
                found[link.left] = link
        return found

    def partners(self) -> dict[int, list[int]]:
        """Roster record → the other records tied to it."""
        found: dict[int, list[int]] = defaultdict(list)
        for link in self.links:
            if link.left != link.right:
                found[link.left].append(link.right)
        return found

    def by_right(self) -> dict[int, Link]:
        return {link.right: link for link in self.links}


@dataclass(frozen=True)
class LinkSettings:
    auto_score: float = 0.92
    review_score: float = 0.75
    # A candidate this close to the best one makes the best one uncertain.
    tie_margin: float = 0.04


# --- names ------------------------------------------------------------------------------------


def name_similarity(a: str, b: str) -> float:
    """1.0 for the same name; 0.96 for the same sound (homophones: 吴俊辉/伍军辉); else the
    better of the character and the pinyin similarity, with the surname weighing more."""
    if a == b:
        return 1.0
    if not a or not b:
        return 0.0
    pa, _ia = pinyin_keys(a)
    pb, _ib = pinyin_keys(b)
    if pa and pa == pb:
        return 0.96
    chars = Levenshtein.normalized_similarity(a, b)
    sound = Levenshtein.normalized_similarity(pa, pb) if pa and pb else 0.0
    score = max(chars, sound * 0.95)
    if a[0] != b[0] and _syllable(a[0]) != _syllable(b[0]):
        score *= 0.8  # a different surname is rarely a typo
    return round(score, 4)


def _syllable(ch: str) -> str:
    return pinyin_keys(ch)[0] if ch else ""


def names_agree(a: str, b: str) -> bool:
    return name_similarity(a, b) >= 0.96


# --- ID numbers -------------------------------------------------------------------------------


def id_variants(number: str) -> list[str]:
    """Well-formed numbers one slip away from a damaged one: 15 digits with either century;
    one wrong digit or two swapped neighbours (repair_candidates); a wrong check character."""
    if len(number) == 15 and number.isdigit():
        return [
            f + idnumbers.check_character(f)
            for f in (number[:6] + c + number[6:] for c in ("20", "19"))
        ]
    if len(number) != 18 or not number[:17].isdigit():
        return []
    out = set(idnumbers.repair_candidates(number))
    out.add(number[:17] + idnumbers.check_character(number[:17]))
    out.discard(number)
    return sorted(out)


# --- linking ----------------------------------------------------------------------------------


def _same(number: str) -> str:
    return number


@dataclass(slots=True)
class _Linking:
    """What the linking passes share: both lists, the 学籍-side records still free, the pairs
    a user rejected, the links and the review queue so far."""

    lefts: dict[int, Person]
    rights: dict[int, Person]
    free_r: dict[int, Person]
    rejected: set[tuple[int, int]]
    out: Linkage = field(default_factory=Linkage)
    # The pairs in the review queue, tracked from the damaged-number pass on (none twice).
    reviewed: set[tuple[int, int]] = field(default_factory=set)

    def take(self, lk: int, rk: int, method: str, score: float) -> None:
        """Link the pair: the 学籍-side record is no longer free."""
        self.out.links.append(Link(lk, rk, method, score))
        self.free_r.pop(rk, None)


def link(
    left: Iterable[Person],
    right: Iterable[Person],
    *,
    decisions: Mapping[tuple[int, int], bool] | None = None,
    settings: LinkSettings | None = None,
    id_key: Callable[[str], str] = _same,
    digits: Callable[[int], str] | None = None,
) -> Linkage:
    """Link the two lists (see the module's docstring). Each record takes at most one link.

    `id_key` turns a repaired number (digits) into the form valid numbers are given in;
    `digits` gives a valid record's number as its digits (by key), for the id_typo rule
    (without it, two valid numbers are never compared)."""
    settings = settings or LinkSettings()
    decisions = decisions or {}
    lefts = {p.key: p for p in left}
    rights = {p.key: p for p in right}
    # A 学籍-side record takes at most one roster record; a roster record may take several
    # (its own 学籍 rows, and a later school's rows the import could not tie to it because of
    # a typo), so roster records stay candidates after their first link.
    free_r = dict(rights)
    rejected = {pair for pair, ok in decisions.items() if not ok}
    state = _Linking(lefts, rights, free_r, rejected)
    _link_same(state)
    _link_decided(state, decisions)
    valid_l = _by_valid_number(lefts.values())
    valid_r = _by_valid_number(free_r.values())
    _link_id(state, valid_l, valid_r)
    _review_claims(state, decisions)
    out = state.out
    state.reviewed = {(r.left, r.right) for r in out.review}
    _link_repaired(state, valid_l, valid_r, id_key)
    proposals, best_r, best_l = _name_proposals(state, settings, digits)
    _settle_names(state, settings, proposals, best_r, best_l)
    # A pair linked after all needs no review.
    linked = {(link.left, link.right) for link in out.links}
    out.review = [r for r in out.review if (r.left, r.right) not in linked]
    return out


def _link_same(state: _Linking) -> None:
    """1. The same child on both sides."""
    take = state.take
    free_r = state.free_r
    for key in [k for k in state.lefts if k in free_r]:
        take(key, key, SAME, 1.0)


def _link_decided(state: _Linking, decisions: Mapping[tuple[int, int], bool]) -> None:
    """2. Pairs a user confirmed."""
    lefts, free_r = state.lefts, state.free_r
    for (lk, rk), ok in decisions.items():
        if ok and lk in lefts and rk in free_r:
            state.take(lk, rk, DECIDED, 1.0)


def _by_valid_number(people: Iterable[Person]) -> dict[str, list[int]]:
    """Each valid ID number → the records bearing it."""
    found: dict[str, list[int]] = defaultdict(list)
    for p in people:
        if p.id_valid:
            found[p.id_number].append(p.key)
    return found


def _link_id(state: _Linking, valid_l: dict[str, list[int]], valid_r: dict[str, list[int]]) -> None:
    """3. The same valid ID number (one each side; several with one number is a data error
    the duplicate report shows: those go to review)."""
    rejected, review = state.rejected, state.out.review
    for number, rks in valid_r.items():
        lks = valid_l.get(number)
        if not lks:
            continue
        if len(lks) == 1 and len(rks) == 1:
            if (lks[0], rks[0]) not in rejected:
                state.take(lks[0], rks[0], ID, 1.0)
        else:
            for lk in lks:
                for rk in rks:
                    if (lk, rk) not in rejected:
                        review.append(Link(lk, rk, ID, 0.9))


def _review_claims(state: _Linking, decisions: Mapping[tuple[int, int], bool]) -> None:
    """A record claiming a number another record holds: beside it in the review queue."""
    lefts, rights, rejected = state.lefts, state.rights, state.rejected
    ok_pairs = {pair: True for pair, ok in decisions.items() if ok}
    holders: dict[str, set[int]] = defaultdict(set)
    claims = {p.claim for side in (lefts, rights) for p in side.values() if p.claim}
    for side in (lefts, rights) if claims else ():
        for p in side.values():
            if p.id_valid and p.id_number in claims:
                holders[p.id_number].add(p.key)  # a child on both sides is one record
    for claimant_is_left, side in ((True, lefts), (False, rights)) if claims else ():
        for p in side.values():
            if not p.claim or (not claimant_is_left and p.key in lefts):
                continue
            for holder in sorted(holders.get(p.claim, ())):
                pair = (p.key, holder) if claimant_is_left else (holder, p.key)
                if holder != p.key and pair not in rejected and ok_pairs.get(pair) is None:
                    state.out.review.append(Link(*pair, ID_CLAIM, 0.5))


def _link_repaired(
    state: _Linking,
    valid_l: dict[str, list[int]],
    valid_r: dict[str, list[int]],
    id_key: Callable[[str], str],
) -> None:
    """4. A damaged number one slip away from a number on the other side."""
    lefts, rights, free_r = state.lefts, state.rights, state.free_r
    rejected, reviewed, review = state.rejected, state.reviewed, state.out.review
    for damaged, other_valid, damaged_is_left in (
        (free_r, valid_l, False),
        (lefts, valid_r, True),
    ):
        for p in list(damaged.values()):
            if not p.id_number or p.id_valid or (not damaged_is_left and p.key not in free_r):
                continue
            hits: list[tuple[int, int]] = []
            for variant in id_variants(p.id_number):
                for other in other_valid.get(id_key(variant), []):
                    pair = (p.key, other) if damaged_is_left else (other, p.key)
                    if pair[1] in free_r and pair not in rejected:
                        hits.append(pair)
            agreeing = [
                pair for pair in hits if _agree(lefts[pair[0]], rights[pair[1]], strict=True)
            ]
            if len(agreeing) == 1 and agreeing[0][1] in free_r:
                state.take(*agreeing[0], ID_REPAIR, 0.97)
            else:
                for pair in agreeing or hits:
                    if pair not in reviewed:
                        reviewed.add(pair)
                        review.append(Link(*pair, ID_REPAIR, 0.85))


_Proposal = tuple[float, int, int, str]
_Scores = dict[int, list[tuple[float, int]]]


def _name_proposals(
    state: _Linking, settings: LinkSettings, digits: Callable[[int], str] | None
) -> tuple[list[_Proposal], _Scores, _Scores]:
    """5. Names, within birth date and sex, for records without a usable ID on one side: the
    scored candidate pairs, and each record's candidates (two valid numbers one slip apart
    with weaker evidence go straight to the review queue)."""
    rejected, reviewed, review = state.rejected, state.reviewed, state.out.review
    blocks_l = _name_blocks(state.lefts.values())
    linked_left = {x.left for x in state.out.links}
    proposals: list[_Proposal] = []
    best_r: _Scores = defaultdict(list)
    best_l: _Scores = defaultdict(list)
    for p in state.free_r.values():
        if p.birth is None:
            continue
        for q in _block(blocks_l, p):
            if (q.key, p.key) in rejected:
                continue
            method = NAME
            if q.id_valid and p.id_valid:
                # Two valid, different numbers: two people, unless one slip apart (the
                # names first: they are cheap, the digits need decrypting).
                if digits is None:
                    continue
                similarity = name_similarity(q.name, p.name)
                if similarity < settings.review_score or not idnumbers.one_slip(
                    digits(q.key), digits(p.key)
                ):
                    continue
                agree = similarity >= 0.96 and bool(q.sex) and q.sex == p.sex
                if not agree:
                    if (q.key, p.key) not in reviewed:
                        reviewed.add((q.key, p.key))
                        review.append(Link(q.key, p.key, ID_TYPO, round(similarity, 4)))
                    continue
                method = ID_TYPO
            score = name_similarity(q.name, p.name)
            if q.place is not None and q.place == p.place:
                score += 0.02  # not capped: the same name in the same village beats another's
            if q.key in linked_left:
                score -= 0.03  # a roster child already tied to a record is the less likely one

            if score >= settings.review_score:
                proposals.append((score, q.key, p.key, method))
                best_r[p.key].append((score, q.key))
                best_l[q.key].append((score, p.key))
    return proposals, best_r, best_l


def _name_blocks(lefts: Iterable[Person]) -> dict[tuple[date | None, str, str], list[Person]]:
    """The roster records by birth date, sex and the sound of the surname."""
    # Blocks: birth date, sex and the sound of the surname (吴 and 伍 share one), so that a
    # province's million roster records cost a few comparisons per unlinked record.
    blocks_l: dict[tuple[date | None, str, str], list[Person]] = defaultdict(list)
    for p in lefts:
        if p.birth is not None:
            blocks_l[(p.birth, p.sex, _syllable(p.name[:1]))].append(p)
    return blocks_l


def _settle_names(
    state: _Linking,
    settings: LinkSettings,
    proposals: list[_Proposal],
    best_r: _Scores,
    best_l: _Scores,
) -> None:
    """The name pass's candidates, best first: a sure and unrivalled one is linked, the rest
    go to the review queue."""
    free_r, reviewed, review = state.free_r, state.reviewed, state.out.review
    for score, lk, rk, method in sorted(proposals, reverse=True):
        if rk not in free_r:
            continue
        # Another roster record as good for this 学籍 record, or another 学籍 record as good
        # for this roster record (two children of one name and birthday): a person decides.
        rivals = [s for s, k in best_r[rk] if k != lk] + [s for s, k in best_l[lk] if k != rk]
        unique = not any(s >= score - settings.tie_margin for s in rivals)
        if score >= settings.auto_score and unique:
            state.take(lk, rk, method, round(min(score, 1.0), 4))
        elif (lk, rk) not in reviewed:
            reviewed.add((lk, rk))
            review.append(Link(lk, rk, method, round(min(score, 1.0), 4)))


def _block(blocks: Mapping[tuple[date | None, str, str], list[Person]], p: Person) -> list[Person]:
    sound = _syllable(p.name[:1])
    sexes = (p.sex, "") if p.sex else ("M", "F", "")
    return [q for sex in sexes for q in blocks.get((p.birth, sex, sound), [])]


def _agree(a: Person, b: Person, *, strict: bool) -> bool:
    # A birth date typed a day off, or with its day and month swapped, still agrees: the
    # number one slip from the other's says more than the date.
    birth_ok = a.birth is None or b.birth is None or idnumbers.dates_close(a.birth, b.birth)
    return birth_ok and (names_agree(a.name, b.name) if strict else True)


# --- categories -------------------------------------------------------------------------------

IN_SCHOOL = "in_school"
ON_LEAVE = "on_leave"
SUSPENDED = "suspended"
ELSEWHERE = "elsewhere"
TO_VERIFY = "to_verify"
NEVER_ENROLLED = "never_enrolled"
SUSPECTED = "suspected"
NOT_OF_AGE = "not_of_age"
COMPLETED = "completed"
GONE = "gone"
EXEMPT = "exempt"
# Not known to be in school only because a school that may hold the child has not sent its
# list for the term (名单未更新): no case until the list comes.
LIST_MISSING = "list_missing"
CATEGORIES = (
    IN_SCHOOL,
    ON_LEAVE,
    SUSPENDED,
    ELSEWHERE,
    TO_VERIFY,
    NEVER_ENROLLED,
    SUSPECTED,
    LIST_MISSING,
    NOT_OF_AGE,
    COMPLETED,
    GONE,
    EXEMPT,
)
# Children in these categories get a case (out of school, or not known to be in school).
CASE_CATEGORIES = frozenset({SUSPECTED, TO_VERIFY, NEVER_ENROLLED})
# The categories a verified 在外地就读 (a dismissed case with its proof) takes a child out of.
VERIFIED_AWAY_FROM = CASE_CATEGORIES | {LIST_MISSING}

# JY/T 1001 status codes (registry.models.Enrollment.Status).
_STUDYING = {"01", "05"}
_SUSPENDED = {"02"}
_TRANSFERRED = {"10"}
_GRADUATED = {"07", "08", "09"}
_DEAD = {"11"}
_ABROAD = {"13"}
_LEFT = {"03", "04", "06", "14", "15", "99", "12"}


@dataclass(**_VALUE)
class Enrolled:
    """One 学籍 of the child (through its link), as the categories need it."""

    school: int
    local: bool  # a school of the area being reconciled
    status: str
    grade: int
    is_current: bool
    end: date | None = None
    junior_school: bool = False
    transfer_to: str = ""  # receiving school named on the 转出 (confirmed when not '')
    missing_from_list: bool = False  # the school's latest 学籍 file no longer lists it


@dataclass(**_VALUE)
class Attendance:
    """A student's latest attendance statistics. Days, with half days (Decimal, as stored)."""

    longest_absence_days: Decimal | int
    days_leave: Decimal | int
    # 请假原因, or the 缺勤原因 of a report that has one column for both.
    leave_reason: str = ""
    # The period's totals: days absent, the school days when given, the period's length.
    days_absent: Decimal | int = 0
    school_days: Decimal | int | None = None
    period_days: int = 0


def unexcused_days(a: Attendance) -> Decimal | int:
    """The days absent without leave in a period's totals."""
    return policy.unexcused_days(a.days_absent, a.leave_reason)


def monthly_absence(a: Attendance, month_days: int) -> bool:
    return policy.monthly_absence(
        unexcused_days(a), a.school_days, a.period_days, month_days=month_days
    )


@dataclass(**_VALUE)
class Facts:
    child: int
    birth: date | None
    on_roster: bool
    deceased: bool = False
    moved_away: bool = False
    exempt: bool = False
    verified_never_enrolled: bool = False
    # A case dismissed this school year with the proof the child studies at this school.
    verified_elsewhere: str = ""
    enrollments: tuple[Enrolled, ...] = ()
    attendance: Attendance | None = None
    # The local schools of the child's school stage whose list for the term has not come.
    missing_lists: tuple[str, ...] = ()


@dataclass(frozen=True)
class CategorySettings:
    earliest_birth: date
    latest_birth: date
    # Consecutive school days absent without leave that make a suspected dropout (the
    # registry passes settings.BAOXUE_ABSENCE_ALERT_DAYS).
    absence_days: int = 10
    # Days absent without leave in a month's totals (BAOXUE_ABSENCE_ALERT_MONTH_DAYS).
    month_days: int = 10


def categorize(f: Facts, s: CategorySettings) -> tuple[str, str]:
    """(category, basis): the basis (依据) says in Chinese why, for the ledgers and the page.
    A child the lists would send after (待核实, 疑似辍学, 失学) whom a case has found studying
    elsewhere, with its proof, this school year is in 在外地就读."""
    category, basis = _categorize(f, s)
    if f.verified_elsewhere and category in VERIFIED_AWAY_FROM:
        return ELSEWHERE, verified_elsewhere_basis(f.verified_elsewhere)
    return category, basis


def verified_elsewhere_basis(school: str) -> str:
    return f"经核实在{school}就读（有证明）"


def _categorize(f: Facts, s: CategorySettings) -> tuple[str, str]:
    if f.deceased:
        return GONE, "死亡"
    if f.moved_away:
        return GONE, "户籍已迁出"
    if f.birth is None or not s.earliest_birth <= f.birth <= s.latest_birth:
        return NOT_OF_AGE, "不在义务教育年龄段" if f.birth else "出生日期不详"
    if f.exempt:
        return EXEMPT, "经批准延缓或免予入学"
    current = [e for e in f.enrollments if e.is_current]
    studying = [e for e in current if e.status in _STUDYING]
    local = [e for e in studying if e.local and not e.missing_from_list]
    if not local and any(e.local for e in studying):
        return SUSPECTED, "不在本学期学籍名册中（无转学记录）"
    if local:
        a = f.attendance
        if a is not None and a.longest_absence_days >= s.absence_days:
            if a.days_leave >= a.longest_absence_days:
                reason = f"（{a.leave_reason}）" if a.leave_reason else ""
                return ON_LEAVE, f"请假 {days_text(a.days_leave)} 天{reason}"
            return SUSPECTED, f"连续缺勤 {days_text(a.longest_absence_days)} 天（名在人不在）"
        if a is not None and monthly_absence(a, s.month_days):
            of = f"（应出勤 {days_text(a.school_days)} 天）" if a.school_days else ""
            reason = f"，缺勤原因：{a.leave_reason}" if a.leave_reason else ""
            return (
                SUSPECTED,
                f"统计期内未请假缺勤 {days_text(unexcused_days(a))} 天{of}{reason}（名在人不在）",
            )
        if a is not None:
            # As long on leave (请假天数, or 缺勤天数 given as 病假/事假): away, not a dropout.
            excused = (a.days_leave or 0) + (a.days_absent or 0) - unexcused_days(a)
            if policy.monthly_absence(
                excused, a.school_days, a.period_days, month_days=s.month_days
            ):
                reason = f"（{a.leave_reason}）" if a.leave_reason else ""
                return ON_LEAVE, f"统计期内请假 {days_text(excused)} 天{reason}"
        return IN_SCHOOL, "在本地学校就读"
    if studying:
        return ELSEWHERE, "在外地学校就读（需就读证明）"
    if any(e.status in _SUSPENDED for e in current):
        return SUSPENDED, "休学（重点关注，需走访）"
    latest = max(f.enrollments, key=lambda e: (e.is_current, e.end or date.min), default=None)
    if latest is not None:
        return _by_latest_enrollment(latest, f.missing_lists)
    if f.verified_never_enrolled:
        return NEVER_ENROLLED, "经核实从未入学"
    if f.missing_lists:
        return LIST_MISSING, _missing("无学籍记录，", f.missing_lists)
    if f.on_roster:
        return TO_VERIFY, "户籍在本地但无本地学籍（可能在外地就读）"
    return TO_VERIFY, "无学籍记录"


def _by_latest_enrollment(latest: Enrolled, missing_lists: tuple[str, ...]) -> tuple[str, str]:
    """The category of a child not studying now, from the status of its latest 学籍."""
    if latest.status in _DEAD:
        return GONE, "学籍记录死亡"
    if latest.status in _TRANSFERRED:
        if latest.transfer_to:
            return ELSEWHERE, f"已转学至{latest.transfer_to}（需就读证明）"
        return TO_VERIFY, "转出但接收学校未确认"
    if latest.status in _GRADUATED:
        if latest.junior_school:
            return COMPLETED, "初中已毕业（完成义务教育）"
        if missing_lists:
            return LIST_MISSING, _missing("小学毕业，初中", missing_lists)
        return SUSPECTED, "小学毕业后未升入初中（小升初）"
    if latest.status in _ABROAD:
        return ELSEWHERE, "出国（需证明）"
    if latest.status in _LEFT:
        return SUSPECTED, "学籍终止但无转学记录"
    return SUSPECTED, "不在本学期学籍中"


def _missing(what: str, schools: tuple[str, ...]) -> str:
    shown = "、".join(schools[:3]) + ("等" if len(schools) > 3 else "")
    return f"{what}{shown}本学期学籍名册未导入（名单未更新）"


# --- the whole comparison ---------------------------------------------------------------------


@dataclass(**_VALUE)
class Child:
    """What the comparison knows of one registry record besides its Person."""

    person: Person
    on_roster: bool
    deceased: bool = False
    moved_away: bool = False
    exempt: bool = False
    verified_never_enrolled: bool = False
    verified_elsewhere: str = ""
    key_group: bool = False


@dataclass(**_VALUE)
class Result:
    child: int
    category: str
    basis: str
    key_group: bool
    linked: int | None  # the 学籍-side record tied to this roster record, when two
    link: Link | None
    enrollments: tuple[Enrolled, ...]


def reconcile(
    children: Iterable[Child],
    enrollments: Mapping[int, list[Enrolled]],
    attendance: Mapping[int, Attendance],
    *,
    category_settings: CategorySettings,
    decisions: Mapping[tuple[int, int], bool] | None = None,
    link_settings: LinkSettings | None = None,
    id_key: Callable[[str], str] = _same,
    digits: Callable[[int], str] | None = None,
    missing_lists: Mapping[int, tuple[str, ...]] | None = None,
) -> tuple[list[Result], Linkage]:
    """Link the roster side (children on the roster) to the 学籍 side (children with a 学籍)
    and categorise every child once: a 学籍-only record tied to a roster record is carried by
    it (its 学籍 and attendance count for the roster child), an untied one stands alone."""
    by_key = {c.person.key: c for c in children}
    left = [c.person for c in by_key.values() if c.on_roster]
    right = [c.person for k, c in by_key.items() if k in enrollments]
    linkage = link(
        left, right, decisions=decisions, settings=link_settings, id_key=id_key, digits=digits
    )
    by_left = linkage.by_left()
    partners = linkage.partners()
    carried = {x.right for x in linkage.links if x.left != x.right}
    results: list[Result] = []
    for key, c in by_key.items():
        if key in carried and not c.on_roster:
            continue
        found = by_left.get(key)
        others = partners.get(key, [])
        other = others[0] if others else None
        records = tuple(enrollments.get(key, ())) + tuple(
            e for o in others for e in enrollments.get(o, ())
        )
        seen = attendance.get(key) or next((attendance[o] for o in others if o in attendance), None)
        facts = Facts(
            missing_lists=missing_lists.get(key, ()) if missing_lists else (),
            child=key,
            birth=c.person.birth,
            on_roster=c.on_roster,
            deceased=c.deceased,
            moved_away=c.moved_away,
            exempt=c.exempt,
            verified_never_enrolled=c.verified_never_enrolled,
            verified_elsewhere=c.verified_elsewhere,
            enrollments=records,
            attendance=seen,
        )
        category, basis = categorize(facts, category_settings)
        results.append(Result(key, category, basis, c.key_group, other, found, records))
    return results, linkage
