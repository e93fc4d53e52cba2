"""Who imports into where: a user of several villages, schools or townships."""

from __future__ import annotations

from datetime import date

import pytest
from django.core.exceptions import PermissionDenied
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from baoxue import cli
from baoxue.accounts.models import Role
from baoxue.accounts.services import Grant, user_create
from baoxue.imports import pipeline, services
from baoxue.imports.models import ImportBatch
from baoxue.imports.registry import SOURCES, import_grants
from baoxue.imports.sources.base import Action
from baoxue.imports.tests.helpers import ENROLLMENT_HEADER, ROSTER_HEADER, write_xlsx
from baoxue.imports.tests.test_enrollment_import import row as enrollment_row
from baoxue.registry.models import Child, Enrollment
from baoxue.registry.tests.factories import make_id_number


def make_user(username, *grants):
    return user_create(
        actor=None, username=username, password="", grants=grants, check_password=False
    )


def roster_row(name, id_number, village):
    birth = f"{id_number[6:10]}-{id_number[10:12]}-{id_number[12:14]}"
    return [name, "男", id_number, birth, "苗族", village, "", "", "", "", "", ""]


def context(user, grant):
    return pipeline.ImportContext(
        actor=user, township=grant.township, school=grant.school, village_ids=grant.village_ids
    )


def test_a_cadre_of_two_villages_imports_both_in_one_file(world, tmp_path):
    cadre = make_user(
        "two_villages",
        Grant(Role.VILLAGE, region=world.village_a),
        Grant(Role.VILLAGE, region=world.village_b),
    )
    [grant] = import_grants(cadre, "roster")
    assert grant.village_ids == {world.village_a.pk, world.village_b.pk}
    assert grant.label == "培秀苗族乡（乌岭村、高岜村）"
    a, b = make_id_number(date(2015, 1, 1), "M"), make_id_number(date(2015, 2, 2), "M")
    path = write_xlsx(
        tmp_path / "r.xlsx",
        [ROSTER_HEADER, roster_row("甲", a, "乌岭村"), roster_row("乙", b, "高岜村")],
    )
    outcome = pipeline.run(
        path, SOURCES["roster"], context(cadre, services.grant_for(cadre, "roster")), commit=True
    )
    assert outcome.issues == []
    assert outcome.count(Action.CREATE) == 2
    assert {c.village for c in Child.objects.filter(name__in=["甲", "乙"])} == {
        world.village_a,
        world.village_b,
    }


def test_the_township_grant_covers_the_users_villages_and_schools(world):
    both = make_user(
        "office_and_village",
        Grant(Role.VILLAGE, region=world.village_a),
        Grant(Role.TOWNSHIP_OFFICE, region=world.township),
    )
    [grant] = import_grants(both, "roster")
    assert (grant.village_ids, grant.school) == (None, None)


def test_a_user_of_two_townships_must_say_which(world):
    cadre = make_user(
        "two_townships",
        Grant(Role.VILLAGE, region=world.village_a),
        Grant(Role.VILLAGE, region=world.village_c),  # 江门村, in 安陲乡
    )
    grants = import_grants(cadre, "roster")
    assert len(grants) == 2
    with pytest.raises(PermissionDenied) as refused:
        services.grant_for(cadre, "roster")
    assert "请选择导入到哪里" in str(refused.value)
    other = next(g for g in grants if g.township != world.township)
    assert services.grant_for(cadre, "roster", key=other.key).village_ids == {world.village_c.pk}


@pytest.fixture
def two_schools(world):
    """A principal of the central primary school (X) who also runs the middle school (Y)."""
    return make_user(
        "two_schools",
        Grant(Role.SCHOOL, school=world.school_x),
        Grant(Role.SCHOOL, school=world.school_y),
    )


def upload(client, path, **extra):
    return client.post(
        reverse("imports:batch_list"),
        {
            "source": "enrollment",
            "token": extra.pop("token", "t"),
            "file": SimpleUploadedFile(path.name, path.read_bytes()),
            **extra,
        },
    )


