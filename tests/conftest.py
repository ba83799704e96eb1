"""Shared fixtures: a Runtime on a fresh data directory, the emulators (tests/emulators/fixtures.py), and small
providers for worker tests."""

from __future__ import annotations

import io
import os
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image, PngImagePlugin

from lib.config import Settings
from lib.errors import AppError
from lib.generation.base import GeneratedImage, GenerationRequest
from lib.runtime import Runtime

pytest_plugins = ["tests.emulators.fixtures", "tests.server_fixtures"]

# The emulators are stores on this machine: allowed the way an admin allows a store on a local network
# (lib/outbound.py). Set for the whole run, so that app processes the browser tests start inherit it too;
# tests/security/ checks the policy with it cleared.
os.environ["PRIVATE_STORE_HOSTS"] = '["127.0.0.1"]'


@pytest.fixture(autouse=True)
def _clean_environ(monkeypatch: pytest.MonkeyPatch) -> None:
    # A developer's own keys or data directory must never leak into a test.
    for var in ("GEMINI_API_KEY", "IMAGEGECKO_HOME", "DATABASE_URL", "GOOGLE_GEMINI_BASE_URL"):
        monkeypatch.delenv(var, raising=False)


def make_runtime(home: Path, **overrides: object) -> Runtime:
    return Runtime.build(Settings.load(secrets_file=None, imagegecko_home=home, **overrides))


@pytest.fixture
def rt_settings() -> dict[str, object]:
    """The settings `rt` is built with; a module overrides this (an emulator's address, other timeouts) rather
    than `rt` itself."""
    return {"poll_seconds": 0.05, "backoff_base_seconds": 0.0}


@pytest.fixture
def rt(tmp_path: Path, rt_settings: dict[str, object]) -> Iterator[Runtime]:
    runtime = make_runtime(tmp_path / "data", **rt_settings)
    yield runtime
    runtime.db.dispose()


def png_bytes(size: tuple[int, int] = (64, 48), color: tuple[int, int, int] = (200, 40, 40)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, color).save(buf, "PNG")
    return buf.getvalue()


class ScriptedProvider:
    """An image provider that answers instantly, raising the errors it is told to for given calls.

    Its images are flat squares, which the fidelity check calls redrawn products; `echo_source=True` answers with
    the product photo itself instead (a faithful image, for tests that approve everything and publish it)."""

    name = "studio"

    def __init__(
        self,
        errors: dict[int, AppError] | None = None,
        *,
        fail_always: AppError | None = None,
        cost: float = 0.0,
        echo_source: bool = False,
    ) -> None:
        self.errors = errors or {}
        self.echo_source = echo_source
        self.fail_always = fail_always
        self.cost = cost
        self.calls = 0
        self.lock = threading.Lock()
        self.requests: list[GenerationRequest] = []

    def models(self) -> list[str]:
        return ["studio-v1"]

    def estimate_cost(self, model: str, images: int, *, batch: bool = False) -> float:
        return self.cost * images

    def generate(self, request: GenerationRequest) -> GeneratedImage:
        with self.lock:
            self.calls += 1
            n = self.calls
            self.requests.append(request)
        if self.fail_always is not None:
            raise self.fail_always
        if n in self.errors:
            raise self.errors[n]
        if self.echo_source:  # the photo's pixels, with the request's fingerprint in the PNG: distinct bytes
            meta = PngImagePlugin.PngInfo()
            meta.add_text("request", request.fingerprint("studio"))
            with Image.open(io.BytesIO(request.source_image)) as im:
                buf = io.BytesIO()
                im.convert("RGB").save(buf, "PNG", pnginfo=meta)
                size = im.size
            return GeneratedImage(
                data=buf.getvalue(), mime="image/png", width=size[0], height=size[1], model="studio-v1", cost=self.cost
            )
        # Distinct bytes per request so results are distinguishable, like a real provider.
        shade = int.from_bytes(request.fingerprint("studio").encode()[:2], "big") % 200
        return GeneratedImage(
            data=png_bytes((32, 32), (shade, 100, 150)),
            mime="image/png",
            width=32,
            height=32,
            model="studio-v1",
            cost=self.cost,
        )
