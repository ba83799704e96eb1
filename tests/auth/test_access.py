"""Identity-provider accounts: the allow-list, roles by address or domain, and the refusal that names the account.
Serving a public address with no sign-in is refused."""

from __future__ import annotations

import pytest

from lib.auth import access, users
from lib.auth.access import AuthMode
from lib.auth.roles import Role, local_admin
from lib.config import AccessSettings
from lib.errors import ConfigError, NotOnAllowList
from lib.runtime import Runtime

RULES = AccessSettings(
    allowed=["corp.example", "contractor@gmail.com"],
    roles={"boss@corp.example": "admin", "@corp.example": "reviewer"},
)


def claims(email: str, **extra: object) -> dict[str, object]:
    return {"email": email, "email_verified": True, "name": email.split("@")[0], **extra}


def test_an_allowed_domain_signs_in_with_its_role(rt: Runtime) -> None:
    actor = access.oidc_actor(rt.db, RULES, claims("Ann@Corp.Example"))
    assert (actor.name, actor.email, actor.role, actor.via) == (
        "ann@corp.example",
        "ann@corp.example",
        Role.REVIEWER,
        "oidc",
    )


def test_an_address_role_wins_over_its_domain(rt: Runtime) -> None:
    assert access.oidc_actor(rt.db, RULES, claims("boss@corp.example")).role is Role.ADMIN


def test_an_allowed_address_gets_the_default_role(rt: Runtime) -> None:
    assert access.oidc_actor(rt.db, RULES, claims("contractor@gmail.com")).role is Role.VIEWER


def test_another_domain_is_refused_naming_the_account(rt: Runtime) -> None:
    with pytest.raises(NotOnAllowList) as refused:
        access.oidc_actor(rt.db, RULES, claims("mallory@evil.example"))
    assert "You are signed in as mallory@evil.example, and that account is not allowed" in refused.value.message


def test_a_look_alike_domain_is_refused(rt: Runtime) -> None:
    with pytest.raises(NotOnAllowList):
        access.oidc_actor(rt.db, RULES, claims("x@notcorp.example"))
    with pytest.raises(NotOnAllowList):
        access.oidc_actor(rt.db, RULES, claims("x@corp.example.evil.test"))


def test_an_unverified_address_is_refused(rt: Runtime) -> None:
    with pytest.raises(NotOnAllowList, match="did not give a verified e-mail address"):
        access.oidc_actor(rt.db, RULES, claims("ann@corp.example", email_verified=False))


def test_a_registered_user_comes_in_with_the_role_an_admin_set(rt: Runtime) -> None:
    users.add_user(rt.db, actor=local_admin("root"), name="pat", role="publisher", email="pat@partner.example")
    actor = access.oidc_actor(rt.db, RULES, claims("pat@partner.example"))
    assert (actor.name, actor.role) == ("pat", Role.PUBLISHER)


def test_the_mode_follows_what_is_configured() -> None:
    assert access.auth_mode(oidc_configured=True, password_users=3) is AuthMode.OIDC
    assert access.auth_mode(oidc_configured=False, password_users=1) is AuthMode.PASSWORD
    assert access.auth_mode(oidc_configured=False, password_users=0) is AuthMode.NONE


@pytest.mark.parametrize("address", ["127.0.0.1", "localhost", "::1", "[::1]", "127.0.0.2"])
def test_loopback_without_sign_in_is_fine(address: str) -> None:
    access.check_exposure(address, AuthMode.NONE, allow_public=False)


@pytest.mark.parametrize("address", ["", None, "0.0.0.0", "::", "192.168.1.20", "example.org"])  # noqa: S104
def test_a_public_address_without_sign_in_is_refused(address: str | None) -> None:
    with pytest.raises(ConfigError, match="nobody has to sign in"):
        access.check_exposure(address, AuthMode.NONE, allow_public=False)
    access.check_exposure(address, AuthMode.NONE, allow_public=True)  # the explicit setting
    access.check_exposure(address, AuthMode.PASSWORD, allow_public=False)
    access.check_exposure(address, AuthMode.OIDC, allow_public=False)


def test_the_allow_list_and_roles_come_from_secrets_toml(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from lib.config import Settings

    secrets = tmp_path / "secrets.toml"
    secrets.write_text('[access]\nallowed = ["@Corp.Example"]\nroles = { "corp.example" = "publisher" }\n')
    s = Settings.load(secrets_file=secrets)
    assert s.access.allowed == ["corp.example"] and s.access.roles == {"corp.example": "publisher"}
    secrets.write_text('[access]\nroles = { "corp.example" = "owner" }\n')
    with pytest.raises(ConfigError, match="unknown roles"):
        Settings.load(secrets_file=secrets)
