"""An import is not an oracle for the ID numbers a role may not reveal (issue 22 §1).

The 残联 sees a disabled child's number masked (region and stars) beside her birth date and sex:
about 500 numbers fit. Uploading a list with all 500 and reading which row the preview matches
(将更新) would give the number away, with no reveal logged. A file — alone or with the user's
files of the last days — with more than BAOXUE_IMPORT_PROBE_LIMIT different numbers of one region
and birth date is refused before its preview exists, and the refusal is audited.
"""

from __future__ import annotations

import uuid
from datetime import date

from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from baoxue.core.models import AuditEvent
from baoxue.imports.models import ImportBatch
from baoxue.imports.tests.helpers import write_xlsx
from baoxue.tests.test_id_rebuild_files import DISABILITY_HEADER, numbered

BIRTH = date(2012, 10, 9)


def _card(n: int, number: str) -> list[object]:
    return [n, f"龙{n}", "女", number + "52", "智力", "二级", "2012-10-09", "乌岭村", "", "龙大"]


def _validate(client, capture, path) -> ImportBatch:
    response = client.post(
        reverse("imports:batch_list"),
        {
            "source": "disability",
            "token": uuid.uuid4().hex,
            "file": SimpleUploadedFile(path.name, path.read_bytes()),
        },
    )
    assert response.status_code == 302, response.content.decode()[-2000:]
    batch = ImportBatch.objects.get(public_id=response["Location"].rstrip("/").split("/")[-1])
    mapping = {f"col_{i}": v for i, v in batch.mapping.items()}
    with capture(execute=True):
        client.post(reverse("imports:batch_validate", args=[batch.public_id]), mapping)
    batch.refresh_from_db()
    return batch


def _list(tmp_path, name: str, sequences: range):
    rows = [_card(i + 1, numbered(BIRTH, s)) for i, s in enumerate(sequences)]
    return write_xlsx(tmp_path / name, [DISABILITY_HEADER[:10], *rows])


def test_a_file_trying_many_numbers_of_one_birth_date_is_refused(
    world, login, tmp_path, settings, django_capture_on_commit_callbacks
):
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.BAOXUE_IMPORT_PROBE_LIMIT = 10
    batch = _validate(
        login("canlian"), django_capture_on_commit_callbacks, _list(tmp_path, "a.xlsx", range(11))
    )
    assert batch.status == ImportBatch.Status.REFUSED, batch.message
    assert "逐个试号" in batch.message and "11" in batch.message
    assert not batch.preview.get("examples")  # nothing of the plan kept
    event = AuditEvent.objects.get(action="import.probe_refused")
    assert event.actor.username == "canlian" and event.data == {"numbers": 11}


def test_the_files_of_the_last_days_count_together(
    world, login, tmp_path, settings, django_capture_on_commit_callbacks
):
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.BAOXUE_IMPORT_PROBE_LIMIT = 10
    client = login("canlian")
    capture = django_capture_on_commit_callbacks
    first = _validate(client, capture, _list(tmp_path, "a.xlsx", range(6)))
    assert first.status == ImportBatch.Status.VALIDATED, first.message
    assert "450225" not in str(first.preview["id_prefixes"])  # hashed, nothing in clear
    second = _validate(client, capture, _list(tmp_path, "b.xlsx", range(6, 12)))
    assert second.status == ImportBatch.Status.REFUSED
    assert "12" in second.message


def test_a_role_that_may_reveal_is_not_limited(
    world, login, tmp_path, settings, django_capture_on_commit_callbacks
):
    """The township office sees whole numbers anyway: its files are not counted."""
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.BAOXUE_IMPORT_PROBE_LIMIT = 10
    batch = _validate(
        login("office"), django_capture_on_commit_callbacks, _list(tmp_path, "a.xlsx", range(11))
    )
    assert batch.status == ImportBatch.Status.VALIDATED, batch.message
