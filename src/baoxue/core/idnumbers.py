"""China resident identity numbers (公民身份号码, GB 11643-1999).

Pure Python, no Django. The input is assumed to come from messy spreadsheets, so
:func:`normalize` is forgiving about *presentation* (width, spaces, Excel quote
prefixes, separators) but :func:`parse` never changes a digit: a number that fails
its check character is reported, not corrected. Typo repair is an explicit,
separate step (:func:`repair_candidates`).

Layout of an 18-character number::

    RRRRRR YYYYMMDD SSS C
    region birth    seq check (ISO 7064 MOD 11-2, 'X' stands for 10)

The 15-digit numbers issued before 1999 lack the century and the check character.
"""

from __future__ import annotations

import functools
import operator
import re
from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from stdnum.numdb import PrefixInfo

__all__ = [
    "PERMIT_REGION_CODES",
    "IdInfo",
    "IdStatus",
    "birth_date_of",
    "check_character",
    "is_known_region",
    "mask",
    "normalize",
    "parse",
    "repair_candidates",
    "sex_of",
    "suffix",
    "upgrade15",
]

# Residence permits for people from Hong Kong, Macau and Taiwan (港澳台居民居住证, 2018)
# use these pseudo region codes. stdnum's table only knows 810000/820000 (and only
# from 1997/1999, which wrongly rejects permit holders born earlier) and lacks 830000.
PERMIT_REGION_CODES = frozenset({"810000", "820000", "830000"})

_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_WEIGHTS_ASCII_OFFSET = 48 * sum(_WEIGHTS)
# Each weight's inverse mod 11 (repair_candidates).
_INVERSE = tuple(pow(w, -1, 11) for w in _WEIGHTS)
_MIN_BIRTH_YEAR = 1900

# Full-width ASCII block U+FF01..U+FF5E maps 1:1 onto U+0021..U+007E. This is the
# part of NFKC that matters here; full NFKC would also fold things like '①' -> '1',
# silently turning garbage into plausible digits.
_FULLWIDTH = {cp: cp - 0xFEE0 for cp in range(0xFF01, 0xFF5F)}
# Excel users type a leading apostrophe to force text; copy/paste and Chinese input
# methods turn it into curly or CJK quotes.
_QUOTES = "'‘’‚‛`´\"“”„‟′″「」『』"
# Invisible characters that survive copy/paste from web pages and Word documents.
_INVISIBLE = "\u200b\u200c\u200d\u2060\ufeff\u00ad"
_SEPARATORS = "-.\u2010\u2011\u2012\u2013\u2014\u2015\u2212\u00b7\u3002"
_DROP = {ord(ch): None for ch in _QUOTES + _INVISIBLE}
_SEP_DROP = {ord(ch): None for ch in _SEPARATORS}

_RE_15 = re.compile(r"[0-9]{15}")
_RE_18 = re.compile(r"[0-9]{17}[0-9X]")
_RE_SHAPE = re.compile(r"[0-9]{15}|[0-9]{17}[0-9X]")
# A 15-digit number that went through a float (pandas, xlrd) comes back as '...123.0'.
_RE_FLOAT_TAIL = re.compile(r"([0-9]{15}|[0-9]{17}[0-9X])\.0+")
# '4.50226201201011E+17': Excel showed a number cell in scientific notation. The
# trailing digits are lost for good; flag it so the user knows to fix the source.
_RE_SCIENTIFIC = re.compile(r"[0-9](\.[0-9]+)?E\+?[0-9]+", re.IGNORECASE)


class IdStatus(StrEnum):
    """Outcome of :func:`parse`."""

    EMPTY = "empty"
    VALID = "valid"
    UPGRADED = "upgraded"  # was 15 digits, now a valid 18-character number
    BAD_CHECKSUM = "bad_checksum"
    BAD_DATE = "bad_date"
    BAD_FORMAT = "bad_format"  # wrong length or characters


@dataclass(frozen=True)
class IdInfo:
    """Everything :func:`parse` learned about one raw value.

    ``value`` is the canonical 18-character number when ``is_valid``; otherwise it is
    ``normalized`` unchanged (a failed check character is never silently fixed).
    """

    raw: str
    normalized: str
    value: str
    status: IdStatus
    birth_date: date | None = None
    sex: str | None = None  # 'M' or 'F'
    region_code: str | None = None
    region_known: bool = False
    warnings: tuple[str, ...] = ()
    errors: tuple[str, ...] = ()

    @property
    def is_valid(self) -> bool:
        return self.status in (IdStatus.VALID, IdStatus.UPGRADED)


