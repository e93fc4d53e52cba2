"""Encryption at rest for identifying numbers (ID numbers, 学籍号, disability card numbers).

AES-256-GCM with a random 96-bit nonce per value; the key lives in the environment
(BAOXUE_FIELD_KEY) or in the data dir (keys/field.key), never in the database, so a copied
database file alone reveals no ID number. Exact lookups and joins use a keyed hash (HMAC-SHA256
under a key derived from the same secret), which is deterministic but useless without the key.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import secrets
import threading
from dataclasses import dataclass
from functools import cached_property, lru_cache
from pathlib import Path

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

TOKEN_VERSION = "1"  # noqa: S105 (a format version, not a secret)


class KeyError_(RuntimeError):
    """The field key is missing or malformed (named so as not to shadow the builtin)."""


@dataclass(frozen=True)
class Keyring:
    key_id: str
    cipher: AESGCM
    mac_key: bytes
    # Stored files (uploaded sources, exports, attachments): core.storage.
    file_cipher: AESGCM

    @cached_property
    def aad(self) -> bytes:  # what every value is bound to: the key's id
        return self.key_id.encode()


def _derive(master: bytes, info: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=info).derive(master)


def keyring_from_master(master: bytes) -> Keyring:
    if len(master) != 32:
        raise KeyError_("the field key must be 32 bytes (base64 of 32 random bytes)")
    key_id = hashlib.sha256(master).hexdigest()[:8]
    return Keyring(
        key_id=key_id,
        cipher=AESGCM(_derive(master, b"baoxue field encryption v1")),
        mac_key=_derive(master, b"baoxue lookup hash v1"),
        file_cipher=AESGCM(_derive(master, b"baoxue file encryption v1")),
    )


def key_file_path(data_dir: Path) -> Path:
    return data_dir / "keys" / "field.key"


def create_key_file(data_dir: Path) -> Path:
    """Create the data dir's field key once; an existing key is never replaced (data would be
    lost)."""
    path = key_file_path(data_dir)
    if path.exists():
        return path
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(base64.b64encode(secrets.token_bytes(32)).decode() + "\n")
    return path


def decode_key(text: str, origin: str) -> bytes:
    """A field key as written in a key file or BAOXUE_FIELD_KEY (base64 of 32 bytes)."""
    return _decode_key(text, origin)


def _decode_key(text: str, origin: str) -> bytes:
    try:
        return base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise KeyError_(f"{origin} is not valid base64") from exc


@lru_cache(maxsize=1)
def get_keyring() -> Keyring:
    from django.conf import settings

    if settings.BAOXUE_FIELD_KEY:
        return keyring_from_master(_decode_key(settings.BAOXUE_FIELD_KEY, "BAOXUE_FIELD_KEY"))
    path = key_file_path(settings.DATA_DIR)
    if not path.exists():
        # First start of an instance: make the key beside the database it protects.
        create_key_file(settings.DATA_DIR)
    return keyring_from_master(_decode_key(path.read_text(), str(path)))


def token_key_id(token: str) -> str:
    return token.split(":", 2)[1] if token.count(":") >= 2 else ""


class _Nonces(threading.local):
    """96-bit random nonces, read from the system's random source many at a time: an import
    encrypts 200,000 numbers, and each read is a system call. Each thread has its own pool
    (no lock), and a forked worker starts with none, so that it never reuses its parent's."""

    BATCH = 4096

    def __init__(self) -> None:
        self.pool = b""
        self.at = 0

    def take(self) -> bytes:
        at = self.at
        if at >= len(self.pool):
            self.pool, at = secrets.token_bytes(12 * self.BATCH), 0
        self.at = at + 12
        return self.pool[at : at + 12]


_nonces = _Nonces()


def _forget_nonces() -> None:
    global _nonces
    _nonces = _Nonces()


os.register_at_fork(after_in_child=_forget_nonces)


def encrypt(plaintext: str) -> str:
    """Encrypt a non-empty string; '' stays '' so that "no number" needs no special column."""
    if not plaintext:
        return ""
    ring = get_keyring()
    nonce = _nonces.take()
    sealed = ring.cipher.encrypt(nonce, plaintext.encode(), ring.aad)
    body = base64.urlsafe_b64encode(nonce + sealed).decode().rstrip("=")
    return f"{TOKEN_VERSION}:{ring.key_id}:{body}"


def decrypt(token: str) -> str:
    if not token:
        return ""
    version, key_id, body = token.split(":", 2)
    ring = get_keyring()
    if version != TOKEN_VERSION or key_id != ring.key_id:
        raise KeyError_("this value was encrypted with another key; set BAOXUE_FIELD_KEY")
    raw = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
    return ring.cipher.decrypt(raw[:12], raw[12:], key_id.encode()).decode()


def lookup_hash(value: str) -> str:
    """Deterministic keyed hash for exact lookups and joins ('' for no value)."""
    if not value:
        return ""
    # hmac.digest is OpenSSL's one-shot HMAC: the same value as hmac.new(...).hexdigest()
    # at a fraction of the cost (imports hash hundreds of thousands of numbers).
    return hmac.digest(get_keyring().mac_key, value.encode(), "sha256").hex()


def suffix_key(last: str) -> str:
    """The keyed blind index of a number's last four characters ('' for none): the last-digits
    search finds its rows without a clear column an attacker with the database could read
    (16 hex characters of an HMAC under the field key, with its own label)."""
    if not last:
        return ""
    return hmac.digest(get_keyring().mac_key, b"id-suffix:" + last.encode(), "sha256").hex()[:16]


def check_key_matches(sample_tokens: list[str]) -> str | None:
    """A message if stored values were encrypted under another key (a second app server that
    made its own key, or a restored database without its key file); None when all is well."""
    ours = get_keyring().key_id
    foreign = {token_key_id(t) for t in sample_tokens if t} - {ours}
    if not foreign:
        return None
    return (
        f"stored ID numbers were encrypted with key {', '.join(sorted(foreign))}, but this "
        f"server's key is {ours}. Set BAOXUE_FIELD_KEY to the instance's key (the same on every "
        "server) or restore keys/field.key from the backup."
    )
