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
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import tarfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management import call_command
from django.db import connection
from django.utils import timezone

from baoxue import __version__ as VERSION
from baoxue.core import crypto

Say = Callable[[str], None]
SAMPLE = 200  # encrypted numbers decrypted after a restore


class BackupError(Exception):
    """A backup or restore that cannot go on; the message says why, in Chinese."""


def key_path_for(out: Path) -> Path:
    return out.with_name(out.name + ".field.key")


def _engine() -> str:
    return "postgresql" if connection.vendor == "postgresql" else "sqlite"


def _pg_env() -> dict[str, str]:
    db = settings.DATABASES["default"]
    env = dict(os.environ)
    if db.get("PASSWORD"):
        env["PGPASSWORD"] = str(db["PASSWORD"])
    return env


def _pg_args() -> list[str]:
    db = settings.DATABASES["default"]
    args = ["--dbname", str(db["NAME"])]
    if db.get("HOST"):
        args += ["--host", str(db["HOST"])]
    if db.get("PORT"):
        args += ["--port", str(db["PORT"])]
    if db.get("USER"):
        args += ["--username", str(db["USER"])]
    return args


def _program(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        raise BackupError(f"找不到 {name}：请安装 PostgreSQL 客户端（postgresql-client）。")
    return found


def _counts() -> dict[str, int]:
    from baoxue.cases.models import Case
    from baoxue.registry.models import Child

    return {"children": Child.records.count(), "cases": Case.objects.count()}


def backup(out: Path, *, say: Say = print) -> dict[str, Any]:
    """Write the backup into the new directory `out` and the key beside it."""
    if out.exists():
        raise BackupError(f"{out} 已存在：请给备份一个新的目录名。")
    key_out = key_path_for(out)
    out.mkdir(parents=True)
    engine = _engine()
    say("备份数据库…")
    if engine == "sqlite":
        connection.ensure_connection()
        target = sqlite3.connect(out / "database.sqlite3")
        try:
            connection.connection.backup(target)
        finally:
            target.close()
    else:
        dump = out / "database.dump"
        result = subprocess.run(  # noqa: S603 (fixed program, arguments from settings)
            [
                _program("pg_dump"),
                "--format=custom",
                "--no-owner",
                "--file",
                str(dump),
                *_pg_args(),
            ],
            env=_pg_env(),
            capture_output=True,
            text=True,
        )
        if result.returncode != 0:
            raise BackupError("pg_dump 失败：" + result.stderr.strip()[-500:])
    say("备份存储的文件…")
    media = Path(settings.MEDIA_ROOT)
    with tarfile.open(out / "files.tar", "w") as tar:
        if media.exists():
            tar.add(media, arcname="media")
    say("另存字段密钥…")
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

    from baoxue.registry.models import Child

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
        raise BackupError(f"{source} 不是保学的备份（没有 manifest.json）。")
    manifest = json.loads(manifest_path.read_text())
    key = key or key_path_for(source)
    if not key.exists():
        raise BackupError(f"找不到字段密钥文件 {key}：没有它，备份中的身份证号无法读取。")
    key_text = key.read_text()
    master = crypto.decode_key(key_text, str(key))
    if crypto.keyring_from_master(master).key_id != manifest["key_id"]:
        raise BackupError("这个密钥文件不是这份备份的密钥。")
    if settings.BAOXUE_FIELD_KEY and settings.BAOXUE_FIELD_KEY.strip() != key_text.strip():
        raise BackupError("BAOXUE_FIELD_KEY 与备份的密钥不同：请改用备份的密钥再恢复。")
    if not force and _has_data():
        raise BackupError("这个实例已有儿童数据：恢复会覆盖它们。确需覆盖请加 --force。")
    engine = _engine()
    if engine != manifest["engine"]:
        raise BackupError(
            f"备份来自 {manifest['engine']}，当前数据库是 {engine}：请在同类数据库上恢复。"
        )
    say("恢复数据库…")
    if engine == "sqlite":
        connection.close()
        target = Path(settings.DATABASES["default"]["NAME"])
        target.parent.mkdir(parents=True, exist_ok=True)
        source_db = sqlite3.connect(source / "database.sqlite3")
        destination = sqlite3.connect(target)
        try:
            source_db.backup(destination)
        finally:
            source_db.close()
            destination.close()
    else:
        result = subprocess.run(  # noqa: S603
            [
                _program("pg_restore"),
                "--clean",
                "--if-exists",
                "--no-owner",
                *_pg_args(),
                str(source / "database.dump"),
            ],
            env=_pg_env(),
            capture_output=True,
            text=True,
        )
        if result.returncode != 0:
            raise BackupError("pg_restore 失败：" + result.stderr.strip()[-500:])
    say("恢复字段密钥和文件…")
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
    say("升级数据库结构…")
    call_command("migrate", interactive=False, verbosity=0)
    say("检查身份证号能否读取…")
    checked = check_readable()
    counts = _counts()
    return {"manifest": manifest, "checked": checked, "counts": counts}


def check_readable(sample: int = SAMPLE) -> int:
    """Decrypt a sample of the stored ID numbers; a BackupError if any fails."""
    from baoxue.registry.models import Child

    tokens = list(
        Child.records.exclude(id_number_enc="").values_list("id_number_enc", flat=True)[:sample]
    )
    problem = crypto.check_key_matches(tokens)
    if problem:
        raise BackupError(problem)
    for token in tokens:
        crypto.decrypt(token)
    return len(tokens)
