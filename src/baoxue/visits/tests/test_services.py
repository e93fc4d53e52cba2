"""Home-visit campaigns: targets from the key groups, assignment, visits recorded once however
often they are sent, edits against the version read, coverage, and who sees what."""

from __future__ import annotations

from datetime import date, timedelta
from io import BytesIO

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone
from PIL import Image

from baoxue.core.models import AuditEvent
from baoxue.registry import services as registry
from baoxue.registry.models import Child, Household
from baoxue.visits import selectors, services
from baoxue.visits.models import HomeVisit, VisitCampaign, VisitPhoto, VisitTarget

TODAY = date(2026, 12, 1)


def _campaign(world, persona, groups=("lifted", "disabled", "left_behind"), **kw):
    today = timezone.localdate()
    return services.campaign_create(
        actor=persona("office"),
        township=world.township,
        name="寒假大家访",
        starts_on=today - timedelta(days=1),
        ends_on=today + timedelta(days=30),
        groups=groups,
        **kw,
    )


def _png() -> SimpleUploadedFile:
    out = BytesIO()
    Image.new("RGB", (30, 20), "green").save(out, "PNG")
    return SimpleUploadedFile("家访.png", out.getvalue(), content_type="image/png")


def _visit_data(**extra):
    return {
        "visited_on": timezone.localdate().isoformat(),
        "visitors": "韦老师",
        "people_met": "吴老大（父亲）",
        "subsidies": ["meals", "nonsense"],
        "explained": ["compulsory_law"],
        **extra,
    }


def test_targets_are_households_from_the_key_groups_and_a_child_without_one(world, persona):
    campaign = _campaign(world, persona)
    targets = {t.label: t for t in campaign.targets.all()}
    # 吴俊辉's household (脱贫户), 龙雨欣 (残疾, no household), 石丽 (留守, no household).
    assert set(targets) == {"吴老大", "龙雨欣", "石丽"}
    assert targets["吴老大"].household is not None and targets["吴老大"].groups == ["lifted"]
    assert targets["龙雨欣"].child.name == "龙雨欣" and targets["龙雨欣"].groups == ["disabled"]
    assert targets["吴老大"].school.name == "培秀苗族乡中心小学" and targets["吴老大"].grade == 3
    # Made again (a later import added nobody): nothing new, nothing doubled.
    assert services.targets_generate(campaign) == 0
    assert campaign.targets.count() == 3
    assert AuditEvent.objects.filter(action="visits.campaign_created").count() == 1


def test_one_household_is_one_target_whatever_groups_its_children_are_in(world, persona):
    household = Household.objects.get(head_name="吴老大")
    registry.child_create(
        actor=None,
        name="吴小妹",
        village=world.village_a,
        household=household,
        birth_date=date(2014, 3, 3),
        sex="F",
        has_disability=True,
    )
    campaign = _campaign(world, persona)
    target = campaign.targets.get(household=household)
    assert target.groups == ["disabled", "lifted"]
    assert campaign.targets.filter(household=household).count() == 1
    names = [c.name for c in services.household_children(target)]
    assert names == ["吴小妹", "吴俊辉"]  # the household's school-age children, oldest first


def test_only_the_township_office_runs_a_campaign_and_bad_input_is_told(world, persona):
    today = timezone.localdate()
    with pytest.raises(PermissionDenied):
        services.campaign_create(
            actor=persona("village_a"),
            township=world.township,
            name="x",
            starts_on=today,
            ends_on=today,
            groups=["lifted"],
        )
    _campaign(world, persona, groups=["lifted"])  # a valid one
    with pytest.raises(ValidationError, match="结束日期"):
        services.campaign_create(
            actor=persona("office"),
            township=world.township,
            name="x",
            starts_on=today,
            ends_on=today - timedelta(days=1),
            groups=["lifted"],
        )
    with pytest.raises(ValidationError, match="走访的对象"):
        _campaign(world, persona, groups=["nonsense"])
    assert VisitCampaign.objects.count() == 1


def test_a_verification_campaign_is_the_to_verify_list_alone(world, persona):
    campaign = _campaign(world, persona, kind=VisitCampaign.Kind.VERIFY)
    assert campaign.groups == ["to_verify"]
    assert campaign.targets.count() == 0  # no 比对 yet: nobody to verify


