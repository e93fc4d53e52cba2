"""Text for people: name keys for search (full pinyin and initials, 吴俊辉 → wujunhui, wjh)
and numbers of days as they are written."""

from __future__ import annotations

from decimal import Decimal
from functools import cache, lru_cache

from pypinyin import Style, lazy_pinyin

# Surnames whose reading differs from the character's common reading (单 shàn, 曾 zēng …).
_SURNAME_READINGS = {
    "单": "shan",
    "曾": "zeng",
    "解": "xie",
    "区": "ou",
    "仇": "qiu",
    "朴": "piao",
    "查": "zha",
    "缪": "miao",
    "覃": "qin",
    "尉": "yu",
    "乐": "yue",
    "盖": "ge",
    "种": "chong",
    "召": "shao",
    "粟": "su",
}


@lru_cache(maxsize=65536)  # many children share a name; imports ask for thousands at a time
def pinyin_keys(name: str) -> tuple[str, str]:
    """Full pinyin and initials of a name, character by character (a name is not a phrase:
    each character takes its common reading, surnames their surname reading)."""
    name = "".join(name.split())
    if not name:
        return "", ""
    syllables = [_char_pinyin(ch) for ch in name]
    if syllables[0] and name[0] in _SURNAME_READINGS:
        syllables[0] = _SURNAME_READINGS[name[0]]
    syllables = [s for s in syllables if s]
    return "".join(syllables)[:128], "".join(s[0] for s in syllables)[:32]


def homophones(a: str, b: str) -> bool:
    """Two characters read alike (toneless, their common readings): 岭 and 玲, 吴 and 伍."""
    first, second = _char_pinyin(a), _char_pinyin(b)
    return bool(first) and first == second


@cache
def _char_pinyin(ch: str) -> str:
    found = lazy_pinyin(ch, style=Style.NORMAL, errors="ignore")
    return found[0].lower().replace("ü", "v") if found else ""


def normalize_name(name: str) -> str:
    """A person's name as stored: no whitespace at all (names on ID cards have none; the
    middle dot of some minority names is kept)."""
    return "".join(name.split())


def is_pinyin_query(text: str) -> bool:
    return bool(text) and text.isascii() and text.isalpha()


def days_text(days: object) -> str:
    """A number of days as a person writes it: 3, 2.5 (a stored Decimal('3.0') is 3)."""
    if isinstance(days, Decimal):
        return format(days.normalize(), "f")
    return "" if days is None else str(days)


# --- names that are one child's, written two ways ----------------------------------------------


def same_surname(a: str, b: str) -> bool:
    """The first characters agree, or sound the same (吴/伍, 龙/隆): a typist's slip, not
    another family."""
    if not a or not b:
        return False
    return a[0] == b[0] or pinyin_keys(a[0])[0] == pinyin_keys(b[0])[0]


def names_close(a: str, b: str) -> bool:
    """Two spellings of one name as files really write them: the same, the same sound
    (龙瑶/龙遥, 吴俊辉/伍军辉), or, with the same surname, one character added or dropped
    (吴俊辉/吴辉) or changed in a name of three or more (吴俊辉/吴俊晖). A two-character name
    with its given name changed is another name (吴一/吴二 are brothers more often than a
    slip)."""
    if a == b:
        return True
    if not a or not b:
        return False
    if pinyin_keys(a)[0] == pinyin_keys(b)[0]:
        return True
    if abs(len(a) - len(b)) > 1 or not same_surname(a, b):
        return False
    return _one_edit(a, b)


def _one_edit(a: str, b: str) -> bool:
    if len(a) == len(b):
        return len(a) >= 3 and sum(x != y for x, y in zip(a, b, strict=True)) == 1
    short, long = (a, b) if len(a) < len(b) else (b, a)
    return any(long[:i] + long[i + 1 :] == short for i in range(len(long)))
