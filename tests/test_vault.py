"""Credentials at rest: encrypted with a key kept outside the database, in a private file."""

from __future__ import annotations

import stat
import threading
from pathlib import Path

import pytest

from lib.errors import VaultError
from lib.vault import Vault, mask

SECRET = {"consumer_key": "ck_live_4f1e2d3c", "consumer_secret": "cs_live_SuperSecretValue123", "port": 443}


def test_round_trip(tmp_path: Path) -> None:
    vault = Vault(tmp_path / "vault.key")
    assert vault.decrypt(vault.encrypt(SECRET)) == SECRET
    # A second Vault on the same key file (another process, a restart) reads it too.
    assert Vault(tmp_path / "vault.key").decrypt(vault.encrypt(SECRET)) == SECRET


def test_key_file_is_created_private(tmp_path: Path) -> None:
    key_file = tmp_path / "nested" / "vault.key"
    Vault(key_file).encrypt({"a": "b"})
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert [p.name for p in key_file.parent.iterdir()] == ["vault.key"]  # no temp file left behind


def test_a_loosened_key_file_is_made_private_again(tmp_path: Path) -> None:
    key_file = tmp_path / "vault.key"
    blob = Vault(key_file).encrypt(SECRET)
    key_file.chmod(0o644)
    assert Vault(key_file).decrypt(blob) == SECRET
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600


def test_ciphertext_does_not_contain_the_secret(tmp_path: Path) -> None:
    vault = Vault(tmp_path / "vault.key")
    blob = vault.encrypt(SECRET)
    for value in ("ck_live_4f1e2d3c", "cs_live_SuperSecretValue123", "consumer_secret"):
        assert value.encode() not in blob
    assert vault.encrypt(SECRET) != blob  # a fresh IV each time: equal secrets do not look equal


def test_a_different_key_cannot_decrypt(tmp_path: Path) -> None:
    blob = Vault(tmp_path / "a.key").encrypt(SECRET)
    with pytest.raises(VaultError) as err:
        Vault(tmp_path / "b.key").decrypt(blob)
    assert "Connect page" in err.value.message


def test_tampered_or_garbage_blobs_are_a_vault_error(tmp_path: Path) -> None:
    vault = Vault(tmp_path / "vault.key")
    blob = bytearray(vault.encrypt(SECRET))
    blob[40] ^= 1
    for bad in (bytes(blob), b"", b"not a token"):
        with pytest.raises(VaultError):
            vault.decrypt(bad)


def test_a_damaged_key_file_is_a_vault_error_not_a_crash(tmp_path: Path) -> None:
    key_file = tmp_path / "vault.key"
    key_file.write_bytes(b"this is not a fernet key")
    with pytest.raises(VaultError) as err:
        Vault(key_file).encrypt(SECRET)
    assert "vault.key" in err.value.message and "this is not" not in err.value.message


def test_vaults_starting_together_agree_on_one_key(tmp_path: Path) -> None:
    key_file = tmp_path / "vault.key"
    vaults = [Vault(key_file) for _ in range(8)]
    start = threading.Barrier(len(vaults))
    blobs: list[bytes] = []

    def run(v: Vault) -> None:
        start.wait()
        blobs.append(v.encrypt(SECRET))

    threads = [threading.Thread(target=run, args=(v,)) for v in vaults]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    reader = Vault(key_file)
    assert len(blobs) == 8 and all(reader.decrypt(b) == SECRET for b in blobs)


def test_mask_shows_only_the_last_characters() -> None:
    assert mask("cs_live_SuperSecretValue123") == "••••••••e123"
    assert mask("short") == "••••••••"  # too short to reveal any of it
    assert mask("") == ""
