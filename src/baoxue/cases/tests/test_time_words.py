"""Time and words on the case papers: the ledger and the Word files in local time (the database
keeps UTC), a notice refused until the child has a guardian, and the 一人一案 file with its
photos made small."""

from __future__ import annotations

import zipfile
from datetime import UTC, date, datetime
from io import BytesIO

import docx
import pytest
from django.contrib.messages import get_messages
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from docx.shared import Cm
from PIL import Image

from baoxue.cases import documents, ledger
from baoxue.cases.models import Case
from baoxue.cases.services import attachment_add
from baoxue.core import attachments
from baoxue.core.models import AuditEvent
from baoxue.registry import services as registry_services

# 20:30 in UTC is 04:30 the next morning in Asia/Shanghai.
EVENING_UTC = datetime(2026, 12, 6, 20, 30, tzinfo=UTC)
NEW_YEAR_EVE_UTC = datetime(2026, 12, 31, 17, 0, tzinfo=UTC)


def _case(world, name: str) -> Case:
    return Case.objects.create(
        child=world.child(name),
        kind=Case.Kind.DROPPED_OUT,
        status=Case.Status.PERSUADING,
        township=world.township,
        village=world.village_a,
        school=world.school_x,
        began_on=date(2026, 9, 1),
    )


@pytest.fixture
def case(world):
    """吴俊辉's case (his father 吴老大 is his recorded guardian), opened on a December evening."""
    case = _case(world, "吴俊辉")
    Case.objects.filter(pk=case.pk).update(opened_at=EVENING_UTC)
    case.refresh_from_db()
    return case


@pytest.fixture
def orphan_case(world):
    """龙雨欣's case: no guardian is recorded for her."""
    assert not world.child("龙雨欣").guardians.exists()
    return _case(world, "龙雨欣")


def text_of(data: bytes) -> str:
    document = docx.Document(BytesIO(data))
    parts = [p.text for p in document.paragraphs]
    for table in document.tables:
        for row in table.rows:
            parts.extend(cell.text for cell in row.cells)
    return "\n".join(parts)


# --- local time -----------------------------------------------------------------------------


def test_the_ledger_dates_a_case_by_the_local_day(case, persona):
    Case.objects.filter(pk=case.pk).update(status=Case.Status.CLOSED, closed_at=NEW_YEAR_EVE_UTC)
    columns = ledger.headers()

    (row,) = ledger.rows(
        persona("office"), Case.objects.filter(pk=case.pk), full_ids=False, progress=None
    )

    assert row[columns.index("立案日期")] == "2026-12-07"
    assert row[columns.index("结案日期")] == "2027-01-01"


def test_the_case_file_gives_the_local_time(case):
    text = text_of(documents.case_file(case))

    assert "2026年12月7日 04:30" in text
    assert "2026年12月6日" not in text


# --- a notice needs the guardian ---------------------------------------------------------------


@pytest.mark.parametrize("kind", list(documents.NOTICE_KINDS))
def test_a_notice_for_a_child_without_a_guardian_asks_for_the_guardian_first(orphan_case, kind):
    with pytest.raises(ValidationError) as refused:
        documents.render_notice(orphan_case, kind)

    message = " ".join(refused.value.messages)
    assert "龙雨欣还没有登记监护人" in message
    assert "请先在儿童页面登记监护人" in message


def test_the_notice_page_says_so_and_exports_nothing(orphan_case, login):
    client = login("office")
    response = client.get(reverse("cases:notice", args=[orphan_case.public_id, "return_notice"]))

    assert response.status_code == 302
    assert response["Location"].endswith("#documents")
    said = [str(m) for m in get_messages(response.wsgi_request)]
    assert len(said) == 1 and "请先在儿童页面登记监护人" in said[0]
    assert not AuditEvent.objects.filter(action="case.notice_exported").exists()


