from __future__ import annotations

import base64

import pytest
from cryptography.exceptions import InvalidTag

from baoxue.core import crypto


def test_round_trip_and_nonce():
    a = crypto.encrypt("450225201605020011")
    b = crypto.encrypt("450225201605020011")
    assert a != b  # a fresh nonce every time: equal numbers do not look equal at rest
    assert crypto.decrypt(a) == crypto.decrypt(b) == "450225201605020011"
    assert crypto.encrypt("") == "" and crypto.decrypt("") == ""


def test_lookup_hash_is_deterministic_and_keyed():
    h = crypto.lookup_hash("450225201605020011")
    assert h == crypto.lookup_hash("450225201605020011")
    assert len(h) == 64 and "450225" not in h
    other = crypto.keyring_from_master(b"\x01" * 32)
    assert other.mac_key != crypto.get_keyring().mac_key


def test_tampered_value_is_refused():
    token = crypto.encrypt("秘密")
    version, key_id, body = token.split(":")
    flipped = body[:-2] + ("A" if body[-2] != "A" else "B") + body[-1]
    with pytest.raises(InvalidTag):
        crypto.decrypt(f"{version}:{key_id}:{flipped}")


def test_value_from_another_key_is_reported():
    with pytest.raises(crypto.KeyError_):
        crypto.decrypt("1:deadbeef:AAAA")


def test_key_file_is_created_once_with_private_permissions(tmp_path):
    path = crypto.create_key_file(tmp_path)
    first = path.read_text()
    assert len(base64.b64decode(first)) == 32
    assert path.stat().st_mode & 0o777 == 0o600
    assert crypto.create_key_file(tmp_path).read_text() == first  # never replaced


def test_wrong_key_length_is_refused():
    with pytest.raises(crypto.KeyError_):
        crypto.keyring_from_master(b"short")


def test_nonces_never_repeat_across_batches_or_after_a_fork():
    import os

    seen = {crypto._nonces.take() for _ in range(crypto._Nonces.BATCH * 2 + 5)}
    assert len(seen) == crypto._Nonces.BATCH * 2 + 5
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: its first nonce must be none its parent has handed out
        os.write(write, crypto._nonces.take())
        os._exit(0)
    os.waitpid(pid, 0)
    child = os.read(read, 12)
    assert len(child) == 12 and child not in seen and child != crypto._nonces.take()
