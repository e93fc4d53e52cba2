"""Tests for baoxue.core.idnumbers (pure Python, no database)."""

from __future__ import annotations

import dataclasses
from datetime import date

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from stdnum import numdb
from stdnum.cn import ric
from stdnum.exceptions import InvalidComponent, ValidationError

from baoxue.core import idnumbers as idn
from baoxue.core.idnumbers import IdStatus

# Fixed "today" so that results do not drift with the calendar.
TODAY = date(2025, 6, 1)

# Region codes straight from stdnum's table (independently of idnumbers' own loader).
_LOC = numdb.get("cn/loc")


def _stdnum_knows(code6: str) -> bool:
    props = {k: v for _part, p in _LOC.info(code6) for k, v in p.items()}
    return "county" in props


STDNUM_REGIONS = sorted(c for c in idn._known_regions() if _stdnum_knows(c))
STDNUM_REGION_SET = frozenset(STDNUM_REGIONS)
HYP = settings(max_examples=200, deadline=None)


def make(region: str, born: date, seq: int) -> str:
    first17 = f"{region}{born:%Y%m%d}{seq:03d}"
    return first17 + idn.check_character(first17)


valid_parts = st.tuples(
    st.sampled_from(STDNUM_REGIONS),
    st.dates(date(1950, 1, 1), date(2024, 12, 31)),
    st.integers(0, 999),
)
valid_ids = valid_parts.map(lambda t: make(*t))

# A real number from GB 11643-1999's own example.
SAMPLE = "11010519491231002X"


# --- normalize ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw",
    [
        "11010519491231002X",
        "11010519491231002x",
        "１１０１０５１９４９１２３１００２Ｘ",  # full-width digits and letter
        "１１０１０５１９４９１２３１００２ｘ",
        " 110105 19491231 002X\t",
        "\u3000110105\u00a019491231\u3000002X\n",  # ideographic space and NBSP
        "'11010519491231002X",  # Excel text prefix
        "‘11010519491231002X’",
        "`11010519491231002X",
        '"11010519491231002X"',
        "“11010519491231002X”",
        "\ufeff11010519491231002X\u200b",  # BOM / zero-width space from copy-paste
        "110105-19491231-002X",
        "110105－19491231－002X",  # full-width hyphen
        "110105.19491231.002X",
    ],
)
def test_normalize_presentation_noise(raw: str) -> None:
    assert idn.normalize(raw) == SAMPLE
    assert idn.parse(raw).status is IdStatus.VALID


def test_normalize_blank() -> None:
    assert idn.normalize(None) == ""
    assert idn.normalize("") == ""
    assert idn.normalize(" \u3000\u00a0'") == ""


def test_normalize_keeps_separators_unless_shape_fits() -> None:
    # A date typed into the ID column stays a date, not an 8-digit blob.
    assert idn.normalize("2012-03-15") == "2012-03-15"
    assert idn.normalize("450226-120315-123") == "450226120315123"


def test_normalize_float_tail() -> None:
    # A 15-digit number read through a float comes back with '.0'.
    assert idn.normalize("110101850101123.0") == "110101850101123"


# --- check character / upgrade ---------------------------------------------------------


def test_check_character() -> None:
    assert idn.check_character("11010519491231002") == "X"
    assert idn.check_character("44052418800101001") == "4"
    with pytest.raises(ValueError):
        idn.check_character("1234")
    with pytest.raises(ValueError):
        idn.check_character("１１０１０５１９４９１２３１００２")  # non-ASCII digits


def test_upgrade15_child_without_hint() -> None:
    # A child born 2012-03-15 whose number was written in the old 15-digit form.
    assert idn.upgrade15("450226120315123", today=TODAY) == "450226201203151239"
    info = idn.parse("450226120315123", today=TODAY)
    assert info.status is IdStatus.UPGRADED
    assert info.is_valid
    assert info.value == "450226201203151239"
    assert info.birth_date == date(2012, 3, 15)
    assert info.sex == "M"
    assert "upgraded_from_15" in info.warnings
    assert "century_guessed" in info.warnings  # 1912 would also have been possible


