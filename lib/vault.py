"""Credentials encrypted at rest with Fernet. The key lives in a 0600 file beside (not inside) the database,
so a copied database alone reveals nothing. Plain secrets never leave this module except to the client
that needs them."""

from __future__ import annotations

import json
import os
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
                self.key_file.parent.mkdir(parents=True, exist_ok=True)
                # O_EXCL: two processes starting at once must not both write a key.
                try:
                    fd = os.open(self.key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                except FileExistsError:
                    pass
                else:
                    with os.fdopen(fd, "wb") as fh:
                        fh.write(Fernet.generate_key())
            os.chmod(self.key_file, 0o600)
            self._fernet = Fernet(self.key_file.read_bytes().strip())
        return self._fernet

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
