"""Every URL with every persona: the status each one must get (pretix's approach).

The walk has two townships of one county: 培秀苗族乡 of the shared test world, and a second one,
良岭苗族乡, built for this module by the demo's own builder with its own office, cadres,
principal and teacher (usernames `t2_…`). Every row about an object is walked with an object of
each township: the other township's people get 404, the county reads both. Every page and
download a township's person opens is also read for the names of the other township's
children, villages and schools, with lists and searches made while both townships have cases,
batches, 比对, exports, discrepancies and audit events.

A new URL must be added here; `test_every_url_is_walked` fails until it is.
"""

from __future__ import annotations

import io
import re
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import pytest
from django.core.cache import cache
from django.db import transaction
from django.test import Client
from django.urls import get_resolver, reverse
from django.utils import timezone

from baoxue.accounts.models import Role, RoleAssignment, User
from baoxue.registry.models import Child, Region, School

# The people of 培秀苗族乡, and their counterparts in the second township.
FIRST_PEOPLE = ("office", "leader", "village_a", "outsider", "principal_x", "teacher_x", "canlian")
COUNTERPART = {
    "t2_office": "office",
    "t2_village_a": "village_a",
    "t2_principal": "principal_x",
    "t2_teacher": "teacher_x",
}
PERSONAS = [
    "anonymous",
    "office",
    "leader",
    "village_a",
    "outsider",
    "principal_x",
    "teacher_x",
    "canlian",
    *COUNTERPART,
    "county",
    "admin",
    "nobody",
]
OFFICES = ("office", "t2_office")
EVERYONE_LOGGED_IN = {p: 200 for p in PERSONAS if p != "anonymous"} | {"anonymous": 302}

SECOND_NAME = "良岭苗族乡"  # invented, like the demo's own township
SECOND_CODE = "450225298"


def only(*allowed: str, other: int = 404) -> dict[str, int]:
    return {p: (200 if p in allowed else 302 if p == "anonymous" else other) for p in PERSONAS}


def alike(expected: dict[str, int]) -> dict[str, int]:
    """A page about no object: the second township's people get what their counterparts get."""
    return expected | {p: expected[q] for p, q in COUNTERPART.items()}


def mirror(expected: dict[str, int]) -> dict[str, int]:
    """`expected` for an object of 培秀苗族乡, turned into the same object of the second
    township: its people get what their counterparts got, 培秀苗族乡's people 404."""
    return (
        expected | {p: 404 for p in FIRST_PEOPLE} | {p: expected[q] for p, q in COUNTERPART.items()}
    )


# -- the world --------------------------------------------------------------------------------


@dataclass
class Side:
    """One township of the walk and the objects its rows are about."""

    township: Region
    office: str  # its office's username
    cadre: str  # the username of its cadre of village A
    village_a: Region  # the village of its cadre and of `child`
    village_b: Region  # another of its villages
    school: School  # its principal's and teacher's school
    other_school: School
    child: Child  # in village_a, at `school` in its teacher's class
    roster_child: Child  # a roster child of village_b
    alias: str  # how the child's 学籍 spells his name


@dataclass
class Walk:
    county: Region
    first: Side
    second: Side
    village_c: Region  # 安陲乡, where neither township's people see anything
    school_z: School
    case_objects: tuple[Any, ...] = field(default=())
    own_pages: dict[int, list[str]] = field(default_factory=dict)


def _build_second_township() -> None:
    """The demo's township builder with a second code, and the two children the rows use
    (named here, so that the rows and the name check do not hang on the demo's random names)."""
    from baoxue.demo.services import demo_create
    from baoxue.registry import services
    from baoxue.registry.tests.factories import make_id_number

    demo_create(
        password="walk-pass-123",
        children=30,
        seed=22,
        township_name=SECOND_NAME,
        township_code=SECOND_CODE,
        username_prefix="t2_",
    )
    township = Region.objects.get(level="township", code=SECOND_CODE + "000")
    cadre = RoleAssignment.objects.get(user__username="t2_village_a", role=Role.VILLAGE)
    teacher = RoleAssignment.objects.get(user__username="t2_teacher", role=Role.TEACHER)
    assert teacher.school is not None and teacher.grade is not None
    taken = set(Child.objects.values_list("name", flat=True))
    assert not taken & {"韦书恒", "韦书衡", "潘青禾"}
    # School age for the teacher's grade: the 比对 counts him as a pupil, not as too young.
    born = date(timezone.localdate().year - 6 - teacher.grade, 3, 8)
    child = services.child_create(
        actor=None,
        name="韦书恒",
        village=cadre.region,
        birth_date=born,
        sex="M",
        id_number=make_id_number(born, "M"),
    )
    services.guardian_add(
        actor=None, child=child, name="韦老二", relation="father", phone="13800000022"
    )
    services.enrollment_create(
        actor=None,
        child=child,
        school=teacher.school,
        grade=teacher.grade,
        class_name=teacher.class_name,
    )
    village_b = Region.objects.get(parent=township, code=SECOND_CODE + "002")
    services.child_create(
        actor=None, name="潘青禾", village=village_b, birth_date=date(2013, 4, 4), sex="F"
    )


