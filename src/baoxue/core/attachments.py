"""Files people attach — a photo of a home visit, a scanned 就读证明, a signed notice — kept
the same way by every app: checked by their first bytes (not their name) and their size,
stored under an opaque name (no child's name reaches storage or a URL; the default storage
encrypts them, core/storage.py), served only through a view that has checked the scope and
logged the view, and made small for a Word file without their EXIF (which may say where a
family lives).

An app's attachment model inherits `StoredFile` and says where its files go (`folder()`); its
service calls `accept(upload)` then `store(item, upload)`; its view answers with `serve(item)`
after its own scope check (`cases.models.Attachment`, `cases.services.attachment_add`,
`cases.views.case_attachment`).
"""

from __future__ import annotations

import uuid
from io import BytesIO
from typing import Any, TypeVar

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import UploadedFile
from django.db import models
from django.http import FileResponse, Http404
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from PIL import Image, ImageOps

# What may be attached, by the type its first bytes show, and the extension it is stored with.
TYPES = {
    "image/jpeg": "jpg",
    "image/png": "png",
    "image/heic": "heic",
    "application/pdf": "pdf",
}
PHOTO_TYPES = frozenset({"image/jpeg", "image/png"})  # what Pillow reads without plugins
# A photo made small: at most this many pixels on the long side. A picture that claims more
# than _MAX_PIXELS is not decoded at all (a decompression bomb).
PHOTO_MAX_SIDE = 1600
PHOTO_QUALITY = 80
_MAX_PIXELS = 60_000_000


def upload_to(instance: StoredFile, filename: str) -> str:
    """Opaque names: the model's folder and a random name, with the extension `store` chose
    from the file's first bytes."""
    suffix = filename.rsplit(".", 1)[-1] if filename.startswith("upload.") else "bin"
    if suffix not in set(TYPES.values()):
        suffix = "bin"
    return f"{instance.folder()}/{uuid.uuid4().hex}.{suffix}"


class StoredFile(models.Model):
    """A file someone attached: its opaque public id, the stored file, the name it had, what
    its bytes are, its size, and who attached it when."""

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    file = models.FileField(upload_to=upload_to, max_length=200)
    name = models.CharField(gettext_lazy("文件名"), max_length=200)
    content_type = models.CharField(max_length=100)
    size = models.PositiveIntegerField()
    uploaded_by = models.ForeignKey(
        "accounts.User", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    uploaded_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        abstract = True

    def __str__(self) -> str:
        return self.name

    def folder(self) -> str:
        """Where in storage the model keeps its files (no name of a person in it)."""
        raise NotImplementedError

    @property
    def is_photo(self) -> bool:
        return self.content_type in PHOTO_TYPES


F = TypeVar("F", bound=StoredFile)


def sniff(head: bytes) -> str | None:
    """The type of a file by its first 16 bytes, if it is one that may be attached."""
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if head[4:12] in {b"ftypheic", b"ftypheix", b"ftypmif1", b"ftyphevc"}:
        return "image/heic"
    if head.startswith(b"%PDF-"):
        return "application/pdf"
    return None


def accept(upload: UploadedFile) -> str:
    """The upload's type, or ValidationError in words: empty, too large, or not a photo or PDF."""
    limit = settings.BAOXUE_ATTACHMENT_MAX_MB * 1024 * 1024
    if upload.size is None or upload.size == 0:
        raise ValidationError(_("文件是空的。"))
    if upload.size > limit:
        raise ValidationError(
            _("文件太大（最大 %(mb)s MB），请压缩照片后再上传。")
            % {"mb": settings.BAOXUE_ATTACHMENT_MAX_MB}
        )
    head = upload.read(16)
    upload.seek(0)
    content_type = sniff(head)
    if content_type is None:
        raise ValidationError(_("只能上传照片（JPG、PNG、HEIC）或 PDF 扫描件。"))
    return content_type


def store(item: F, upload: UploadedFile, content_type: str, *, by: Any) -> F:
    """Save the file and its row (call inside the caller's transaction): under an opaque name
    with the extension of what its bytes are, so that neither a child's name nor a misleading
    extension from the uploaded name reaches storage; a failed insert leaves no file behind.
    `by`: the user who attached it (accounts.actors.person), None for the system."""
    item.name = (upload.name or "file")[-200:]
    item.content_type = content_type
    item.size = upload.size or 0
    item.uploaded_by = by
    item.file.save("upload." + TYPES[content_type], upload, save=False)
    try:
        item.save()
    except Exception:
        item.file.delete(save=False)
        raise
    return item


def forget(items: list[Any]) -> None:
    """Stored files whose rows were rolled back (a refused move): the files go too."""
    for item in items:
        item.file.delete(save=False)


def open_stored(field: Any) -> Any:
    """The stored file open for reading; 404 (not a server error) when storage has lost it or
    it does not decrypt, e.g. a data directory restored without its media folder."""
    try:
        return field.open("rb")
    except (FileNotFoundError, OSError):
        raise Http404 from None


def serve(item: StoredFile) -> FileResponse:
    """The file, for a view that has checked the scope and logged the view: photos shown in
    the page, a PDF downloaded (a browser's PDF viewer runs scripts a scan does not need)."""
    return FileResponse(
        open_stored(item.file),
        filename=item.name,
        content_type=item.content_type,
        as_attachment=item.content_type == "application/pdf",
    )


def small_photo(item: StoredFile, *, side: int = PHOTO_MAX_SIDE) -> tuple[bytes, int, int] | None:
    """The photo as a small JPEG with its size in pixels, turned upright as the phone took it
    and without its EXIF; None when the file is lost from storage, damaged, too large to
    decode safely, or not the image its type says."""
    try:
        with item.file.open("rb") as handle, Image.open(handle) as image:
            image.draft("RGB", (side, side))  # JPEG: decode at 1/2…1/8
            if image.width * image.height > _MAX_PIXELS:
                return None
            upright = ImageOps.exif_transpose(image)
            upright.thumbnail((side, side), Image.Resampling.LANCZOS)
            if "A" in upright.getbands() or "transparency" in upright.info:
                # A transparent PNG: on white paper, not on JPEG's black.
                rgba = upright.convert("RGBA")
                flat = Image.new("RGB", rgba.size, "white")
                flat.paste(rgba, mask=rgba.getchannel("A"))
            else:
                flat = upright.convert("RGB")
            out = BytesIO()
            flat.save(out, "JPEG", quality=PHOTO_QUALITY, optimize=True)
            return out.getvalue(), flat.width, flat.height
    except (OSError, ValueError, SyntaxError, EOFError, Image.DecompressionBombError):
        # OSError covers a file lost from storage and Pillow's UnidentifiedImageError; the
        # others are what Pillow's decoders raise on a damaged file.
        return None
