"""After an import is committed, its page offers the next step: the 比对 (开始比对), to whoever
may start one; the others are told that the next 比对 uses the new list."""

from __future__ import annotations

from datetime import date

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from baoxue.imports.models import ImportBatch
from baoxue.imports.tests.helpers import ROSTER_HEADER, write_xlsx
from baoxue.registry.tests.factories import make_id_number

START = 'data-testid="start-reconcile"'


@pytest.fixture
def batch_page(world, login, tmp_path, django_capture_on_commit_callbacks):
    """A roster of one child uploaded, previewed and committed by the office of 培秀苗族乡,
    through its pages; returns a function that reads the batch's page as a persona."""
    client = login("office")
    row = ["潘小龙", "男", make_id_number(date(2015, 4, 1), "M"), "2015-04-01", "苗族", "乌岭村"]
    path = write_xlsx(tmp_path / "r.xlsx", [ROSTER_HEADER, row + [""] * 6])
    client.post(
        reverse("imports:batch_list"),
        {
            "source": "roster",
            "token": "t1",
            "file": SimpleUploadedFile("户籍名册.xlsx", path.read_bytes()),
        },
    )
    batch = ImportBatch.objects.get()
    url = reverse("imports:batch_detail", args=[batch.public_id])
    mapping = {f"col_{i}": v for i, v in batch.mapping.items()}
    with django_capture_on_commit_callbacks(execute=True):
        client.post(reverse("imports:batch_validate", args=[batch.public_id]), mapping)
    batch.refresh_from_db()
    assert batch.status == ImportBatch.Status.VALIDATED, batch.message
    # Before the commit there is nothing to compare yet.
    assert START not in client.get(url).content.decode()
    with django_capture_on_commit_callbacks(execute=True):
        client.post(
            reverse("imports:batch_commit", args=[batch.public_id]),
            {"preview": batch.preview_token},
        )
    batch.refresh_from_db()
    assert batch.status == ImportBatch.Status.COMMITTED, batch.message

    def read(username: str) -> str:
        response = login(username).get(url)
        assert response.status_code == 200
        return response.content.decode()

    return read


def test_the_office_is_offered_the_reconciliation_after_the_commit(batch_page):
    page = batch_page("office")

    assert START in page and "开始比对" in page
    assert f'href="{reverse("reconcile:run_list")}"' in page


def test_the_progress_poll_shows_the_next_step_too(batch_page, login):
    # The page polls its status block while the commit runs: the block that replaces it
    # when the batch is committed carries the button.
    batch = ImportBatch.objects.get()
    response = login("office").get(
        reverse("imports:batch_detail", args=[batch.public_id]),
        headers={"HX-Request": "true", "HX-Target": "batch-status"},
    )

    assert START in response.content.decode()


@pytest.mark.parametrize("username", ["leader", "county"])
def test_who_may_not_start_a_reconciliation_is_told_it_comes_with_the_next_one(
    batch_page, username
):
    page = batch_page(username)

    assert START not in page
    assert "下一次比对时用上" in page
