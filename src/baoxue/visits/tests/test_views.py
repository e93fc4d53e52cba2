"""The home-visit pages per persona: the office makes and assigns a campaign, a teacher finds
her households on the phone and records a visit with a photo, coverage and the list of
households not yet visited; what each persona may not see answers 404."""

from __future__ import annotations

import io
from datetime import timedelta

from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone
from PIL import Image
from python_calamine import CalamineWorkbook

from baoxue.core.models import AuditEvent
from baoxue.registry.models import Child
from baoxue.visits.models import HomeVisit, VisitCampaign, VisitPhoto, VisitTarget


def _png() -> SimpleUploadedFile:
    out = io.BytesIO()
    Image.new("RGB", (40, 30), "blue").save(out, "PNG")
    return SimpleUploadedFile("IMG_0001.png", out.getvalue(), content_type="image/png")


def _make(client, world) -> VisitCampaign:
    today = timezone.localdate()
    response = client.post(
        reverse("visits:campaign_list"),
        {
            "name": "寒假大家访",
            "township": world.township.pk,
            "kind": "visits",
            "starts_on": today.isoformat(),
            "ends_on": (today + timedelta(days=20)).isoformat(),
            "groups": ["lifted", "disabled", "left_behind"],
        },
    )
    campaign = VisitCampaign.objects.get()
    assert response.status_code == 302 and str(campaign.public_id) in response["Location"]
    return campaign


def test_the_office_makes_a_campaign_and_sends_a_teacher_to_her_class(world, login, persona):
    office = login("office")
    campaign = _make(office, world)
    page = office.get(reverse("visits:campaign_detail", args=[campaign.public_id])).content
    assert 'data-testid="assign-form"' in page.decode()
    response = office.post(
        reverse("visits:campaign_assign", args=[campaign.public_id]),
        {
            "visitor": persona("teacher_x").pk,
            "school": world.school_x.pk,
            "grade": "3",
            "class_name": "1班",
        },
    )
    assert response.status_code == 302
    assert campaign.targets.get(label="吴老大").visitor.username == "teacher_x"


def test_a_village_cadre_sees_the_campaign_but_cannot_make_or_assign_one(world, login, persona):
    campaign = _make(login("office"), world)
    cadre = login("village_a")
    listing = cadre.get(reverse("visits:campaign_list")).content.decode()
    assert "寒假大家访" in listing and 'data-testid="campaign-form"' not in listing
    response = cadre.post(reverse("visits:campaign_list"), {"name": "x"})
    assert response.status_code == 403
    detail = cadre.get(reverse("visits:campaign_detail", args=[campaign.public_id])).content
    assert 'data-testid="assign-form"' not in detail.decode()
    assert "石丽" not in detail.decode()  # 高岜村's household is not the cadre's
    cadre.post(
        reverse("visits:campaign_assign", args=[campaign.public_id]),
        {"visitor": persona("village_a").pk, "village": world.village_a.pk},
    )
    assert not campaign.targets.exclude(visitor=None).exists()


