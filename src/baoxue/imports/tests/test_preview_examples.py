"""The preview's examples say what will change as a person reads it: labels, not codes."""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal

from baoxue.imports import services
from baoxue.imports.tests.helpers import ENROLLMENT_HEADER, ROSTER_HEADER, write_xlsx
from baoxue.imports.tests.test_enrollment_import import row as enrollment_row
from baoxue.registry.tests.factories import make_id_number


def validated(persona, path, source):
    office = persona("office")
    with path.open("rb") as handle:
        batch = services.batch_upload(
            actor=office, source=source, handle=handle, filename=path.name
        )
    return services.batch_validate(actor=office, batch=batch)


def update_examples(batch):
    return {ex["name"]: ex["changes"] for ex in batch.preview["examples"]["update"]}


def test_a_roster_update_shows_labels_and_a_masked_id_number(world, persona, tmp_path):
    new_id = make_id_number(date(2013, 2, 2), "F")
    # 石丽 is registered without an ID number, both parents away.
    row = ["石丽", "女", new_id, "2013-02-02", "苗族", "高岜村", "", "", "", "", "", "单亲外出"]
    batch = validated(persona, write_xlsx(tmp_path / "r.xlsx", [ROSTER_HEADER, row]), "roster")
    changes = update_examples(batch)["石丽"]
    assert changes["身份证号"] == ["无身份证号", f"{new_id[:6]}************"]
    assert changes["留守情况"] == ["父母均外出", "父母一方外出"]
    # The whole number is kept nowhere in the batch: not on the page, not in its preview.
    assert new_id not in json.dumps(batch.preview, ensure_ascii=False)


def test_an_enrollment_update_shows_status_grade_and_boarding_as_words(world, persona, tmp_path):
    jun = world.child("吴俊辉")
    row = enrollment_row("吴俊辉", jun.id_number, grade="四年级", status="休学", boarding="住校")
    batch = validated(
        persona, write_xlsx(tmp_path / "x.xlsx", [ENROLLMENT_HEADER, row]), "enrollment"
    )
    changes = update_examples(batch)["吴俊辉"]
    assert changes["年级"] == ["3年级", "4年级"]
    assert changes["学籍状态"] == ["在读", "休学"]
    assert changes["是否住校"] == ["走读", "住校"]
    shown = json.dumps(changes, ensure_ascii=False)
    for raw in ("True", "False", "None", '"01"', '"M"'):
        assert raw not in shown


def test_values_without_a_label_are_written_plainly():
    assert services.change_text("on_roster", True) == "是"
    assert services.change_text("is_migrant", False) == "否"
    assert services.change_text("absent_from_list_since", None) == ""
    assert services.change_text("days_leave", Decimal("3.0")) == "3"  # 考勤 days, half days too
    assert services.change_text("days_leave", Decimal("2.5")) == "2.5"
    assert services.change_text("entry_date", date(2023, 9, 1)) == "2023-09-01"
    assert services.change_text("sex", "F") == "女"
    assert services.change_text("category", "智力残疾") == "智力残疾"


def test_the_batch_page_shows_examples_of_new_and_unchanged_rows(world, persona, tmp_path, client):
    """The preview names a few of the rows it will create and of those it finds unchanged,
    so that the user sees it read the right file the right way before committing."""
    jun = world.child("吴俊辉")
    rows = [
        ENROLLMENT_HEADER,
        enrollment_row("吴俊辉", jun.id_number),  # as registered
        enrollment_row("潘新生", make_id_number(date(2016, 3, 3), "M")),
    ]
    batch = validated(persona, write_xlsx(tmp_path / "x.xlsx", rows), "enrollment")
    assert [ex["name"] for ex in batch.preview["examples"]["create"]] == ["潘新生"]
    assert [ex["name"] for ex in batch.preview["examples"]["unchanged"]] == ["吴俊辉"]
    client.force_login(persona("office"))
    page = client.get(f"/imports/{batch.public_id}/").content.decode()
    created = page.split('data-testid="examples-create"')[1].split("</details>")[0]
    assert "将新增的例子" in created and "第 3 行 潘新生" in created
    unchanged = page.split('data-testid="examples-unchanged"')[1].split("</details>")[0]
    assert "第 2 行 吴俊辉" in unchanged and "潘新生" not in unchanged