def normalize(raw: str | None) -> str:
    """Canonical spelling of a raw cell value; '' for None/blank. Never changes digits."""
    if raw is None:
        return ""
    if type(raw) is str and raw.isascii() and raw.isalnum():
        # Most cells: nothing to translate, drop or split (4 calls per imported row).
        return raw.replace("x", "X")
    return _normalize_any(str(raw))


def _normalize_any(raw: str) -> str:
    s = raw.translate(_FULLWIDTH)
    # str.isspace() covers NBSP, U+3000 ideographic space, tabs and newlines.
    s = "".join(s.split()).translate(_DROP)  # split() breaks on exactly the isspace() chars
    s = s.replace("x", "X")
    # Separators are dropped only when that leaves a well-shaped number; otherwise
    # they are kept so that e.g. a date typed into the ID column stays recognisable.
    without_sep = s.translate(_SEP_DROP)
    if without_sep != s and _RE_SHAPE.fullmatch(without_sep):
        return without_sep
    m = _RE_FLOAT_TAIL.fullmatch(s)
    if m:
        return m.group(1)
    return s


def check_character(first17: str) -> str:
    """ISO 7064 MOD 11-2 check character for the first 17 digits ('X' for 10)."""
    if len(first17) != 17 or not first17.isascii() or not first17.isdigit():
        raise ValueError("check_character() needs exactly 17 ASCII digits")
    # On the ASCII codes, in C: each digit d is d + 48, so subtract 48 × the sum of weights.
    total = sum(map(operator.mul, _WEIGHTS, first17.encode())) - _WEIGHTS_ASCII_OFFSET
    value = (12 - total % 11) % 11
    return "X" if value == 10 else str(value)


def _date_or_none(yyyymmdd: str) -> date | None:
    try:
        return date(int(yyyymmdd[0:4]), int(yyyymmdd[4:6]), int(yyyymmdd[6:8]))
    except ValueError:
        return None


def upgrade15(id15: str, *, birth_date_hint: date | None = None, today: date | None = None) -> str:
    """Turn a 15-digit number into 18 characters: insert the century, append the check.

    With ``birth_date_hint`` the century that reproduces the hint (full date, else
    year, else nearest year) wins. Without it '20' is preferred whenever the date is
    real and not in the future: this system tracks children, whose 15-digit spelling
    has usually just lost the '20'; genuine pre-1999 numbers are '19'.
    """
    if len(id15) != 15 or not id15.isascii() or not id15.isdigit():
        raise ValueError("upgrade15() needs exactly 15 ASCII digits")
    yymmdd = id15[6:12]
    options = {c: _date_or_none(c + yymmdd) for c in ("20", "19")}
    century: str | None = None
    if birth_date_hint is not None:
        for c, d in options.items():
            if d == birth_date_hint:
                century = c
                break
        else:
            # Year agreement (the hint may be a registration date or have day/month
            # swapped), falling back to the closest year if the hint disagrees outright.
            century = min(
                options,
                key=lambda c: abs(int(c + yymmdd[:2]) - birth_date_hint.year),
            )
    else:
        today = today or date.today()
        for c, d in options.items():
            if d is not None and d <= today:
                century = c
                break
        else:
            # Not a real date under either century: decide on the year alone so the
            # result is at least stable; parse() reports the bad date.
            century = "20" if int("20" + yymmdd[:2]) <= today.year else "19"
    first17 = id15[:6] + century + id15[6:]
    return first17 + check_character(first17)


@functools.cache
def _known_regions() -> frozenset[str]:
    """All 6-digit codes in stdnum's bundled table (incl. abolished ones), loaded once."""
    from stdnum import numdb  # lazy: only pay for reading loc.dat when needed

    codes: set[str] = set()

    def walk(prefixes: list[PrefixInfo], head: str) -> None:
        for length, low, high, _props, children in prefixes:
            for n in range(int(low), int(high) + 1):
                code = head + str(n).zfill(length)
                if len(code) == 6:
                    codes.add(code)
                elif len(code) < 6:
                    walk(children, code)

    walk(numdb.get("cn/loc").prefixes, "")
    return frozenset(codes | PERMIT_REGION_CODES)


def is_known_region(code6: str) -> bool:
    """True if ``code6`` is a current or historical region code, or a permit prefix."""
    return code6 in _known_regions()


