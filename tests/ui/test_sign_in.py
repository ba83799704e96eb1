"""The app's gate under AppTest: local only with no sign-in (a quiet badge, the person here is an admin); a
password form when local users have passwords; the identity provider's sign-in (st.user mocked: the real provider
is in tests/e2e/test_sign_in.py) with the allow-list; a public address with no sign-in refused."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from streamlit import config as st_config
from streamlit.testing.v1 import AppTest

from lib.auth import users
from lib.auth.roles import local_admin
from lib.runtime import Runtime
from tests.ui.conftest import app, assert_ok

SECRET = "a long enough password"
OIDC = {
    "redirect_uri": "http://localhost:8501/oauth2callback",
    "cookie_secret": "x" * 32,
    "client_id": "imagegecko",
    "client_secret": "s",
    "server_metadata_url": "http://localhost:1/.well-known/openid-configuration",
}


def texts(at: AppTest) -> str:
    parts = [m.value for m in at.markdown] + [c.value for c in at.caption] + [t.value for t in at.title]
    parts += [e.value for e in at.error] + [w.value for w in at.warning] + [str(b.label) for b in at.button]
    return "\n".join(str(p) for p in parts)


def test_with_no_sign_in_the_app_is_local_only_and_says_so(home: Path) -> None:
    at = app()
    at.run()
    assert_ok(at)
    assert any("Local only: anyone on this computer can use it" in m.value for m in at.sidebar.markdown)
    assert at.title[0].value == "Choose products"  # straight in, no set-up: the demo stays click-through


@pytest.fixture
def public_address() -> Iterator[None]:
    before = st_config.get_option("server.address")
    st_config.set_option("server.address", "0.0.0.0")  # noqa: S104
    yield
    st_config.set_option("server.address", before)


def test_a_public_address_with_no_sign_in_is_refused(home: Path, public_address: None) -> None:
    at = app()
    at.run()
    assert "nobody has to sign in" in at.error[0].value
    assert not [t for t in at.title if t.value == "Choose products"]


def test_a_public_address_is_served_when_the_setting_says_so(
    home: Path, public_address: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ALLOW_PUBLIC_WITHOUT_AUTH", "true")
    at = app()
    at.run()
    assert_ok(at)
    assert at.title[0].value == "Choose products"


@pytest.fixture
def rita(rt: Runtime) -> None:
    users.add_user(rt.db, actor=local_admin("root"), name="rita", role="reviewer", password=SECRET)


def sign_in(at: AppTest, name: str, password: str) -> None:
    at.text_input(key="auth_name").input(name)
    at.text_input(key="auth_password").input(password)
    at.button[0].click().run()  # the form's submit button


def test_the_password_form_signs_in_and_out(home: Path, rita: None) -> None:
    at = app()
    at.run()
    assert at.title[0].value == "ImageGecko Studio" and "Choose products" not in texts(at)
    sign_in(at, "rita", "wrong password!")
    assert at.error[0].value == "That name and password do not match."
    sign_in(at, "rita", SECRET)
    assert_ok(at)
    assert at.title[0].value == "Choose products"
    assert "rita · reviewer" in "\n".join(c.value for c in at.sidebar.caption)
    at.sidebar.button(key="auth_logout").click().run()
    assert at.title[0].value == "ImageGecko Studio" and at.text_input(key="auth_name") is not None


def test_the_password_form_never_says_whether_a_name_exists(home: Path, rita: None) -> None:
    at = app()
    at.run()
    sign_in(at, "nobody", SECRET)
    assert at.error[0].value == "That name and password do not match."


@pytest.fixture
def oidc(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ACCESS", json.dumps({"allowed": ["corp.example"], "roles": {"boss@corp.example": "admin"}}))


def oidc_app(user: dict[str, object]) -> AppTest:
    at = app()
    at.secrets["auth"] = OIDC
    at.user = user  # type: ignore[assignment]
    return at


def test_not_signed_in_shows_only_the_sign_in_button(oidc: None) -> None:
    at = oidc_app({"is_logged_in": False})
    at.run()
    assert [b.label for b in at.button] == ["Sign in"]
    assert "Choose products" not in texts(at)


def test_an_allowed_account_comes_in_with_its_role(oidc: None) -> None:
    at = oidc_app({"is_logged_in": True, "email": "boss@corp.example", "email_verified": True, "name": "Boss"})
    at.run()
    assert_ok(at)
    assert at.title[0].value == "Choose products"
    assert "boss@corp.example · admin" in "\n".join(c.value for c in at.sidebar.caption).replace("\u2060", "")


def test_another_domain_is_refused_politely_naming_the_account(oidc: None) -> None:
    at = oidc_app({"is_logged_in": True, "email": "mallory@evil.example", "email_verified": True})
    at.run()
    # Escaped as outside text: an invisible word joiner after "@" keeps Markdown from making it a link.
    shown = at.warning[0].value.replace("\u2060", "")
    assert shown.startswith("You are signed in as mallory@evil.example, and that account is not allowed")
    assert [b.label for b in at.button] == ["Sign out"]
    assert "Choose products" not in texts(at)
