"""An upgrade: this release's migrations over a database an older release wrote keep everything.

The older release is the one of 3 December 2026 (commit 196be03): before the keyed blind index
of the last four ID digits and the masks without them (registry 0020), and before cases 0008
and 0009 (evidence, 待审核 review, the reporter, 双线 named at every level). An empty scratch
database is migrated to that release's last migrations, rows are written with the models of
that state the way that release wrote them, and the database is then migrated to the latest
state and read with today's models, selectors and pages.

A scratch database (a file on SQLite, a database created and dropped on PostgreSQL) takes the
place of the default connection for the test, rather than pytest-django's test database taken
back: going back from the latest state runs registry 0020 in reverse (id_suffix back to four
characters), which PostgreSQL refuses over the sixteen-character blind indexes of the world
conftest.py builds once per session, and a transactional test would flush that world for the
tests after it. The test database is never touched, so the tests around this one (and the other
xdist worker) see it migrated and whole.
"""

from __future__ import annotations

import copy
import uuid
from collections.abc import Iterator
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pytest
from django.apps.registry import Apps
from django.conf import settings
from django.contrib.contenttypes.models import ContentType
from django.db import DEFAULT_DB_ALIAS, connections
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.migrations.executor import MigrationExecutor
from django.db.utils import load_backend
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from baoxue.accounts.models import User
from baoxue.backup import check_readable
from baoxue.cases.selectors import access_case
from baoxue.core import crypto
from baoxue.core.models import AuditEvent
from baoxue.core.text import pinyin_keys
from baoxue.imports.models import ImportBatch
from baoxue.registry.models import Child, Enrollment, Guardian, Household
from baoxue.registry.selectors import child_search

pytestmark = pytest.mark.slow

# The last migration of each of our apps in the older release.
OLDER_RELEASE = {
    "accounts": "0002_initial",
    "attendance": "0002_half_days",
    "cases": "0007_both_lines_named",
    "core": "0001_initial",
    "imports": "0006_batch_attempt",
    "reconcile": "0001_initial",
    "registry": "0010_household_head_id_hash",
    "subsidies": "0002_national_programs",
}

# Apps the older release did not have: left out of its state (migrated by the upgrade).
LATER_APPS = {"visits"}

CHILD_ID = "450225201605020016"
FATHER_ID = "450225198803030035"
STUDENT_NUMBER = "G" + CHILD_ID


def _older_mask(value: str) -> str:
    """idnumbers.mask of the older release: the birth date hidden, the last four shown."""
    return value[:6] + "*" * 8 + value[-4:]


def _server_sql(original: BaseDatabaseWrapper, statement: str) -> None:
    """CREATE/DROP DATABASE on the configured PostgreSQL server, outside any transaction."""
    import psycopg

    with psycopg.connect(**original.get_connection_params(), autocommit=True) as server:
        server.execute(statement)


@pytest.fixture
def scratch_database(django_db_blocker: Any, tmp_path: Path) -> Iterator[BaseDatabaseWrapper]:
    """An empty database of the configured engine as the default connection, for this test."""
    original = connections[DEFAULT_DB_ALIAS]
    settings_dict = copy.deepcopy(original.settings_dict)
    postgresql = original.vendor == "postgresql"
    if postgresql:
        settings_dict["NAME"] = f"baoxue_upgrade_{uuid.uuid4().hex[:12]}"
        _server_sql(original, f'CREATE DATABASE "{settings_dict["NAME"]}"')
    else:
        settings_dict["NAME"] = str(tmp_path / "older.sqlite3")
    backend = load_backend(settings_dict["ENGINE"])
    scratch = backend.DatabaseWrapper(settings_dict, DEFAULT_DB_ALIAS)
    connections[DEFAULT_DB_ALIAS] = scratch
    try:
        with django_db_blocker.unblock():
            yield scratch
    finally:
        scratch.close()
        connections[DEFAULT_DB_ALIAS] = original
        # Content types read from the scratch database must not serve the tests after this one.
        ContentType.objects.clear_cache()
        if postgresql:
            _server_sql(original, f'DROP DATABASE IF EXISTS "{settings_dict["NAME"]}" WITH (FORCE)')


def _row_counts(apps: Apps, database: BaseDatabaseWrapper) -> dict[str, int]:
    """The rows of every table of our apps in the older release."""
    counts = {}
    with database.cursor() as cursor:
        for model in apps.get_models(include_auto_created=True):
            if model._meta.app_label in OLDER_RELEASE:
                table = model._meta.db_table
                cursor.execute(f"SELECT COUNT(*) FROM {database.ops.quote_name(table)}")  # noqa: S608
                counts[table] = cursor.fetchone()[0]
    return counts


