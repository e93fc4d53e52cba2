"""The two national programmes (spring 2024 base, DESIGN.md §3); deployments adjust the amounts
in the admin when the standard changes."""

from decimal import Decimal

from django.db import migrations

PROGRAMS = [
    {
        "code": "boarding",
        "name": "家庭经济困难寄宿生生活补助",
        "aliases": "寄宿生生活补助、生活补助、寄宿生补助、"
        "义务教育家庭经济困难寄宿生生活补助、家庭经济困难学生生活补助",
        "unit": "per_year",
        "amount_primary": Decimal("1250"),
        "amount_junior": Decimal("1500"),
        "is_in_kind": False,
    },
    {
        "code": "nutrition",
        "name": "农村义务教育学生营养改善计划",
        "aliases": "营养餐、营养改善计划、学生营养改善计划、营养膳食补助、营养午餐",
        "unit": "per_school_day",
        "amount_primary": Decimal("5"),
        "amount_junior": Decimal("5"),
        "is_in_kind": True,
    },
]


def seed(apps, schema_editor):
    SubsidyProgram = apps.get_model("subsidies", "SubsidyProgram")
    for program in PROGRAMS:
        values = dict(program)
        SubsidyProgram.objects.get_or_create(code=values.pop("code"), defaults=values)


def unseed(apps, schema_editor):
    SubsidyProgram = apps.get_model("subsidies", "SubsidyProgram")
    SubsidyProgram.objects.filter(
        code__in=[p["code"] for p in PROGRAMS], subsidies__isnull=True
    ).delete()


class Migration(migrations.Migration):
    dependencies = [("subsidies", "0001_initial")]

    operations = [migrations.RunPython(seed, unseed)]
