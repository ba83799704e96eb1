"""Who may come in: which sign-in applies (identity provider, local passwords, or none on this computer only),
the allow-list for identity-provider accounts and their roles, and the refusal to serve a public address with
no sign-in at all."""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from enum import StrEnum
from typing import Any

from lib.auth import users
from lib.auth.roles import Actor, Role
from lib.config import AccessSettings
from lib.db import Database
from lib.errors import ConfigError, NotOnAllowList

LOCAL_BADGE = "Local only: anyone on this computer can use it"


class AuthMode(StrEnum):
    OIDC = "oidc"  # secrets.toml [auth]: Streamlit's st.login with the team's identity provider
    PASSWORD = "password"  # no identity provider, but local users with passwords
    NONE = "none"  # neither: served on 127.0.0.1 only, the person at this computer is an admin


def auth_mode(*, oidc_configured: bool, password_users: int) -> AuthMode:
    if oidc_configured:
        return AuthMode.OIDC
    return AuthMode.PASSWORD if password_users else AuthMode.NONE


def is_loopback(address: str | None) -> bool:
    """Streamlit serves every interface when server.address is empty."""
    host = (address or "").strip().strip("[]")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_exposure(address: str | None, mode: AuthMode, *, allow_public: bool) -> None:
    """Refuse to serve a non-loopback address when nobody has to sign in, unless the settings say so."""
    if mode is AuthMode.NONE and not allow_public and not is_loopback(address):
        where = address or "every network interface"
        raise ConfigError(
            f"This app is set to listen on {where} but nobody has to sign in, so anyone on the network could use "
            "it. Set up sign-in (README: Sign-in and roles), or serve it on 127.0.0.1 (make run does), or set "
            "ALLOW_PUBLIC_WITHOUT_AUTH=true if something in front of it already checks who comes in."
        )


def _domain(email: str) -> str:
    return email.rsplit("@", 1)[-1]


def is_allowed(access: AccessSettings, email: str) -> bool:
    email = email.lower()
    return email in access.allowed or _domain(email) in access.allowed


def oidc_actor(db: Database, access: AccessSettings, claims: Mapping[str, Any]) -> Actor:
    """The actor for an account the identity provider vouched for, or NotOnAllowList naming that account.

    Allowed: an address or domain on the allow-list, or a user an admin registered with that address.
    Role: the registered user's, else the address's, else the domain's, else the default."""
    email = str(claims.get("email") or "").strip().lower()
    shown = email or str(claims.get("name") or claims.get("sub") or "this account")
    if not email or claims.get("email_verified") is False:
        raise NotOnAllowList(
            f"You are signed in as {shown}, but the identity provider did not give a verified e-mail address, "
            "so this app cannot tell who you are. Sign out and use your work account."
        )
    registered = users.user_by_email(db, email)
    if registered is not None and registered.disabled:
        registered = None
        allowed = False
    else:
        allowed = registered is not None or is_allowed(access, email)
    if not allowed:
        raise NotOnAllowList(
            f"You are signed in as {email}, and that account is not allowed to use this app. "
            "Ask an admin to add it, or sign out and use another account."
        )
    if registered is not None:
        role = registered.role
    else:
        role = access.roles.get(email) or access.roles.get(_domain(email)) or access.default_role
    name = registered.name if registered is not None else email
    return Actor(name=name, role=Role(role), email=email, via="oidc")
