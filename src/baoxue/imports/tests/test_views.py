"""The import pages: upload → column mapping → validation → preview → commit, and history."""

from __future__ import annotations

import io
from datetime import date

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from python_calamine import CalamineWorkbook

from baoxue.core.models import AuditEvent
from baoxue.imports.models import ColumnMapping, ImportBatch
from baoxue.imports.tests.helpers import ROSTER_HEADER, write_xlsx
from baoxue.registry.models import Child
from baoxue.registry.tests.factories import make_id_number


@pytest.fixture
def roster_bytes(tmp_path):
    good = make_id_number(date(2015, 4, 1), "M")
    header = [*ROSTER_HEADER[:-1], "备用列"]  # an unknown column the user must map
    path = write_xlsx(
        tmp_path / "r.xlsx",
        [
            header,
            [
                "潘小龙",
                "男",
                good,
                "2015-04-01",
                "苗族",
                "乌岭村",
                "上寨屯",
                "A1",
                "潘大",
                "潘大",
                "139",
                "双亲外出",
            ],
            [
                "潘错",
                "男",
                float(good[:-1] + "0"),
                "2015-04-01",
                "苗族",
                "乌岭村",
                "",
                "",
                "",
                "",
                "",
                "",
            ],
        ],
    )
    return path.read_bytes()


def upload(client, content, *, source="roster", token="t1", name="户籍名册.xlsx"):
    return client.post(
        reverse("imports:batch_list"),
        {
            "source": source,
            "token": token,
            "file": SimpleUploadedFile(name, content),
        },
    )


def test_whole_flow(world, login, roster_bytes, django_capture_on_commit_callbacks):
    client = login("office")
    response = upload(client, roster_bytes)
    batch = ImportBatch.objects.get()
    assert response.url == reverse("imports:batch_detail", args=[batch.public_id])
    assert batch.status == "uploaded" and batch.header_row == 1
    page = client.get(response.url).content.decode()
    assert "列对应" in page and "备用列" in page

    mapping = {f"col_{i}": v for i, v in batch.mapping.items()}
    mapping["col_11"] = "left_behind"  # the user maps the unknown column by hand
    with django_capture_on_commit_callbacks(execute=True):
        client.post(reverse("imports:batch_validate", args=[batch.public_id]), mapping)
    batch.refresh_from_db()
    assert batch.status == "validated", batch.message
    assert (batch.rows_total, batch.rows_created, batch.rows_rejected) == (2, 1, 1)
    assert ColumnMapping.objects.filter(source="roster", field="left_behind").exists()
    assert not Child.objects.filter(name="潘小龙").exists()  # the preview wrote nothing
    page = client.get(reverse("imports:batch_detail", args=[batch.public_id])).content.decode()
    assert "确认导入" in page and "文本" in page  # the rejected row's reason is shown
    assert 'data-testid="fix-hint"' in page  # and how to bring the row in once it is fixed

    report = client.get(reverse("imports:batch_errors", args=[batch.public_id]))
    from urllib.parse import quote

    assert quote("导入问题清单_户籍名册.xlsx") in report["Content-Disposition"]
    rows = (
        CalamineWorkbook.from_filelike(io.BytesIO(report.content)).get_sheet_by_index(0).to_python()
    )
    assert rows[0][:4] == ["行号", "类型", "列", "原因"]
    assert rows[1][0] == 3 and "文本" in rows[1][3] and rows[1][4] == "潘错"

    with django_capture_on_commit_callbacks(execute=True):
        client.post(reverse("imports:batch_commit", args=[batch.public_id]))
        client.post(reverse("imports:batch_commit", args=[batch.public_id]))  # double click
    batch.refresh_from_db()
    assert batch.status == "committed"
    assert Child.objects.filter(name="潘小龙").count() == 1
    assert (
        AuditEvent.objects.filter(action="import.committed", object_id=str(batch.public_id)).count()
        == 1
    )
    history = client.get(reverse("imports:batch_list")).content.decode()
    assert "户籍名册.xlsx" in history and "已导入" in history