def _write_as_the_older_release(apps: Apps) -> dict[str, Any]:
    """A township's data as the older release wrote it, with the models of its state: masks
    that keep the last four digits, and those four digits in clear in Child.id_suffix."""

    def objects(label: str) -> Any:
        return apps.get_model(label)._default_manager

    def region(name: str, level: str, code: str = "", parent: Any = None) -> Any:
        made = objects("registry.Region").create(name=name, level=level, code=code, parent=parent)
        made.path = f"{parent.path if parent else '/'}{made.pk}/"
        made.save(update_fields=["path"])
        return made

    office = objects("accounts.User").create(username="office", display_name="培秀乡控辍办")
    county = region("融水苗族自治县", "county", "450225000000")
    township = region("培秀苗族乡", "township", "450225212000", county)
    village = region("乌岭村", "village", "450225212001", township)
    objects("accounts.RoleAssignment").create(user=office, role="township_office", region=township)
    place = {"county": county, "township": township, "village": village}
    school = objects("registry.School").create(
        name="培秀苗族乡中心小学",
        kind="primary",
        code="2145993101",
        region=village,
        county=county,
        township=township,
    )
    household = objects("registry.Household").create(
        number="001", head_name="吴大", head_id_hash=crypto.lookup_hash(FATHER_ID), **place
    )

    def child(name: str, id_number: str, **columns: Any) -> Any:
        pinyin, initials = pinyin_keys(name)
        return objects("registry.Child").create(
            name=name,
            name_pinyin=pinyin,
            name_initials=initials,
            id_number_enc=crypto.encrypt(id_number),
            id_number_hash=crypto.lookup_hash(id_number),
            id_number_masked=_older_mask(id_number) if id_number else "",
            id_suffix=id_number[-4:],
            id_status="valid" if id_number else "empty",
            **place,
            **columns,
        )

    wu = child(
        "吴一",
        CHILD_ID,
        sex="M",
        birth_date=date(2016, 5, 2),
        household=household,
        current_school=school,
        current_grade=3,
        current_class="1班",
    )
    yang = child("杨二", "", sex="F", birth_date=date(2013, 2, 2), left_behind="both_parents")
    objects("registry.Guardian").create(
        child=wu,
        name="吴大",
        relation="father",
        phone="13800000001",
        is_primary=True,
        id_number_enc=crypto.encrypt(FATHER_ID),
        id_number_hash=crypto.lookup_hash(FATHER_ID),
        id_number_masked=_older_mask(FATHER_ID),
    )
    objects("registry.Enrollment").create(
        child=wu,
        school=school,
        grade=3,
        class_name="1班",
        entry_date=date(2023, 9, 1),
        student_number_enc=crypto.encrypt(STUDENT_NUMBER),
        student_number_hash=crypto.lookup_hash(STUDENT_NUMBER),
        student_number_masked="G" + _older_mask(CHILD_ID),
    )

    # A case opened by hand and worked as far as 劝返, both lines named at every level.
    opened = objects("cases.Case").create(
        child=wu,
        kind="dropped_out",
        status="persuading",
        source="person",
        basis="开学未到校",
        township=township,
        village=village,
        school=school,
        both_lines_named=True,
        began_on=date(2026, 9, 1),
        reasons=["family"],
    )
    events = objects("cases.CaseEvent")
    events.create(case=opened, actor=office, kind="opened", data={"note": "开学未到校"})
    for before, after in (
        ("suspected", "verifying"),
        ("verifying", "confirmed"),
        ("confirmed", "persuading"),
    ):
        events.create(
            case=opened, actor=office, kind="transition", from_status=before, to_status=after
        )
    for line in ("government", "education"):
        for level in settings.BAOXUE_CASE_REQUIRED_LEVELS:
            objects("cases.Responsibility").create(
                case=opened, line=line, level=level, name=f"{line}-{level}", user=office
            )
    # A case of the reconciliation that the older release counted as named with one person on
    # each line: this release names every required level (cases 0008 recounts it).
    found = objects("cases.Case").create(
        child=yang,
        kind="to_verify",
        status="verifying",
        source="reconcile",
        category="missing",
        township=township,
        village=village,
        both_lines_named=True,
    )
    events.create(case=found, kind="opened")
    for line in ("government", "education"):
        objects("cases.Responsibility").create(case=found, line=line, level=1, name="村支书")

    batch = objects("imports.ImportBatch").create(
        source="roster",
        file="imports/2026/12/户籍.xlsx",
        filename="户籍.xlsx",
        checksum="a" * 64,
        size=2048,
        status="committed",
        sheet_name="Sheet1",
        header_row=1,
        headers=["姓名", "身份证号"],
        mapping={"姓名": "name", "身份证号": "id_number"},
        rows_total=2,
        rows_created=2,
        created_by=office,
        committed_by=office,
        created_at=timezone.now(),
        committed_at=timezone.now(),
        township=township,
    )
    objects("imports.ImportIssue").create(
        batch=batch,
        row_number=3,
        column="身份证号",
        severity="warning",
        code="id_missing",
        message="没有身份证号",
        original={"姓名": "杨二"},
    )
    objects("core.AuditEvent").create(
        actor=office,
        action="case.opened",
        object_type="case",
        object_id=str(opened.pk),
        at=datetime(2026, 12, 3, 9, 0, tzinfo=timezone.get_current_timezone()),
    )
    return {
        "wu": wu.public_id,
        "opened": opened.public_id,
        "found": found.public_id,
        "batch": batch.public_id,
    }


