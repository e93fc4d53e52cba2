"""The demo township: realistic shares, one account per role, scopes that hold."""

from __future__ import annotations

from collections import Counter

import pytest

from baoxue.accounts.models import Role, User
from baoxue.demo.services import demo_create
from baoxue.registry.models import Child, Enrollment, Household, Region, School


@pytest.fixture
def demo(db):
    # The shared test world already holds 培秀苗族乡; the demo gets a township of its own in the
    # same county.
    return demo_create(
        password="demo-pass",
        children=600,
        seed=2025,
        township_name="演示苗族乡",
        township_code="450225299",
        username_prefix="demo_",
    )


def test_places_and_schools(demo):
    township = Region.objects.get(level="township", code="450225299000")
    villages = Region.objects.filter(parent=township, level="village")
    assert villages.count() == 12
    assert all(len(v.code) == 12 for v in villages)
    assert Region.objects.filter(level="group", parent__in=villages).count() >= 48
    kinds = Counter(School.objects.filter(township=township).values_list("kind", flat=True))
    assert kinds == {"primary": 5, "teaching_point": 2, "junior": 1}


def test_children_have_realistic_variety(demo):
    children = Child.objects.filter(township__code="450225299000", on_roster=True)
    assert children.count() == 600
    statuses = Counter(children.values_list("id_status", flat=True))
    assert statuses["valid"] > 480
    assert statuses["upgraded"] > 0 and statuses["bad_checksum"] > 0 and statuses["empty"] > 0
    names = Counter(children.values_list("name", flat=True))
    assert any(n > 1 for n in names.values())  # shared full names, as in real villages
    ethnicities = Counter(children.values_list("ethnicity", flat=True))
    assert ethnicities.most_common(1)[0][0] == "苗族"
    assert Household.objects.filter(is_lifted_from_poverty=True, township__code="450225299000")
    assert children.filter(has_disability=True).exists() or children.count() < 200
    in_school = children.filter(school_status="in_school").count()
    assert 0.7 * children.count() < in_school < children.count()
    # Every in-school child's columns agree with a current enrollment at that school.
    sample = children.filter(school_status="in_school")[:50]
    for child in sample:
        enrollment = Enrollment.objects.get(child=child, is_current=True)
        assert (enrollment.school_id, enrollment.grade) == (
            child.current_school_id,
            child.current_grade,
        )
        assert enrollment.school.lowest_grade <= enrollment.grade <= enrollment.school.highest_grade


def test_one_account_per_role(demo):
    roles = {a.role_label for a in demo}
    assert len(demo) == 9
    assert {str(r.label) for r in Role} <= roles
    assert User.objects.get(username="demo_admin").is_superuser
    village_a = User.objects.get(username="demo_village_a")
    visible = Child.objects.visible_to(village_a)
    assert visible.exists()
    assert set(visible.values_list("village__name", flat=True)) == {"乌岭村"}
    teacher = User.objects.get(username="demo_teacher")
    classes = set(Child.objects.visible_to(teacher).values_list("current_grade", "current_class"))
    assert len(classes) == 1


def test_a_shared_id_number_is_planted(demo):
    from django.db.models import Count

    shared = (
        Child.objects.filter(township__code="450225299000")
        .exclude(id_number_hash="")
        .values("id_number_hash")
        .annotate(n=Count("id"))
        .filter(n__gt=1)
    )
    assert shared.count() >= 1


def test_the_demo_has_a_first_comparison_with_something_to_do(demo):
    from baoxue.cases.models import Case
    from baoxue.reconcile import engine
    from baoxue.reconcile.models import ReconciliationRun, RunChild

    run = ReconciliationRun.objects.get(area__code="450225299000")
    assert run.status == "done" and run.started_by.username == "demo_office"
    assert run.counts[engine.SUSPECTED] >= 3 and run.counts[engine.TO_VERIFY] > 0
    # The 学籍-only records are linked back to their roster children, not counted twice.
    assert run.links.get(engine.ID_REPAIR, 0) + run.links.get(engine.NAME, 0) >= 2
    assert not RunChild.objects.filter(run=run, child__on_roster=False, category="in_school")
    assert Case.objects.filter(source_run=run).count() == (
        run.counts[engine.SUSPECTED] + run.counts[engine.TO_VERIFY]
    )