def test_a_skipped_row_is_labelled_skipped(
    world, login, tmp_path, django_capture_on_commit_callbacks
):
    line = ["潘小龙", "男", make_id_number(date(2015, 4, 1), "M"), "2015-04-01", "苗族", "乌岭村"]
    line += [""] * 6
    path = write_xlsx(tmp_path / "d.xlsx", [ROSTER_HEADER, line, list(line)])
    client = login("office")
    upload(client, path.read_bytes())
    batch = ImportBatch.objects.get()
    mapping = {f"col_{i}": v for i, v in batch.mapping.items()}
    with django_capture_on_commit_callbacks(execute=True):
        client.post(reverse("imports:batch_validate", args=[batch.public_id]), mapping)
    page = client.get(reverse("imports:batch_detail", args=[batch.public_id])).content.decode()
    assert "与第 2 行内容相同" in page
    assert "提醒（该行跳过）" in page and "提醒（该行导入）" not in page
    batch.refresh_from_db()
    assert (batch.rows_created, batch.rows_unchanged, batch.rows_skipped) == (1, 0, 1)
    assert 'data-testid="count-skipped">1<' in page
    assert 'data-testid="fix-hint"' not in page  # nothing was refused: nothing to fix


def test_the_preview_says_how_many_differences_the_file_keeps(
    world, login, tmp_path, django_capture_on_commit_callbacks
):
    """伍俊辉 with 吴俊辉's number and birth date: imported, and the preview says one
    difference goes to 信息不一致."""
    wu = world.child("吴俊辉")
    line = ["伍俊辉", "男", wu.id_number, "2016-05-02", "苗族", "乌岭村"] + [""] * 6
    client = login("office")
    upload(client, write_xlsx(tmp_path / "w.xlsx", [ROSTER_HEADER, line]).read_bytes())
    batch = ImportBatch.objects.get()
    mapping = {f"col_{i}": v for i, v in batch.mapping.items()}
    with django_capture_on_commit_callbacks(execute=True):
        client.post(reverse("imports:batch_validate", args=[batch.public_id]), mapping)
    page = client.get(reverse("imports:batch_detail", args=[batch.public_id])).content.decode()
    assert 'data-testid="preview-discrepancies"' in page and "1 处与系统登记不一致" in page
    batch.refresh_from_db()
    assert batch.rows_rejected == 0


def test_a_schools_batch_is_seen_by_its_principal_not_by_one_classs_teacher(world, login, tmp_path):
    from baoxue.imports.tests.helpers import ENROLLMENT_HEADER
    from baoxue.imports.tests.test_enrollment_import import row

    path = write_xlsx(
        tmp_path / "s.xlsx", [ENROLLMENT_HEADER, row("石一", make_id_number(date(2016, 3, 1), "M"))]
    )
    upload(login("principal_x"), path.read_bytes(), source="enrollment", name="本校学籍.xlsx")
    batch = ImportBatch.objects.get()
    assert batch.school == world.school_x
    for view in ("imports:batch_detail", "imports:batch_errors"):
        url = reverse(view, args=[batch.public_id])
        assert login("principal_x").get(url).status_code == 200
        assert login("teacher_x").get(url).status_code == 404
    assert (
        "本校学籍.xlsx"
        not in login("teacher_x").get(reverse("imports:batch_list")).content.decode()
    )


def test_double_upload_makes_one_batch(world, login, roster_bytes):
    client = login("office")
    upload(client, roster_bytes, token="same")
    upload(client, roster_bytes, token="same")
    assert ImportBatch.objects.count() == 1


def test_refused_file_is_explained(world, login):
    client = login("office")
    response = upload(client, b"%PDF-1.4 this is a pdf", name="名册.xlsx")
    batch = ImportBatch.objects.get()
    assert batch.status == "refused"
    page = client.get(response.url).content.decode()
    assert "PDF" in page


def test_who_may_import_what(world, login, roster_bytes):
    assert upload(login("teacher_x"), roster_bytes).status_code == 403
    assert upload(login("county"), roster_bytes).status_code == 403
    response = upload(login("principal_x"), roster_bytes, source="roster")
    assert response.status_code == 200  # not a choice for a school: the form refuses it
    assert not ImportBatch.objects.exists()


def test_batches_are_scoped(world, login, roster_bytes):
    upload(login("office"), roster_bytes)
    batch = ImportBatch.objects.get()
    url = reverse("imports:batch_detail", args=[batch.public_id])
    assert login("leader").get(url).status_code == 200
    assert login("outsider").get(url).status_code == 404
    assert login("principal_x").get(url).status_code == 404


