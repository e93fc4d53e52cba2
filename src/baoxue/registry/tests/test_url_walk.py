"""Every URL with every persona: the status each one must get (pretix's approach).

A new URL must be added here; `test_every_url_is_walked` fails until it is.
"""

from __future__ import annotations

import pytest
from django.urls import get_resolver, reverse

PERSONAS = [
    "anonymous",
    "office",
    "leader",
    "village_a",
    "outsider",
    "principal_x",
    "teacher_x",
    "canlian",
    "county",
    "admin",
    "nobody",
]
EVERYONE_LOGGED_IN = {p: 200 for p in PERSONAS if p != "anonymous"} | {"anonymous": 302}


def only(*allowed: str, other: int = 404) -> dict[str, int]:
    return {p: (200 if p in allowed else 302 if p == "anonymous" else other) for p in PERSONAS}


def make_batch(world):
    """An uploaded roster batch of the office of 培秀苗族乡."""
    import io

    from baoxue.accounts.models import User
    from baoxue.imports.services import batch_upload

    content = "姓名,村\n吴一,乌岭村\n".encode()
    batch = batch_upload(
        actor=User.objects.get(username="office"),
        source="roster",
        handle=io.BytesIO(content),
        filename="roster.csv",
    )
    return [batch.public_id]


BATCH_READERS = ("office", "leader", "county")


def make_run(world):
    """A finished reconciliation of 培秀苗族乡, started by its office."""
    from baoxue.accounts.models import User
    from baoxue.reconcile.services import run_create, run_execute

    run = run_create(actor=User.objects.get(username="office"))
    run_execute(run)
    return [run.public_id]


def make_review(world):
    """A pair waiting in the review queue (a roster child and a 学籍-only one)."""
    from baoxue.reconcile.models import MatchReview

    left = world.child("石丽")
    right = world.child("吴俊辉")
    return [MatchReview.objects.create(left=left, right=right, method="name", score=0.8).pk]


def make_discrepancy(world):
    """吴俊辉's 学籍 gives his name as 伍俊辉 (a discrepancy for his school to settle)."""
    from baoxue.registry.models import Discrepancy

    found = Discrepancy.objects.create(
        child=world.child("吴俊辉"),
        item="name",
        source="enrollment",
        value="伍俊辉",
        registry_value="吴俊辉",
        registry_source="roster",
    )
    return [found.public_id]


# Who settles 吴俊辉's discrepancies: those who see him and keep his records (not the
# leader, the county or his teacher, who see them).
DISCREPANCY_WORKERS = ("office", "village_a", "principal_x")


def make_merge(world):
    """吴俊辉's 学籍-only record (伍俊辉), merged into him by a 比对."""
    from baoxue.reconcile import engine
    from baoxue.reconcile.merges import merges_apply
    from baoxue.registry import services
    from baoxue.registry.models import ChildMerge

    wu = world.child("吴俊辉")
    other = services.build_child(name="伍俊辉", village=world.village_a, on_roster=False)
    other.save()
    merges_apply([engine.Link(wu.pk, other.pk, engine.NAME, 0.96)], run_id=None)
    return [ChildMerge.objects.get(merged=other).public_id]


# Who sees a township's runs: its office and leader, the county, and the villages and schools
# inside it (their pages show only their own children).
RUN_READERS = ("office", "leader", "village_a", "outsider", "principal_x", "teacher_x", "county")


def make_case(world):
    """An open case of 吴俊辉 (乌岭村, school X, grade 3 class 1班), in follow-up, with a
    follow-up due and an attachment."""
    from django.core.files.base import ContentFile

    from baoxue.cases.models import Attachment, Case, FollowUp

    case = Case.objects.create(
        child=world.child("吴俊辉"),
        kind=Case.Kind.DROPPED_OUT,
        status=Case.Status.FOLLOW_UP,
        township=world.township,
        village=world.village_a,
        school=world.school_x,
    )
    follow_up = FollowUp.objects.create(case=case, due_on="2026-12-01")
    attachment = Attachment(case=case, name="scan.pdf", content_type="application/pdf", size=9)
    attachment.file.save("scan.pdf", ContentFile(b"%PDF-1.4\n"), save=True)
    world.case_objects = (case, follow_up, attachment)
    return [case.public_id]


def make_follow_up(world):
    case_id = make_case(world)
    return [*case_id, world.case_objects[1].pk]


def make_attachment(world):
    case_id = make_case(world)
    return [*case_id, world.case_objects[2].public_id]


def make_export(world):
    """A finished 辍学台账 export of the office (only the office may open it)."""
    from baoxue.accounts.models import User
    from baoxue.cases import exports

    item = exports.export_create(actor=User.objects.get(username="office"), query="")
    exports.export_run(item.pk)
    return [item.public_id]


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