def _walk_ids() -> dict[str, int]:
    """The primary keys of what the rows are about, read once for the module."""
    first = Region.objects.get(code="450225212000")
    second = Region.objects.get(code=SECOND_CODE + "000")
    teacher = RoleAssignment.objects.get(user__username="t2_teacher", role=Role.TEACHER)
    assert teacher.school_id is not None
    other = School.objects.filter(township=second).exclude(pk=teacher.school_id).order_by("code")
    region = {"county": "450225000000", "c": "450225213001"}
    region |= {"1.a": "450225212001", "1.b": "450225212002"}
    region |= {"2.a": SECOND_CODE + "001", "2.b": SECOND_CODE + "002"}
    school = {"1": "2145993101", "1.other": "2145993201", "z": "2145994101"}
    child = {"1": (first, "吴俊辉"), "1.roster": (first, "石丽")}
    child |= {"2": (second, "韦书恒"), "2.roster": (second, "潘青禾")}
    return {
        "region.1": first.pk,
        "region.2": second.pk,
        **{f"region.{k}": Region.objects.get(code=code).pk for k, code in region.items()},
        **{f"school.{k}": School.objects.get(code=code).pk for k, code in school.items()},
        "school.2": teacher.school_id,
        "school.2.other": other.values_list("pk", flat=True)[0],
        **{
            f"child.{k}": Child.objects.get(township=t, name=name).pk
            for k, (t, name) in child.items()
        },
    }


@pytest.fixture(scope="module")
def _second_township(django_db_setup: Any, django_db_blocker: Any) -> Iterator[dict[str, int]]:
    """Built once for this module, inside a transaction rolled back when the module is done:
    no other test sees the second township, and each test here still runs in its own
    (nested) transaction. Gives the primary keys `world` reads."""
    with django_db_blocker.unblock(), transaction.atomic():
        _build_second_township()
        yield _walk_ids()
        transaction.set_rollback(True)
    cache.clear()  # progress keys of rows that no longer exist


@pytest.fixture(scope="module")
def _one_client() -> Client:
    return Client()


@pytest.fixture
def client(_one_client: Client) -> Client:
    """One test client for the module, its cookies cleared for each test: a new client loads
    the middleware again, and WhiteNoise's scan of the static files then is about half of
    what a walked URL costs."""
    _one_client.cookies.clear()
    return _one_client


@pytest.fixture
def world(db: Any, _second_township: dict[str, int]) -> Walk:
    """Both townships' places, schools and children the rows are about (three queries)."""
    ids = _second_township
    regions = Region.objects.in_bulk([v for k, v in ids.items() if k.startswith("region.")])
    schools = School.objects.in_bulk([v for k, v in ids.items() if k.startswith("school.")])
    children = Child.objects.in_bulk([v for k, v in ids.items() if k.startswith("child.")])

    def side(n: str, office: str, cadre: str, alias: str) -> Side:
        return Side(
            township=regions[ids[f"region.{n}"]],
            office=office,
            cadre=cadre,
            village_a=regions[ids[f"region.{n}.a"]],
            village_b=regions[ids[f"region.{n}.b"]],
            school=schools[ids[f"school.{n}"]],
            other_school=schools[ids[f"school.{n}.other"]],
            child=children[ids[f"child.{n}"]],
            roster_child=children[ids[f"child.{n}.roster"]],
            alias=alias,
        )

    return Walk(
        county=regions[ids["region.county"]],
        first=side("1", "office", "village_a", "伍俊辉"),
        second=side("2", "t2_office", "t2_village_a", "韦书衡"),
        village_c=regions[ids["region.c"]],
        school_z=schools[ids["school.z"]],
    )


# -- objects the rows are about, in either township --------------------------------------------


def side_of(world: Any, side: Side | None) -> Side:
    """The township a maker works in: by default 培秀苗族乡, also for the shared test world of
    conftest.py that other modules (audit/tests) pass to these makers."""
    if side is not None:
        return side
    if isinstance(world, Walk):
        return world.first
    return Side(
        township=world.township,
        office="office",
        cadre="village_a",
        village_a=world.village_a,
        village_b=world.village_b,
        school=world.school_x,
        other_school=world.school_y,
        child=world.child("吴俊辉"),
        roster_child=world.child("石丽"),
        alias="伍俊辉",
    )


def make_batch(world: Any, side: Side | None = None) -> list[Any]:
    """An uploaded roster batch of the township's office."""
    from baoxue.imports.services import batch_upload

    side = side_of(world, side)
    content = "姓名,村\n吴一,乌岭村\n".encode()
    batch = batch_upload(
        actor=User.objects.get(username=side.office),
        source="roster",
        handle=io.BytesIO(content),
        filename="roster.csv",
    )
    return [batch.public_id]


BATCH_READERS = ("office", "leader", "county")


def make_run(world: Any, side: Side | None = None) -> list[Any]:
    """A finished reconciliation of the township, started by its office."""
    from baoxue.reconcile.services import run_create, run_execute

    side = side_of(world, side)
    run = run_create(actor=User.objects.get(username=side.office))
    run_execute(run)
    return [run.public_id]