def test_templates_download(world, login):
    response = login("office").get(reverse("imports:template", args=["enrollment"]))
    assert "filename*=utf-8''%E5%AD%A6%E7%B1%8D" in response["Content-Disposition"]  # 学籍…模板
    rows = (
        CalamineWorkbook.from_filelike(io.BytesIO(response.content))
        .get_sheet_by_index(0)
        .to_python()
    )
    assert rows[0][0] == "*姓名" and "学籍号" in rows[0]
    assert login("office").get(reverse("imports:template", args=["nope"])).status_code == 404


def test_progress_poll_returns_the_status_block_itself(world, login, roster_bytes):
    client = login("office")
    upload(client, roster_bytes)
    batch = ImportBatch.objects.get()
    ImportBatch.objects.filter(pk=batch.pk).update(status="validating")
    url = reverse("imports:batch_detail", args=[batch.public_id])
    html = client.get(url, headers={"HX-Request": "true", "HX-Target": "batch-status"}).content
    text = html.decode()
    # htmx swaps the block for itself: it must come back whole, still polling while running.
    assert text.strip().startswith('<div id="batch-status"') and 'hx-trigger="every 1s"' in text
    assert 'data-testid="progress"' in text and "<nav" not in text
    # Before the sheet is read there is no total: the page says what it is doing.
    assert "正在读取文件…" in text and "0 / 0" not in text
    assert "校验完后需要您确认，才会导入" in text


def test_a_stage_starts_its_progress_from_nothing(world, login, roster_bytes):
    from baoxue.core.progress import progress_write
    from baoxue.imports import services

    upload(login("office"), roster_bytes)
    batch = ImportBatch.objects.get()
    progress_write(batch.progress_key, "validate", 2, 2)  # the validation's end
    write = services._progress_writer(batch)  # the commit starts
    assert batch.progress()["total"] == 0
    write("commit", 1, 4)
    assert batch.progress()["percent"] == 25


def test_a_required_field_left_unmapped_is_said_at_the_mapping(
    world, login, roster_bytes, django_capture_on_commit_callbacks
):
    client = login("office")
    upload(client, roster_bytes)
    batch = ImportBatch.objects.get()
    mapping = {f"col_{i}": v for i, v in batch.mapping.items() if v != "village"}
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            reverse("imports:batch_validate", args=[batch.public_id]), mapping, follow=True
        )
    batch.refresh_from_db()
    assert batch.status == "uploaded"  # still at the mapping, not refused
    page = response.content.decode()
    assert "还有必填项没有对应到文件中的列：村" in page
    assert 'data-testid="mapping-form"' in page
    # The columns the user did map are still mapped on the page, to be corrected.
    mapping["col_11"] = "left_behind"
    client.post(reverse("imports:batch_validate", args=[batch.public_id]), mapping)
    batch.refresh_from_db()
    assert batch.mapping["11"] == "left_behind" and "village" not in batch.mapping.values()
    page = client.get(reverse("imports:batch_detail", args=[batch.public_id])).content.decode()
    assert '<option value="left_behind" selected>' in page
    assert not ColumnMapping.objects.exists()  # remembered only once the mapping is accepted


def test_the_mapping_shows_what_each_column_holds_with_id_numbers_masked(
    world, login, roster_bytes
):
    client = login("office")
    upload(client, roster_bytes)
    batch = ImportBatch.objects.get()
    assert batch.samples[0][0] == "潘小龙" and batch.samples[1][0] == "潘错"
    good = batch.samples[0][2]
    assert "*" in good and len(good) == 18  # masked, as in every list
    page = client.get(reverse("imports:batch_detail", args=[batch.public_id])).content.decode()
    assert "例：潘小龙、潘错" in page
    assert "例：双亲外出" in page  # the unknown column, recognised by what it holds
    assert "例：男</div>" in page  # a value repeated in the samples is shown once


def test_a_rejected_row_with_a_warning_is_counted_once_as_rejected():
    from baoxue.imports.pipeline import Outcome
    from baoxue.imports.sources.base import RowIssue

    outcome = Outcome(table=None, mapping={})  # type: ignore[arg-type]
    outcome.issues = [
        RowIssue(2, "身份证号", "id_region", "…", "warning"),
        RowIssue(2, "姓名", "cell", "…", "error"),
        RowIssue(3, "身份证号", "id_region", "…", "warning"),
    ]
    assert (outcome.rejected_rows, outcome.warned_rows) == (1, 1)