def test_a_teacher_records_a_visit_with_a_photo_once_however_often_she_taps(
    world, login, persona, settings, tmp_path
):
    settings.MEDIA_ROOT = tmp_path
    campaign = _make(login("office"), world)
    target = campaign.targets.get(label="吴老大")
    target.visitor = persona("teacher_x")
    target.save()
    teacher = login("teacher_x")
    mine = teacher.get(reverse("visits:mine")).content.decode()
    assert "吴老大" in mine and "石丽" not in mine
    form = teacher.get(reverse("visits:target_detail", args=[target.pk])).content.decode()
    assert 'data-testid="visit-form"' in form and "吴俊辉" in form
    child = Child.objects.get(name="吴俊辉")
    post = {
        "client_id": "c0ffee",
        "visited_on": timezone.localdate().isoformat(),
        "visitors": "韦老师",
        "child": [child.pk],
        f"seen_{child.pk}": "1",
        f"status_{child.pk}": "at_home",
        "problems": "孩子在家，不想上学",
        "explained": ["compulsory_law", "minors_law"],
    }
    first = teacher.post(
        reverse("visits:visit_record", args=[target.pk]), {**post, "photos": [_png()]}
    )
    again = teacher.post(
        reverse("visits:visit_record", args=[target.pk]), {**post, "photos": [_png()]}
    )
    visit = HomeVisit.objects.get()
    assert (
        first["Location"]
        == again["Location"]
        == reverse("visits:visit_detail", args=[visit.public_id])
    )
    assert VisitPhoto.objects.count() == 1
    page = teacher.get(first["Location"]).content.decode()
    assert "不想上学" in page and "义务教育法" in page and "在家" in page
    photo = VisitPhoto.objects.get()
    url = reverse("visits:visit_photo", args=[visit.public_id, photo.public_id])
    assert teacher.get(url).status_code == 200
    assert AuditEvent.objects.filter(action="visits.photo_viewed").count() == 1
    # Another village's cadre: neither the visit nor its photo.
    outsider = login("outsider")
    assert outsider.get(first["Location"]).status_code == 404
    assert outsider.get(url).status_code == 404
    # Coverage counts it, with the problem found.
    office = login("office")
    detail = office.get(reverse("visits:campaign_detail", args=[campaign.public_id])).content
    assert 'data-count="1"' in detail.decode()


def test_someone_not_sent_to_the_household_cannot_record_a_visit(world, login, persona):
    campaign = _make(login("office"), world)
    target = campaign.targets.get(label="吴老大")
    cadre = login("village_a")  # sees 乌岭村's targets, but was not sent to this one
    response = cadre.post(
        reverse("visits:visit_record", args=[target.pk]),
        {"client_id": "x", "visited_on": timezone.localdate().isoformat(), "visitors": "x"},
    )
    assert response.status_code == 404
    assert not HomeVisit.objects.exists()


def test_a_bad_form_comes_back_with_the_reason(world, login, persona):
    campaign = _make(login("office"), world)
    target = campaign.targets.get(label="吴老大")
    office = login("office")
    response = office.post(
        reverse("visits:visit_record", args=[target.pk]),
        {"client_id": "x", "visited_on": "昨天", "visitors": "韦老师"},
        follow=True,
    )
    assert "走访日期" in response.content.decode()
    assert not HomeVisit.objects.exists()
    assert VisitTarget.objects.get(pk=target.pk).status == VisitTarget.Status.OPEN


def _labels(content: bytes) -> set[str]:
    """The 户主或儿童 column of the not-visited list (below its title and header rows)."""
    book = CalamineWorkbook.from_filelike(io.BytesIO(content))
    rows = book.get_sheet_by_index(0).to_python()
    return {str(row[1]) for row in rows[2:]}


def test_the_households_not_yet_visited_export_as_xlsx_and_the_export_is_logged(world, login):
    campaign = _make(login("office"), world)
    office = login("office")
    response = office.get(reverse("visits:not_visited", args=[campaign.public_id]))
    assert response.status_code == 200
    assert _labels(response.content) == {"吴老大", "龙雨欣", "石丽"}
    assert AuditEvent.objects.filter(action="visits.not_visited_exported").exists()
    # A village cadre's list holds its own village's households only.
    cadre = login("village_a")
    mine = cadre.get(reverse("visits:not_visited", args=[campaign.public_id]))
    assert _labels(mine.content) == {"吴老大", "龙雨欣"}


def test_another_township_s_campaign_is_404(world, login):
    campaign = _make(login("office"), world)
    for name in ("nobody",):
        other = login(name)
        url = reverse("visits:campaign_detail", args=[campaign.public_id])
        assert other.get(url).status_code == 404


def _docx_text(content: bytes) -> str:
    import zipfile

    with zipfile.ZipFile(io.BytesIO(content)) as z:
        return z.read("word/document.xml").decode()