def make_ledger(world: Any, side: Side | None = None) -> list[Any]:
    return [*make_run(world, side), "suspected"]


def make_review(world: Any, side: Side | None = None) -> list[Any]:
    """A pair waiting in the review queue (a roster child and a 学籍-only one)."""
    from baoxue.reconcile.models import MatchReview

    side = side_of(world, side)
    review = MatchReview.objects.create(
        left=side.roster_child, right=side.child, method="name", score=0.8
    )
    return [review.pk]


def make_discrepancy(world: Any, side: Side | None = None) -> list[Any]:
    """The child's 学籍 spells his name otherwise (a discrepancy for his school to settle)."""
    from baoxue.registry.models import Discrepancy

    side = side_of(world, side)
    found = Discrepancy.objects.create(
        child=side.child,
        item="name",
        source="enrollment",
        value=side.alias,
        registry_value=side.child.name,
        registry_source="roster",
    )
    return [found.public_id]


# Who settles 吴俊辉's discrepancies: those who see him and keep his records (not the
# leader, the county or his teacher, who see them).
DISCREPANCY_WORKERS = ("office", "village_a", "principal_x")


def make_merge(world: Any, side: Side | None = None) -> list[Any]:
    """The child's 学籍-only record (under his alias), merged into him by a 比对."""
    from baoxue.reconcile import engine
    from baoxue.reconcile.merges import merges_apply
    from baoxue.registry import services
    from baoxue.registry.models import ChildMerge

    side = side_of(world, side)
    other = services.build_child(name=side.alias, village=side.village_a, on_roster=False)
    other.save()
    merges_apply([engine.Link(side.child.pk, other.pk, engine.NAME, 0.96)], run_id=None)
    return [ChildMerge.objects.get(merged=other).public_id]


# Who sees a township's runs: its office and leader, the county, and the villages and schools
# inside it (their pages show only their own children).
RUN_READERS = ("office", "leader", "village_a", "outsider", "principal_x", "teacher_x", "county")


def make_case(world: Any, side: Side | None = None) -> list[Any]:
    """An open case of the child (village A, the school, the teacher's class), in follow-up,
    with a follow-up due and an attachment."""
    from django.core.files.base import ContentFile

    from baoxue.cases.models import Attachment, Case, FollowUp

    side = side_of(world, side)
    case = Case.objects.create(
        child=side.child,
        kind=Case.Kind.DROPPED_OUT,
        status=Case.Status.FOLLOW_UP,
        township=side.township,
        village=side.village_a,
        school=side.school,
    )
    follow_up = FollowUp.objects.create(case=case, due_on="2026-12-01")
    attachment = Attachment(case=case, name="scan.pdf", content_type="application/pdf", size=9)
    attachment.file.save("scan.pdf", ContentFile(b"%PDF-1.4\n"), save=True)
    world.case_objects = (case, follow_up, attachment)
    return [case.public_id]


def make_follow_up(world: Any, side: Side | None = None) -> list[Any]:
    case_id = make_case(world, side)
    return [*case_id, world.case_objects[1].pk]


def make_attachment(world: Any, side: Side | None = None) -> list[Any]:
    case_id = make_case(world, side)
    return [*case_id, world.case_objects[2].public_id]


def make_notice(world: Any, side: Side | None = None) -> list[Any]:
    return [*make_case(world, side), "return_notice"]


def make_export(world: Any, side: Side | None = None) -> list[Any]:
    """A finished 辍学台账 export of the office (only the office may open it)."""
    from baoxue.cases import exports

    side = side_of(world, side)
    item = exports.export_create(actor=User.objects.get(username=side.office), query="")
    exports.export_run(item.pk)
    return [item.public_id]


def child_of(world: Walk, side: Side) -> list[Any]:
    return [side.child.public_id]


def school_of(world: Walk, side: Side) -> list[Any]:
    return [side.school.public_id]


def village_of(world: Walk, side: Side) -> list[Any]:
    return [side.village_a.pk]


def the_other_follow_up(world: Walk, side: Side) -> list[Any]:
    """The township's own case with the other township's follow-up in the URL."""
    other = world.second if side is world.first else world.first
    make_case(world, other)
    follow_up = world.case_objects[1]
    return [make_case(world, side)[0], follow_up.pk]


def the_other_attachment(world: Walk, side: Side) -> list[Any]:
    """The township's own case with the other township's attachment in the URL."""
    other = world.second if side is world.first else world.first
    make_case(world, other)
    attachment = world.case_objects[2]
    return [make_case(world, side)[0], attachment.public_id]


# -- home visits ---------------------------------------------------------------------------------


def make_campaign(world: Any, side: Side | None = None) -> list[Any]:
    """A home-visit campaign of the township's office, with the child's family as a target."""
    from baoxue.visits import services as visits

    side = side_of(world, side)
    office = User.objects.get(username=side.office)
    today = timezone.localdate()
    campaign = visits.campaign_create(
        actor=office,
        township=side.township,
        name="寒假大家访",
        starts_on=today,
        ends_on=today,
        groups=["lifted", "left_behind", "disabled"],
    )
    target = visits.target_add(actor=office, campaign=campaign, child=side.child)
    world.case_objects = (campaign, target)
    return [campaign.public_id]


