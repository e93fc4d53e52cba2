"""Backup and restore (`baoxue backup OUT`, `baoxue restore IN`): the database, the stored files
and the field key, the key in a file of its own to be kept apart (docs/deployment.md).

    OUT/                 a new directory
      manifest.json      what is inside: version, engine, counts, the key's id (not the key)
      database.sqlite3   SQLite: the online backup API (consistent while the service runs)
      database.dump      PostgreSQL: pg_dump in its custom format
      files.tar          the stored files (MEDIA_ROOT: attachments, uploads, exports)
    OUT.field.key        the field key: without it the ID numbers in the copy cannot be read

A restore puts each part back into the configured data directory and database, migrates (a
newer version restores an older backup and upgrades it), and checks that the restored ID
numbers decrypt under the restored key before it says it is done.

On PostgreSQL the programs of postgresql-client do the work (pg_dump, pg_restore, psql), of the
server's major version or newer; they reach the database through libpq's environment variables,
so that the password never appears on a command line.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import tarfile
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management import call_command
from django.db import connection
from django.utils import timezone
from django.utils.translation import gettext as _

from baoxue import __version__ as VERSION
from baoxue.cases.models import Case
from baoxue.core import crypto
from baoxue.registry.models import Child

Say = Callable[[str], None]
SAMPLE = 200  # encrypted numbers decrypted after a restore
LOCK_TIMEOUT = 30  # seconds a PostgreSQL restore waits for the tables it replaces


class BackupError(Exception):
    """A backup or restore that cannot go on; the message says why, in Chinese."""


def key_path_for(out: Path) -> Path:
    return out.with_name(out.name + ".field.key")


def _engine() -> str:
    return "postgresql" if connection.vendor == "postgresql" else "sqlite"


def _pg_env() -> dict[str, str]:
    """The configured database for pg_dump and psql, in libpq's environment variables. The
    secrets and TLS options are read as `baoxue manage dbshell` reads them; OPTIONS' `options`
    (a search_path, say) goes to PGOPTIONS, and notices ("does not exist, skipping") stay quiet."""
    db = connection.settings_dict
    _args, extra = connection.client.settings_to_cmd_args_env(db, [])
    env = {**os.environ, **(extra or {})}
    for variable, key in (
        ("PGHOST", "HOST"),
        ("PGPORT", "PORT"),
        ("PGUSER", "USER"),
        ("PGDATABASE", "NAME"),
    ):
        if db.get(key):
            env[variable] = str(db[key])
    options = str(db.get("OPTIONS", {}).get("options", ""))
    env["PGOPTIONS"] = (options + " -c client_min_messages=error").strip()
    return env


def _program(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        raise BackupError(
            _("找不到 %(program)s：请安装 PostgreSQL 客户端（postgresql-client）。")
            % {"program": name}
        )
    return found


def _tail(text: str) -> str:
    return text.strip()[-500:]


def _sqlite_restore(copy: Path) -> None:
    """Copy the backup's database over the configured one with SQLite's backup API, all or
    nothing: the API replaces the target in one write transaction, rolled back if it fails. It
    copies pages as they are, so the copy is checked first; it is opened read-only, so that a
    missing file is an error rather than a new empty database restored over the instance."""
    connection.close()
    target = Path(connection.settings_dict["NAME"])
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        source_db = sqlite3.connect(copy.resolve().as_uri() + "?mode=ro", uri=True)
        try:
            problem = source_db.execute("PRAGMA quick_check").fetchone()[0]
            if problem != "ok":
                raise sqlite3.DatabaseError(problem)
            destination = sqlite3.connect(target)
            try:
                source_db.backup(destination)
            finally:
                destination.close()
        finally:
            source_db.close()
    except sqlite3.Error as exc:
        raise BackupError(
            _("备份中的数据库无法读取，实例未改变：%(error)s") % {"error": exc}
        ) from exc


def _pg_dump(dump: Path) -> None:
    # pg_dump reads one snapshot: the copy is consistent while the service runs.
    result = subprocess.run(  # noqa: S603 (fixed program, connection from the settings)
        [
            _program("pg_dump"),
            "--format=custom",
            "--no-owner",
            "--no-privileges",
            "--file",
            str(dump),
        ],
        env=_pg_env(),
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        raise BackupError(_("pg_dump 失败：%(error)s") % {"error": _tail(result.stderr)})


def _pg_restore(dump: Path) -> None:
    """Load a pg_dump archive into the configured database, all or nothing.

    pg_restore turns the archive into SQL wrapped in BEGIN … COMMIT (--single-transaction),
    and psql runs it after dropping this version's tables in the same transaction. The drop is
    needed because --clean drops only what the archive holds: a table a newer version added
    would survive, and the migrate that follows would fail to create it again. The COMMIT is
    the archive's last line, so a pg_restore that stops half-way leaves psql without it and
    the database as it was; so does any failing statement (ON_ERROR_STOP).
    """
    pg_restore, psql = _program("pg_restore"), _program("psql")
    tables = connection.introspection.django_table_names(only_existing=True)
    # Our own session must not hold the tables psql drops (and must reconnect afterwards).
    connection.close()
    # A running service holds locks on the tables: give up after a while rather than hang
    # (the archive's own "SET lock_timeout = 0" comes after the drop has taken them all).
    command = [
        psql,
        "--no-psqlrc",
        "--quiet",
        "--set=ON_ERROR_STOP=1",
        f"--command=SET lock_timeout = '{LOCK_TIMEOUT}s'",
        "--command=BEGIN",
    ]
    if tables:
        names = ", ".join(connection.ops.quote_name(name) for name in sorted(tables))
        command.append(f"--command=DROP TABLE IF EXISTS {names} CASCADE")
    command.append("--file=-")
    with tempfile.TemporaryFile() as script_errors:
        script = subprocess.Popen(  # noqa: S603 (fixed program, our own arguments)
            [
                pg_restore,
                "--clean",
                "--if-exists",
                "--no-owner",
                "--no-privileges",
                "--single-transaction",
                "--exit-on-error",
                "--file=-",
                str(dump),
            ],
            stdout=subprocess.PIPE,
            stderr=script_errors,
        )
        load = subprocess.Popen(  # noqa: S603
            command,
            stdin=script.stdout,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            env=_pg_env(),
            text=True,
        )
        assert script.stdout is not None
        script.stdout.close()  # psql alone reads it: pg_restore stops if psql does
        _out, load_errors = load.communicate()
        script.wait()
        script_errors.seek(0)
        script_message = script_errors.read().decode(errors="replace")
    if load.returncode != 0:
        if "lock timeout" in load_errors:
            raise BackupError(
                _("数据库正被使用，恢复未进行：请先停止网站和后台任务（worker）再恢复。")
            )
        raise BackupError(
            _("psql 恢复数据库失败，数据库未改变：%(error)s") % {"error": _tail(load_errors)}
        )
    if script.returncode != 0:
        raise BackupError(
            _("pg_restore 读取备份失败，数据库未改变：%(error)s") % {"error": _tail(script_message)}
        )


def _counts() -> dict[str, int]:
    return {"children": Child.records.count(), "cases": Case.objects.count()}


def backup(out: Path, *, say: Say = print) -> dict[str, Any]:
    """Write the backup into the new directory `out` and the key beside it."""
    if out.exists():
        raise BackupError(_("%(path)s 已存在：请给备份一个新的目录名。") % {"path": out})
    key_out = key_path_for(out)
    out.mkdir(parents=True)
    engine = _engine()
    say(_("备份数据库…"))
    if engine == "sqlite":
        connection.ensure_connection()
        target = sqlite3.connect(out / "database.sqlite3")
        try:
            connection.connection.backup(target)
        finally:
            target.close()
    else:
        _pg_dump(out / "database.dump")
    say(_("备份存储的文件…"))
    media = Path(settings.MEDIA_ROOT)
    with tarfile.open(out / "files.tar", "w") as tar:
        if media.exists():
            tar.add(media, arcname="media")
    say(_("另存字段密钥…"))
    keyring = crypto.get_keyring()
    if settings.BAOXUE_FIELD_KEY:
        key_text = settings.BAOXUE_FIELD_KEY.strip() + "\n"
    else:
        key_text = crypto.key_file_path(settings.DATA_DIR).read_text()
    fd = os.open(key_out, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(key_text)
    manifest = {
        "version": VERSION,
        "engine": engine,
        "created_at": timezone.now().isoformat(),
        "key_id": keyring.key_id,
        "counts": _counts(),
    }
    (out / "manifest.json").write_text(json.dumps(manifest, ensure_ascii=False, indent=2))
    return manifest


def _has_data() -> bool:
    from django.db.utils import DatabaseError

    try:
        return Child.records.exists()
    except DatabaseError:
        return False  # no tables yet: an empty instance


def restore(
    source: Path, *, key: Path | None = None, force: bool = False, say: Say = print
) -> dict[str, Any]:
    """Put a backup back into this instance's database and data directory (refused over data
    unless `force`), migrate, and check that the ID numbers read under the restored key."""
    manifest_path = source / "manifest.json"
    if not manifest_path.exists():
        raise BackupError(_("%(path)s 不是保学的备份（没有 manifest.json）。") % {"path": source})
    manifest = json.loads(manifest_path.read_text())
    key = key or key_path_for(source)
    if not key.exists():
        raise BackupError(
            _("找不到字段密钥文件 %(path)s：没有它，备份中的身份证号无法读取。") % {"path": key}
        )
    key_text = key.read_text()
    try:
        key_id = crypto.keyring_from_master(crypto.decode_key(key_text, str(key))).key_id
    except crypto.KeyError_ as exc:
        raise BackupError(_("%(path)s 不是字段密钥文件。") % {"path": key}) from exc
    if key_id != manifest["key_id"]:
        raise BackupError(_("这个密钥文件不是这份备份的密钥。"))
    if settings.BAOXUE_FIELD_KEY and settings.BAOXUE_FIELD_KEY.strip() != key_text.strip():
        raise BackupError(_("BAOXUE_FIELD_KEY 与备份的密钥不同：请改用备份的密钥再恢复。"))
    if not force and _has_data():
        raise BackupError(_("这个实例已有儿童数据：恢复会覆盖它们。确需覆盖请加 --force。"))
    engine = _engine()
    if engine != manifest["engine"]:
        raise BackupError(
            _("备份来自 %(backup)s，当前数据库是 %(current)s：请在同类数据库上恢复。")
            % {"backup": manifest["engine"], "current": engine}
        )
    say(_("恢复数据库…"))
    if engine == "sqlite":
        _sqlite_restore(source / "database.sqlite3")
    else:
        _pg_restore(source / "database.dump")
    say(_("恢复字段密钥和文件…"))
    if not settings.BAOXUE_FIELD_KEY:
        path = crypto.key_file_path(settings.DATA_DIR)
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        path.write_text(key_text)
        path.chmod(0o600)
    crypto.get_keyring.cache_clear()
    media = Path(settings.MEDIA_ROOT)
    with tarfile.open(source / "files.tar") as tar:
        staging = media.parent / (media.name + ".restoring")
        shutil.rmtree(staging, ignore_errors=True)
        tar.extractall(staging, filter="data")
        if (staging / "media").exists():
            shutil.rmtree(media, ignore_errors=True)
            (staging / "media").rename(media)
        shutil.rmtree(staging, ignore_errors=True)
    say(_("升级数据库结构…"))
    call_command("migrate", interactive=False, verbosity=0)
    say(_("检查身份证号能否读取…"))
    checked = check_readable()
    counts = _counts()
    return {"manifest": manifest, "checked": checked, "counts": counts}


def check_readable(sample: int = SAMPLE) -> int:
    """Decrypt a sample of the stored ID numbers; a BackupError if any fails."""
    tokens = list(
        Child.records.exclude(id_number_enc="").values_list("id_number_enc", flat=True)[:sample]
    )
    problem = crypto.check_key_matches(tokens)
    if problem:
        raise BackupError(problem)
    for token in tokens:
        crypto.decrypt(token)
    return len(tokens)
