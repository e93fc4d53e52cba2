"""Stored files are encrypted with the field key (issue 22 §4): an uploaded roster, a ledger
export and an attachment are unreadable on disk, read back whole, and a damaged, cut-off or
reordered file is refused rather than read wrong; files an older version kept in clear are
read and then encrypted in place by the sweep."""

from __future__ import annotations

import io
import os

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage

from baoxue.core import storage
from baoxue.core.storage import CHUNK, MAGIC, StoredFileError, decrypt_stream, encrypt_stream


@pytest.fixture
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    return tmp_path


@pytest.mark.parametrize("size", [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 3 * CHUNK + 17])
def test_a_stream_round_trips_at_every_chunk_edge(size):
    data = os.urandom(size)
    sealed = io.BytesIO()
    encrypt_stream([data[i : i + 65536] for i in range(0, len(data), 65536)], sealed)
    assert sealed.getvalue().startswith(MAGIC)
    plain = io.BytesIO()
    decrypt_stream(io.BytesIO(sealed.getvalue()), plain)
    assert plain.getvalue() == data


def _sealed(data: bytes) -> bytes:
    out = io.BytesIO()
    encrypt_stream([data], out)
    return out.getvalue()


def test_a_cut_off_or_changed_file_is_refused():
    sealed = _sealed(os.urandom(2 * CHUNK + 5))
    one_chunk = len(MAGIC) + 8 + storage.PREFIX + 4 + CHUNK + 16
    for broken in (
        sealed[:-1],  # the last bytes lost
        sealed[:one_chunk],  # cut at a chunk's edge: the earlier chunk was not the last
        sealed[:40] + bytes([sealed[40] ^ 1]) + sealed[41:],  # one bit changed
    ):
        with pytest.raises(StoredFileError):
            decrypt_stream(io.BytesIO(broken), io.BytesIO())


def test_the_default_storage_keeps_files_encrypted(media):
    secret = "姓名,身份证号\n吴一,450225201605020011\n".encode()
    name = default_storage.save("imports/test/roster.csv", ContentFile(secret))
    on_disk = (media / name).read_bytes()
    assert on_disk.startswith(MAGIC) and b"450225201605020011" not in on_disk
    with default_storage.open(name) as handle:
        assert handle.read() == secret
    # FieldFile reopens a closed file: the content is decrypted again.
    handle = default_storage.open(name)
    handle.close()
    handle.open()
    assert handle.read() == secret
    handle.close()


def test_a_file_kept_in_clear_is_read_and_then_encrypted_by_the_sweep(media):
    folder = media / "imports" / "old"
    folder.mkdir(parents=True)
    (folder / "roster.csv").write_bytes(b"plain old file")
    name = "imports/old/roster.csv"
    with default_storage.open(name) as handle:
        assert handle.read() == b"plain old file"
    assert storage.encrypt_stored_files() >= 1
    assert (folder / "roster.csv").read_bytes().startswith(MAGIC)
    with default_storage.open(name) as handle:
        assert handle.read() == b"plain old file"
    assert storage.encrypt_stored_files() == 0  # nothing left in clear


def test_a_damaged_stored_file_is_a_404_not_a_server_error(world, persona, login, media):
    """An attachment whose stored file was changed on disk (or is under another key) is not
    served: the page answers as for a lost file, never with a traceback."""
    from django.urls import reverse

    from baoxue.cases import services as case_services
    from baoxue.cases.models import Attachment

    case = case_services.case_open(actor=persona("office"), child=world.child("吴俊辉"), note="x")
    item = Attachment.objects.create(
        case=case, name="scan.jpg", content_type="image/jpeg", purpose="proof", size=10
    )
    item.file.save("upload.jpg", ContentFile(b"\xff\xd8\xff scan"), save=True)
    path = media / item.file.name
    sealed = bytearray(path.read_bytes())
    sealed[-3] ^= 1
    path.write_bytes(bytes(sealed))
    url = reverse("cases:attachment", args=[case.public_id, item.public_id])
    assert login("office").get(url).status_code == 404
