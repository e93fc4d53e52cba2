"""Name keys for search: full pinyin and initials (吴俊辉 → wujunhui, wjh)."""

from __future__ import annotations

from functools import lru_cache

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


@lru_cache(maxsize=50_000)
@lru_cache(maxsize=65536)  # many children share a name; imports ask for thousands at a time
def pinyin_keys(name: str) -> tuple[str, str]:
    name = "".join(name.split())
    if not name:
        return "", ""
    syllables = lazy_pinyin(name, style=Style.NORMAL, errors="ignore")
    if name[0] in _SURNAME_READINGS and syllables:
        syllables[0] = _SURNAME_READINGS[name[0]]
    syllables = [s.lower().replace("ü", "v") for s in syllables if s]
    return "".join(syllables)[:128], "".join(s[0] for s in syllables)[:32]


def normalize_name(name: str) -> str:
    """A person's name as stored: no whitespace at all (names on ID cards have none; the
    middle dot of some minority names is kept)."""
    return "".join(name.split())


def is_pinyin_query(text: str) -> bool:
    return bool(text) and text.isascii() and text.isalpha()
