"""core.attachments: what any app's attached files go through (cases now, visits next)."""

from __future__ import annotations

from io import BytesIO

import pytest
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.http import Http404
from PIL import Image

from baoxue.core import attachments

PDF = b"%PDF-1.4\n%\xe2\xe3\n1 0 obj\n"


def _png(size=(40, 30)) -> bytes:
    out = BytesIO()
    Image.new("RGB", size, "red").save(out, "PNG")
    return out.getvalue()


@pytest.mark.parametrize(
    ("head", "kind"),
    [
        (b"\xff\xd8\xff\xe0" + b"\0" * 12, "image/jpeg"),
        (b"\x89PNG\r\n\x1a\n" + b"\0" * 8, "image/png"),
        (b"\0\0\0\x18ftypheic" + b"\0" * 4, "image/heic"),
        (PDF[:16], "application/pdf"),
        (b"<html><script>", None),
        (b"PK\x03\x04" + b"\0" * 12, None),  # a zip (or an xlsx) renamed .jpg
    ],
)
def test_a_file_is_known_by_its_first_bytes(head, kind):
    assert attachments.sniff(head) == kind


def test_an_upload_is_refused_in_words_when_empty_too_large_or_not_a_photo(settings):
    settings.BAOXUE_ATTACHMENT_MAX_MB = 1
    with pytest.raises(ValidationError, match="空"):
        attachments.accept(SimpleUploadedFile("a.jpg", b""))
    with pytest.raises(ValidationError, match="太大"):
        attachments.accept(SimpleUploadedFile("a.pdf", PDF + b"\0" * (1024 * 1024)))
    with pytest.raises(ValidationError, match="只能上传照片"):
        attachments.accept(SimpleUploadedFile("照片.jpg", b"<svg onload=alert(1)>"))
    upload = SimpleUploadedFile("潘小明就读证明.png", _png())
    assert attachments.accept(upload) == "image/png"
    assert upload.read(8) == b"\x89PNG\r\n\x1a\n"  # read again from its start


class _Item:
    def folder(self) -> str:
        return "cases/abc"


def test_a_stored_name_is_opaque_and_its_extension_is_what_the_bytes_are():
    stored = attachments.upload_to(_Item(), "upload.pdf")  # type: ignore[arg-type]
    assert stored.startswith("cases/abc/") and stored.endswith(".pdf")
    for name in ("潘小明.php", "x.html", "upload.exe"):
        stored = attachments.upload_to(_Item(), name)  # type: ignore[arg-type]
        assert stored.endswith(".bin") and "潘" not in stored


def test_a_file_lost_from_storage_answers_404():
    class Lost:
        def open(self, mode):
            raise FileNotFoundError

    with pytest.raises(Http404):
        attachments.open_stored(Lost())