def sex_of(value18: str) -> str | None:
    """'M' or 'F' from the 17th digit (odd = male); None if not a digit."""
    if len(value18) < 17 or not value18[16].isdigit() or not value18[16].isascii():
        return None
    return "M" if int(value18[16]) % 2 else "F"


def birth_date_of(value18: str) -> date | None:
    """The birth date encoded in an 18-character number, if it is a real calendar date."""
    part = value18[6:14]
    if len(part) != 8 or not part.isascii() or not part.isdigit():
        return None
    return _date_or_none(part)


def _date_problem(d: date | None, today: date) -> str | None:
    if d is None:
        return "birth_date_invalid"
    if d > today:
        return "birth_date_future"
    if d.year < _MIN_BIRTH_YEAR:
        return "birth_date_too_early"
    return None


# Birth dates of valid numbers, by their eight digits: a few thousand distinct days cover a
# township's children, and building a date costs more than finding it.
_BIRTH_DATES: dict[str, date | None] = {}
# A day that has certainly begun: a birth date up to it is not in the future, without asking
# the clock for every number.
_TODAY_FLOOR = [date.min]


def _parse_valid18(raw: str, today: date | None) -> IdInfo | None:
    """parse() for the usual cell, an 18-character valid number already clean (an import
    parses 100,000 of them); None for anything else, which takes the general path. A test
    checks that both paths agree."""
    if not (raw.isascii() and raw[:17].isdigit()):
        return None
    last = raw[17]
    if last == "x":
        number = raw[:17] + "X"
        last = "X"
    elif last == "X" or last.isdigit():
        number = raw
    else:
        return None
    total = sum(map(operator.mul, _WEIGHTS, number.encode())) - _WEIGHTS_ASCII_OFFSET
    check = (12 - total % 11) % 11
    if last != ("X" if check == 10 else chr(48 + check)):
        return None
    digits = number[6:14]
    birth = _BIRTH_DATES.get(digits, date.max)
    if birth is date.max:
        birth = _date_or_none(digits)
        if len(_BIRTH_DATES) < 100_000:
            _BIRTH_DATES[digits] = birth
    if birth is None or birth.year < _MIN_BIRTH_YEAR:
        return None
    if today is not None:
        if birth > today:
            return None
    elif birth > _TODAY_FLOOR[0]:
        _TODAY_FLOOR[0] = date.today()
        if birth > _TODAY_FLOOR[0]:
            return None
    region = number[:6]
    known = region in _known_regions()
    # IdInfo is frozen: its __init__ sets each field through object.__setattr__, three times
    # the cost of the rest of this function. The instance is the same either way.
    info = object.__new__(IdInfo)
    info.__dict__.update(
        raw=raw,
        normalized=number,
        value=number,
        status=IdStatus.VALID,
        birth_date=birth,
        sex="M" if (ord(number[16]) - 48) % 2 else "F",
        region_code=region,
        region_known=known,
        warnings=() if known else ("region_unknown",),
        errors=(),
    )
    return info