def test_a_guardian_without_a_phone_leaves_room_to_write_it_in(orphan_case):
    registry_services.guardian_add(
        actor=None, child=orphan_case.child, name="龙母", relation="mother", is_primary=True
    )

    text = text_of(documents.render_notice(orphan_case, "school_report"))

    assert "监护人龙母（母亲，联系电话" + documents.BLANK + "）" in text
    assert "（监护人，联系电话）" not in text


# --- photos in the 一人一案 file -----------------------------------------------------------------


def _png(size: tuple[int, int]) -> bytes:
    """A transparent PNG with a gradient (compresses like a photo, not like noise)."""
    image = Image.linear_gradient("L").resize(size).convert("RGBA")
    image.putalpha(128)
    out = BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


def _jpeg(size: tuple[int, int], *, orientation: int | None = None) -> bytes:
    """A JPEG with grain, so that it weighs what a phone photo of its size weighs."""
    grain = Image.blend(Image.linear_gradient("L").resize(size), Image.effect_noise(size, 40), 0.5)
    image = Image.merge("RGB", [grain] * 3)
    exif = Image.Exif()
    if orientation is not None:
        exif[0x0112] = orientation
    out = BytesIO()
    image.save(out, "JPEG", quality=95, exif=exif)
    return out.getvalue()


@pytest.fixture
def photos(case, persona, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    office = persona("office")

    def add(name: str, content: bytes) -> None:
        attachment_add(actor=office, case=case, upload=SimpleUploadedFile(name, content))

    add("家访合影.png", _png((2400, 3200)))
    # Taken with the phone held upright: stored 3000 × 2000, EXIF says turn it a quarter.
    add("就读证明.jpg", _jpeg((3000, 2000), orientation=6))
    add("户口本.heic", b"\x00\x00\x00\x18ftypheic" + b"\x00" * 64)
    add("转学证明.pdf", b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n" + b"0" * 64)
    add("损坏的照片.jpg", b"\xff\xd8\xff\xe0" + b"\x00" * 64)
    add("丢失的照片.jpg", _jpeg((800, 600)))
    lost = case.attachments.get(name="丢失的照片.jpg")
    lost.file.storage.delete(lost.file.name)
    return case


def test_the_case_file_carries_its_photos_made_small(photos):
    data = documents.case_file(photos)

    with zipfile.ZipFile(BytesIO(data)) as package:
        media = sorted(n for n in package.namelist() if n.startswith("word/media/"))
        images = [Image.open(BytesIO(package.read(name))) for name in media]
    assert len(images) == 2
    assert all(image.format == "JPEG" for image in images)
    assert all(max(image.size) <= attachments.PHOTO_MAX_SIDE for image in images)
    # Upright as taken, and without the EXIF that may say where the family lives.
    assert sorted(image.size for image in images) == [(1067, 1600), (1200, 1600)]
    assert all(not image.getexif() for image in images)
    photos_stored = sum(
        a.size for a in photos.attachments.filter(name__in=["家访合影.png", "就读证明.jpg"])
    )
    assert photos_stored > 3_000_000 and len(data) < photos_stored / 3
    shapes = docx.Document(BytesIO(data)).inline_shapes
    assert len(shapes) == 2
    assert all(shape.width <= Cm(documents.PHOTO_WIDTH_CM) for shape in shapes)


def test_the_case_file_lists_what_it_cannot_carry_by_name(photos):
    text = text_of(documents.case_file(photos))

    listed = text[text.index("以下附件未放入本档案") :]
    for name in ("户口本.heic", "转学证明.pdf", "损坏的照片.jpg", "丢失的照片.jpg"):
        assert name in listed
    assert "PDF 扫描件" in listed and "照片无法读取" in listed
    # The photos carried are captioned with their names.
    assert "家访合影.png" in text and "就读证明.jpg" in text
    assert "家访合影.png" not in listed


def test_a_case_without_attachments_says_none(case):
    text = text_of(documents.case_file(case))

    assert text[text.index("十一、照片及附件") :].split("\n")[1] == "（无）"
