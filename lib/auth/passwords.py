"""Password hashing (argon2id through argon2-cffi: salted, constant-time verify) and a throttle that makes
guessing slow: after a few failed attempts for a name, that name is locked for a time that doubles."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from lib.errors import InputError

MIN_LENGTH = 10
MAX_LENGTH = 1024  # argon2 takes any length; this keeps a pasted novel from tying up the CPU

FREE_ATTEMPTS = 3  # failures allowed before the lock starts
FIRST_LOCK_SECONDS = 2.0
MAX_LOCK_SECONDS = 15 * 60.0

_hasher = PasswordHasher()  # argon2id, RFC 9106 low-memory profile


def check_strength(password: str) -> None:
    if len(password) < MIN_LENGTH:
        raise InputError(f"A password needs at least {MIN_LENGTH} characters. Nothing was changed.")
    if len(password) > MAX_LENGTH:
        raise InputError(f"A password may have at most {MAX_LENGTH} characters. Nothing was changed.")


def hash_password(password: str) -> str:
    check_strength(password)
    return _hasher.hash(password)


@lru_cache(maxsize=1)
def _dummy_hash() -> str:
    # Verified against when the name is unknown, so an unknown name costs the same time as a wrong password.
    return _hasher.hash("not a password anyone has: unknown user")


def verify(stored_hash: str | None, password: str) -> bool:
    """True when the password matches. Unknown users (None) verify against a dummy hash and always fail."""
    target = stored_hash or _dummy_hash()
    try:
        ok = _hasher.verify(target, password[:MAX_LENGTH])
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False
    return bool(ok) and stored_hash is not None


def needs_rehash(stored_hash: str) -> bool:
    return _hasher.check_needs_rehash(stored_hash)


@dataclass
class _Record:
    failures: int = 0
    locked_until: float = 0.0


class Throttle:
    """Failed sign-ins per name (known or not). In memory, per process; `clock` is injectable for tests."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self._records: dict[str, _Record] = {}
        self._lock = threading.Lock()

    def wait_for(self, key: str) -> float:
        """Seconds until this name may try again (0: now)."""
        with self._lock:
            rec = self._records.get(key)
            return max(0.0, rec.locked_until - self.clock()) if rec else 0.0

    def failed(self, key: str) -> None:
        with self._lock:
            rec = self._records.setdefault(key, _Record())
            rec.failures += 1
            over = rec.failures - FREE_ATTEMPTS
            if over >= 0:
                rec.locked_until = self.clock() + min(MAX_LOCK_SECONDS, FIRST_LOCK_SECONDS * 2**over)

    def succeeded(self, key: str) -> None:
        with self._lock:
            self._records.pop(key, None)


THROTTLE = Throttle()
