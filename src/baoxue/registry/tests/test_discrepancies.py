"""信息不一致: the list a school or village settles, its export, and the decision's effect on
the registry (scope, double submits, a value that cannot be kept)."""

from __future__ import annotations

import io
from datetime import date

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse
from python_calamine import CalamineWorkbook

from baoxue.core.models import AuditEvent
from baoxue.core.text import pinyin_keys
from baoxue.registry import services
from baoxue.registry.models import Discrepancy


def _open(child, item="name", source="enrollment", value="伍俊辉", registry_value=None):
    return Discrepancy.objects.create(
        child=child,
        item=item,
        source=source,
        value=value,
        registry_value=registry_value if registry_value is not None else child.name,
        registry_source="roster",
    )


@pytest.fixture
def found(world):
    """吴俊辉 (乌岭村, school X 3年级1班) and 石丽 (高岜村, no school): one each."""
    return _open(world.child("吴俊辉")), _open(world.child("石丽"), value="石莉")


def _names(client):
    page = client.get(reverse("registry:discrepancy_list")).content.decode()
    return {name for name in ("吴俊辉", "石丽") if f">{name}</a>" in page}


@pytest.mark.parametrize(
    ("who", "seen"),
    [
        ("office", {"吴俊辉", "石丽"}),
        ("village_a", {"吴俊辉"}),
        ("outsider", {"石丽"}),
        ("principal_x", {"吴俊辉"}),
        ("teacher_x", {"吴俊辉"}),
        ("canlian", set()),  # neither is disabled
        ("nobody", set()),
    ],
)
def test_each_sees_the_discrepancies_of_their_own_children(client, persona, found, who, seen):
    client.force_login(persona(who))
    assert _names(client) == seen


def test_a_school_takes_the_list_value_and_the_registry_follows(client, persona, world, found):
    wu, _shi = found
    client.force_login(persona("principal_x"))
    response = client.post(
        reverse("registry:discrepancy_resolve", args=[wu.public_id]), {"choice": "source"}
    )
    assert response.status_code == 302
    child = world.child("伍俊辉")  # renamed
    assert (child.name_pinyin, child.name_initials) == pinyin_keys("伍俊辉")
    wu.refresh_from_db()
    assert (wu.status, wu.resolution, wu.resolved_value) == ("resolved", "source", "伍俊辉")
    assert wu.resolved_by.username == "principal_x"
    event = AuditEvent.objects.get(action="discrepancy.resolved")
    assert event.data == {
        "item": "name",
        "source": "enrollment",
        "choice": "source",
        "changed": True,
    }
    # A second click (or a colleague first): told, nothing changes.
    again = client.post(
        reverse("registry:discrepancy_resolve", args=[wu.public_id]),
        {"choice": "registry"},
        follow=True,
    )
    assert "已经有人处理过了" in again.content.decode()
    assert world.child("伍俊辉").version == child.version


def test_keeping_the_registry_value_changes_no_child(persona, world, found):
    wu, _shi = found
    before = world.child("吴俊辉").version
    services.discrepancy_resolve(discrepancy=wu, actor=persona("office"), choice="registry")
    assert world.child("吴俊辉").version == before
    wu.refresh_from_db()
    assert (wu.status, wu.resolved_value) == ("resolved", "吴俊辉")


def test_another_value_is_checked_before_it_is_kept(persona, world):
    child = world.child("吴俊辉")
    d = _open(child, item="birth_date", value="2016-02-05", registry_value="2016-05-02")
    with pytest.raises(ValidationError):
        services.discrepancy_resolve(
            discrepancy=d, actor=persona("office"), choice="other", value="2016-13-40"
        )
    d.refresh_from_db()
    assert d.status == "open" and world.child("吴俊辉").birth_date == date(2016, 5, 2)
    services.discrepancy_resolve(
        discrepancy=d, actor=persona("office"), choice="other", value="2016年5月3日"
    )
    assert world.child("吴俊辉").birth_date == date(2016, 5, 3)
    d.refresh_from_db()
    assert (d.resolution, d.resolved_value) == ("other", "2016-05-03")


def test_a_typed_name_too_long_for_the_registry_is_refused(persona, world, found):
    wu, _shi = found
    with pytest.raises(ValidationError):
        services.discrepancy_resolve(
            discrepancy=wu, actor=persona("office"), choice="other", value="吴" * 65
        )
    wu.refresh_from_db()
    assert wu.status == "open" and world.child("吴俊辉").name == "吴俊辉"


def test_a_village_choice_must_be_a_village_of_the_township(persona, world):
    child = world.child("吴俊辉")
    d = _open(child, item="village", value="高岜", registry_value="乌岭村")
    services.discrepancy_resolve(discrepancy=d, actor=persona("office"), choice="source")
    child = world.child("吴俊辉")
    assert (child.village, child.group) == (world.village_b, None)
    other = _open(child, item="village", source="households", value="江门村")  # 安陲乡's
    with pytest.raises(ValidationError):
        services.discrepancy_resolve(discrepancy=other, actor=persona("office"), choice="source")


def test_another_lists_discrepancy_giving_the_chosen_value_is_settled_too(persona, world):
    child = world.child("吴俊辉")
    school = _open(child, source="enrollment", value="伍俊辉")
    federation = _open(child, source="disability", value="伍俊辉")
    households = _open(child, source="households", value="吴军")
    services.discrepancy_resolve(discrepancy=school, actor=persona("office"), choice="source")
    federation.refresh_from_db()
    households.refresh_from_db()
    assert (federation.status, federation.resolution) == ("resolved", "source")
    assert (households.status, households.registry_value) == ("open", "伍俊辉")


def test_who_may_see_but_not_settle_gets_404_and_a_log(client, persona, world, found):
    wu, _shi = found
    client.force_login(persona("teacher_x"))
    response = client.post(
        reverse("registry:discrepancy_resolve", args=[wu.public_id]), {"choice": "source"}
    )
    assert response.status_code == 404
    assert world.child("吴俊辉").name == "吴俊辉"
    assert AuditEvent.objects.filter(action="discrepancy.resolve_denied").count() == 1
    # The teacher sees the list, without the form.
    page = client.get(reverse("registry:discrepancy_list")).content.decode()
    assert "吴俊辉" in page and 'data-testid="resolve"' not in page


def _export(client):
    response = client.get(reverse("registry:discrepancy_export"))
    assert response.status_code == 200
    book = CalamineWorkbook.from_filelike(io.BytesIO(response.content))
    return book.get_sheet_by_index(0).to_python()[1:]


def test_the_export_follows_the_school_and_the_reveal_right(client, persona, world, found):
    wu = world.child("吴俊辉")
    client.force_login(persona("principal_x"))
    header, *rows = _export(client)
    assert header[:8] == ["序号", "姓名", "身份证号", "学籍号", "项目", "户籍", "学籍", "其他来源"]
    assert [r[:8] for r in rows] == [
        [1.0, "吴俊辉", wu.id_number, "G" + wu.id_number, "姓名", "吴俊辉", "伍俊辉", ""]
    ]
    assert rows[0][8:13] == ["培秀苗族乡中心小学", "3", "1班", "乌岭村", "上寨屯"]
    event = AuditEvent.objects.get(action="discrepancy.exported")
    assert (event.data["rows"], event.data["full_ids"]) == (1, True)
    client.force_login(persona("teacher_x"))
    _header, *rows = _export(client)
    assert rows[0][2] == wu.id_number_masked and wu.id_number not in str(rows)
