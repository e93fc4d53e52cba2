"""A village name that is probably a typo of a known one (issue 20): 乌玲村 for 乌岭村 is not
created silently; the preview asks, with no default, and the commit waits for the answer."""

from __future__ import annotations

from datetime import date

import pytest
from django.urls import reverse

from baoxue.imports import pipeline
from baoxue.imports.models import ImportBatch
from baoxue.imports.places import resembles
from baoxue.imports.reading import FileRefused
from baoxue.imports.registry import SOURCES
from baoxue.imports.sources.base import Action
from baoxue.imports.tests.helpers import ROSTER_HEADER, write_xlsx
from baoxue.registry.models import Child, Region
from baoxue.registry.tests.factories import make_id_number

ROSTER = SOURCES["roster"]


@pytest.mark.parametrize(
    ("new", "known", "typo"),
    [
        ("乌玲", "乌岭", True),  # a homophone
        ("高巴", "高岜", True),  # a look-alike
        ("江们", "江门", True),  # a homophone
        ("一组", "二组", False),  # a number
        ("东山", "西山", False),  # a direction
        ("大寨", "小寨", False),
        ("乌岭坡", "乌岭", False),  # another length: another place
        ("培秀", "乌岭", False),
    ],
)
def test_what_looks_like_a_typo(new, known, typo):
    assert resembles(new, known) is typo


def roster(path, village, n=2):
    rows = [ROSTER_HEADER]
    for i in range(n):
        number = make_id_number(date(2015, 3, 1 + i), "M")
        rows.append([f"覃小{i}", "男", number, "", "苗族", village, "上寨屯", "", "", "", "", ""])
    return write_xlsx(path, rows)


def ctx_for(world, persona, **kw):
    return pipeline.ImportContext(actor=persona("office"), township=world.township, **kw)


def test_the_commit_waits_for_an_answer_and_then_follows_it(world, persona, tmp_path):
    path = roster(tmp_path / "r.xlsx", "乌玲村")
    preview = pipeline.run(path, ROSTER, (ctx := ctx_for(world, persona)), commit=False)
    assert ctx.places.questions() == [
        {"key": "乌玲", "name": "乌玲村", "like": "乌岭村", "like_key": "乌岭"}
    ]
    assert preview.count(Action.CREATE) == 2
    with pytest.raises(FileRefused) as refused:
        pipeline.run(path, ROSTER, ctx_for(world, persona), commit=True)
    assert "“乌玲村”像已有的“乌岭村”" in str(refused.value)
    assert not Region.objects.filter(name="乌玲村").exists()
    assert not Child.objects.filter(name__startswith="覃小").exists()
    # A typo: the rows go to 乌岭村.
    done = pipeline.run(
        path, ROSTER, ctx_for(world, persona, village_decisions={"乌玲": "乌岭"}), commit=True
    )
    assert done.count(Action.CREATE) == 2
    assert {c.village for c in Child.objects.filter(name__startswith="覃小")} == {world.village_a}
    assert not Region.objects.filter(name="乌玲村").exists()


def test_a_new_village_when_the_office_says_so(world, persona, tmp_path):
    path = roster(tmp_path / "r.xlsx", "乌玲村")
    pipeline.run(path, ROSTER, ctx_for(world, persona, village_decisions={"乌玲": ""}), commit=True)
    village = Region.objects.get(name="乌玲村")
    assert village.parent == world.township
    assert {c.village for c in Child.objects.filter(name__startswith="覃小")} == {village}


def test_the_preview_asks_with_no_default_and_the_answer_lets_it_commit(
    world, login, tmp_path, django_capture_on_commit_callbacks
):
    path = roster(tmp_path / "r.xlsx", "乌玲村")
    client = login("office")
    with django_capture_on_commit_callbacks(execute=True):
        client.post(
            reverse("imports:batch_list"),
            {"source": "roster", "token": "v1", "file": _file(path)},
        )
        batch = ImportBatch.objects.get()
        client.post(
            reverse("imports:batch_validate", args=[batch.public_id]),
            {f"col_{i}": v for i, v in batch.mapping.items()},
        )
    batch.refresh_from_db()
    assert batch.status == "validated"
    page = client.get(reverse("imports:batch_detail", args=[batch.public_id])).content.decode()
    assert 'data-testid="village-questions"' in page
    assert 'data-testid="commit"' not in page  # no commit before the answer
    assert " checked" not in page.split('data-testid="village-questions"')[1].split("</form>")[0]
    # A commit posted anyway is refused.
    client.post(reverse("imports:batch_commit", args=[batch.public_id]), {})
    batch.refresh_from_db()
    assert batch.status == "validated"
    # No answer: told to choose.
    response = client.post(
        reverse("imports:batch_villages", args=[batch.public_id]), {}, follow=True
    )
    assert "请为每个村名选择" in response.content.decode()
    with django_capture_on_commit_callbacks(execute=True):
        client.post(
            reverse("imports:batch_villages", args=[batch.public_id]), {"village:乌玲": "乌岭"}
        )
    batch.refresh_from_db()
    assert batch.status == "validated" and batch.options["villages"] == {"乌玲": "乌岭"}
    assert batch.preview["village_questions"] == []
    with django_capture_on_commit_callbacks(execute=True):
        client.post(
            reverse("imports:batch_commit", args=[batch.public_id]),
            {"preview": batch.preview_token},
        )
    batch.refresh_from_db()
    assert batch.status == "committed"
    assert {c.village for c in Child.objects.filter(name__startswith="覃小")} == {world.village_a}


def _file(path):
    from django.core.files.uploadedfile import SimpleUploadedFile

    return SimpleUploadedFile(path.name, path.read_bytes())