def test_a_staged_batch_can_be_cancelled_and_then_never_commits(
    world, login, roster_bytes, django_capture_on_commit_callbacks
):
    client = login("office")
    upload(client, roster_bytes)
    batch = ImportBatch.objects.get()
    mapping = {f"col_{i}": v for i, v in batch.mapping.items()}
    with django_capture_on_commit_callbacks(execute=True):
        client.post(reverse("imports:batch_validate", args=[batch.public_id]), mapping)
    page = client.get(reverse("imports:batch_detail", args=[batch.public_id])).content.decode()
    assert 'data-testid="cancel"' in page
    response = client.post(reverse("imports:batch_cancel", args=[batch.public_id]), follow=True)
    assert "没有导入任何数据" in response.content.decode()
    batch.refresh_from_db()
    assert batch.status == "cancelled"
    with django_capture_on_commit_callbacks(execute=True):
        client.post(reverse("imports:batch_commit", args=[batch.public_id]))
    batch.refresh_from_db()
    assert batch.status == "cancelled"
    assert not Child.objects.filter(name="潘小龙").exists()
    assert AuditEvent.objects.filter(action="import.cancelled").count() == 1
    # Someone else's batch is not theirs to cancel.
    assert (
        login("outsider").post(reverse("imports:batch_cancel", args=[batch.public_id])).status_code
        == 404
    )


def test_a_csv_has_no_sheet_name_to_show(world, login):
    client = login("office")
    upload(client, "姓名,性别,身份证号,村\n潘小龙,男,,乌岭村\n".encode(), name="名册.csv")
    batch = ImportBatch.objects.get()
    page = client.get(reverse("imports:batch_detail", args=[batch.public_id])).content.decode()
    assert "表头在第 1 行" in page and "表头在第 1 行（" not in page


def test_the_whole_history_is_reachable_a_page_at_a_time_and_by_kind(world, login):
    from datetime import timedelta

    from django.utils import timezone

    from baoxue.accounts.models import User

    office = User.objects.get(username="office")
    start = timezone.now() - timedelta(days=400)
    ImportBatch.objects.bulk_create(
        ImportBatch(
            source="roster" if n % 3 else "enrollment",
            filename=f"名册{n:03d}.xlsx",
            checksum=f"{n:064d}",
            created_by=office,
            created_at=start + timedelta(days=n),
            township=world.township,
            status="committed" if n % 2 else "refused",
        )
        for n in range(120)
    )
    client = login("office")
    first = client.get(reverse("imports:batch_list")).content.decode()
    assert first.count('data-testid="batch-row"') == 50
    assert "名册119.xlsx" in first and "名册069.xlsx" not in first
    assert "第 1 / 3 页" in first
    last = client.get(reverse("imports:batch_list"), {"page": 3}).content.decode()
    assert last.count('data-testid="batch-row"') == 20 and "名册000.xlsx" in last  # the oldest

    roster = client.get(reverse("imports:batch_list"), {"source": "roster"}).content.decode()
    assert roster.count('data-testid="batch-row"') == 50 and "第 1 / 2 页" in roster
    assert "名册117.xlsx" not in roster  # 117 is a 学籍 batch
    assert "?source=roster&page=2" in roster  # the pages keep the filter
    refused = client.get(
        reverse("imports:batch_list"), {"source": "enrollment", "status": "refused"}
    ).content.decode()
    # n divisible by 3 and even: 0, 6, …, 114.
    assert refused.count('data-testid="batch-row"') == 20
    none = client.get(reverse("imports:batch_list"), {"status": "cancelled"}).content.decode()
    assert "没有符合条件的导入记录" in none
    # Nonsense in the query is ignored, not an error.
    assert (
        client.get(reverse("imports:batch_list"), {"source": "x", "page": "zz"}).status_code == 200
    )

    # Another township's user sees none of them, on any page.
    village = login("village_a")
    page = village.get(reverse("imports:batch_list")).content.decode()
    assert "名册1" not in page and "名册0" not in page