def test_upgrade15_future_means_19xx() -> None:
    info = idn.parse("110105491231002", today=TODAY)
    assert info.value == SAMPLE
    assert info.status is IdStatus.UPGRADED
    assert "century_guessed" not in info.warnings  # 2049 is in the future


def test_upgrade15_with_hint() -> None:
    assert idn.upgrade15("450226120315123", birth_date_hint=date(1912, 3, 15)) == (
        "450226191203151232"
    )
    assert idn.upgrade15("450226120315123", birth_date_hint=date(2012, 3, 15)) == (
        "450226201203151239"
    )
    # Hint agrees on the year only.
    assert idn.upgrade15("450226120315123", birth_date_hint=date(1912, 1, 1)).startswith(
        "4502261912"
    )
    info = idn.parse("450226120315123", birth_date_hint=date(1912, 3, 15), today=TODAY)
    assert info.value == "450226191203151232"
    assert "century_guessed" not in info.warnings
    assert "birth_date_mismatch" not in info.warnings


def test_upgrade15_rejects_non_digits() -> None:
    with pytest.raises(ValueError):
        idn.upgrade15("45022612031512X")


def test_15_digit_bad_date() -> None:
    info = idn.parse("450226120230123", today=TODAY)  # Feb 30
    assert info.status is IdStatus.BAD_DATE
    assert info.value == "450226120230123"  # no invented century / check character
    assert info.birth_date is None
    assert info.errors == ("birth_date_invalid",)
    assert info.warnings == ()


# --- parse: statuses --------------------------------------------------------------------


def test_empty() -> None:
    for raw in (None, "", "   ", "'"):
        info = idn.parse(raw)
        assert info.status is IdStatus.EMPTY
        assert info.value == ""
        assert not info.is_valid
        assert info.errors == ()


def test_bad_checksum_kept_and_flagged() -> None:
    raw = "110105194912310021"
    info = idn.parse(raw, today=TODAY)
    assert info.status is IdStatus.BAD_CHECKSUM
    assert not info.is_valid
    assert info.value == raw  # never silently corrected
    assert info.errors == ("checksum",)
    assert info.birth_date == date(1949, 12, 31)  # date part is still real
    assert info.sex == "F"
    assert SAMPLE not in idn.repair_candidates(raw, today=TODAY)  # only the check char differs


def test_bad_date_feb_30() -> None:
    first17 = "45022620120230123"
    value = first17 + idn.check_character(first17)
    info = idn.parse(value, today=TODAY)
    assert info.status is IdStatus.BAD_DATE
    assert info.errors == ("birth_date_invalid",)
    assert info.birth_date is None
    assert info.value == value


def test_future_date() -> None:
    value = make("450226", date(2030, 1, 1), 123)
    info = idn.parse(value, today=TODAY)
    assert info.status is IdStatus.BAD_DATE
    assert info.errors == ("birth_date_future",)


def test_too_early() -> None:
    value = make("450226", date(1899, 12, 31), 123)
    info = idn.parse(value, today=TODAY)
    assert info.status is IdStatus.BAD_DATE
    assert info.errors == ("birth_date_too_early",)


def test_unknown_region_is_only_a_warning() -> None:
    value = make("999999", date(2012, 3, 15), 123)
    info = idn.parse(value, today=TODAY)
    assert info.status is IdStatus.VALID
    assert info.region_code == "999999"
    assert not info.region_known
    assert info.warnings == ("region_unknown",)
    assert info.errors == ()


@pytest.mark.parametrize("region", ["810000", "820000", "830000"])
@pytest.mark.parametrize("born", [date(1990, 5, 6), date(2015, 7, 8)])
def test_hk_macau_taiwan_permits(region: str, born: date) -> None:
    # stdnum lacks 830000 and only accepts 810000/820000 for birth years from
    # 1997/1999; the permits (2018) are issued regardless of birth year.
    value = make(region, born, 4)
    info = idn.parse(value, today=TODAY)
    assert info.status is IdStatus.VALID
    assert info.region_known
    assert info.warnings == ()


