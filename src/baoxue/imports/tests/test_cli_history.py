"""A file imported with `baoxue import` is kept in the history, with its stored copy, exactly
when its rows are (in-process; test_cli_import runs the command in a subprocess)."""

from __future__ import annotations

from datetime import date

import pytest
from django.db import DatabaseError, connection

from baoxue import cli
from baoxue.imports import services
from baoxue.imports.models import ImportBatch
from baoxue.imports.tests.helpers import ENROLLMENT_HEADER, stored_files, write_xlsx
from baoxue.imports.tests.test_enrollment_import import row as enrollment_row
from baoxue.registry.models import Child
from baoxue.registry.tests.factories import make_id_number


def a_file(tmp_path):
    return write_xlsx(
        tmp_path / "学籍.xlsx",
        [
            ENROLLMENT_HEADER,
            enrollment_row("石一", make_id_number(date(2016, 5, 1), "M")),
            enrollment_row("石二", make_id_number(date(2016, 6, 2), "F")),
        ],
    )


def test_a_committed_import_is_in_the_history_with_its_file(world, media, tmp_path, capsys):
    path = a_file(tmp_path)
    assert cli.main(["import", "enrollment", str(path), "--user", "principal_x"]) == 0
    batch = ImportBatch.objects.get()
    assert (batch.status, batch.filename, batch.rows_created) == ("committed", "学籍.xlsx", 2)
    assert batch.school == world.school_x and batch.created_by.username == "principal_x"
    assert stored_files(media) == [f"{batch.public_id}.bin"]
    assert f"/imports/{batch.public_id}/" in capsys.readouterr().out


def test_a_dry_run_leaves_no_batch_and_no_file(world, media, tmp_path):
    path = a_file(tmp_path)
    assert cli.main(["import", "enrollment", str(path), "--user", "principal_x", "--dry-run"]) == 0
    assert not ImportBatch.objects.exists()
    assert stored_files(media) == []


def test_a_commit_that_fails_after_the_batch_is_stored_leaves_neither(
    world, media, tmp_path, monkeypatch
):
    """The batch is the commit's last write: if the transaction still rolls back (here its
    audit entry fails), the rows, the batch and the stored copy of the file all go."""
    path = a_file(tmp_path)
    children = Child.objects.count()

    def fail(**kwargs):
        assert stored_files(media), "the file is stored before the audit entry"
        raise RuntimeError("the disk is full")

    monkeypatch.setattr(services, "log_action", fail)
    with pytest.raises(RuntimeError, match="disk is full"):
        cli.main(["import", "enrollment", str(path), "--user", "principal_x"])
    assert not ImportBatch.objects.exists()
    assert Child.objects.count() == children
    assert stored_files(media) == []


def test_a_commit_that_fails_at_its_end_leaves_no_stored_file(world, media, tmp_path, monkeypatch):
    """The batch is recorded, then the transaction's own end fails (a full disk at COMMIT):
    the command line deletes the stored copy that no batch lists."""
    path = a_file(tmp_path)
    record = services.record_command_line_import
    failing = []

    def recorded(**kwargs):
        batch = record(**kwargs)
        failing.append(True)  # the next savepoint release is the import's transaction's end
        return batch

    real_commit = connection.savepoint_commit

    def savepoint_commit(sid):
        if failing:
            failing.clear()
            raise DatabaseError("database or disk is full")
        return real_commit(sid)

    monkeypatch.setattr(services, "record_command_line_import", recorded)
    monkeypatch.setattr(connection, "savepoint_commit", savepoint_commit)
    with pytest.raises(DatabaseError, match="disk is full"):
        cli.main(["import", "enrollment", str(path), "--user", "principal_x"])
    assert not ImportBatch.objects.exists()
    assert stored_files(media) == []
