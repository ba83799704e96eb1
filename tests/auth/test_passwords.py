"""The password sign-in: wrong password, unknown user, the rate of attempts, and no password ever stored."""

from __future__ import annotations

from pathlib import Path

import pytest

from lib.auth import passwords, users
from lib.auth.roles import Role, local_admin
from lib.errors import InputError, SignInFailed
from lib.runtime import Runtime

ADMIN = local_admin("root")
SECRET = "correct horse battery staple"


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def throttle() -> passwords.Throttle:
    return passwords.Throttle(clock=FakeClock())


@pytest.fixture
def alice(rt: Runtime) -> None:
    users.add_user(rt.db, actor=ADMIN, name="Alice", role="reviewer", email="alice@corp.example", password=SECRET)


def test_the_right_password_signs_in_with_the_users_role(
    rt: Runtime, alice: None, throttle: passwords.Throttle
) -> None:
    actor = users.sign_in(rt.db, "alice", SECRET, throttle=throttle)
    assert (actor.name, actor.role, actor.email, actor.via) == (
        "alice",
        Role.REVIEWER,
        "alice@corp.example",
        "password",
    )


def test_a_wrong_password_is_refused(rt: Runtime, alice: None, throttle: passwords.Throttle) -> None:
    with pytest.raises(SignInFailed, match="name and password do not match"):
        users.sign_in(rt.db, "alice", SECRET + "!", throttle=throttle)


def test_an_unknown_user_gets_the_same_answer_after_the_same_work(
    rt: Runtime, alice: None, throttle: passwords.Throttle, monkeypatch: pytest.MonkeyPatch
) -> None:
    checked: list[str | None] = []
    real = passwords.verify

    def spy(stored: str | None, password: str) -> bool:
        checked.append(stored)
        return real(stored, password)

    monkeypatch.setattr(passwords, "verify", spy)
    with pytest.raises(SignInFailed) as unknown:
        users.sign_in(rt.db, "mallory", SECRET, throttle=throttle)
    with pytest.raises(SignInFailed) as wrong:
        users.sign_in(rt.db, "alice", "not it at all", throttle=throttle)
    assert unknown.value.message == wrong.value.message
    # Both ran one argon2 verify: the unknown name against the dummy hash (None here), the known one against hers.
    assert checked[0] is None and checked[1] is not None and checked[1].startswith("$argon2id$")
    assert passwords.verify(None, "not a password anyone has: unknown user") is False


def test_attempts_are_throttled_per_name_and_the_lock_doubles(
    rt: Runtime, alice: None, throttle: passwords.Throttle
) -> None:
    clock = throttle.clock
    assert isinstance(clock, FakeClock)
    for _ in range(passwords.FREE_ATTEMPTS):
        with pytest.raises(SignInFailed, match="do not match"):
            users.sign_in(rt.db, "alice", "guess", throttle=throttle)
    # Locked now: even the right password waits, and the message says how long.
    with pytest.raises(SignInFailed, match="Too many attempts for this name. Try again in 2 seconds") as locked:
        users.sign_in(rt.db, "alice", SECRET, throttle=throttle)
    assert locked.value.retry_after == pytest.approx(passwords.FIRST_LOCK_SECONDS)
    clock.now += passwords.FIRST_LOCK_SECONDS
    with pytest.raises(SignInFailed, match="do not match"):
        users.sign_in(rt.db, "alice", "guess again", throttle=throttle)
    assert throttle.wait_for("alice") == pytest.approx(2 * passwords.FIRST_LOCK_SECONDS)
    clock.now += 2 * passwords.FIRST_LOCK_SECONDS
    assert users.sign_in(rt.db, "alice", SECRET, throttle=throttle).name == "alice"
    assert throttle.wait_for("alice") == 0  # a success clears the record


def test_unknown_names_are_throttled_too(rt: Runtime, throttle: passwords.Throttle) -> None:
    for _ in range(passwords.FREE_ATTEMPTS):
        with pytest.raises(SignInFailed, match="do not match"):
            users.sign_in(rt.db, "nobody", "guess", throttle=throttle)
    with pytest.raises(SignInFailed, match="Too many attempts"):
        users.sign_in(rt.db, "nobody", "guess", throttle=throttle)


def test_guessing_is_slow(throttle: passwords.Throttle) -> None:
    """An hour of guessing one name, trying again the moment the lock ends, gets only a handful of tries."""
    clock = throttle.clock
    assert isinstance(clock, FakeClock)
    start, tries = clock.now, 0
    while clock.now - start < 3600:
        clock.now += throttle.wait_for("alice")
        throttle.failed("alice")
        tries += 1
    assert tries < 20


def test_the_password_is_never_stored_only_an_argon2id_hash(rt: Runtime, alice: None) -> None:
    user = users.get_user(rt.db, "alice")
    assert user is not None and user.password_hash is not None
    assert user.password_hash.startswith("$argon2id$") and SECRET not in user.password_hash
    rt.db.dispose()  # checkpoint: every byte the database holds is in these files now
    home = Path(rt.settings.home)
    stored = b"".join(p.read_bytes() for p in home.rglob("*") if p.is_file())
    assert SECRET.encode() not in stored
    assert user.password_hash.encode() in stored


def test_two_users_with_one_password_get_different_hashes(rt: Runtime) -> None:
    users.add_user(rt.db, actor=ADMIN, name="a", role="viewer", password=SECRET)
    users.add_user(rt.db, actor=ADMIN, name="b", role="viewer", password=SECRET)
    a, b = users.get_user(rt.db, "a"), users.get_user(rt.db, "b")
    assert a and b and a.password_hash != b.password_hash  # salted


def test_a_short_password_is_refused_and_nothing_is_saved(rt: Runtime) -> None:
    with pytest.raises(InputError, match="at least 10 characters"):
        users.add_user(rt.db, actor=ADMIN, name="carol", role="viewer", password="short")
    assert users.get_user(rt.db, "carol") is None


def test_a_disabled_or_passwordless_user_cannot_sign_in(rt: Runtime, throttle: passwords.Throttle) -> None:
    users.add_user(rt.db, actor=ADMIN, name="dave", role="admin")  # no password: a role only
    with pytest.raises(SignInFailed):
        users.sign_in(rt.db, "dave", "", throttle=throttle)
