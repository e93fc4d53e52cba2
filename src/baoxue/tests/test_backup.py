"""`baoxue backup` and `baoxue restore` (core.backup), end to end in subprocesses, each instance
with its own data directory and, on PostgreSQL, its own scratch database (created and dropped
here, so that pytest-django's test database is never dumped over): a backup restored into an
empty instance reads its ID numbers and its files, a wrong key is refused, and an older backup
replaces a newer instance only with --force, is migrated, and a damaged copy changes nothing.

The tests run on the database the suite is configured for: SQLite (a file in the data
directory), or PostgreSQL when the suite runs with DATABASE_URL=postgresql://… (pg_dump,
pg_restore and psql against the same server)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from django.db import connection

pytestmark = pytest.mark.slow

ON_POSTGRESQL = connection.vendor == "postgresql"

SETUP = """
import django, json, os
from pathlib import Path
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "baoxue.settings")
django.setup()
"""

# A migrated instance with one child (NAME, ID) and one stored file; with OUT, backed up there.
# OLDER=1 first takes the imports app back to 0006 (before 0007 added the 导入回执 table), so
# that the backup is one an older release would have made.
MAKE = (
    SETUP
    + """
from datetime import date
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.core.management import call_command
call_command("migrate", interactive=False, verbosity=0)
from baoxue.registry import services
county = services.region_create(name="融水县", level="county", code="450225000000")
town = services.region_create(name="培秀乡", level="township", parent=county, code="450225212000")
village = services.region_create(name="乌岭村", level="village", parent=town, code="450225212001")
services.child_create(actor=None, name=os.environ["NAME"], village=village,
                      birth_date=date(2016, 5, 2), id_number=os.environ["ID"])
default_storage.save("attachments/劝返记录.txt", ContentFile(os.environ["NAME"].encode()))
if os.environ.get("OLDER"):
    call_command("migrate", "imports", "0006_batch_attempt", interactive=False, verbosity=0)
if os.environ.get("OUT"):
    from baoxue.backup import backup
    print(backup(Path(os.environ["OUT"]), say=lambda _: None)["counts"])
"""
)

RESTORE = (
    SETUP
    + """
from django.core.files.storage import default_storage
from django.db.migrations.recorder import MigrationRecorder
from baoxue.backup import restore, BackupError
try:
    key = Path(os.environ["KEY"]) if os.environ.get("KEY") else None
    done = restore(Path(os.environ["OUT"]), key=key, force=bool(os.environ.get("FORCE")),
                   say=lambda _: None)
except BackupError as exc:
    print("REFUSED", exc)
    raise SystemExit(3)
from baoxue.registry.models import Child
with default_storage.open("attachments/劝返记录.txt") as stored:
    file = stored.read().decode()
print(json.dumps({
    "checked": done["checked"],
    "children": [[c.name, c.id_number] for c in Child.objects.order_by("pk")],
    "file": file,
    "receipts_migrated": MigrationRecorder.Migration.objects.filter(
        app="imports", name="0007_list_receipts").exists(),
}, ensure_ascii=False))
"""
)

Instance = Callable[[str], dict[str, str]]


def _database_url(name: str) -> str:
    """The configured PostgreSQL server, with another database."""
    db = connection.settings_dict
    user = quote(str(db.get("USER") or ""), safe="")
    if db.get("PASSWORD"):
        user += ":" + quote(str(db["PASSWORD"]), safe="")
    host = quote(str(db.get("HOST") or ""), safe="")
    port = f":{db['PORT']}" if db.get("PORT") else ""
    return f"postgresql://{user}{'@' if user else ''}{host}{port}/{name}"


def _server_sql(statement: str) -> None:
    """CREATE/DROP DATABASE on the configured server (outside any transaction, as they must
    be), through a connection of our own: this test's database access stays blocked."""
    import psycopg

    with psycopg.connect(**connection.get_connection_params(), autocommit=True) as server:
        server.execute(statement)


