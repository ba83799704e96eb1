"""Sign-in in a real browser against a real OIDC provider on loopback (oidc-provider-mock, started here): an
allowed account comes in with its role, another domain's account is refused by name, sign-out works, and a
viewer who tries to publish is refused by lib (the button is there; the role check is not in the page)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.e2e.conftest import ROOT, _free_port, _wait_healthy

pytestmark = pytest.mark.e2e

ACCESS = {"allowed": ["corp.example"], "roles": {"ann@corp.example": "publisher", "vera@corp.example": "viewer"}}


@pytest.fixture(scope="module")
def provider() -> Iterator[str]:
    from oidc_provider_mock import run_server_in_thread

    with run_server_in_thread(port=_free_port()) as server:
        yield f"http://localhost:{server.server_port}"


def add_account(provider: str, email: str) -> None:
    claims = {"email": email, "email_verified": True, "name": email.split("@")[0].title()}
    httpx.put(f"{provider}/users/{email}", json=claims, timeout=10).raise_for_status()


@pytest.fixture(scope="module")
def signed_app(provider: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """The app with [auth] pointing at the provider (its own secrets file, not the checkout's)."""
    home = tmp_path_factory.mktemp("imagegecko-oidc")
    port = _free_port()
    url = f"http://localhost:{port}"  # the same host name in redirect_uri and in the browser: cookies follow it
    secrets = home / "secrets.toml"
    secrets.write_text(
        "[auth]\n"
        f'redirect_uri = "{url}/oauth2callback"\n'
        f'cookie_secret = "{os.urandom(24).hex()}"\n'
        'client_id = "imagegecko"\n'
        'client_secret = "imagegecko-secret"\n'
        f'server_metadata_url = "{provider}/.well-known/openid-configuration"\n'
    )
    env = dict(os.environ, IMAGEGECKO_HOME=str(home), PYTHONUNBUFFERED="1", ACCESS=json.dumps(ACCESS))
    log = open(home / "streamlit.log", "wb")  # noqa: SIM115  (closed in teardown)
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(port), "--server.address",
         "127.0.0.1", "--server.headless", "true", "--browser.gatherUsageStats", "false",
         "--server.fileWatcherType", "none", "--secrets.files", str(secrets)],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        _wait_healthy(f"http://127.0.0.1:{port}", proc)
        yield url, home
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


def see(page, text: str) -> None:  # type: ignore[no-untyped-def]
    """Wait for the text. An address the page shows as outside text (ui.escape_md) carries an invisible word joiner
    after its "@" (so Markdown makes no link of it): the same visible text, one more character in the DOM."""
    pattern = re.compile(re.escape(text).replace("@", "@\u2060?"))
    page.get_by_text(pattern).first.wait_for(state="visible", timeout=60_000)


def sign_in(page, url: str, email: str) -> None:  # type: ignore[no-untyped-def]
    page.goto(url)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/oauth2/authorize**", timeout=60_000)
    page.locator('input[name="sub"]').fill(email)
    page.get_by_role("button", name="Authorize").click()


def test_an_allowed_account_signs_in_with_its_role_and_signs_out(page, provider: str, signed_app) -> None:  # type: ignore[no-untyped-def]
    url, _ = signed_app
    add_account(provider, "ann@corp.example")
    sign_in(page, url, "ann@corp.example")
    see(page, "Choose products")
    see(page, "ann@corp.example · publisher")
    assert page.get_by_text("Local only").count() == 0
    page.get_by_role("button", name="Sign out").click()
    # Streamlit ends the session at the provider too (end_session); the mock asks to confirm, then sends us back.
    page.wait_for_url("**/oauth2/end_session**", timeout=60_000)
    page.get_by_role("button", name="End session").click()
    page.get_by_role("button", name="Sign in").wait_for(state="visible", timeout=60_000)
    assert page.get_by_text("Choose products").count() == 0


def test_another_domains_account_is_refused_by_name_and_sees_nothing_else(page, provider: str, signed_app) -> None:  # type: ignore[no-untyped-def]
    url, _ = signed_app
    add_account(provider, "mallory@evil.example")
    sign_in(page, url, "mallory@evil.example")
    see(page, "You are signed in as mallory@evil.example, and that account is not allowed to use this app.")
    assert page.get_by_text("Choose products").count() == 0
    assert page.locator('[data-testid="stSidebarNav"]').count() == 0


def test_a_viewer_who_tries_to_publish_is_refused_by_lib(page, provider: str, signed_app) -> None:  # type: ignore[no-untyped-def]
    from lib import actions, jobs
    from lib.auth.roles import local_admin
    from lib.config import Settings
    from lib.publish import product_publications
    from lib.runtime import Runtime
    from lib.sources.base import ProductQuery
    from lib.worker import run_until_idle

    url, home = signed_app
    rt = Runtime.build(Settings.load(secrets_file=None, imagegecko_home=home))
    admin = local_admin("setup")
    products = rt.source("demo").list_products(ProductQuery(per_page=1)).items
    job = actions.launch(
        rt, actor=admin, spec=jobs.JobSpec(source_kind="demo"), selections=[jobs.Selection(p) for p in products]
    )
    assert job.id is not None
    run_until_idle(rt, job_id=job.id)
    assert actions.approve_all(rt, actor=admin, job_id=job.id) == 1

    add_account(provider, "vera@corp.example")
    sign_in(page, url, "vera@corp.example")
    see(page, "vera@corp.example · viewer")
    page.locator('[data-testid="stSidebarNav"]').get_by_text("Gallery").click()
    page.locator(".st-key-gallery_publish button").click()  # the button is there: the check is not in the page
    page.locator(".st-key-gallery_publish_confirm button").click()
    see(page, "vera@corp.example is a viewer: publishing to the store needs the publisher role or higher.")
    assert product_publications(rt.db, job.id) == []
    rt.db.dispose()
