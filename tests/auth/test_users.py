"""Users: only admins manage them, every change is in the audit trail, names and roles are checked."""

from __future__ import annotations

import pytest

from lib.auth import audit, users
from lib.auth.roles import Actor, Role, local_admin
from lib.errors import InputError, PermissionDenied
from lib.runtime import Runtime

ADMIN = local_admin("root")


def test_admin_adds_changes_and_removes_a_user_and_the_audit_says_who(rt: Runtime) -> None:
    users.add_user(rt.db, actor=ADMIN, name="bob", role="viewer", email="Bob@Corp.Example")
    users.set_role(rt.db, actor=ADMIN, name="bob", role="publisher")
    assert users.get_user(rt.db, "bob").role == "publisher"  # type: ignore[union-attr]
    assert users.user_by_email(rt.db, "bob@corp.example") is not None
    users.remove_user(rt.db, actor=ADMIN, name="bob")
    assert users.get_user(rt.db, "bob") is None
    trail = [(e.actor, e.action, e.message) for e in reversed(audit.recent(rt.db))]
    assert trail == [
        ("root", "user added", "bob added as viewer"),
        ("root", "user changed", "bob: viewer → publisher"),
        ("root", "user removed", "bob removed"),
    ]


@pytest.mark.parametrize("role", [Role.VIEWER, Role.REVIEWER, Role.PUBLISHER])
def test_only_admins_manage_users(rt: Runtime, role: Role) -> None:
    someone = Actor("eve", role)
    with pytest.raises(PermissionDenied, match="managing users needs the admin role"):
        users.add_user(rt.db, actor=someone, name="eve2", role="admin")
    assert users.list_users(rt.db) == []


def test_anyone_may_set_their_own_password_but_not_anothers(rt: Runtime) -> None:
    users.add_user(rt.db, actor=ADMIN, name="vic", role="viewer")
    users.add_user(rt.db, actor=ADMIN, name="wen", role="viewer")
    vic = users.actor_for(rt.db, "vic", via="cli")
    assert vic is not None
    users.set_password(rt.db, actor=vic, name="vic", password="a long enough one")
    with pytest.raises(PermissionDenied):
        users.set_password(rt.db, actor=vic, name="wen", password="a long enough one")


@pytest.mark.parametrize(
    ("name", "role", "email", "message"),
    [
        ("bad name!", "viewer", None, "A user name is"),
        ("ok", "owner", None, "Unknown role 'owner'"),
        ("ok", "viewer", "not-an-address", "is not an e-mail address"),
    ],
)
def test_bad_input_is_refused_with_a_sentence(
    rt: Runtime, name: str, role: str, email: str | None, message: str
) -> None:
    with pytest.raises(InputError, match=message):
        users.add_user(rt.db, actor=ADMIN, name=name, role=role, email=email)
    assert users.list_users(rt.db) == []


def test_names_and_addresses_are_unique(rt: Runtime) -> None:
    users.add_user(rt.db, actor=ADMIN, name="amy", role="viewer", email="amy@corp.example")
    with pytest.raises(InputError, match="already a user called amy"):
        users.add_user(rt.db, actor=ADMIN, name="AMY", role="viewer")
    with pytest.raises(InputError, match="already has the address"):
        users.add_user(rt.db, actor=ADMIN, name="amy2", role="viewer", email="AMY@corp.example")
