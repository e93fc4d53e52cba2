"""Stored files encrypted with the field key (issue 22 §4).

An uploaded roster or 学籍 file, a ledger export and a scanned 户籍 certificate hold whole ID
numbers; on disk (or in a bucket) they are as sensitive as the database, so they are kept
encrypted under a key derived from the same field key (core.crypto), which lives outside the
media tree. A copied media folder alone reveals nothing.

The format streams (a 200 MB CSV is never held in memory): a header (magic, key id, a random
7-byte nonce prefix), then chunks of at most 1 MiB, each sealed with AES-256-GCM under the
nonce prefix + the chunk's number + a last-chunk flag (the STREAM construction), so chunks
cannot be reordered, dropped or cut off without the read failing. A file stored before this
existed (no magic) is read as it is, and `encrypt_stored_files` (run by `baoxue sweep`)
encrypts it in place.
"""

from __future__ import annotations

import os
import secrets
import struct
import tempfile
from collections.abc import Iterable, Iterator
from typing import IO, Any

from django.core.files import File
from django.core.files.storage import FileSystemStorage
from django.utils.translation import gettext as _

from baoxue.core import crypto

MAGIC = b"BXF1"
CHUNK = 1 << 20
PREFIX = 7
SPOOL = 8 << 20  # decrypted files up to this stay in memory, larger ones in a temporary file
_LENGTH = struct.Struct(">I")


class StoredFileError(OSError):
    """A stored file that does not decrypt: another key, or a damaged or cut-off file. An
    OSError, as a file that cannot be read is: the pages that serve files answer 404 for it
    and an import run records it in words, never a server error."""


def _nonce(prefix: bytes, counter: int, last: bool) -> bytes:
    return prefix + struct.pack(">I", counter) + (b"\x01" if last else b"\x00")


def _rechunk(pieces: Iterable[bytes]) -> Iterator[tuple[bytes, bool]]:
    """The plaintext in CHUNK-sized pieces, each with whether it is the last (an empty input
    is one empty last piece)."""
    buffer = b""
    pending: bytes | None = None
    for piece in pieces:
        buffer += piece
        while len(buffer) >= CHUNK:
            if pending is not None:
                yield pending, False
            pending, buffer = buffer[:CHUNK], buffer[CHUNK:]
    if buffer or pending is None:
        if pending is not None:
            yield pending, False
        yield buffer, True
    else:
        yield pending, True


def encrypt_stream(pieces: Iterable[bytes], out: IO[bytes]) -> None:
    ring = crypto.get_keyring()
    key_id = ring.key_id.encode()
    prefix = secrets.token_bytes(PREFIX)
    out.write(MAGIC + key_id + prefix)
    aad = MAGIC + key_id
    for counter, (chunk, last) in enumerate(_rechunk(pieces)):
        sealed = ring.file_cipher.encrypt(_nonce(prefix, counter, last), chunk, aad)
        out.write(_LENGTH.pack(len(sealed)) + sealed)


def _exactly(handle: IO[bytes], size: int) -> bytes:
    data = handle.read(size)
    if len(data) != size:
        raise StoredFileError(_("保存的文件不完整（被截断），无法读取。"))
    return data


def decrypt_stream(handle: IO[bytes], out: IO[bytes]) -> None:
    """Decrypt a file written by encrypt_stream (from after nothing: the magic included)."""
    ring = crypto.get_keyring()
    if _exactly(handle, len(MAGIC)) != MAGIC:
        raise StoredFileError(_("这不是系统加密保存的文件。"))
    key_id = _exactly(handle, len(ring.key_id.encode()))
    if key_id.decode(errors="replace") != ring.key_id:
        raise StoredFileError(
            _("保存的文件是用另一个字段密钥加密的：请设置正确的 BAOXUE_FIELD_KEY。")
        )
    prefix = _exactly(handle, PREFIX)
    aad = MAGIC + key_id
    counter = 0
    while True:
        head = handle.read(_LENGTH.size)
        if not head:
            raise StoredFileError(_("保存的文件不完整（被截断），无法读取。"))
        sealed = _exactly(handle, _LENGTH.unpack(head)[0])
        last = not handle.peek(1) if hasattr(handle, "peek") else _at_end(handle)
        try:
            out.write(ring.file_cipher.decrypt(_nonce(prefix, counter, last), sealed, aad))
        except Exception as exc:  # InvalidTag: tampered, reordered or truncated
            raise StoredFileError(_("保存的文件已损坏或被改动，无法读取。")) from exc
        if last:
            return
        counter += 1


