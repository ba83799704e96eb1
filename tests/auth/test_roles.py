"""The role ladder and the refusal sentence."""

from __future__ import annotations

import pytest

from lib.auth.roles import MIN_ROLE, Actor, Permission, Role, permissions, require
from lib.errors import PermissionDenied


def test_each_role_holds_the_permissions_of_the_roles_before_it() -> None:
    ladder = [permissions(r) for r in Role]
    assert all(lower < higher for lower, higher in zip(ladder, ladder[1:], strict=False))
    assert permissions(Role.VIEWER) == {Permission.VIEW}
    assert {Permission.LAUNCH, Permission.CANCEL, Permission.REVIEW, Permission.REGENERATE, Permission.ALT_TEXT} <= (
        permissions(Role.REVIEWER)
    )
    assert Permission.PUBLISH not in permissions(Role.REVIEWER)
    assert {Permission.PUBLISH, Permission.ROLLBACK, Permission.EXPORT} <= permissions(Role.PUBLISHER)
    assert Permission.CONNECTIONS not in permissions(Role.PUBLISHER)
    assert permissions(Role.ADMIN) == set(Permission)


def test_the_refusal_names_the_person_the_action_and_the_role_it_needs() -> None:
    viewer = Actor("vera", Role.VIEWER, email="vera@corp.example")
    with pytest.raises(PermissionDenied) as refused:
        require(viewer, Permission.PUBLISH)
    assert refused.value.message == (
        "vera@corp.example is a viewer: publishing to the store needs the publisher role or higher. "
        "Nothing was changed; ask an admin if you need it."
    )


def test_no_actor_is_refused_not_let_through() -> None:
    with pytest.raises(PermissionDenied, match="Nobody is signed in"):
        require(None, Permission.VIEW)  # type: ignore[arg-type]


def test_every_permission_has_a_least_role() -> None:
    assert set(MIN_ROLE) == set(Permission)
