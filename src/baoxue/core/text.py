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