# (url name, how to build args from the world, method, expected status by persona)
CASES = [
    ("registry:home", None, "get", EVERYONE_LOGGED_IN),
    ("registry:child_list", None, "get", EVERYONE_LOGGED_IN),
    ("registry:duplicates", None, "get", EVERYONE_LOGGED_IN),
    ("registry:school_list", None, "get", EVERYONE_LOGGED_IN),
    ("registry:village_list", None, "get", EVERYONE_LOGGED_IN),
    (
        "registry:child_detail",
        lambda w: [w.child("吴俊辉").public_id],
        "get",
        only("office", "leader", "village_a", "principal_x", "teacher_x", "county"),
    ),
    (
        "registry:child_detail",
        lambda w: [w.child("覃明").public_id],
        "get",
        only("county"),
    ),
    (
        "registry:child_reveal_id",
        lambda w: [w.child("吴俊辉").public_id],
        "post",
        only("office", "leader", "village_a", "principal_x"),
    ),
    (
        "registry:school_detail",
        lambda w: [w.school_x.public_id],
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
    (
        "registry:village_detail",
        lambda w: [w.village_a.pk],
        "get",
        only("office", "leader", "village_a", "principal_x", "teacher_x", "canlian", "county"),
    ),
    ("registry:village_detail", lambda w: [w.village_c.pk], "get", only("county")),
    # Merging (the office's): posted without a place to merge into, every one gets 404 (the
    # merges themselves are in registry/tests/test_merging.py).
    ("registry:village_merge", lambda w: [w.village_b.pk], "post", only()),
    ("registry:school_merge", lambda w: [w.school_y.public_id], "post", only()),
    ("registry:discrepancy_list", None, "get", EVERYONE_LOGGED_IN),
    ("registry:discrepancy_export", None, "get", EVERYONE_LOGGED_IN),
    (
        "registry:discrepancy_resolve",
        make_discrepancy,
        "post",
        {**only(), **{p: 302 for p in DISCREPANCY_WORKERS}},
    ),
    ("imports:batch_list", None, "get", EVERYONE_LOGGED_IN),
    ("imports:template", lambda w: ["roster"], "get", EVERYONE_LOGGED_IN),
    ("imports:batch_detail", make_batch, "get", only(*BATCH_READERS)),
    (
        "imports:batch_validate",
        make_batch,
        "post",
        {**only(), "office": 302},
    ),
    (
        "imports:batch_commit",
        make_batch,
        "post",
        {**only(), "office": 302},
    ),
    (
        "imports:batch_cancel",
        make_batch,
        "post",
        {**only(), "office": 302},
    ),
    (
        "imports:batch_remap",
        make_batch,
        "post",
        {**only(), "office": 302},
    ),
    ("imports:batch_villages", make_batch, "post", {**only(), "office": 302}),
    ("imports:batch_errors", make_batch, "get", only(*BATCH_READERS)),
    ("reconcile:run_list", None, "get", EVERYONE_LOGGED_IN),
    ("reconcile:run_list", None, "post", {**only(other=403), "office": 302}),
    ("reconcile:run_detail", make_run, "get", only(*RUN_READERS)),
    ("reconcile:ledger", lambda w: [*make_run(w), "suspected"], "get", only(*RUN_READERS)),
    ("reconcile:review_list", None, "get", EVERYONE_LOGGED_IN),
    # 石丽 lives in 高岜村: the office decides; others see nothing to decide (404).
    ("reconcile:review_decide", make_review, "post", {**only(), "office": 302}),
    # The office undoes a merge; others who see the child are refused (404, logged).
    ("reconcile:merge_undo", make_merge, "post", {**only(), "office": 302}),
    ("cases:list", None, "get", EVERYONE_LOGGED_IN),
    ("cases:mine", None, "get", EVERYONE_LOGGED_IN),
    ("cases:dashboard", None, "get", EVERYONE_LOGGED_IN),
    ("cases:export", None, "post", {p: 302 for p in PERSONAS}),
    ("cases:export_detail", make_export, "get", only("office")),
    ("cases:export_download", make_export, "get", only("office")),
    ("cases:bulk_assign", None, "post", {**only(other=403), "office": 302}),
    ("accounts:password_change", None, "get", EVERYONE_LOGGED_IN),
    ("accounts:totp_setup", None, "get", EVERYONE_LOGGED_IN),
    ("accounts:totp_verify", None, "get", {p: 302 for p in PERSONAS}),
    # 交接: the office's page; a post without accounts shows the page again with the message.
    ("cases:handover", None, "get", only("office")),
    ("cases:handover", None, "post", only("office")),
    (
        "cases:open",
        lambda w: [w.child("吴俊辉").public_id],
        "post",
        {**only(), **{p: 302 for p in CASE_READERS}},
    ),
    ("cases:detail", make_case, "get", only(*CASE_READERS)),
    ("cases:move", make_case, "post", case_post()),
    ("cases:assign", make_case, "post", case_post()),
    ("cases:attempt", make_case, "post", case_post()),
    ("cases:document", make_case, "post", case_post()),
    ("cases:plan", make_case, "post", case_post(workers=409)),
    ("cases:follow_up", make_follow_up, "post", case_post()),
    ("cases:attachment_add", make_case, "post", case_post()),
    ("cases:attachment", make_attachment, "get", only(*CASE_READERS)),
    ("cases:notice", lambda w: [*make_case(w), "return_notice"], "get", only(*CASE_READERS)),
    ("cases:file", make_case, "get", only(*CASE_READERS)),
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
    pytest.param(name, args, method, persona, expected[persona], id=f"{name}-{i}-{persona}")
    for i, (name, args, method, expected) in enumerate(CASES)
    for persona in PERSONAS
]


@pytest.mark.parametrize(("name", "args", "method", "persona_name", "status"), PARAMS)
def test_url_status(world, client, persona, name, args, method, persona_name, status):
    if persona_name != "anonymous":
        client.force_login(persona(persona_name))
    url = reverse(name, args=args(world) if args else None)
    response = getattr(client, method)(url, {"language": "zh-hans"} if method == "post" else {})
    assert response.status_code == status


def test_every_url_is_walked():
    walked = {name for name, *_ in CASES}
    ours = set()
    for pattern in get_resolver().url_patterns:
        namespace = getattr(pattern, "namespace", None)
        if namespace in {"registry", "accounts", "imports", "reconcile", "cases", "audit"}:
            ours |= {f"{namespace}:{p.name}" for p in pattern.url_patterns if p.name}
    missing = ours - walked
    assert not missing, f"add these URLs to CASES: {sorted(missing)}"