def parse(
    raw: str | None, *, birth_date_hint: date | None = None, today: date | None = None
) -> IdInfo:
    """Normalize and validate one raw value; see :class:`IdInfo` and :class:`IdStatus`."""
    if birth_date_hint is None and type(raw) is str and len(raw) == 18:
        found = _parse_valid18(raw, today)
        if found is not None:
            return found
    raw_s = "" if raw is None else str(raw)
    norm = normalize(raw)
    if not norm:
        return IdInfo(raw=raw_s, normalized="", value="", status=IdStatus.EMPTY)
    today = today or date.today()
    warnings: list[str] = []
    errors: list[str] = []

    if _RE_15.fullmatch(norm):
        candidate = upgrade15(norm, birth_date_hint=birth_date_hint, today=today)
        warnings.append("upgraded_from_15")
        if birth_date_hint is None:
            # Both centuries plausible: the choice of '20' was a guess worth surfacing.
            yymmdd = norm[6:12]
            real = [_date_or_none(c + yymmdd) for c in ("19", "20")]
            if all(d is not None and d <= today and d.year >= _MIN_BIRTH_YEAR for d in real):
                warnings.append("century_guessed")
        checksum_ok = True
        ok_status = IdStatus.UPGRADED
    elif _RE_18.fullmatch(norm):
        candidate = norm
        checksum_ok = check_character(norm[:17]) == norm[17]
        ok_status = IdStatus.VALID
    else:
        if len(norm) not in (15, 18):
            errors.append("length")
        # Only digits are allowed, plus 'X' as the check character (15-digit numbers
        # have none).
        body = norm[:-1] if norm.endswith("X") and len(norm) != 15 else norm
        if not (body.isascii() and body.isdigit()):
            errors.append("characters")
        if _RE_SCIENTIFIC.fullmatch(norm):
            errors.append("scientific_notation")
        return IdInfo(
            raw=raw_s,
            normalized=norm,
            value=norm,
            status=IdStatus.BAD_FORMAT,
            errors=tuple(errors),
        )

    region = candidate[:6]
    region_known = is_known_region(region)
    if not region_known:
        warnings.append("region_unknown")
    birth = birth_date_of(candidate)
    date_problem = _date_problem(birth, today)
    if not checksum_ok:
        errors.append("checksum")
    if date_problem:
        errors.append(date_problem)
    if birth_date_hint is not None and birth is not None and birth != birth_date_hint:
        warnings.append("birth_date_mismatch")

    # A failed checksum wins over a bad date: it says the digits contain a typo, which
    # likely explains the date too (repair_candidates() can help). A correct checksum
    # with an impossible date means the number itself was made up or mis-issued.
    if not checksum_ok:
        status = IdStatus.BAD_CHECKSUM
    elif date_problem:
        status = IdStatus.BAD_DATE
    else:
        status = ok_status
    valid = status is ok_status
    if ok_status is IdStatus.UPGRADED and not valid:
        # No 18-character value was produced, so the upgrade notes would mislead.
        warnings = [w for w in warnings if w not in ("upgraded_from_15", "century_guessed")]
    return IdInfo(
        raw=raw_s,
        normalized=norm,
        value=candidate if valid else norm,
        status=status,
        birth_date=birth,
        sex=sex_of(candidate),
        region_code=region,
        region_known=region_known,
        warnings=tuple(warnings),
        errors=tuple(errors),
    )


def mask(value: str) -> str:
    """What a page, a ledger or a message shows of a number: the region and nothing after it,
    '450226************' (docs/privacy.md). The pages show the birth date and the sex beside
    it, and the village gives the region: any character of the last four shown with them would
    leave fewer than 100 numbers to try (the last one alone, the check character, leaves about
    45), so none is shown. Another document keeps its first two characters."""
    n = len(value)
    if n in (15, 18):
        return value[:6] + "*" * (n - 6)
    if n <= 4:
        return "*" * n
    return value[:2] + "*" * (n - 2)


def suffix(value: str, n: int = 4) -> str:
    """Last ``n`` characters (for a searchable suffix column)."""
    if n < 0:
        raise ValueError("n must be >= 0")
    return value[-n:] if n else ""


def repair_candidates(value18: str, *, today: date | None = None) -> list[str]:
    """Valid numbers one typo away from ``value18``, keeping its check character.

    Typos considered: one substituted digit among the first 17, or one swap of adjacent
    characters (including the 17th digit with a digit check character). Candidates
    must also carry a plausible birth date. Returns a sorted list; [] if ``value18``
    is not 17 digits plus a digit or X.
    """
    if not _RE_18.fullmatch(value18):
        return []
    today = today or date.today()

    def ok(cand: str) -> bool:
        return (
            _RE_18.fullmatch(cand) is not None
            and check_character(cand[:17]) == cand[17]
            and _date_problem(birth_date_of(cand), today) is None
        )

    found: set[str] = set()
    # One wrong digit: replacing digit d_i by d moves the weighted sum by w_i × (d − d_i), and
    # the check character fixes the sum mod 11, so each position has at most one digit that
    # fits (11 is prime: w_i has an inverse). 17 candidates to check, not 153.
    check = 10 if value18[17] == "X" else int(value18[17])
    total = sum(map(operator.mul, _WEIGHTS, value18[:17].encode())) - _WEIGHTS_ASCII_OFFSET
    need = ((12 - check) - total) % 11
    # The birth date (digits 7–14) is checked again only where a candidate changes it.
    plausible = _date_problem(birth_date_of(value18), today) is None
    if need:
        for i in range(17):
            old = ord(value18[i]) - 48
            d = old + need * _INVERSE[i] % 11
            if d > 9:
                d -= 11
            if 0 <= d <= 9:
                cand = value18[:i] + chr(48 + d) + value18[i + 1 :]
                if (
                    plausible
                    if i < 6 or i > 13
                    else _date_problem(birth_date_of(cand), today) is None
                ):
                    found.add(cand)
    # Two neighbours swapped: among the first 17 the sum moves by (w_i − w_i+1) × (b − a).
    for i in range(17):
        a, b = value18[i], value18[i + 1]
        if a == b:
            continue
        if (
            i < 16
            and (total + (_WEIGHTS[i] - _WEIGHTS[i + 1]) * (ord(b) - ord(a)) - 12 + check) % 11
        ):
            continue
        cand = value18[:i] + b + a + value18[i + 2 :]
        if ok(cand):
            found.add(cand)
    found.discard(value18)
    return sorted(found)