def test_a_newer_release_migrates_an_older_database_and_keeps_everything(scratch_database):
    executor = MigrationExecutor(scratch_database)
    older = [
        (app, OLDER_RELEASE.get(app, name))
        for app, name in executor.loader.graph.leaf_nodes()
        if app not in LATER_APPS
    ]
    executor.migrate(older)
    executor.loader.build_graph()
    assert ("registry", "0020_id_mask_and_blind_suffix") not in executor.loader.applied_migrations
    assert ("cases", "0008_evidence_review_reporter") not in executor.loader.applied_migrations
    older_apps = executor.loader.project_state(older).apps
    made = _write_as_the_older_release(older_apps)
    rows = _row_counts(older_apps, scratch_database)

    executor = MigrationExecutor(scratch_database)
    executor.migrate(executor.loader.graph.leaf_nodes())

    # Nothing lost: every table of the older release, every row.
    assert _row_counts(older_apps, scratch_database) == rows
    assert (
        MigrationExecutor(scratch_database).migration_plan(executor.loader.graph.leaf_nodes()) == []
    )
    office = User.objects.get(username="office")
    wu = Child.objects.get(public_id=made["wu"])
    # The numbers read under the key; the masks no longer show the last four digits, which
    # live on only as their keyed blind index (registry 0020), found by the same search.
    assert (wu.id_number, wu.id_number_masked) == (CHILD_ID, "450225" + "*" * 12)
    assert wu.id_suffix == crypto.suffix_key("0016")
    assert Child.objects.get(name="杨二").id_suffix == ""
    assert list(child_search(office, q="0016")) == [wu]
    assert list(child_search(office, q=CHILD_ID)) == [wu]
    guardian = Guardian.objects.get(child=wu)
    assert crypto.decrypt(guardian.id_number_enc) == FATHER_ID
    assert guardian.id_number_masked == "450225" + "*" * 12
    assert Household.objects.get().head_id_hash == crypto.lookup_hash(FATHER_ID)
    enrollment = Enrollment.objects.get(child=wu)
    assert enrollment.student_number == STUDENT_NUMBER
    assert enrollment.student_number_masked == "G450225" + "*" * 12
    assert check_readable() == 1
    # The cases keep their status and history; cases 0008 names the reporter of a case opened
    # by hand and recounts 双线 at every required level.
    opened = access_case(office, str(made["opened"]))
    assert (opened.status, opened.both_lines_named, opened.reported_by) == (
        "persuading",
        True,
        office,
    )
    assert [(e.kind, e.from_status, e.to_status) for e in opened.events.order_by("at", "id")] == [
        ("opened", "", ""),
        ("transition", "suspected", "verifying"),
        ("transition", "verifying", "confirmed"),
        ("transition", "confirmed", "persuading"),
    ]
    assert opened.responsibilities.filter(ended_at=None).count() == 2 * len(
        settings.BAOXUE_CASE_REQUIRED_LEVELS
    )
    found = access_case(office, str(made["found"]))
    assert (found.status, found.both_lines_named, found.reported_by) == ("verifying", False, None)
    batch = ImportBatch.objects.visible_to(office).get(public_id=made["batch"])
    assert (batch.status, batch.rows_created, batch.file.name, batch.created_by) == (
        "committed",
        2,
        "imports/2026/12/户籍.xlsx",
        office,
    )
    assert list(batch.issues.values_list("code", flat=True)) == ["id_missing"]
    assert AuditEvent.objects.get().action == "case.opened"

    # And as the office sees it: the search by the last digits, the number revealed, the case.
    client = Client()
    client.force_login(office)
    listed = client.get(reverse("registry:child_list"), {"q": "0016"})
    assert listed.status_code == 200
    assert "吴一" in listed.text and "杨二" not in listed.text
    revealed = client.post(reverse("registry:child_reveal_id", args=[wu.public_id]))
    assert revealed.status_code == 200 and CHILD_ID in revealed.text
    page = client.get(reverse("cases:detail", args=[opened.public_id]))
    assert page.status_code == 200 and "吴一" in page.text and "劝返中" in page.text
