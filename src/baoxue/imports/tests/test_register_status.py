"""户口状态 on the roster: 迁出 and 死亡 take a child out of the count (with that source);
anything unknown is refused row by row."""

from __future__ import annotations

from datetime import date

from baoxue.imports import pipeline
from baoxue.imports.registry import SOURCES
from baoxue.imports.tests.test_enrollment_import import ctx_for
from baoxue.reconcile import engine
from baoxue.reconcile.models import RunChild
from baoxue.reconcile.services import run_create, run_execute
from baoxue.registry.models import Child
from baoxue.registry.tests.factories import make_id_number

SOURCE = SOURCES["roster"]


def test_moved_away_and_deceased_leave_the_count(world, persona, tmp_path):
    numbers = [make_id_number(date(2014, 5, d), "F") for d in (1, 2, 3, 4)]
    path = tmp_path / "roster.csv"
    lines = ["姓名,公民身份号码,村,户口状态"]
    for name, number, status in zip(
        ["潘一", "潘二", "潘三", "潘四"], numbers, ["正常", "迁出", "死亡", "出国定居"], strict=True
    ):
        lines.append(f"{name},{number},乌岭村,{status}")
    path.write_text("\n".join(lines), encoding="utf-8")
    outcome = pipeline.run(path, SOURCE, ctx_for(world, persona), commit=True)
    assert [(i.row_number, i.code) for i in outcome.issues if i.severity == "error"] == [
        (5, "cell")
    ]
    assert "户口状态" in outcome.issues[0].message or "户口状态" in outcome.issues[0].column
    assert Child.objects.get(name="潘二").moved_away
    assert Child.objects.get(name="潘三").is_deceased
    assert not Child.objects.get(name="潘一").moved_away
    run = run_execute(run_create(actor=persona("office")), today=date(2026, 11, 29))
    got = dict(
        RunChild.objects.filter(run=run, child__name__startswith="潘").values_list(
            "child__name", "basis"
        )
    )
    assert got["潘二"] == "户籍已迁出" and got["潘三"] == "死亡"
    assert RunChild.objects.get(run=run, child__name="潘二").category == engine.GONE