def make_target(world: Any, side: Side | None = None) -> list[Any]:
    make_campaign(world, side)
    return [world.case_objects[1].pk]


def make_visit(world: Any, side: Side | None = None) -> list[Any]:
    """A visit to the child's family entered by the office (a paper form), with a photo."""
    from django.core.files.uploadedfile import SimpleUploadedFile

    from baoxue.visits import services as visits

    side = side_of(world, side)
    make_campaign(world, side)
    target = world.case_objects[1]
    visit, _ = visits.visit_record(
        actor=User.objects.get(username=side.office),
        target=target,
        client_id="walk",
        data={"visited_on": timezone.localdate().isoformat(), "visitors": "乡镇办"},
        children=[{"child": side.child.pk, "seen": True, "status": "in_school"}],
        photos=[SimpleUploadedFile("p.png", _PNG, content_type="image/png")],
    )
    world.case_objects = (visit, visit.photos.get())
    return [visit.public_id]


def make_visit_photo(world: Any, side: Side | None = None) -> list[Any]:
    visit_id = make_visit(world, side)
    return [*visit_id, world.case_objects[1].public_id]


def the_other_visit_photo(world: Walk, side: Side) -> list[Any]:
    """The township's own visit with the other township's photo in the URL."""
    other = world.second if side is world.first else world.first
    make_visit(world, other)
    photo = world.case_objects[1]
    return [make_visit(world, side)[0], photo.public_id]


_PNG = (
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x02"
    b"\x00\x00\x00\x90wS\xde\x00\x00\x00\x0cIDATx\x9cc\xf8\x0f\x00\x00\x01\x01\x00"
    b"\x05\x18\xd8N\x00\x00\x00\x00IEND\xaeB`\x82"
)
# Who sees a township's campaigns: everyone working in it but the 残联, and the county.
CAMPAIGN_READERS = (
    "office",
    "leader",
    "village_a",
    "outsider",
    "principal_x",
    "teacher_x",
    "county",
)


# Who sees 吴俊辉's case: the township, its village, its school and class, the county.
CASE_READERS = ("office", "leader", "village_a", "principal_x", "teacher_x", "county")
CASE_WORKERS = ("office", "village_a", "principal_x", "teacher_x")


def case_post(bad_request: int = 400, workers: int | None = None) -> dict[str, int]:
    """A POST with no data: refused with the form's message for those who see the case (the
    workers may get `workers`), 404 for the rest."""
    out = {p: 302 if p == "anonymous" else 404 for p in PERSONAS}
    for p in CASE_READERS:
        out[p] = workers if workers is not None and p in CASE_WORKERS else bad_request
    return out


Make = Callable[[Walk, Side], list[Any]]
Row = tuple[str, Callable[[Walk], list[Any]] | None, str, dict[str, int]]


def both(name: str, make: Make, method: str, expected: dict[str, int]) -> list[Row]:
    """A row about an object, walked with the object of each township: `expected` is for
    培秀苗族乡's object (the second township's people get 404), mirrored for the other's."""

    def first(w: Walk) -> list[Any]:
        return make(w, w.first)

    def second(w: Walk) -> list[Any]:
        return make(w, w.second)

    return [
        (name, first, method, expected | {p: 404 for p in COUNTERPART}),
        (name, second, method, mirror(expected)),
    ]


