"""Name pools and pickers for the made-up demo township 培秀苗族乡.

Every name here is invented: the township, its villages and 屯, its schools and their codes, and
the people the pickers produce. No real person is named, and the pools were not copied from any
roster. The county (融水苗族自治县, 450225) is real only so that region codes have a real shape.

The surname weights are deliberately steep, as they are in Miao and Dong villages where a few
clans make up most households: a demo roster of a few thousand children then holds dozens of
identical full names, which matching, search and import must cope with.

Every picker takes a ``random.Random`` so that a seed reproduces the whole demo data set.
"""

from __future__ import annotations

import random
from itertools import accumulate
from typing import TypedDict

__all__ = [
    "ADULT_GIVEN_NAME_CHARS_FEMALE",
    "ADULT_GIVEN_NAME_CHARS_MALE",
    "COUNTY_CODE",
    "COUNTY_NAME",
    "ETHNICITY_WEIGHTS",
    "GENERATION_CHARS",
    "GIVEN_NAME_CHARS_FEMALE",
    "GIVEN_NAME_CHARS_MALE",
    "SCHOOLS",
    "SURNAMES_BY_ETHNICITY",
    "TOWNSHIP_CODE",
    "TOWNSHIP_NAME",
    "VILLAGES",
    "School",
    "adult_given_name",
    "pick_ethnicity",
    "pick_full_name",
    "pick_given_name",
    "pick_surname",
    "village_code",
]

COUNTY_NAME = "融水苗族自治县"
COUNTY_CODE = "450225"
TOWNSHIP_NAME = "培秀苗族乡"
# 9 digits: county code + township part. Villages append three digits, see village_code().
TOWNSHIP_CODE = "450225212"

# Relative weights, heaviest first. Shared surnames (吴 杨 石 龙 in both Miao and Dong) are the
# normal case in this area, not an error.
SURNAMES_BY_ETHNICITY: dict[str, list[tuple[str, int]]] = {
    "苗族": [
        ("吴", 30),
        ("龙", 16),
        ("杨", 13),
        ("石", 8),
        ("梁", 7),
        ("贾", 6),
        ("潘", 5),
        ("韦", 4),
        ("王", 3),
        ("蒙", 3),
        ("侯", 2),
        ("欧", 2),
        ("何", 2),
    ],
    "侗族": [
        ("吴", 26),
        ("杨", 22),
        ("石", 14),
        ("龙", 12),
        ("欧", 8),
        ("潘", 8),
        ("粟", 6),
        ("陆", 4),
    ],
    "壮族": [
        ("韦", 30),
        ("覃", 20),
        ("蓝", 12),
        ("莫", 10),
        ("黄", 10),
        ("梁", 8),
        ("陆", 6),
        ("廖", 4),
    ],
    "汉族": [
        ("李", 18),
        ("张", 14),
        ("刘", 12),
        ("陈", 12),
        ("黄", 10),
        ("廖", 8),
        ("何", 8),
        ("周", 7),
        ("罗", 6),
        ("谢", 5),
    ],
    "瑶族": [
        ("盘", 35),
        ("赵", 25),
        ("邓", 18),
        ("冯", 12),
        ("李", 10),
    ],
}

# Share of children per ethnicity in the township, in percent.
ETHNICITY_WEIGHTS: list[tuple[str, int]] = [
    ("苗族", 60),
    ("侗族", 12),
    ("壮族", 10),
    ("汉族", 15),
    ("瑶族", 3),
]

# Characters of given names of children born 2008–2020 in rural Guangxi, most frequent first;
# the pickers weight them by rank, so the head of each list recurs often.
GIVEN_NAME_CHARS_MALE: list[str] = list(
    "俊宇浩轩子杰涛辉明文金鑫豪博睿晨阳磊鹏强志嘉伟超思天成凯航铭瑞泽奕宏健诚锦宸逸"
    "然一翔星海林峰毅坤勇兴荣福华旭晓彬斌康乐恒煜源鸿振景亮东军平卓远安启新腾凡哲昊"
    "楠扬永贤"
)
GIVEN_NAME_CHARS_FEMALE: list[str] = list(
    "丽婷雨欣梦佳雪燕美娟琳怡妍慧静敏萍玲霞芳晓思诗紫涵琪彤馨悦月瑶倩蕾颖莹洁艳菲媛"
    "嘉秋春兰梅凤露甜蓉娜妮薇钰可心舒璐晴柳芸语萱依岚姗茜青秀艺金玉珍宁小红婉雯琴凌"
    "冰琼丹桂"
)

# Characters that open a two-character given name (子轩, 一鸣, 小燕, 思雨) but hardly ever stand
# alone or come second.
_LEADING_ONLY_CHARS: frozenset[str] = frozenset("子一小思晓嘉诗紫可语依")

