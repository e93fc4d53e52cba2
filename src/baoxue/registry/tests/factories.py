"""Factories that go through the services, so test data has the same derived columns
(scope columns, ID hashes, pinyin keys) as real data."""

from __future__ import annotations

import itertools
from datetime import date
from typing import Any

import factory

from baoxue.core import idnumbers
from baoxue.registry import services
from baoxue.registry.models import Child, Region, School

_seq = itertools.count(1)


def make_id_number(birth: date, sex: str = "M", region6: str = "450225") -> str:
    n = next(_seq) % 500
    seq = n * 2 + (1 if sex == "M" else 0)
    first17 = f"{region6}{birth:%Y%m%d}{seq:03d}"
    return first17 + idnumbers.check_character(first17)


class RegionFactory(factory.Factory):
    class Meta:
        model = Region

    name = factory.Sequence(lambda n: f"区划{n}")
    level = "county"
    parent = None
    code = ""

    @classmethod
    def _create(cls, model_class: type, *args: Any, **kwargs: Any) -> Region:
        return services.region_create(**kwargs)


class SchoolFactory(factory.Factory):
    class Meta:
        model = School

    name = factory.Sequence(lambda n: f"第{n}小学")
    kind = School.Kind.PRIMARY
    region: Any = None
    code = ""
    lowest_grade = 1
    highest_grade = 6

    @classmethod
    def _create(cls, model_class: type, *args: Any, **kwargs: Any) -> School:
        return services.school_create(**kwargs)


class ChildFactory(factory.Factory):
    class Meta:
        model = Child

    name = factory.Sequence(lambda n: f"吴测{n}")
    village: Any = None
    birth_date = date(2015, 3, 14)
    sex = "M"
    id_number = factory.LazyAttribute(lambda o: make_id_number(o.birth_date, o.sex))

    @classmethod
    def _create(cls, model_class: type, *args: Any, **kwargs: Any) -> Child:
        return services.child_create(actor=None, **kwargs)
