"""Local users: named accounts with a role and (for the password sign-in) an argon2id hash. The only writer of
User. Adding, changing and removing users needs the admin role and is recorded in the audit trail."""

from __future__ import annotations

import getpass
import os
import re

from sqlmodel import Session, col, select

from lib.auth import audit, passwords
from lib.auth.audit import Action
from lib.auth.roles import Actor, Permission, Role, require
from lib.auth.tables import User
from lib.db import Database
from lib.errors import InputError, SignInFailed
from lib.models import utcnow

_NAME = re.compile(r"^[a-z0-9][a-z0-9._@-]{0,63}$")


def normalise_name(name: str) -> str:
    key = name.strip().lower()
    if not _NAME.match(key):
        raise InputError(
            "A user name is 1 to 64 letters, digits, dots, dashes, underscores or @, starting with a letter or digit."
        )
    return key


def _role(role: str | Role) -> Role:
    try:
        return Role(str(role).lower())
    except ValueError:
        raise InputError(f"Unknown role {role!r}: choose viewer, reviewer, publisher or admin.") from None


def _email(email: str | None) -> str | None:
    if not email:
        return None
    email = email.strip().lower()
    if "@" not in email or " " in email:
        raise InputError(f"{email!r} is not an e-mail address.")
    return email


def get_user(db: Database, name: str) -> User | None:
    with db.session() as s:
        return s.exec(select(User).where(col(User.name) == name.strip().lower())).first()


def user_by_email(db: Database, email: str) -> User | None:
    with db.session() as s:
        return s.exec(select(User).where(col(User.email) == email.strip().lower())).first()


def list_users(db: Database) -> list[User]:
    with db.session() as s:
        return list(s.exec(select(User).order_by(col(User.name))).all())


def password_users(db: Database) -> int:
    """How many enabled users can sign in with a password (any: the app asks for one)."""
    with db.session() as s:
        query = select(User.id).where(col(User.password_hash).is_not(None), col(User.disabled).is_(False))
        return len(s.exec(query).all())


def add_user(
    db: Database,
    *,
    actor: Actor,
    name: str,
    role: str | Role,
    email: str | None = None,
    password: str | None = None,
) -> User:
    require(actor, Permission.USERS)
    key, the_role, the_email = normalise_name(name), _role(role), _email(email)
    hashed = passwords.hash_password(password) if password is not None else None
    with db.transaction() as s:
        if s.exec(select(User).where(col(User.name) == key)).first() is not None:
            raise InputError(f"There is already a user called {key}. Nothing was changed.")
        if the_email and s.exec(select(User).where(col(User.email) == the_email)).first() is not None:
            raise InputError(f"Another user already has the address {the_email}. Nothing was changed.")
        user = User(name=key, email=the_email, role=the_role.value, password_hash=hashed)
        s.add(user)
        s.flush()
        audit.record(s, actor, Action.USER_ADDED, f"{key} added as {the_role.value}", data={"user": key})
        return user


def set_role(db: Database, *, actor: Actor, name: str, role: str | Role) -> None:
    require(actor, Permission.USERS)
    the_role = _role(role)
    with db.transaction() as s:
        user = _existing(s, name)
        before = user.role
        user.role = the_role.value
        user.updated_at = utcnow()
        s.add(user)
        audit.record(
            s, actor, Action.USER_CHANGED, f"{user.name}: {before} → {the_role.value}", data={"user": user.name}
        )


def set_password(db: Database, *, actor: Actor, name: str, password: str) -> None:
    """An admin sets anyone's password; anyone may set their own."""
    if normalise_name(name) != actor.name:
        require(actor, Permission.USERS)
    hashed = passwords.hash_password(password)
    with db.transaction() as s:
        user = _existing(s, name)
        user.password_hash = hashed
        user.updated_at = utcnow()
        s.add(user)
        audit.record(s, actor, Action.USER_CHANGED, f"{user.name}: password set", data={"user": user.name})


def remove_user(db: Database, *, actor: Actor, name: str) -> None:
    require(actor, Permission.USERS)
    with db.transaction() as s:
        user = _existing(s, name)
        s.delete(user)
        audit.record(s, actor, Action.USER_REMOVED, f"{user.name} removed", data={"user": user.name})


def _existing(s: Session, name: str) -> User:
    user = s.exec(select(User).where(col(User.name) == name.strip().lower())).first()
    if user is None:
        raise InputError(f"There is no user called {name.strip()}. Nothing was changed.")
    return user


def sign_in(db: Database, name: str, password: str, *, throttle: passwords.Throttle | None = None) -> Actor:
    """The actor for a name and password, or SignInFailed. The same work is done whether the name exists or not,
    and a name that failed too often waits before it may try again."""
    throttle = throttle or passwords.THROTTLE
    key = name.strip().lower()[:64]
    wait = throttle.wait_for(key)
    if wait > 0:
        raise SignInFailed(
            f"Too many attempts for this name. Try again in {max(1, round(wait))} seconds.", retry_after=wait
        )
    user = get_user(db, key) if key else None
    usable = user is not None and not user.disabled and user.password_hash is not None
    ok = passwords.verify(user.password_hash if usable and user else None, password)
    if not (ok and usable and user):
        throttle.failed(key)
        raise SignInFailed("That name and password do not match.")
    throttle.succeeded(key)
    if user.password_hash and passwords.needs_rehash(user.password_hash):
        with db.transaction() as s:
            fresh = s.get(User, user.id)
            if fresh is not None:
                fresh.password_hash = passwords.hash_password(password)
                s.add(fresh)
    return Actor(name=user.name, role=_role(user.role), email=user.email, via="password")


def actor_for(db: Database, name: str, *, via: str) -> Actor | None:
    """The actor for a registered, enabled user name (the CLI's --as)."""
    user = get_user(db, name)
    if user is None or user.disabled:
        return None
    return Actor(name=user.name, role=_role(user.role), email=user.email, via=via)


def cli_actor(db: Database, name: str | None = None) -> Actor:
    """Who the CLI acts as: `--as NAME` (or IMAGEGECKO_USER) must be a registered user and gets that user's role;
    without either, the operating-system user, with their registered role if registered, else as the local admin
    (whoever runs the CLI on this machine can already read the data directory and its vault key)."""
    chosen = name or os.environ.get("IMAGEGECKO_USER")
    if chosen:
        actor = actor_for(db, chosen, via="cli")
        if actor is None:
            raise InputError(
                f"There is no user called {chosen.strip()} (from --as or IMAGEGECKO_USER). "
                "Add one with `users add`, or leave the option out to act as the local admin."
            )
        return actor
    os_user = getpass.getuser()
    return actor_for(db, os_user, via="cli") or Actor(name=os_user.lower(), role=Role.ADMIN, via="cli")