def test_a_file_imported_before_is_said_so_before_it_is_imported_again(
    world, login, roster_bytes, django_capture_on_commit_callbacks
):
    client = login("office")
    upload(client, roster_bytes, token="first")
    first = ImportBatch.objects.get()
    page = client.get(reverse("imports:batch_detail", args=[first.public_id])).content.decode()
    assert 'data-testid="same-file"' not in page
    mapping = {f"col_{i}": v for i, v in first.mapping.items()}
    with django_capture_on_commit_callbacks(execute=True):
        client.post(reverse("imports:batch_validate", args=[first.public_id]), mapping)
    with django_capture_on_commit_callbacks(execute=True):
        client.post(reverse("imports:batch_commit", args=[first.public_id]))
    first.refresh_from_db()
    assert first.status == "committed"

    upload(client, roster_bytes, token="second", name="户籍名册（再传）.xlsx")
    again = ImportBatch.objects.exclude(pk=first.pk).get()
    page = client.get(reverse("imports:batch_detail", args=[again.public_id])).content.decode()
    assert 'data-testid="same-file"' in page and "户籍名册.xlsx" in page
    assert reverse("imports:batch_detail", args=[first.public_id]) in page
    # Still said on the preview, as the page's progress poll brings it in (htmx).
    mapping = {f"col_{i}": v for i, v in again.mapping.items()}
    with django_capture_on_commit_callbacks(execute=True):
        client.post(reverse("imports:batch_validate", args=[again.public_id]), mapping)
    polled = client.get(
        reverse("imports:batch_detail", args=[again.public_id]),
        headers={"HX-Request": "true", "HX-Target": "batch-status"},
    ).content.decode()
    assert 'data-testid="same-file"' in polled and 'data-testid="commit"' in polled
    # A village's user is not told of a batch it may not open.
    village = login("village_a")
    upload(village, roster_bytes, token="village")
    theirs = ImportBatch.objects.get(created_by__username="village_a")
    page = village.get(reverse("imports:batch_detail", args=[theirs.public_id])).content.decode()
    assert 'data-testid="same-file"' not in page
    client = login("office")
    # Another kind of list with the same bytes is another import.
    ImportBatch.objects.filter(pk=first.pk).update(source="households")
    page = client.get(reverse("imports:batch_detail", args=[again.public_id])).content.decode()
    assert 'data-testid="same-file"' not in page


def test_a_run_speaks_the_language_of_the_page_that_started_it(
    world, login, roster_bytes, django_capture_on_commit_callbacks
):
    """The background run stores its issues as text: in English when the user who pressed
    校验并预览 reads the English pages, even though the worker, another process, starts in
    the default language (Chinese)."""
    from unittest import mock

    from django.utils import translation

    from baoxue.imports import tasks
    from baoxue.imports.models import ImportIssue

    run = tasks.validate_batch
    client = login("office")
    upload(client, roster_bytes)
    batch = ImportBatch.objects.get()
    mapping = {f"col_{i}": v for i, v in batch.mapping.items()}
    with (
        mock.patch("baoxue.imports.tasks.validate_batch") as queued,
        django_capture_on_commit_callbacks(execute=True),
    ):
        queued.enqueue.return_value.id = "queued-task"
        client.post(
            reverse("imports:batch_validate", args=[batch.public_id]),
            mapping,
            headers={"Accept-Language": "en"},
        )
    args = queued.enqueue.call_args.args
    assert args[-1] == "en"
    with translation.override("zh-hans"):  # as the worker starts
        run.call(*args)
    batch.refresh_from_db()
    assert batch.status == "validated", batch.message
    english = list(ImportIssue.objects.filter(batch=batch).values_list("message", flat=True))
    assert english and all("Excel" in m and "存" not in m for m in english), english
    # A run queued before runs carried their language speaks the default one.
    batch.status, batch.attempt = ImportBatch.Status.UPLOADED, ""
    batch.save()
    with translation.override("en"):
        run.call(batch.pk, args[1])
    chinese = list(ImportIssue.objects.filter(batch=batch).values_list("message", flat=True))
    assert chinese and all("存成了数字" in m for m in chinese), chinese


def test_a_users_own_batch_goes_with_the_role_that_made_it(world, login, roster_bytes):
    """A village cadre sees the batches it uploaded while it works in that township; once
    its role has ended the batch (its rows, its problem list) answers 404 like any other."""
    from baoxue.accounts.models import RoleAssignment

    village = login("village_a")
    upload(village, roster_bytes, token="mine")
    batch = ImportBatch.objects.get(created_by__username="village_a")
    detail = reverse("imports:batch_detail", args=[batch.public_id])
    assert village.get(detail).status_code == 200
    assert village.get(reverse("imports:batch_list")).content.decode().count(batch.filename)

    RoleAssignment.objects.filter(user__username="village_a").delete()
    village = login("village_a")
    assert village.get(detail).status_code == 404
    assert ImportBatch.objects.visible_to(batch.created_by).count() == 0