def test_assignment_by_village_and_by_class_keeps_earlier_assignments(world, persona):
    campaign = _campaign(world, persona)
    teacher, cadre = persona("teacher_x"), persona("outsider")  # outsider: 高岜村's cadre
    n = services.targets_assign(
        actor=persona("office"),
        campaign=campaign,
        visitor=teacher,
        school_id=world.school_x.pk,
        grade=3,
        class_name="1班",
    )
    assert n == 1
    # The whole of 高岜村 to its cadre; 吴老大's household (乌岭村) is not touched.
    assert (
        services.targets_assign(
            actor=persona("office"), campaign=campaign, visitor=cadre, village_id=world.village_b.pk
        )
        == 1
    )
    assert campaign.targets.get(label="吴老大").visitor == teacher
    # Sending someone to targets already assigned changes nothing unless asked to.
    assert (
        services.targets_assign(
            actor=persona("office"), campaign=campaign, visitor=cadre, school_id=world.school_x.pk
        )
        == 0
    )
    with pytest.raises(PermissionDenied):
        services.targets_assign(
            actor=teacher, campaign=campaign, visitor=teacher, village_id=world.village_a.pk
        )
    with pytest.raises(ValidationError):
        services.targets_assign(actor=persona("office"), campaign=campaign, visitor=teacher)


def _assigned(world, persona, visitor="teacher_x"):
    campaign = _campaign(world, persona)
    target = campaign.targets.get(label="吴老大")
    services.targets_assign(
        actor=persona("office"), campaign=campaign, visitor=persona(visitor), target_ids=[target.pk]
    )
    target.refresh_from_db()
    return target


def test_a_visit_sent_twice_is_recorded_once(world, persona):
    target = _assigned(world, persona)
    teacher = persona("teacher_x")
    child = Child.objects.get(name="吴俊辉")
    rows = [{"child": child.pk, "seen": True, "status": "in_school"}]
    visit, created = services.visit_record(
        actor=teacher,
        target=target,
        client_id="phone-1",
        data=_visit_data(),
        children=rows,
        photos=[_png()],
    )
    again, created_again = services.visit_record(
        actor=teacher,
        target=target,
        client_id="phone-1",
        data=_visit_data(),
        children=rows,
        photos=[_png()],
    )
    assert created and not created_again and again.pk == visit.pk
    assert HomeVisit.objects.count() == 1 and VisitPhoto.objects.count() == 1
    assert visit.subsidies == ["meals"]  # what is not a choice is not kept
    target.refresh_from_db()
    assert target.status == VisitTarget.Status.VISITED and target.visited_at is not None
    photo = VisitPhoto.objects.get()
    assert (
        photo.file.name.startswith(f"visits/{visit.public_id}/") and "家访" not in photo.file.name
    )


def test_only_the_visitor_or_the_office_records_and_only_the_household_s_children(world, persona):
    target = _assigned(world, persona)
    with pytest.raises(PermissionDenied):
        services.visit_record(
            actor=persona("village_a"),
            target=target,
            client_id="x",
            data=_visit_data(),
            children=[],
        )
    stranger = Child.objects.get(name="石丽")
    with pytest.raises(ValidationError, match="不属于这户"):
        services.visit_record(
            actor=persona("teacher_x"),
            target=target,
            client_id="y",
            data=_visit_data(),
            children=[{"child": stranger.pk, "status": "at_home"}],
            photos=[_png()],
        )
    assert HomeVisit.objects.count() == 0 and VisitPhoto.objects.count() == 0
    # The office enters a paper form.
    visit, created = services.visit_record(
        actor=persona("office"),
        target=target,
        client_id="paper-1",
        data=_visit_data(),
        children=[],
    )
    assert created and visit.recorded_by.username == "office"


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("visited_on", "2026-13-01", "走访日期"),
        ("visited_on", (date.today() + timedelta(days=3)).isoformat(), "晚于今天"),
        ("visitors", " ", "走访人员"),
        ("follow_up_by", "下周", "跟进日期"),
    ],
)
def test_a_bad_form_is_told_in_words_and_saves_nothing(world, persona, field, value, message):
    target = _assigned(world, persona)
    with pytest.raises(ValidationError, match=message):
        services.visit_record(
            actor=persona("teacher_x"),
            target=target,
            client_id="z",
            data=_visit_data(**{field: value}),
            children=[],
        )
    assert HomeVisit.objects.count() == 0
    target.refresh_from_db()
    assert target.status == VisitTarget.Status.OPEN


def test_an_edit_made_elsewhere_meanwhile_is_a_conflict_not_an_overwrite(world, persona):
    target = _assigned(world, persona)
    teacher = persona("teacher_x")
    visit, _ = services.visit_record(
        actor=teacher, target=target, client_id="a", data=_visit_data(), children=[]
    )
    first = services.visit_update(
        actor=persona("office"),
        visit=visit,
        version=1,
        data=_visit_data(problems="父亲外出务工"),
        children=[],
    )
    assert first.version == 2
    with pytest.raises(services.Conflict):
        services.visit_update(
            actor=teacher, visit=visit, version=1, data=_visit_data(problems="无"), children=[]
        )
    visit.refresh_from_db()
    assert visit.problems == "父亲外出务工"