def _at_end(handle: IO[bytes]) -> bool:
    here = handle.tell()
    handle.seek(0, os.SEEK_END)
    end = handle.tell()
    handle.seek(here)
    return here == end


def is_encrypted(head: bytes) -> bool:
    return head.startswith(MAGIC)


class EncryptedStorageMixin:
    """Encrypts what is saved and decrypts what is opened; names, sizes on disk, listing and
    deleting are the underlying storage's."""

    encrypted = True

    def _save(self, name: str, content: Any) -> str:
        with tempfile.SpooledTemporaryFile(max_size=SPOOL) as sealed:
            if hasattr(content, "seek") and getattr(content, "seekable", lambda: True)():
                content.seek(0)
            encrypt_stream(content.chunks(), sealed)
            sealed.seek(0)
            return super()._save(name, File(sealed, name=name))  # type: ignore[misc]

    def _open(self, name: str, mode: str = "rb") -> File:
        if "w" in mode or "a" in mode or "+" in mode:
            raise ValueError("stored files are written with save(), not opened for writing")
        return DecryptedFile(self._decrypted(name), name=name, storage=self)

    def _decrypted(self, name: str) -> Any:
        """The stored file's content in a temporary file (in memory up to SPOOL)."""
        raw = super()._open(name, "rb")  # type: ignore[misc]
        with raw:
            head = raw.read(len(MAGIC))
            raw.seek(0)
            # Returned open to the caller, who closes it.
            plain: Any = tempfile.SpooledTemporaryFile(max_size=SPOOL)  # noqa: SIM115
            try:
                if is_encrypted(head):
                    decrypt_stream(raw.file if hasattr(raw, "file") else raw, plain)
                else:  # stored before files were encrypted: read as it is
                    for piece in iter(lambda: raw.read(CHUNK), b""):
                        plain.write(piece)
            except BaseException:
                plain.close()
                raise
        plain.seek(0)
        return plain


class DecryptedFile(File):
    """A stored file's decrypted content; reopened (FieldFile.open after a close) by
    decrypting it again, since no plain copy has a path on disk."""

    def __init__(self, file: Any, name: str, storage: EncryptedStorageMixin) -> None:
        super().__init__(file, name=name)
        self._storage = storage

    def open(self, mode: str | None = None, *args: Any, **kwargs: Any) -> DecryptedFile:
        if not self.closed:
            self.seek(0)
        else:
            self.file = self._storage._decrypted(str(self.name))
        return self


class EncryptedFileSystemStorage(EncryptedStorageMixin, FileSystemStorage):
    """The default storage: MEDIA_ROOT on the local disk, every file encrypted."""

    def encrypt_in_place(self, name: str) -> bool:
        """Encrypt a file stored before files were encrypted. Returns whether it was."""
        path = self.path(name)
        with open(path, "rb") as handle:
            if is_encrypted(handle.read(len(MAGIC))):
                return False
            handle.seek(0)
            folder = os.path.dirname(path)
            fd, temporary = tempfile.mkstemp(dir=folder, prefix=".encrypting-")
            try:
                with os.fdopen(fd, "wb") as out:
                    encrypt_stream(iter(lambda: handle.read(CHUNK), b""), out)
                os.chmod(temporary, 0o600)
                os.replace(temporary, path)
            except BaseException:
                if os.path.exists(temporary):
                    os.unlink(temporary)
                raise
        return True


def encrypt_stored_files() -> int:
    """Encrypt, in place, every file of the default storage kept in clear (files saved before
    encryption existed). Local storage only; returns how many were encrypted."""
    from django.core.files.storage import default_storage

    storage = getattr(default_storage, "_wrapped", default_storage)
    if not isinstance(storage, EncryptedFileSystemStorage):
        return 0
    done = 0
    for folder, _dirs, files in os.walk(storage.location):
        for filename in files:
            if filename.startswith(".encrypting-"):
                continue
            name = os.path.relpath(os.path.join(folder, filename), storage.location)
            done += storage.encrypt_in_place(name)
    return done


def __getattr__(name: str) -> Any:
    """EncryptedS3Storage, built only when asked for (django-storages is an optional extra)."""
    if name == "EncryptedS3Storage":
        from storages.backends.s3 import S3Storage

        return type("EncryptedS3Storage", (EncryptedStorageMixin, S3Storage), {})
    raise AttributeError(name)
