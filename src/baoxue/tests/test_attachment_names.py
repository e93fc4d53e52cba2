"""Issue 22 §8: the stored name of an attachment ends in the extension of its real type, whatever
the uploaded name says (a PNG called 证明.pdf, a PDF called photo.jpg.exe). It belongs in
cases/tests; it was written while another change was under way there."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile

from baoxue.cases import services

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 64
PDF = b"%PDF-1.7\n" + b"\x00" * 64


@pytest.fixture
def case(world, persona, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    child = world.child("吴俊辉")
    return services.case_open(actor=persona("office"), child=child, note="未到校")


@pytest.mark.parametrize(
    ("uploaded_name", "content", "extension"),
    [
        ("证明.pdf", PNG, ".png"),
        ("photo.jpg.exe", PDF, ".pdf"),
        ("scan.png", JPEG, ".jpg"),
        ("无扩展名", PNG, ".png"),
    ],
)
def test_the_stored_name_ends_in_the_real_type(case, persona, uploaded_name, content, extension):
    upload = SimpleUploadedFile(uploaded_name, content)
    item = services.attachment_add(actor=persona("office"), case=case, upload=upload)
    stored = item.file.name
    assert stored.endswith(extension)
    assert stored.count(".") == 1  # no part of the uploaded name is kept in it
    assert "证明" not in stored and "photo" not in stored
    assert item.name == uploaded_name  # the name the user gave is shown, not used as a path


def test_a_file_of_another_type_is_refused(case, persona):
    upload = SimpleUploadedFile("run.pdf", b"MZ\x90\x00" + b"\x00" * 64)
    with pytest.raises(ValidationError):
        services.attachment_add(actor=persona("office"), case=case, upload=upload)
    assert not case.attachments.exists()