# (url name, how to build args from the world, method, expected status by persona); a row
# without args is about no object and is walked as `alike` says.
CASES: list[Row] = [
    ("registry:home", None, "get", EVERYONE_LOGGED_IN),
    ("registry:child_list", None, "get", EVERYONE_LOGGED_IN),
    ("registry:duplicates", None, "get", EVERYONE_LOGGED_IN),
    ("registry:school_list", None, "get", EVERYONE_LOGGED_IN),
    ("registry:village_list", None, "get", EVERYONE_LOGGED_IN),
    *both(
        "registry:child_detail",
        child_of,
        "get",
        only("office", "leader", "village_a", "principal_x", "teacher_x", "county"),
    ),
    (
        "registry:child_detail",
        lambda w: [Child.objects.get(name="覃明").public_id],
        "get",
        only("county"),
    ),
    *both(
        "registry:child_reveal_id",
        child_of,
        "post",
        only("office", "leader", "village_a", "principal_x"),
    ),
    *both(
        "registry:school_detail",
        school_of,
        "get",
        only(
            "office",
            "leader",
            "village_a",
            "outsider",
            "principal_x",
            "teacher_x",
            "canlian",
            "county",
        ),
    ),
    ("registry:school_detail", lambda w: [w.school_z.public_id], "get", only("county")),
    *both(
        "registry:village_detail",
        village_of,
        "get",
        only("office", "leader", "village_a", "principal_x", "teacher_x", "canlian", "county"),
    ),
    ("registry:village_detail", lambda w: [w.village_c.pk], "get", only("county")),
    # Merging (the office's): posted without a place to merge into, every one gets 404 (the
    # merges themselves are in registry/tests/test_merging.py).
    *both("registry:village_merge", lambda w, s: [s.village_b.pk], "post", only()),
    *both("registry:school_merge", lambda w, s: [s.other_school.public_id], "post", only()),
    ("registry:discrepancy_list", None, "get", EVERYONE_LOGGED_IN),
    ("registry:discrepancy_export", None, "get", EVERYONE_LOGGED_IN),
    *both(
        "registry:discrepancy_resolve",
        make_discrepancy,
        "post",
        {**only(), **{p: 302 for p in DISCREPANCY_WORKERS}},
    ),
    ("imports:batch_list", None, "get", EVERYONE_LOGGED_IN),
    ("imports:template", lambda w: ["roster"], "get", EVERYONE_LOGGED_IN),
    *both("imports:batch_detail", make_batch, "get", only(*BATCH_READERS)),
    *both("imports:batch_validate", make_batch, "post", {**only(), "office": 302}),
    *both("imports:batch_commit", make_batch, "post", {**only(), "office": 302}),
    *both("imports:batch_cancel", make_batch, "post", {**only(), "office": 302}),
    *both("imports:batch_remap", make_batch, "post", {**only(), "office": 302}),
    *both("imports:batch_villages", make_batch, "post", {**only(), "office": 302}),
    *both("imports:batch_errors", make_batch, "get", only(*BATCH_READERS)),
    ("reconcile:run_list", None, "get", EVERYONE_LOGGED_IN),
    ("reconcile:run_list", None, "post", {**only(other=403), "office": 302}),
    *both("reconcile:run_detail", make_run, "get", only(*RUN_READERS)),
    *both("reconcile:ledger", make_ledger, "get", only(*RUN_READERS)),
    ("reconcile:review_list", None, "get", EVERYONE_LOGGED_IN),
    # The roster child lives in village B: the office decides; others see nothing to decide.
    *both("reconcile:review_decide", make_review, "post", {**only(), "office": 302}),
    # The office undoes a merge; others who see the child are refused (404, logged).
    *both("reconcile:merge_undo", make_merge, "post", {**only(), "office": 302}),
    ("cases:list", None, "get", EVERYONE_LOGGED_IN),
    ("cases:mine", None, "get", EVERYONE_LOGGED_IN),
    ("cases:dashboard", None, "get", EVERYONE_LOGGED_IN),
    ("cases:export", None, "post", {p: 302 for p in PERSONAS}),
    *both("cases:export_detail", make_export, "get", only("office")),
    *both("cases:export_download", make_export, "get", only("office")),
    ("cases:bulk_assign", None, "post", {**only(other=403), "office": 302}),
    ("accounts:password_change", None, "get", EVERYONE_LOGGED_IN),
    ("accounts:totp_setup", None, "get", EVERYONE_LOGGED_IN),
    ("accounts:totp_verify", None, "get", {p: 302 for p in PERSONAS}),
    # 交接: the office's page; a post without accounts shows the page again with the message.
    ("cases:handover", None, "get", only("office")),
    ("cases:handover", None, "post", only("office")),
    # The county is sent back to the child's page with "no right to open a case"
    # (test_the_county_writes_nothing checks that nothing was opened).
    *both("cases:open", child_of, "post", {**only(), **{p: 302 for p in CASE_READERS}}),
    *both("cases:detail", make_case, "get", only(*CASE_READERS)),
    *both("cases:move", make_case, "post", case_post()),
    *both("cases:assign", make_case, "post", case_post()),
    *both("cases:attempt", make_case, "post", case_post()),
    *both("cases:document", make_case, "post", case_post()),
    *both("cases:plan", make_case, "post", case_post(workers=409)),
    *both("cases:follow_up", make_follow_up, "post", case_post()),
    *both("cases:attachment_add", make_case, "post", case_post()),
    *both("cases:attachment", make_attachment, "get", only(*CASE_READERS)),
    *both("cases:notice", make_notice, "get", only(*CASE_READERS)),
    *both("cases:file", make_case, "get", only(*CASE_READERS)),
    # A case's own URL with the other township's follow-up or attachment: not found for all.
    *both("cases:follow_up", the_other_follow_up, "post", case_post(bad_request=404)),
    *both("cases:attachment", the_other_attachment, "get", only()),
    # 家访: campaigns for all who work in the township; organising for its office only.
    ("visits:campaign_list", None, "get", EVERYONE_LOGGED_IN),
    ("visits:campaign_list", None, "post", {**only(other=403), "office": 302}),
    ("visits:mine", None, "get", EVERYONE_LOGGED_IN),
    # The phone's app: its page and list for whoever is logged in (the list: their own targets
    # only), its service worker and the "is my account still on" check for anyone.
    ("visits:app", None, "get", EVERYONE_LOGGED_IN),
    ("visits:offline_mine", None, "get", EVERYONE_LOGGED_IN),
    ("visits:service_worker", None, "get", {p: 200 for p in PERSONAS}),
    ("visits:offline_device", None, "get", {p: 200 for p in PERSONAS}),
    *both("visits:campaign_detail", make_campaign, "get", only(*CAMPAIGN_READERS)),
    *both("visits:campaign_assign", make_campaign, "post", {**only(), "office": 302}),
    *both("visits:not_visited", make_campaign, "get", only(*CAMPAIGN_READERS)),
    *both("visits:ledger", make_campaign, "get", only(*CAMPAIGN_READERS)),
    *both("visits:print", make_campaign, "get", only(*CAMPAIGN_READERS)),
    *both("visits:target_detail", make_target, "get", only(*CASE_READERS)),
    *both("visits:visit_record", make_target, "post", {**only(), "office": 302}),
    *both("visits:target_remove", make_target, "post", {**only(), "office": 302}),
    *both("visits:visit_detail", make_visit, "get", only(*CASE_READERS)),
    *both("visits:visit_docx", make_visit, "get", only(*CASE_READERS)),
    *both("visits:visit_edit", make_visit, "post", {**only(), "office": 302}),
    *both("visits:visit_photo", make_visit_photo, "get", only(*CASE_READERS)),
    *both("visits:visit_photo", the_other_visit_photo, "get", only()),
    # 访问记录: the township office, the county and the admin; 404 for the rest (logged).
    ("audit:list", None, "get", only("office", "county", "admin")),
    ("audit:export", None, "get", only("office", "county", "admin")),
    ("registry:start", None, "get", {**only(other=302), "anonymous": 302}),
    ("admin:index", None, "get", only("admin", other=302)),
    ("healthz", None, "get", {p: 200 for p in PERSONAS}),
    (
        "accounts:login",
        None,
        "get",
        {p: (200 if p == "anonymous" else 302) for p in PERSONAS},
    ),
    ("accounts:logout", None, "post", {p: 302 for p in PERSONAS}),
    ("set_language", None, "post", {p: 302 for p in PERSONAS}),
]