def test_historical_region_known() -> None:
    # 110103 崇文区 was abolished in 2010 but older numbers keep it.
    assert idn.is_known_region("110103")
    assert not idn.is_known_region("000000")
    assert not idn.is_known_region("1101")


@pytest.mark.parametrize(
    ("raw", "errors"),
    [
        ("11010519491231002", ("length",)),
        ("1101051949123100200", ("length",)),
        ("11010519491231002Y", ("characters",)),
        ("1101051949123X002X", ("characters",)),
        ("11010549123100X", ("characters",)),  # 15-digit numbers have no check char
        ("张三", ("length", "characters")),
        ("4.50226201201011E+17", ("length", "characters", "scientific_notation")),
    ],
)
def test_bad_format(raw: str, errors: tuple[str, ...]) -> None:
    info = idn.parse(raw, today=TODAY)
    assert info.status is IdStatus.BAD_FORMAT
    assert info.errors == errors
    assert info.value == idn.normalize(raw)
    assert info.region_code is None
    assert info.birth_date is None
    assert info.sex is None


def test_birth_date_hint_mismatch_warns() -> None:
    info = idn.parse(SAMPLE, birth_date_hint=date(1949, 12, 30), today=TODAY)
    assert info.status is IdStatus.VALID
    assert "birth_date_mismatch" in info.warnings


def test_parse_is_frozen() -> None:
    info = idn.parse(SAMPLE)
    with pytest.raises(AttributeError):
        info.value = "x"  # type: ignore[misc]


# --- mask / suffix / helpers -----------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "masked"),
    [
        # The region only: with the birth date and the sex a page shows, any of the last four
        # characters would narrow the number to fewer than 100 (docs/privacy.md).
        ("45022620120315123X", "450226************"),
        ("450226120315123", "450226*********"),
        ("abcde", "ab***"),
        ("1101051949", "11********"),
        ("abcd", "****"),
        ("a", "*"),
        ("", ""),
    ],
)
def test_mask(value: str, masked: str) -> None:
    assert idn.mask(value) == masked


def test_suffix() -> None:
    assert idn.suffix(SAMPLE) == "002X"
    assert idn.suffix(SAMPLE, 6) == "31002X"
    assert idn.suffix(SAMPLE, 0) == ""
    assert idn.suffix("12", 4) == "12"
    with pytest.raises(ValueError):
        idn.suffix(SAMPLE, -1)


def test_sex_and_birth_date_helpers() -> None:
    assert idn.sex_of(SAMPLE) == "F"
    assert idn.birth_date_of(SAMPLE) == date(1949, 12, 31)
    assert idn.birth_date_of("110105") is None
    assert idn.sex_of("1101") is None


def test_repair_candidates_basics() -> None:
    assert idn.repair_candidates(SAMPLE, today=TODAY) == []  # valid: nothing one typo away
    assert idn.repair_candidates("12345", today=TODAY) == []
    # Swapped birth-day digits: 1949-12-31 typed as 1949-12-13.
    typo = "110105194912130020"[:17] + "X"
    assert SAMPLE in idn.repair_candidates(typo, today=TODAY)


# --- properties -------------------------------------------------------------------------


@HYP
@given(valid_parts)
def test_prop_valid_round_trip(parts: tuple[str, date, int]) -> None:
    region, born, seq = parts
    value = make(region, born, seq)
    info = idn.parse(value, today=TODAY)
    assert info.status is IdStatus.VALID
    assert info.value == value
    assert info.birth_date == born
    assert info.sex == ("M" if seq % 2 else "F")
    assert info.region_code == region
    assert info.region_known
    assert info.errors == () and info.warnings == ()
    assert idn.parse(value.lower(), today=TODAY).value == value


@HYP
@given(valid_ids)
def test_prop_mask_hides_middle(value: str) -> None:
    masked = idn.mask(value)
    assert masked[:6] == value[:6] and masked[6:] == "*" * (len(value) - 6)


@HYP
@given(st.text())
def test_prop_mask_shape(value: str) -> None:
    masked = idn.mask(value)
    assert len(masked) == len(value)
    if len(value) not in (15, 18) and len(value) >= 5:
        assert masked[2:] == "*" * (len(value) - 2)


