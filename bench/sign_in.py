"""Sign-in round trip in a real browser: `python -m bench.sign_in [--rounds 5]`.

Starts a loopback OIDC provider (oidc-provider-mock) and the app with [auth] pointing at it, then, in headless
chromium, times each round from pressing "Sign in" on the app to the first page shown signed in (the app ->
provider -> authorize -> callback -> app redirects, the cookie, and the first script run), a fresh browser context
each round. Prints a table; the machine's load shows in the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from oidc_provider_mock import run_server_in_thread
from playwright.sync_api import sync_playwright

from tests.e2e.conftest import CHROMIUM, CHROMIUM_ARGS, ROOT, _free_port, _wait_healthy


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, run_server_in_thread(port=_free_port()) as server:
        provider = f"http://localhost:{server.server_port}"
        email = "ann@corp.example"
        httpx.put(f"{provider}/users/{email}", json={"email": email, "email_verified": True}, timeout=10)
        port = _free_port()
        url = f"http://localhost:{port}"
        secrets = Path(tmp) / "secrets.toml"
        secrets.write_text(
            f'[auth]\nredirect_uri = "{url}/oauth2callback"\ncookie_secret = "{os.urandom(24).hex()}"\n'
            'client_id = "bench"\nclient_secret = "bench-secret"\n'
            f'server_metadata_url = "{provider}/.well-known/openid-configuration"\n'
        )
        env = dict(os.environ, IMAGEGECKO_HOME=tmp, ACCESS=json.dumps({"allowed": ["corp.example"]}))
        proc = subprocess.Popen(
            [sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(port), "--server.address",
             "127.0.0.1", "--server.headless", "true", "--browser.gatherUsageStats", "false",
             "--server.fileWatcherType", "none", "--secrets.files", str(secrets)],
            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        times: list[float] = []
        try:
            _wait_healthy(f"http://127.0.0.1:{port}", proc)
            with sync_playwright() as pw:
                browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
                for _ in range(args.rounds):
                    context = browser.new_context()
                    page = context.new_page()
                    page.goto(url)
                    button = page.get_by_role("button", name="Sign in")
                    button.wait_for(timeout=60_000)
                    t0 = time.perf_counter()
                    button.click()
                    page.locator('input[name="sub"]').fill(email)
                    page.get_by_role("button", name="Authorize").click()
                    page.get_by_text("Choose products").first.wait_for(timeout=60_000)
                    times.append(time.perf_counter() - t0)
                    context.close()
                browser.close()
        finally:
            proc.terminate()
            proc.wait(timeout=15)
    print("| rounds | median s | min s | max s |")
    print("| --- | --- | --- | --- |")
    print(f"| {len(times)} | {statistics.median(times):.2f} | {min(times):.2f} | {max(times):.2f} |")


if __name__ == "__main__":
    main()