# 字辈: brothers (and in many families sisters) share one of these as the first given-name char.
GENERATION_CHARS: list[str] = list("光正世家昌永承德宗绍秀安国文明启忠朝先庆")

# Parents born about 1970–1995: plainer, older-style characters.
ADULT_GIVEN_NAME_CHARS_MALE: list[str] = list(
    "海军强明建国华伟勇平林金福贵荣生成德志忠新春文光东兵卫进庆昌富财树清高永祥学礼全保才彪松发"
)
ADULT_GIVEN_NAME_CHARS_FEMALE: list[str] = list(
    "梅英花芳兰凤秀玉珍莲红艳丽春霞娟琴翠美金菊妹桂香莉萍群姣爱月荷妮银燕素彩连仙"
)

# Given names the pickers never return. With a surname from the pools above each would rebuild
# the full name of a real official listed in the township document the project's plan is based
# on; the demo must not name real people, even by chance.
_RESERVED_GIVEN_NAMES: frozenset[str] = frozenset(
    {"继业", "鸿红", "海娟", "胜", "文灏", "义鹏", "艳秋", "梦娜", "璋", "生德", "雨顺"}
)

# (village name, its 屯). 新寨屯 occurs in two villages on purpose: repeated 屯 names are common
# and addresses must be told apart by village.
VILLAGES: list[tuple[str, list[str]]] = [
    (
        "乌岭村",
        [
            "乌岭屯",
            "岭脚屯",
            "新街屯",
            "下寨屯",
            "榕树屯",
            "坳背屯",
            "冲头屯",
            "党鸠屯",
            "培安屯",
        ],
    ),
    ("高岜村", ["高岜屯", "岜桑屯", "务朗屯", "田心屯", "枫木屯", "滚洞屯"]),
    ("归勇村", ["归勇屯", "勇尾屯", "甲排屯", "坪头屯", "杉木屯"]),
    ("达纳村", ["达纳屯", "纳翁屯", "小达屯", "岩脚屯", "新寨屯", "塘边屯", "九朋屯"]),
    ("滚瓦村", ["滚瓦屯", "瓦窑屯", "培勒屯", "冲尾屯"]),
    ("甲朵村", ["甲朵屯", "朵里屯", "梨木屯", "乌朵屯", "新寨屯", "半坡屯"]),
    ("拱坪村", ["拱坪屯", "坪上屯", "岩洞屯", "老寨屯", "归秀屯"]),
    (
        "良觉村",
        ["良觉屯", "觉底屯", "大田屯", "马鞍屯", "归纳屯", "平架屯", "龙井屯", "竹林屯"],
    ),
    ("务翁村", ["务翁屯", "翁岭屯", "荣坳屯", "高冲屯"]),
    ("洞梅村", ["洞梅屯", "梅子屯", "下洞屯", "岑告屯", "水口屯", "果沙屯"]),
    ("平桑村", ["平桑屯", "桑坪屯", "格里屯", "山脚屯", "归乃屯"]),
    ("九斗村", ["九斗屯", "斗底屯", "白岩屯", "甲秀屯", "香岭屯", "杆木屯", "坪朗屯"]),
]


class School(TypedDict):
    name: str
    kind: str  # "primary", "junior" or "teaching_point", as School.kind in DESIGN.md
    code: str  # 学校标识码, 10 digits; invented
    village_index: int  # index into VILLAGES
    boarding: bool
    grades: tuple[int, int]  # first and last grade taught, inclusive; junior grades are 7–9


SCHOOLS: list[School] = [
    {
        "name": "培秀苗族乡中心小学",
        "kind": "primary",
        "code": "2145993101",
        "village_index": 0,
        "boarding": True,
        "grades": (1, 6),
    },
    {
        "name": "高岜村小学",
        "kind": "primary",
        "code": "2145993102",
        "village_index": 1,
        "boarding": False,
        "grades": (1, 6),
    },
    {
        "name": "达纳村小学",
        "kind": "primary",
        "code": "2145993103",
        "village_index": 3,
        "boarding": False,
        "grades": (1, 6),
    },
    {
        "name": "良觉村小学",
        "kind": "primary",
        "code": "2145993104",
        "village_index": 7,
        "boarding": False,
        "grades": (1, 6),
    },
    {
        "name": "九斗村小学",
        "kind": "primary",
        "code": "2145993105",
        "village_index": 11,
        "boarding": False,
        "grades": (1, 6),
    },
    {
        "name": "务翁村教学点",
        "kind": "teaching_point",
        "code": "2145993106",
        "village_index": 8,
        "boarding": False,
        "grades": (1, 3),
    },
    {
        "name": "平桑村教学点",
        "kind": "teaching_point",
        "code": "2145993107",
        "village_index": 10,
        "boarding": False,
        "grades": (1, 3),
    },
    {
        "name": "培秀苗族乡民族中学",
        "kind": "junior",
        "code": "2145993201",
        "village_index": 0,
        "boarding": True,
        "grades": (7, 9),
    },
]