def test_a_principal_of_two_schools_chooses_the_school(world, client, two_schools, tmp_path):
    path = write_xlsx(
        tmp_path / "学籍.xlsx",
        [ENROLLMENT_HEADER, enrollment_row("石一", make_id_number(date(2012, 3, 1), "M"))],
    )
    client.force_login(two_schools)
    page = client.get(reverse("imports:batch_list")).content.decode()
    assert 'data-testid="upload-target"' in page
    assert world.school_x.name in page and world.school_y.name in page

    response = upload(client, path)  # no school chosen: the form says so, nothing is stored
    assert response.status_code == 200
    assert "导入到" in response.content.decode()
    assert not ImportBatch.objects.exists()

    response = upload(client, path, target=f"school:{world.school_y.pk}", token="t2")
    batch = ImportBatch.objects.get()
    assert response.status_code == 302
    assert batch.school == world.school_y
    page = client.get(response.url).content.decode()
    assert f'data-testid="batch-target">{world.school_y.name}<' in page

    # The row names school X: in school Y's import it is not this school's.
    outcome = pipeline.run(
        path,
        SOURCES["enrollment"],
        context(two_schools, services.grant_for_batch(two_schools, batch)),
    )
    assert [i.code for i in outcome.issues] == ["scope"]
    # The principal runs school X too: the message says how to import the row there.
    assert outcome.issues[0].message == (
        f"该行是 {world.school_x.name} 的学生，这次是导入到 {world.school_y.name}，未导入；"
        f"请在“导入到”中选择 {world.school_x.name}，再上传一次这个文件"
    )


def test_a_target_the_user_does_not_have_is_refused(world, client, two_schools, tmp_path):
    path = write_xlsx(tmp_path / "学籍.xlsx", [ENROLLMENT_HEADER])
    client.force_login(two_schools)
    response = upload(client, path, target=f"school:{world.school_z.pk}")
    assert response.status_code == 200
    assert not ImportBatch.objects.exists()


def test_a_schools_batch_stays_the_schools_when_the_office_commits_it(world, persona, tmp_path):
    principal = persona("principal_x")
    path = write_xlsx(
        tmp_path / "学籍.xlsx",
        [ENROLLMENT_HEADER, enrollment_row("石二", make_id_number(date(2015, 4, 1), "M"))],
    )
    with path.open("rb") as handle:
        batch = services.batch_upload(
            actor=principal, source="enrollment", handle=handle, filename=path.name
        )
    assert batch.school == world.school_x
    office = persona("office")
    ctx = services._context(batch, office)
    assert (ctx.school, ctx.township) == (world.school_x, world.township)
    # The principal may not act on the office's batches: they are the whole township's.
    with path.open("rb") as handle:
        township_batch = services.batch_upload(
            actor=office, source="enrollment", handle=handle, filename=path.name
        )
    with pytest.raises(PermissionDenied):
        services.grant_for_batch(principal, township_batch)


def test_the_command_line_takes_the_school_with_into(world, two_schools, tmp_path, capsys):
    path = write_xlsx(
        tmp_path / "学籍.xlsx",
        [ENROLLMENT_HEADER, enrollment_row("石三", make_id_number(date(2016, 5, 1), "M"))],
    )
    args = ["import", "enrollment", str(path), "--user", "two_schools"]
    assert cli.main(args) == 2
    err = capsys.readouterr().err
    assert "--into" in err and world.school_x.code in err and world.school_y.code in err
    assert cli.main([*args, "--into", "no-such-school"]) == 2
    assert cli.main([*args, "--into", world.school_x.code]) == 0
    assert "1 were created" in capsys.readouterr().out
    assert Enrollment.objects.get(child__name="石三").school == world.school_x


def test_a_cadres_batch_committed_by_the_office_imports_only_the_cadres_villages(
    world, persona, tmp_path
):
    a, b = make_id_number(date(2015, 1, 3), "M"), make_id_number(date(2015, 2, 4), "M")
    path = write_xlsx(
        tmp_path / "r.xlsx",
        [ROSTER_HEADER, roster_row("丙", a, "乌岭村"), roster_row("丁", b, "高岜村")],
    )
    cadre = persona("village_a")
    with path.open("rb") as handle:
        batch = services.batch_upload(
            actor=cadre, source="roster", handle=handle, filename=path.name
        )
    assert batch.village_ids == [world.village_a.pk]
    ctx = services._context(batch, persona("office"))
    assert ctx.village_ids == {world.village_a.pk}
    outcome = pipeline.run(path, SOURCES["roster"], ctx, commit=True)
    assert [i.code for i in outcome.issues] == ["scope"]  # what the cadre's preview showed
    assert not Child.objects.filter(name="丁").exists()