noisy = st.text(
    alphabet=st.sampled_from(
        list("0123456789Xx")
        + list("０１２３４５６７８９Ｘｘ")
        + list(" \u3000\u00a0\t'‘’`\"“”-－.·")
    ),
    max_size=24,
)


@HYP
@given(st.one_of(st.text(), noisy))
def test_prop_normalize_idempotent(raw: str) -> None:
    once = idn.normalize(raw)
    assert idn.normalize(once) == once
    # parse() is a function of the normalized form only.
    assert idn.parse(raw, today=TODAY).value == idn.parse(once, today=TODAY).value


@HYP
@given(valid_ids, st.integers(0, 16), st.integers(1, 9))
def test_prop_single_substitution_detected(value: str, pos: int, delta: int) -> None:
    digit = str((int(value[pos]) + delta) % 10)
    corrupted = value[:pos] + digit + value[pos + 1 :]
    info = idn.parse(corrupted, today=TODAY)
    # MOD 11-2 catches every single substitution, so checksum wins over any date issue.
    assert info.status is IdStatus.BAD_CHECKSUM
    assert info.value == corrupted
    assert value in idn.repair_candidates(corrupted, today=TODAY)


@HYP
@given(valid_ids, st.integers(0, 15))
def test_prop_adjacent_transposition_detected(value: str, pos: int) -> None:
    assume(value[pos] != value[pos + 1])
    corrupted = value[:pos] + value[pos + 1] + value[pos] + value[pos + 2 :]
    assert idn.parse(corrupted, today=TODAY).status is IdStatus.BAD_CHECKSUM
    assert value in idn.repair_candidates(corrupted, today=TODAY)


@HYP
@given(valid_ids.map(lambda v: v[:17] + "0"))
def test_prop_repair_candidates_are_valid(value: str) -> None:
    for cand in idn.repair_candidates(value, today=TODAY):
        assert idn.parse(cand, today=TODAY).is_valid
        diff = [i for i in range(18) if cand[i] != value[i]]
        if len(diff) == 1:  # substitution: never of the check character
            assert diff[0] < 17
        else:  # adjacent swap, possibly of the 17th digit with the check character
            assert len(diff) == 2 and diff[1] == diff[0] + 1
            assert (cand[diff[0]], cand[diff[1]]) == (value[diff[1]], value[diff[0]])


@HYP
@given(valid_parts)
def test_prop_upgrade15_round_trip(parts: tuple[str, date, int]) -> None:
    region, born, seq = parts
    value = make(region, born, seq)
    id15 = value[:6] + value[8:17]
    assert idn.upgrade15(id15, birth_date_hint=born) == value
    info = idn.parse(id15, birth_date_hint=born, today=TODAY)
    assert info.status is IdStatus.UPGRADED
    assert info.value == value
    # Without a hint the century is '20' whenever that date is not in the future.
    guess = idn.upgrade15(id15, today=TODAY)
    twenty = born.replace(year=2000 + born.year % 100) if born.year < 2000 else born
    assert guess[6:8] == ("20" if twenty <= TODAY else "19")


@HYP
@given(st.text(alphabet="0123456789", min_size=17, max_size=17))
def test_prop_check_character_matches_stdnum(first17: str) -> None:
    assert idn.check_character(first17) == ric.calc_check_digit(first17 + "0")


@HYP
@given(st.integers(0, 999_999).map(lambda n: f"{n:06d}"))
def test_prop_known_region_matches_stdnum_table(code: str) -> None:
    assert idn.is_known_region(code) == (_stdnum_knows(code) or code in idn.PERMIT_REGION_CODES)


def _stdnum_verdict(value: str) -> bool | None:
    """ric.is_valid(), except None when stdnum rejects only for the region/year rule.

    stdnum also rejects a code that was not in force in the birth year (e.g. 110103,
    abolished 2010, for someone born 2012; 810000 before 1997). The number is assigned
    at registration, not birth, so idnumbers deliberately does not apply that rule.
    """
    try:
        ric.validate(value)
    except InvalidComponent:
        try:
            ric.get_birth_date(value)
        except ValidationError:
            return False  # the date itself is bad
        return None  # date is fine: the failure was the region/year rule
    except ValidationError:
        return False
    return True