def village_code(i: int) -> str:
    """12-digit statistical code of ``VILLAGES[i]`` (0-based): 450225212001, 450225212002, …"""
    if not 0 <= i < len(VILLAGES):
        raise IndexError(f"no village with index {i}; there are {len(VILLAGES)}")
    return f"{TOWNSHIP_CODE}{i + 1:03d}"


class _Pool:
    """Items with cumulative weights, so each pick is one ``rng.choices`` call."""

    def __init__(self, items: list[str], weights: list[float]) -> None:
        self.items = items
        self.cum_weights = list(accumulate(weights))

    @classmethod
    def by_rank(cls, items: list[str]) -> _Pool:
        # Zipf-like: the 1st char is about 10 times as likely as the 80th, not 80 times, because
        # rural naming is concentrated but not extremely so.
        return cls(items, [1.0 / (rank + 8) for rank in range(len(items))])

    def pick(self, rng: random.Random) -> str:
        return rng.choices(self.items, cum_weights=self.cum_weights)[0]


_SURNAME_POOLS: dict[str, _Pool] = {
    ethnicity: _Pool([s for s, _ in pairs], [float(w) for _, w in pairs])
    for ethnicity, pairs in SURNAMES_BY_ETHNICITY.items()
}
_ETHNICITY_POOL = _Pool([e for e, _ in ETHNICITY_WEIGHTS], [float(w) for _, w in ETHNICITY_WEIGHTS])
_CHILD_POOLS: dict[bool, _Pool] = {
    True: _Pool.by_rank(GIVEN_NAME_CHARS_MALE),
    False: _Pool.by_rank(GIVEN_NAME_CHARS_FEMALE),
}
_ADULT_POOLS: dict[bool, _Pool] = {
    True: _Pool.by_rank(ADULT_GIVEN_NAME_CHARS_MALE),
    False: _Pool.by_rank(ADULT_GIVEN_NAME_CHARS_FEMALE),
}

_MALE = frozenset({"男", "M", "m", "male"})
_FEMALE = frozenset({"女", "F", "f", "female"})


def _is_male(sex: str) -> bool:
    if sex in _MALE:
        return True
    if sex in _FEMALE:
        return False
    raise ValueError(f"unknown sex {sex!r}; use 男/女 or M/F")


def _acceptable(given_name: str) -> bool:
    # A doubled character (婷婷) is common as a pet name but rare on a 户口簿, so it is left out.
    if len(set(given_name)) < len(given_name):
        return False
    if given_name[-1] in _LEADING_ONLY_CHARS:
        return False
    return given_name not in _RESERVED_GIVEN_NAMES


def _compose(
    rng: random.Random, pool: _Pool, *, two_char_share: float, first: str | None = None
) -> str:
    # Redraw instead of filtering the pools, so the reserved names stay impossible whatever the
    # weights; the loop ends quickly because almost every draw is accepted.
    while True:
        if first is not None:
            name = first + pool.pick(rng)
        elif rng.random() < two_char_share:
            name = pool.pick(rng) + pool.pick(rng)
        else:
            name = pool.pick(rng)
        if _acceptable(name):
            return name


def pick_ethnicity(rng: random.Random) -> str:
    """苗族 about 60 %, 汉族 15 %, 侗族 12 %, 壮族 10 %, 瑶族 3 %."""
    return _ETHNICITY_POOL.pick(rng)


def pick_surname(rng: random.Random, ethnicity: str) -> str:
    """A surname typical of ``ethnicity`` (a key of SURNAMES_BY_ETHNICITY) in this area."""
    try:
        pool = _SURNAME_POOLS[ethnicity]
    except KeyError:
        raise ValueError(f"no surnames for ethnicity {ethnicity!r}") from None
    return pool.pick(rng)


def pick_given_name(rng: random.Random, sex: str, generation_char: str | None = None) -> str:
    """A child's given name: two characters about 75 % of the time, otherwise one.

    With ``generation_char`` the name is always that character plus one more, so siblings share
    it. ``sex`` is 男/女 or M/F.
    """
    return _compose(rng, _CHILD_POOLS[_is_male(sex)], two_char_share=0.75, first=generation_char)


def adult_given_name(rng: random.Random, sex: str) -> str:
    """A parent's given name in an older style; two characters about 70 % of the time."""
    return _compose(rng, _ADULT_POOLS[_is_male(sex)], two_char_share=0.7)


def pick_full_name(
    rng: random.Random, ethnicity: str, sex: str, generation_char: str | None = None
) -> str:
    """Surname plus child's given name, e.g. for one row of a demo roster."""
    return pick_surname(rng, ethnicity) + pick_given_name(rng, sex, generation_char)