def test_a_visit_downloads_as_the_word_record_with_its_photo_and_the_ledger_as_xlsx(
    world, login, persona, settings, tmp_path
):
    import zipfile

    settings.MEDIA_ROOT = tmp_path
    campaign = _make(login("office"), world)
    target = campaign.targets.get(label="吴老大")
    child = Child.objects.get(name="吴俊辉")
    office = login("office")
    office.post(
        reverse("visits:visit_record", args=[target.pk]),
        {
            "client_id": "w1",
            "method": "home",
            "visited_on": timezone.localdate().isoformat(),
            "visitors": "乡控辍办",
            "child": [child.pk],
            f"seen_{child.pk}": "1",
            f"status_{child.pk}": "in_school",
            "problems": f"身份证号 {child.id_number} 与户口本不符",
            "subsidies": ["meals"],
            "photos": [_png()],
        },
    )
    visit = HomeVisit.objects.get()
    response = office.get(reverse("visits:visit_docx", args=[visit.public_id]))
    assert response.status_code == 200
    text = _docx_text(response.content)
    assert "家访记录表" in text and "吴俊辉" in text and "营养餐" in text
    assert child.id_number not in text  # the typed number is masked in the record
    with zipfile.ZipFile(io.BytesIO(response.content)) as z:
        assert any(name.startswith("word/media/") for name in z.namelist())
    assert AuditEvent.objects.filter(action="visits.record_exported").exists()

    ledger = office.get(reverse("visits:ledger", args=[campaign.public_id]))
    book = CalamineWorkbook.from_filelike(io.BytesIO(ledger.content))
    rows = book.get_sheet_by_index(0).to_python()[2:]
    by_label = {str(r[2]): r for r in rows}
    assert set(by_label) == {"吴老大", "龙雨欣", "石丽"}
    assert by_label["吴老大"][7] == "已走访" and "在校就读" in str(by_label["吴老大"][10])
    assert AuditEvent.objects.filter(action="visits.ledger_exported").exists()


def test_an_edit_made_elsewhere_meanwhile_is_shown_as_a_conflict_with_both_texts(
    world, login, persona
):
    campaign = _make(login("office"), world)
    target = campaign.targets.get(label="吴老大")
    office = login("office")
    office.post(
        reverse("visits:visit_record", args=[target.pk]),
        {"client_id": "e1", "visited_on": timezone.localdate().isoformat(), "visitors": "乡控辍办"},
    )
    visit = HomeVisit.objects.get()
    url = reverse("visits:visit_edit", args=[visit.public_id])
    form = {"visited_on": timezone.localdate().isoformat(), "visitors": "乡控辍办", "version": "1"}
    first = office.post(url, {**form, "problems": "家长同意开学送孩子返校"})
    assert first.status_code == 302
    stale = office.post(url, {**form, "problems": "孩子仍在外务工"})
    page = stale.content.decode()
    assert stale.status_code == 409 and 'data-testid="visit-conflict"' in page
    assert "家长同意开学送孩子返校" in page and "孩子仍在外务工" in page  # theirs and mine
    visit.refresh_from_db()
    assert visit.problems == "家长同意开学送孩子返校" and visit.version == 2
    # Someone who may not record there cannot change it either.
    assert login("village_a").post(url, {**form, "version": "2"}).status_code == 404


def test_the_forms_print_filled_in_for_a_visitor_without_a_smartphone(world, login, persona):
    campaign = _make(login("office"), world)
    office = login("office")
    page = office.get(reverse("visits:print", args=[campaign.public_id])).content.decode()
    assert page.count('data-testid="print-form"') == 3
    assert "吴俊辉" in page and "家访记录表" in page
    assert AuditEvent.objects.filter(action="visits.forms_printed").exists()
    one = office.get(
        reverse("visits:print", args=[campaign.public_id]), {"village": world.village_b.pk}
    ).content.decode()
    assert one.count('data-testid="print-form"') == 1 and "石丽" in one and "吴俊辉" not in one
