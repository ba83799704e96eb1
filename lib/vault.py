"""Credentials encrypted at rest with Fernet. The key lives in a 0600 file beside (not inside) the database,
so a copied database alone reveals nothing. Plain secrets never leave this module except to the client
that needs them."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

from cryptography.fernet import Fernet, InvalidToken

from lib.errors import VaultError


class Vault:
    def __init__(self, key_file: Path) -> None:
        self.key_file = Path(key_file)
        self._fernet: Fernet | None = None

    def _key(self) -> Fernet:
        if self._fernet is None:
            if not self.key_file.exists():
                self._create_key()
            try:
                os.chmod(self.key_file, 0o600)
                self._fernet = Fernet(self.key_file.read_bytes().strip())
            except (OSError, ValueError) as exc:
                raise VaultError(
                    f"The key that protects saved credentials ({self.key_file.name} in the data folder) cannot be "
                    "read or is damaged. Restore it from a backup, or delete it and re-enter every connection's "
                    "credentials on the Connect page.",
                    detail=f"{type(exc).__name__}",
                ) from exc
        return self._fernet

    def _create_key(self) -> None:
        """Write a new key so that nobody ever reads a half-written one: the full key goes to a private temp file,
        then os.link publishes it only if no key exists yet (two processes starting at once agree on one key)."""
        self.key_file.parent.mkdir(parents=True, exist_ok=True)
        key = Fernet.generate_key()
        fd, tmp = tempfile.mkstemp(dir=self.key_file.parent, prefix=".vault-key-")  # mode 0600
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(key)
                fh.flush()
                os.fsync(fh.fileno())
            try:
                os.link(tmp, self.key_file)
            except FileExistsError:
                pass  # another process won: use its key
            except OSError:  # no hard links on this filesystem: exclusive create (a tiny window remains)
                try:
                    out = os.open(self.key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                except FileExistsError:
                    return
                with os.fdopen(out, "wb") as fh:
                    fh.write(key)
        finally:
            Path(tmp).unlink(missing_ok=True)

    def encrypt(self, secret: dict[str, Any]) -> bytes:
        return self._key().encrypt(json.dumps(secret).encode())

    def decrypt(self, blob: bytes) -> dict[str, Any]:
        try:
            return dict(json.loads(self._key().decrypt(blob)))
        except (InvalidToken, ValueError) as exc:
            raise VaultError() from exc


def mask(secret: str, keep: int = 4) -> str:
    """What a page may show of a secret: its last few characters."""
    if not secret:
        return ""
    return "•" * 8 + secret[-keep:] if len(secret) > keep * 2 else "•" * 8
