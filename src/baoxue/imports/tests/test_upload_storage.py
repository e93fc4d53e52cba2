"""An upload's stored copy of the file exists exactly when its batch does: a failure while
the batch is made, or the same form sent twice at once, leaves no file that no batch lists."""

from __future__ import annotations

import os
import time
from datetime import date

import pytest

from baoxue.imports import pipeline, services
from baoxue.imports.models import ImportBatch
from baoxue.imports.tests.helpers import ROSTER_HEADER, stored_files, write_xlsx
from baoxue.registry.tests.factories import make_id_number


@pytest.fixture
def roster(tmp_path):
    number = make_id_number(date(2015, 4, 4), "M")
    row = ["龙小", "男", number, "2015-04-04", "苗族", "乌岭村", "", "", "", "", "", ""]
    return write_xlsx(tmp_path / "户籍.xlsx", [ROSTER_HEADER, row])


def upload(actor, path, token="form-1"):
    with path.open("rb") as handle:
        return services.batch_upload(
            actor=actor, source="roster", handle=handle, filename=path.name, client_token=token
        )


def test_an_upload_keeps_its_file_with_its_batch(world, persona, media, roster):
    batch = upload(persona("office"), roster)
    assert stored_files(media) == [f"{batch.public_id}.bin"]
    assert upload(persona("office"), roster) == batch  # the same form again: the same batch
    assert stored_files(media) == [f"{batch.public_id}.bin"]


def test_a_failure_while_the_batch_is_made_leaves_no_file(
    world, persona, media, roster, monkeypatch
):
    def broken(*args, **kwargs):
        assert stored_files(media), "the file is stored before it is read"
        raise MemoryError

    monkeypatch.setattr(pipeline, "open_table", broken)
    with pytest.raises(MemoryError):
        upload(persona("office"), roster)
    assert not ImportBatch.objects.exists()
    assert stored_files(media) == []


def test_the_same_form_sent_twice_at_once_gives_the_first_batch(
    world, persona, media, roster, monkeypatch
):
    """The second request checks for the form's batch before the first has saved it, then
    finds the token taken when it saves its own: it answers with the first one's batch."""
    office = persona("office")
    first: list[ImportBatch] = []
    real_sha256 = services._sha256

    def meanwhile_the_other_request(handle):
        # The other request's batch lands after this one's check, once.
        monkeypatch.setattr(services, "_sha256", real_sha256)
        first.append(upload(office, roster))
        return real_sha256(handle)

    monkeypatch.setattr(services, "_sha256", meanwhile_the_other_request)
    second = upload(office, roster)
    assert second == first[0]
    assert ImportBatch.objects.count() == 1
    assert stored_files(media) == [f"{first[0].public_id}.bin"]


def test_the_sweep_deletes_only_old_files_that_no_batch_lists(world, persona, media, roster):
    """A process killed between storing a file and committing its batch leaves the file:
    `baoxue serve` sweeps such files once they are a day old (an import still running keeps
    its file)."""
    batch = upload(persona("office"), roster)
    listed = media / batch.file.name
    old_orphan = listed.parent / "killed-import.bin"
    fresh_orphan = listed.parent / "running-import.bin"
    old_orphan.write_bytes(b"children")
    fresh_orphan.write_bytes(b"children")
    two_days_ago = time.time() - 2 * 86400
    for path in (listed, old_orphan):
        os.utime(path, (two_days_ago, two_days_ago))
    assert services.sweep_orphan_files() == 1
    assert sorted(stored_files(media)) == sorted([f"{batch.public_id}.bin", "running-import.bin"])
    assert services.sweep_orphan_files() == 0


def test_the_sweep_without_any_import_files(world, media):
    assert services.sweep_orphan_files() == 0