def one_slip(a: str, b: str) -> bool:
    """Two 18-character numbers one typo apart in their first 17 characters: one differs, or
    two neighbours are swapped (the check characters are not compared: each is valid)."""
    if len(a) != 18 or len(b) != 18:
        return False
    diff = [i for i in range(17) if a[i] != b[i]]
    if len(diff) == 1:
        return True
    return (
        len(diff) == 2
        and diff[1] == diff[0] + 1
        and a[diff[0]] == b[diff[1]]
        and a[diff[1]] == b[diff[0]]
    )


def dates_close(a: date, b: date) -> bool:
    """The same date, or one a typist made of it: a day off, or the day and month swapped."""
    return abs((a - b).days) <= 1 or (a.year == b.year and a.month == b.day and a.day == b.month)


# --- numbers inside a text --------------------------------------------------------------------

# An identifying number however a file wrote it inside a text: digits with letters among them
# or right after them (4502252012l0090044, a 学籍号's G before it), single spaces or dashes
# between digits (450225 20160502 0032), anything after it (…0032号). A separator continues a
# run only before a digit, so that the words after a number stay as they are.
_NUMBER_RUN = re.compile(r"[GLJ]?[0-9](?:[0-9A-Za-z]|[ \-\u2010-\u2015\u2212](?=[0-9]))*")
# Excel's scientific notation typed as text keeps up to 15 digits of it: 4.50225201504017E+17.
_SCIENTIFIC_RUN = re.compile(r"(?<![0-9.])([0-9]\.[0-9]{5})([0-9]+)([Ee]\+?[0-9]{1,2})(?![0-9])")
# A run with this many letters and digits, this many of them digits and this many of those
# in a row (the region's six; a date's groups have four at most: 2014-09-01 2015-03-02 is not
# a number), may be a number.
_RUN_CHARS = 15
_RUN_DIGITS = 12
_RUN_GROUP = re.compile(r"[0-9]{6}")
_ALNUM = re.compile(r"[0-9A-Za-z]")
# Full-width digits and letters read as theirs (a header or a note is not cleaned as a cell is);
# full-width punctuation (，：) stays as it is.
_FULLWIDTH_ALNUM = {
    cp: cp - 0xFEE0
    for a, b in (("０", "９"), ("Ａ", "Ｚ"), ("ａ", "ｚ"))
    for cp in range(ord(a), ord(b) + 1)
}


def _masked_run(match: re.Match[str]) -> str:
    run = match.group(0)
    digits = sum(c.isdigit() for c in run)
    if digits < _RUN_DIGITS or len(_ALNUM.findall(run)) < _RUN_CHARS or not _RUN_GROUP.search(run):
        return run
    # The region (the first six digits) stays, as the mask shows it; every letter and digit
    # after it is hidden, the separators kept.
    sixth = [i for i, c in enumerate(run) if c.isdigit()][5]
    return run[: sixth + 1] + _ALNUM.sub("*", run[sixth + 1 :])


def mask_numbers(text: str) -> str:
    """`text` with every identifying number in it masked, however it is written (a cell with
    notes, a message quoting a cell): a number one letter, one digit or one word off the mask
    still shows the birth date and the last digits beside it, which rebuilds the whole number
    (docs/privacy.md). A run that long of anything else (a bank card, two phone numbers with a
    space between) is hidden as well, which is harmless in a problem list."""
    if not text or len(text) < _RUN_DIGITS:
        return text
    text = text.translate(_FULLWIDTH_ALNUM)
    text = _SCIENTIFIC_RUN.sub(lambda m: m[1] + "*" * len(m[2]) + m[3], text)
    return _NUMBER_RUN.sub(_masked_run, text)