PARAMS = [
    pytest.param(
        name,
        args,
        method,
        persona,
        (alike(expected) if args is None else expected)[persona],
        id=f"{name}-{i}-{persona}",
    )
    for i, (name, args, method, expected) in enumerate(CASES)
    for persona in PERSONAS
]


# -- what a page may name ---------------------------------------------------------------------


def body_text(response: Any) -> str:
    """The text of a page or a download (xlsx and docx are zipped XML; their tags are dropped,
    so that a name Word split over two runs is read whole)."""
    raw = b"".join(response.streaming_content) if response.streaming else response.content
    if raw[:2] == b"PK":
        with zipfile.ZipFile(io.BytesIO(raw)) as packed:
            xml = "".join(
                packed.read(n).decode("utf-8", "ignore")
                for n in packed.namelist()
                if n.endswith(".xml")
            )
        return re.sub(r"<[^>]*>", "", xml)
    return raw.decode("utf-8", "ignore")


def township_of(world: Walk, persona_name: str) -> Region | None:
    if persona_name in FIRST_PEOPLE:
        return world.first.township
    if persona_name in COUNTERPART:
        return world.second.township
    return None


def foreign_words(world: Walk, persona_name: str) -> set[str]:
    """The names of the children, townships, villages and schools outside the persona's
    township that nothing of its own shares (nor holds inside a longer name): none may appear
    on a page it opens. For `nobody`, every child's and place's name below the county."""
    home = township_of(world, persona_name)
    home_id = home.pk if home is not None else None
    own, foreign = set(), set()
    rows = [
        *Child.objects.values_list("name", "township_id"),
        *School.objects.values_list("name", "township_id"),
        *Region.objects.filter(level="village").values_list("name", "parent_id"),
        *Region.objects.filter(level="township").values_list("name", "pk"),
    ]
    for name, township_id in rows:
        (own if township_id == home_id else foreign).add(name)
    return {n for n in foreign if not any(n in m for m in own)}


def assert_names_no_stranger(world: Walk, persona_name: str, response: Any, url: str) -> None:
    if persona_name not in (*FIRST_PEOPLE, *COUNTERPART, "nobody"):
        return  # the county, the admin and the anonymous are not one township's people
    text = body_text(response)
    shown = sorted(n for n in foreign_words(world, persona_name) if n in text)
    assert not shown, f"{url} shows {persona_name} names of another township: {shown}"


# -- the walk ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "args", "method", "persona_name", "status"), PARAMS)
def test_url_status(world, client, persona, name, args, method, persona_name, status):
    if persona_name != "anonymous":
        client.force_login(persona(persona_name))
    url = reverse(name, args=args(world) if args else None)
    response = getattr(client, method)(url, {"language": "zh-hans"} if method == "post" else {})
    assert response.status_code == status
    # The blank import templates are the same for everyone; their example row is 吴俊辉.
    if status == 200 and name != "imports:template":
        assert_names_no_stranger(world, persona_name, response, url)


def test_every_url_is_walked():
    walked = {name for name, *_ in CASES}
    ours = set()
    for pattern in get_resolver().url_patterns:
        namespace = getattr(pattern, "namespace", None)
        if namespace in {"registry", "accounts", "imports", "reconcile", "cases", "audit"}:
            ours |= {f"{namespace}:{p.name}" for p in pattern.url_patterns if p.name}
    missing = ours - walked
    assert not missing, f"add these URLs to CASES: {sorted(missing)}"