def test_a_number_typed_into_the_form_is_kept_masked(world, persona):
    target = _assigned(world, persona)
    number = Child.objects.get(name="吴俊辉").id_number
    visit, _ = services.visit_record(
        actor=persona("teacher_x"),
        target=target,
        client_id="m",
        data=_visit_data(problems=f"孩子身份证 {number} 登记有误"),
        children=[],
    )
    assert number not in visit.problems and number[:6] in visit.problems


def test_coverage_counts_by_village_school_and_visitor(world, persona):
    target = _assigned(world, persona)
    campaign = target.campaign
    child = Child.objects.get(name="吴俊辉")
    services.visit_record(
        actor=persona("teacher_x"),
        target=target,
        client_id="c",
        data=_visit_data(),
        children=[{"child": child.pk, "seen": False, "status": "working"}],
    )
    found = selectors.coverage(persona("office"), campaign)
    assert (found.total.targeted, found.total.visited, found.total.problems) == (3, 1, 1)
    village = {c.name: c for c in found.by_village}
    assert (village["乌岭村"].targeted, village["乌岭村"].visited) == (2, 1)
    assert (village["高岜村"].targeted, village["高岜村"].not_visited) == (1, 1)
    visitor = {c.name: c for c in found.by_visitor}
    assert visitor["teacher_x"].visited == 1 and visitor["未分配"].targeted == 2
    # A village cadre counts only the targets of its village.
    mine = selectors.coverage(persona("village_a"), campaign)
    assert mine.total.targeted == 2
    assert [t.label for t in selectors.not_visited(persona("office"), campaign)] == [
        "龙雨欣",
        "石丽",
    ]


def test_a_teacher_sees_her_targets_and_their_families_and_nothing_more(world, persona, client):
    household = Household.objects.get(head_name="吴老大")
    sibling = registry.child_create(
        actor=None,
        name="吴小弟",
        village=world.village_a,
        household=household,
        birth_date=date(2018, 3, 3),
        sex="M",
    )
    target = _assigned(world, persona)
    campaign = target.campaign
    teacher = persona("teacher_x")
    assert [t.pk for t in selectors.my_targets(teacher)] == [target.pk]
    # The sibling is in no class of hers: she opens the page because she is to visit the family.
    client.force_login(teacher)
    url = reverse("registry:child_detail", args=[sibling.public_id])
    assert client.get(url).status_code == 200
    assert AuditEvent.objects.filter(actor=teacher, action="child.viewed_as_named").exists()
    # Another household of the campaign is not hers.
    other = campaign.targets.get(label="石丽")
    assert client.get(reverse("visits:target_detail", args=[other.pk])).status_code == 404
    # Visited, the target is no longer open: the family's pages close again.
    services.visit_record(
        actor=teacher, target=target, client_id="t", data=_visit_data(), children=[]
    )
    assert client.get(url).status_code == 404


def test_a_removed_target_is_kept_and_counts_nowhere(world, persona):
    campaign = _campaign(world, persona)
    target = campaign.targets.get(label="石丽")
    services.target_remove(actor=persona("office"), target=target)
    target.refresh_from_db()
    assert target.status == VisitTarget.Status.REMOVED
    assert selectors.coverage(persona("office"), campaign).total.targeted == 2
    with pytest.raises(ValidationError, match="移出"):
        services.visit_record(
            actor=persona("office"),
            target=target,
            client_id="r",
            data=_visit_data(),
            children=[],
        )
    # Added again by hand, it is the same target, open again.
    again = services.target_add(
        actor=persona("office"), campaign=campaign, child=Child.objects.get(name="石丽")
    )
    assert again.pk == target.pk and again.status == VisitTarget.Status.OPEN


def test_only_accounts_working_in_the_township_may_be_sent(world, persona):
    from baoxue.accounts.models import Role
    from baoxue.accounts.services import Grant, user_create

    stranger = user_create(
        actor=None,
        username="anchui_teacher",
        password="",
        grants=[Grant(Role.TEACHER, school=world.school_z, grade=4)],
        check_password=False,
    )
    campaign = _campaign(world, persona)
    with pytest.raises(ValidationError, match="本乡镇"):
        services.targets_assign(
            actor=persona("office"),
            campaign=campaign,
            visitor=stranger,
            village_id=world.village_a.pk,
        )
    assert not campaign.targets.exclude(visitor=None).exists()
    names = {u.username for u in selectors.visitors(campaign)}
    assert {"office", "village_a", "outsider", "principal_x", "teacher_x"} <= names
    assert not names & {"anchui_teacher", "county", "canlian", "leader", "nobody"}