corruptions = st.one_of(
    st.just(("none", 0, 0)),
    st.tuples(st.just("sub"), st.integers(0, 17), st.integers(1, 9)),
    st.tuples(st.just("swap"), st.integers(0, 16), st.just(0)),
)


@HYP
@given(valid_ids, corruptions)
def test_prop_agrees_with_stdnum(value: str, corruption: tuple[str, int, int]) -> None:
    kind, pos, delta = corruption
    if kind == "sub":
        if pos == 17:
            value = value[:17] + "0123456789X"[("0123456789X".index(value[17]) + delta) % 11]
        else:
            value = value[:pos] + str((int(value[pos]) + delta) % 10) + value[pos + 1 :]
    elif kind == "swap":
        value = value[:pos] + value[pos + 1] + value[pos] + value[pos + 2 :]
    # Only compare inside stdnum's table: for a code missing under a known province
    # stdnum 2.2 raises KeyError('county') from is_valid(), and it lacks 830000.
    assume(value[:6] in STDNUM_REGION_SET)
    ours = idn.parse(value, today=TODAY)
    verdict = _stdnum_verdict(value)
    # stdnum has no notion of "future" or "before 1900"; idnumbers rejects both.
    born = idn.birth_date_of(value)
    date_ok = born is not None and date(1900, 1, 1) <= born <= TODAY
    if verdict is None:
        assert ours.is_valid == date_ok  # documented divergence: we accept
    else:
        assert ours.is_valid == (verdict and date_ok)
        if verdict and not date_ok:
            assert ours.status is IdStatus.BAD_DATE


@given(st.text(alphabet="0123456789xXabcZ", max_size=20))
def test_the_fast_path_for_plain_cells_agrees_with_the_full_normalisation(raw):
    assert idn.normalize(raw) == idn._normalize_any(raw)


def _general_parse(raw: str) -> idn.IdInfo:
    # A trailing space sends the same number down the general path; then put raw back.
    return dataclasses.replace(idn.parse(raw + " ", today=TODAY), raw=raw)


@given(
    st.one_of(
        valid_ids,
        valid_ids.map(lambda v: v.replace("X", "x")),
        valid_ids.map(lambda v: v[:17] + "0123456789X"[(int(v[17], 36) + 1) % 11]),
        valid_ids.map(lambda v: v[:6] + "2099" + v[10:]),  # a date in the future
        valid_ids.map(lambda v: "999999" + v[6:]),  # an unknown region
        st.text(alphabet="0123456789xX-", min_size=18, max_size=18),
    )
)
@HYP
def test_the_fast_path_for_clean_18_character_numbers_agrees_with_the_general_parse(raw):
    fast = idn._parse_valid18(raw, TODAY)
    if fast is not None:
        assert fast == _general_parse(raw)
        assert fast.is_valid
    assert idn.parse(raw, today=TODAY) == _general_parse(raw)


def _repair_by_trying(value: str) -> list[str]:
    """repair_candidates the slow way: every digit at every position, every swap."""
    found = set()
    for i in range(17):
        for d in "0123456789":
            found.add(value[:i] + d + value[i + 1 :])
    for i in range(17):
        found.add(value[:i] + value[i + 1] + value[i] + value[i + 2 :])
    found.discard(value)
    return sorted(c for c in found if idn.parse(c, today=TODAY).is_valid)


@HYP
@given(valid_ids, st.integers(0, 17), st.sampled_from("0123456789X"))
def test_prop_repair_candidates_are_all_one_typo_away(value: str, pos: int, char: str) -> None:
    # The arithmetic (one digit per position fits the check character) finds exactly what
    # trying every digit finds, on valid and damaged numbers alike.
    if pos < 17 and char == "X":
        char = "0"
    damaged = value[:pos] + char + value[pos + 1 :]
    assert idn.repair_candidates(damaged, today=TODAY) == _repair_by_trying(damaged)