def test_every_object_url_is_walked_in_both_townships():
    """A row about an object of one township only would not show the other township's people
    being kept out of it."""
    by_name: dict[str, int] = {}
    for name, args, *_ in CASES:
        if args is not None:
            by_name[name] = by_name.get(name, 0) + 1
    single = {"registry:child_detail", "registry:school_detail", "registry:village_detail"}
    lonely = {n for n, count in by_name.items() if count < 2 and n not in single}
    assert lonely <= {"imports:template"}, f"walk these with both townships: {sorted(lonely)}"


# -- lists with both townships' objects in them -----------------------------------------------


@pytest.fixture
def both_townships_at_work(world: Walk) -> Walk:
    """Each township with a case, a batch, a 比对, an export, a discrepancy and a pair to
    review (their own pages kept in `world.own_pages`); its office has opened and revealed its
    child's record, the county both, and its cadre has tried the other township's child and
    case (refused and logged)."""
    from baoxue.cases.models import Case
    from baoxue.reconcile import ledgers

    for side in (world.first, world.second):
        case = make_case(world, side)
        batch = make_batch(world, side)
        run = make_run(world, side)
        export = make_export(world, side)
        make_discrepancy(world, side)
        make_review(world, side)
        world.own_pages[side.township.pk] = [
            reverse("cases:detail", args=case),
            reverse("cases:file", args=case),
            reverse("imports:batch_detail", args=batch),
            reverse("imports:batch_errors", args=batch),
            reverse("reconcile:run_detail", args=run),
            *(reverse("reconcile:ledger", args=[*run, kind]) for kind in ledgers.KINDS),
            reverse("cases:export_detail", args=export),
            reverse("cases:export_download", args=export),
        ]
        office = Client()
        office.force_login(User.objects.get(username=side.office))
        detail = reverse("registry:child_detail", args=child_of(world, side))
        assert office.get(detail).status_code == 200
        office.post(reverse("registry:child_reveal_id", args=child_of(world, side)))
        county = Client()
        county.force_login(User.objects.get(username="county"))
        assert county.get(detail).status_code == 200
    for side, other in ((world.first, world.second), (world.second, world.first)):
        cadre = Client()
        cadre.force_login(User.objects.get(username=side.cadre))
        other_child = reverse("registry:child_detail", args=[other.child.public_id])
        assert cadre.get(other_child).status_code == 404
        other_case = Case.objects.get(child=other.child)
        assert cadre.get(reverse("cases:detail", args=[other_case.public_id])).status_code == 404
    return world


def list_urls(world: Walk, stranger: Side) -> list[str]:
    """Every page about no object, and the lists asked for the other township's child,
    village and school (by pinyin, part of the name or id: a page repeats what was asked, so
    the child's whole name is never typed)."""
    from baoxue.core.text import pinyin_keys

    urls = [
        reverse(name)
        for name, args, method, _ in CASES
        if args is None
        and method == "get"
        and name.split(":")[0] not in {"accounts", "admin"}
        and name not in {"registry:start", "healthz"}
    ]
    child, village, school = stranger.child, stranger.village_a, stranger.school
    part = child.name[1:]
    return [
        *urls,
        f"{reverse('registry:child_list')}?q={pinyin_keys(child.name)[0]}",
        f"{reverse('registry:child_list')}?village={village.pk}&school={school.pk}",
        f"{reverse('registry:discrepancy_list')}?q={part}&status=",
        f"{reverse('registry:discrepancy_export')}?q={part}&status=",
        f"{reverse('cases:list')}?village={village.pk}",
        f"{reverse('cases:list')}?school={school.pk}",
        f"{reverse('audit:list')}?object={child.public_id}",
        f"{reverse('audit:export')}?object={child.public_id}",
    ]


@pytest.mark.parametrize("persona_name", [*FIRST_PEOPLE, *COUNTERPART, "nobody"])
def test_lists_name_no_child_of_the_other_township(
    both_townships_at_work, client, persona, persona_name
):
    world = both_townships_at_work
    stranger = world.first if persona_name in COUNTERPART else world.second
    home = township_of(world, persona_name)
    own_pages = world.own_pages[home.pk] if home is not None else []
    client.force_login(persona(persona_name))
    for url in [*list_urls(world, stranger), *own_pages]:
        response = client.get(url)
        # The office opens all of its own pages; others some (404 for the rest).
        assert response.status_code in ({200} if persona_name in OFFICES else {200, 404}), url
        if response.status_code == 200:
            assert_names_no_stranger(world, persona_name, response, url)


# -- the county reads --------------------------------------------------------------------------


def test_the_county_reads_both_townships(both_townships_at_work, client, persona):
    world = both_townships_at_work
    client.force_login(persona("county"))
    for side in (world.first, world.second):
        for url in (
            reverse("registry:child_list"),
            reverse("cases:list"),
            reverse("registry:discrepancy_list"),
        ):
            assert side.child.name in client.get(url).content.decode(), url