def _validated(client, roster_bytes, capture, token="t1"):
    upload(client, roster_bytes, token=token)
    batch = ImportBatch.objects.get(client_token=token)
    mapping = {f"col_{i}": v for i, v in batch.mapping.items()}
    with capture(execute=True):
        client.post(reverse("imports:batch_validate", args=[batch.public_id]), mapping)
    batch.refresh_from_db()
    assert batch.status == "validated", batch.message
    return batch, mapping


def _said(response) -> list[str]:
    from django.contrib.messages import get_messages

    return [str(m) for m in get_messages(response.wsgi_request)]


def test_a_commit_from_a_page_whose_preview_was_made_again_is_sent_to_the_new_one(
    world, login, roster_bytes, django_capture_on_commit_callbacks
):
    """Tab A shows a preview; in tab B the mapping is changed and validated again; 确认导入 in
    tab A commits nothing the user has not seen: it is sent back to the new preview."""
    client = login("office")
    batch, mapping = _validated(client, roster_bytes, django_capture_on_commit_callbacks)
    page = client.get(reverse("imports:batch_detail", args=[batch.public_id])).content.decode()
    shown = batch.preview_token
    assert f'name="preview" value="{shown}"' in page
    client.post(reverse("imports:batch_remap", args=[batch.public_id]))  # tab B
    with django_capture_on_commit_callbacks(execute=True):
        client.post(reverse("imports:batch_validate", args=[batch.public_id]), mapping)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            reverse("imports:batch_commit", args=[batch.public_id]), {"preview": shown}
        )
    batch.refresh_from_db()
    assert batch.status == "validated"
    assert not Child.objects.filter(name="潘小龙").exists()
    assert _said(response) == [
        "预览已经更新（列对应或选项在别处改过），请看过下面新的预览后再确认导入。"
    ]
    with django_capture_on_commit_callbacks(execute=True):
        client.post(
            reverse("imports:batch_commit", args=[batch.public_id]),
            {"preview": batch.preview_token},
        )
    batch.refresh_from_db()
    assert batch.status == "committed"


def test_a_button_of_a_page_no_longer_current_says_what_the_batch_is_now(
    world, login, roster_bytes, django_capture_on_commit_callbacks
):
    client = login("office")
    batch, _mapping = _validated(client, roster_bytes, django_capture_on_commit_callbacks)
    cancel = reverse("imports:batch_cancel", args=[batch.public_id])
    assert client.post(cancel).url == reverse("imports:batch_list")
    second = client.post(cancel)  # a double click: the batch is cancelled, as asked
    assert second.url == reverse("imports:batch_list") and "不能取消" not in " ".join(_said(second))
    response = client.post(reverse("imports:batch_commit", args=[batch.public_id]))
    # (The messages not shown yet pile up: the redirects are not followed here.)
    assert _said(response)[-1] == "这个批次已经取消，没有导入任何数据；如需导入，请重新上传文件。"
    assert not Child.objects.filter(name="潘小龙").exists()


def test_a_page_brought_back_with_its_old_token_uploads_the_new_file(world, login, roster_bytes):
    """A file refused, Back, the corrected file chosen on the page the browser restored
    (with the form's old token): that is a new upload, not the first one again. The same
    file sent twice with one token (a double click) is still one batch."""
    client = login("office")
    upload(client, b"not a spreadsheet", token="back", name="错的.xlsx")
    refused = ImportBatch.objects.get()
    assert refused.status == "refused"
    response = upload(client, roster_bytes, token="back")
    again = upload(client, roster_bytes, token="back")  # a double click of that upload
    corrected = ImportBatch.objects.exclude(pk=refused.pk).get()
    assert corrected.status == "uploaded" and corrected.filename == "户籍名册.xlsx"
    assert response.url == again.url == reverse("imports:batch_detail", args=[corrected.public_id])
    # The same file again as another kind of list is another upload too.
    upload(client, roster_bytes, token="back", source="households")
    assert ImportBatch.objects.count() == 3