def test_each_kind_of_list_goes_to_its_only_place_without_a_choice(world, client, tmp_path):
    """A cadre of 乌岭村 who is also a principal: the form offers both places, but a roster
    can only go to the village and a 学籍 only to the school."""
    user = make_user(
        "cadre_and_principal",
        Grant(Role.VILLAGE, region=world.village_a),
        Grant(Role.SCHOOL, school=world.school_x),
    )
    client.force_login(user)
    roster = write_xlsx(
        tmp_path / "r.xlsx",
        [ROSTER_HEADER, roster_row("戊", make_id_number(date(2015, 3, 5), "M"), "乌岭村")],
    )
    response = client.post(
        reverse("imports:batch_list"),
        {
            "source": "roster",
            "token": "a",
            "file": SimpleUploadedFile("r.xlsx", roster.read_bytes()),
        },
    )
    assert response.status_code == 302
    assert ImportBatch.objects.get().village_ids == [world.village_a.pk]
    response = client.post(
        reverse("imports:batch_list"),
        {
            "source": "roster",
            "token": "b",
            "target": f"school:{world.school_x.pk}",
            "file": SimpleUploadedFile("r.xlsx", roster.read_bytes()),
        },
    )
    assert response.status_code == 200
    assert "“户籍人口名册”只能导入到：培秀苗族乡（乌岭村）" in response.content.decode()
    assert ImportBatch.objects.count() == 1


def test_the_commit_button_says_how_many_students_it_will_mark(
    world, login, tmp_path, django_capture_on_commit_callbacks
):
    """A school's whole list marks its students the file leaves out: the button says how
    many, and asks before doing it."""
    path = write_xlsx(
        tmp_path / "学籍.xlsx",
        [ENROLLMENT_HEADER, enrollment_row("石五", make_id_number(date(2016, 6, 1), "M"))],
    )
    client = login("principal_x")
    response = client.post(
        reverse("imports:batch_list"),
        {
            "source": "enrollment",
            "token": "m",
            "file": SimpleUploadedFile(path.name, path.read_bytes()),
        },
    )
    batch = ImportBatch.objects.get()
    mapping_page = client.get(response.url).content.decode()
    assert f"这是本校（{world.school_x.name}）本学期完整的学籍名册" in mapping_page
    mapping = {f"col_{i}": v for i, v in batch.mapping.items()}
    mapping["complete_list"] = "on"
    with django_capture_on_commit_callbacks(execute=True):
        client.post(reverse("imports:batch_validate", args=[batch.public_id]), mapping)
    page = client.get(response.url).content.decode()
    batch.refresh_from_db()
    assert batch.absent_total == 2  # 吴俊辉 and 伍军辉 are not in the file
    assert "确认导入（写入 1 行，并标记 2 名不在名册中的学生）" in page
    assert "data-confirm=" in page


def test_a_cadres_batch_says_its_villages(world, persona, tmp_path):
    cadre = make_user(
        "two_villages_b",
        Grant(Role.VILLAGE, region=world.village_b),
        Grant(Role.VILLAGE, region=world.village_a),
    )
    path = write_xlsx(tmp_path / "r.xlsx", [ROSTER_HEADER])
    with path.open("rb") as handle:
        batch = services.batch_upload(
            actor=cadre, source="roster", handle=handle, filename="r.xlsx"
        )
    assert batch.target_label == "乌岭村、高岜村"


def test_the_batch_list_reads_roles_and_village_names_once(world, client, tmp_path):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    cadre = make_user(
        "two_villages_c",
        Grant(Role.VILLAGE, region=world.village_a),
        Grant(Role.VILLAGE, region=world.village_b),
    )
    client.force_login(cadre)
    path = write_xlsx(tmp_path / "r.xlsx", [ROSTER_HEADER])

    def page_queries(batches):
        for n in range(batches):
            with path.open("rb") as handle:
                services.batch_upload(
                    actor=cadre, source="roster", handle=handle, filename=f"r{n}.xlsx"
                )
        with CaptureQueriesContext(connection) as queries:
            page = client.get(reverse("imports:batch_list")).content.decode()
        assert "乌岭村、高岜村" in page
        return len(queries)

    page_queries(1)  # the first request also reads the session and the user's scope
    assert page_queries(1) == page_queries(3)
