"""Roles, permissions, the Actor (who is asking) and the one check every state-changing entry point makes.

viewer < reviewer < publisher < admin: each role may do everything the roles before it may.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from lib.errors import PermissionDenied


class Role(StrEnum):
    VIEWER = "viewer"
    REVIEWER = "reviewer"
    PUBLISHER = "publisher"
    ADMIN = "admin"

    @property
    def rank(self) -> int:
        return list(Role).index(self)


class Permission(StrEnum):
    VIEW = "view"
    LAUNCH = "launch"  # start a job, add products by upload
    CANCEL = "cancel"  # cancel, retry failed items, resume a paused job
    REVIEW = "review"  # approve, reject
    REGENERATE = "regenerate"
    ALT_TEXT = "alt_text"
    PUBLISH = "publish"
    ROLLBACK = "rollback"
    EXPORT = "export"
    CONNECTIONS = "connections"  # stores, Drive folders
    KEYS = "keys"  # AI provider keys
    USERS = "users"
    SETTINGS = "settings"
    BUDGETS = "budgets"


# The least role that holds each permission.
MIN_ROLE: dict[Permission, Role] = {
    Permission.VIEW: Role.VIEWER,
    Permission.LAUNCH: Role.REVIEWER,
    Permission.CANCEL: Role.REVIEWER,
    Permission.REVIEW: Role.REVIEWER,
    Permission.REGENERATE: Role.REVIEWER,
    Permission.ALT_TEXT: Role.REVIEWER,
    Permission.PUBLISH: Role.PUBLISHER,
    Permission.ROLLBACK: Role.PUBLISHER,
    Permission.EXPORT: Role.PUBLISHER,
    Permission.CONNECTIONS: Role.ADMIN,
    Permission.KEYS: Role.ADMIN,
    Permission.USERS: Role.ADMIN,
    Permission.SETTINGS: Role.ADMIN,
    Permission.BUDGETS: Role.ADMIN,
}

# What the refusal sentence calls each permission.
DOING: dict[Permission, str] = {
    Permission.VIEW: "viewing this",
    Permission.LAUNCH: "launching jobs or adding products",
    Permission.CANCEL: "cancelling, retrying or resuming jobs",
    Permission.REVIEW: "approving and rejecting images",
    Permission.REGENERATE: "regenerating images",
    Permission.ALT_TEXT: "editing alt text",
    Permission.PUBLISH: "publishing to the store",
    Permission.ROLLBACK: "rolling back published images",
    Permission.EXPORT: "exporting images",
    Permission.CONNECTIONS: "changing connections",
    Permission.KEYS: "changing AI provider keys",
    Permission.USERS: "managing users",
    Permission.SETTINGS: "changing settings",
    Permission.BUDGETS: "changing budgets",
}


def permissions(role: Role) -> frozenset[Permission]:
    return frozenset(p for p, least in MIN_ROLE.items() if role.rank >= least.rank)


@dataclass(frozen=True)
class Actor:
    """A person (or the local operator) acting on the app. `via` says how they were identified."""

    name: str
    role: Role
    email: str | None = None
    via: str = "local"  # oidc | password | local | cli

    @property
    def label(self) -> str:
        return self.email or self.name

    def can(self, permission: Permission) -> bool:
        return self.role.rank >= MIN_ROLE[permission].rank


def require(actor: Actor, permission: Permission) -> None:
    """Raise PermissionDenied, with a sentence, unless the actor's role holds the permission."""
    if not isinstance(actor, Actor):  # a caller that forgot to say who is asking is refused, never let through
        raise PermissionDenied("Nobody is signed in, so nothing can be changed.")
    if actor.can(permission):
        return
    least = MIN_ROLE[permission]
    raise PermissionDenied(
        f"{actor.label} is a {actor.role.value}: {DOING[permission]} needs the {least.value} role or higher. "
        "Nothing was changed; ask an admin if you need it."
    )


def local_admin(name: str, *, via: str = "local") -> Actor:
    """The person at this computer when no sign-in is configured (the app on 127.0.0.1, the CLI)."""
    return Actor(name=name, role=Role.ADMIN, via=via)