def test_the_county_writes_nothing(both_townships_at_work, client, persona):
    """The inspector reads everywhere below it and works nowhere: with well-formed data, no
    case is opened, moved, assigned or recorded, and no import, 比对 or decision is made."""
    from baoxue.cases.models import (
        Attachment,
        Case,
        CaseEvent,
        EscalationDocument,
        FollowUp,
        Responsibility,
        ReturnAttempt,
    )
    from baoxue.imports.models import ImportBatch
    from baoxue.reconcile.models import MatchReview, ReconciliationRun
    from baoxue.registry.models import Discrepancy

    world = both_townships_at_work
    models = (
        Attachment,
        Case,
        CaseEvent,
        EscalationDocument,
        FollowUp,
        Responsibility,
        ReturnAttempt,
        ImportBatch,
        MatchReview,
        ReconciliationRun,
        Discrepancy,
    )

    def state() -> list[Any]:
        return [
            *(m.objects.count() for m in models),
            sorted(Case.objects.values_list("pk", "status", "version")),
            sorted(Discrepancy.objects.values_list("pk", "status")),
            sorted(MatchReview.objects.values_list("pk", "status")),
            sorted(ImportBatch.objects.values_list("pk", "status")),
        ]

    before = state()
    client.force_login(persona("county"))
    for side in (world.first, world.second):
        case = Case.objects.get(child=side.child)
        path = case.public_id
        for name, data in (
            ("cases:move", {"to": "closed", "waiver": "已稳定上学", "version": case.version}),
            ("cases:move", {"to": "dismissed", "reason": "enrolled_elsewhere"}),
            ("cases:assign", {"line": "government", "level": 2, "name": "县督学 韦某"}),
            (
                "cases:attempt",
                {
                    "method": "home_visit",
                    "result": "considering",
                    "people": "县督学",
                    "met": "家长",
                    "said": "同意返校",
                    "attempted_on": "2026-01-05",
                },
            ),
            ("cases:document", {"kind": "notice", "issuer": "县教育局", "issued_on": "2026-01-05"}),
        ):
            response = client.post(reverse(name, args=[path]), data)
            assert response.status_code in {400, 403, 404, 409}, (name, response.status_code)
        client.post(reverse("cases:open", args=[side.roster_child.public_id]), {"note": "未到校"})
        discrepancy = Discrepancy.objects.get(child=side.child)
        response = client.post(
            reverse("registry:discrepancy_resolve", args=[discrepancy.public_id]),
            {"resolution": "registry", "note": "x"},
        )
        assert response.status_code == 404
        review = MatchReview.objects.get(left=side.roster_child)
        response = client.post(
            reverse("reconcile:review_decide", args=[review.pk]), {"decision": "confirmed"}
        )
        assert response.status_code == 404
        response = client.post(reverse("reconcile:run_list"), {"area": side.township.pk})
        assert response.status_code == 403
    assert state() == before


def test_no_office_writes_into_the_other_township(both_townships_at_work, persona):
    """Well-formed posts that name the other township's case, person, village or school:
    refused, and nothing of the other township changes."""
    from baoxue.cases.models import Case, Responsibility
    from baoxue.reconcile.models import ReconciliationRun

    world = both_townships_at_work
    for side, other in ((world.first, world.second), (world.second, world.first)):
        client = Client()
        client.force_login(persona(side.office))
        own_case = Case.objects.get(child=side.child)
        other_case = Case.objects.get(child=other.child)
        stranger = User.objects.get(
            username="village_a" if other is world.first else "t2_village_a"
        )
        children = Child.objects.filter(township=other.township)
        before = (
            sorted(Responsibility.objects.values_list("pk", "case_id", "user_id", "ended_at")),
            sorted(children.values_list("pk", "village_id", "current_school_id")),
            ReconciliationRun.objects.filter(area=other.township).count(),
            stranger.is_active,
        )
        assign = {"line": "government", "level": 3, "user": stranger.pk, "name": "x"}
        response = client.post(reverse("cases:assign", args=[own_case.public_id]), assign)
        assert response.status_code == 400
        response = client.post(
            reverse("cases:bulk_assign"), {**assign, "case": [other_case.public_id]}
        )
        assert response.status_code == 302
        response = client.post(
            reverse("cases:bulk_assign"), {**assign, "case": [own_case.public_id]}
        )
        assert response.status_code == 302
        response = client.post(
            reverse("cases:handover"),
            {"departing": stranger.pk, "user": persona(side.office).pk, "deactivate": "1"},
        )
        assert response.status_code == 200
        response = client.post(
            reverse("registry:village_merge", args=[side.village_b.pk]),
            {"into": other.village_a.pk},
        )
        assert response.status_code == 404
        response = client.post(
            reverse("registry:school_merge", args=[side.other_school.public_id]),
            {"into": other.school.public_id},
        )
        assert response.status_code == 404
        client.post(reverse("reconcile:run_list"), {"area": other.township.pk})
        stranger.refresh_from_db()
        after = (
            sorted(Responsibility.objects.values_list("pk", "case_id", "user_id", "ended_at")),
            sorted(children.values_list("pk", "village_id", "current_school_id")),
            ReconciliationRun.objects.filter(area=other.township).count(),
            stranger.is_active,
        )
        assert after == before