@pytest.fixture(
    params=[
        pytest.param(
            "sqlite",
            marks=pytest.mark.skipif(ON_POSTGRESQL, reason="the suite runs on PostgreSQL"),
        ),
        pytest.param(
            "postgresql",
            marks=pytest.mark.skipif(
                not ON_POSTGRESQL, reason="needs DATABASE_URL=postgresql://… for the suite"
            ),
        ),
    ]
)
def new_instance(request: Any, tmp_path: Path) -> Iterator[Instance]:
    """new_instance("old") → the environment of a new, empty instance: its data directory and,
    on PostgreSQL, a scratch database dropped after the test."""
    created: list[str] = []

    def make(label: str) -> dict[str, str]:
        env = {"BAOXUE_DATA_DIR": str(tmp_path / label)}
        if request.param == "postgresql":
            name = f"baoxue_backup_{label}_{uuid.uuid4().hex[:10]}"
            _server_sql(f'CREATE DATABASE "{name}"')
            created.append(name)
            env["DATABASE_URL"] = _database_url(name)
        return env

    yield make
    for name in created:
        _server_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _run(script: str, instance: dict[str, str], **env: str) -> subprocess.CompletedProcess[str]:
    environ = {
        k: v
        for k, v in os.environ.items()
        if k not in {"DATABASE_URL", "BAOXUE_TESTING", "BAOXUE_FIELD_KEY", "DJANGO_SETTINGS_MODULE"}
    }
    environ.update({**instance, **env})
    return subprocess.run(  # noqa: S603
        [sys.executable, "-c", script], env=environ, capture_output=True, text=True, timeout=300
    )


def _restored(result: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    assert result.returncode == 0, result.stdout + result.stderr
    return json.loads(result.stdout)


def test_a_backup_restores_into_an_empty_instance_and_reads_its_numbers(new_instance, tmp_path):
    out = tmp_path / "backup-1"
    made = _run(MAKE, new_instance("old"), OUT=str(out), NAME="吴一", ID="450225201605020011")
    assert made.returncode == 0, made.stderr
    database = "database.dump" if ON_POSTGRESQL else "database.sqlite3"
    assert (out / database).exists() and (out / "files.tar").exists()
    assert json.loads((out / "manifest.json").read_text())["engine"] == connection.vendor
    key = out.with_name(out.name + ".field.key")
    assert key.exists() and oct(key.stat().st_mode)[-3:] == "600"
    # The key is not in the backup directory itself: kept apart, by design.
    assert not any(p.name.endswith(".key") for p in out.iterdir())
    target = new_instance("new")
    wrong = tmp_path / "wrong.key"
    wrong.write_text("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n")

    refused = _run(RESTORE, target, OUT=str(out), KEY=str(wrong))
    restored = _restored(_run(RESTORE, target, OUT=str(out)))

    assert refused.returncode == 3 and "不是这份备份的密钥" in refused.stdout
    assert restored == {
        "checked": 1,
        "children": [["吴一", "450225201605020011"]],
        "file": "吴一",
        "receipts_migrated": True,
    }


def test_an_older_backup_replaces_a_newer_instance_only_with_force_and_is_migrated(
    new_instance, tmp_path
):
    out = tmp_path / "backup-2"
    made = _run(
        MAKE, new_instance("old"), OUT=str(out), NAME="吴一", ID="450225201605020016", OLDER="1"
    )
    assert made.returncode == 0, made.stderr
    # A copy cut short, as one interrupted on its way to a USB disk would be.
    damaged = tmp_path / "damaged"
    shutil.copytree(out, damaged)
    shutil.copy(out.with_name(out.name + ".field.key"), damaged.with_name("damaged.field.key"))
    database = damaged / ("database.dump" if ON_POSTGRESQL else "database.sqlite3")
    database.write_bytes(database.read_bytes()[: database.stat().st_size * 9 // 10])
    # The instance restored into runs this release and already has a child of its own (and,
    # on PostgreSQL, the table the older backup lacks, with keys into tables it has).
    target = new_instance("new")
    own = _run(MAKE, target, NAME="李二", ID="450225201501010024")
    assert own.returncode == 0, own.stderr
    key = Path(target["BAOXUE_DATA_DIR"]) / "keys" / "field.key"
    own_key = key.read_text()

    failed = _run(RESTORE, target, OUT=str(damaged), FORCE="1")

    assert failed.returncode == 3 and "未改变" in failed.stdout, failed.stdout + failed.stderr
    assert key.read_text() == own_key
    # Still its own child, which a restore without --force refuses to overwrite.
    refused = _run(RESTORE, target, OUT=str(out))
    assert refused.returncode == 3 and "已有儿童数据" in refused.stdout

    restored = _restored(_run(RESTORE, target, OUT=str(out), FORCE="1"))

    assert restored == {
        "checked": 1,
        "children": [["吴一", "450225201605020016"]],
        "file": "吴一",
        "receipts_migrated": True,
    }
