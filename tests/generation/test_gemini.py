"""GeminiProvider through the real google-genai SDK, pointed at the loopback emulator."""

from __future__ import annotations

import io
import socket

import pytest
from PIL import Image, ImageDraw
from sqlmodel import select

from lib.config import ModelPrice, Settings
from lib.connections import save_connection
from lib.errors import (
    ProviderAuthError,
    ProviderPermanent,
    ProviderQuota,
    ProviderRetryable,
    SafetyBlocked,
)
from lib.generation import gemini
from lib.generation.base import GenerationRequest, ProductInfo
from lib.models import Event
from lib.runtime import Runtime
from tests.emulators.gemini import GeminiEmulator

PRODUCT = ProductInfo(name="Blue ceramic mug", sku="MUG-1", category="Kitchen")


def product_png(color: str = "royalblue", side: int = 600) -> bytes:
    img = Image.new("RGB", (side, side), "white")
    ImageDraw.Draw(img).rounded_rectangle([side // 4, side // 4, 3 * side // 4, 3 * side // 4], 30, fill=color)
    out = io.BytesIO()
    img.save(out, "PNG")
    return out.getvalue()


def make_request(prompt: str = "Place the mug on a marble counter.", **kw: object) -> GenerationRequest:
    fields: dict[str, object] = dict(
        source_image=product_png(),
        prompt=prompt,
        product=PRODUCT,
        style="marble_counter",
        model="gemini-2.5-flash-image",
    )
    fields.update(kw)
    return GenerationRequest(**fields)  # type: ignore[arg-type]


@pytest.fixture
def emu():
    with GeminiEmulator() as e:
        yield e


@pytest.fixture
def rt(tmp_path, emu):
    return Runtime.build(
        Settings.load(secrets_file=None, imagegecko_home=tmp_path, gemini_api_key="test-key", gemini_base_url=emu.url)
    )


@pytest.fixture
def provider(rt):
    p = rt.provider("gemini")
    assert isinstance(p, gemini.GeminiProvider)
    return p


def request_events(rt: Runtime) -> list[Event]:
    with rt.db.session() as s:
        return list(s.exec(select(Event).where(Event.kind == "request")).all())


# Success -------------------------------------------------------------------------------------------


def test_generates_an_image_of_the_requested_aspect_with_its_cost(rt, emu, provider):
    image = provider.generate(make_request(aspect_ratio="4:5"), job_id=None, item_id=None)

    assert image.mime == ("image/jpeg" if image.data[:2] == b"\xff\xd8" else "image/png")
    with Image.open(io.BytesIO(image.data)) as im:
        assert im.size == (image.width, image.height)
    assert image.height == 1024 and image.width == round(1024 * 4 / 5)
    price = rt.settings.price("gemini-2.5-flash-image")
    assert image.usage["output_tokens"] == 1290
    expected = (image.usage["input_tokens"] * price.input_per_mtok + 1290 * price.output_per_mtok) / 1e6
    assert image.cost == pytest.approx(expected, abs=1e-6)
    assert image.cost == pytest.approx(0.039, abs=0.001)
    assert image.usage["status_code"] == 200 and image.request_id

    # the request the SDK sent: v1beta, image first then the prompt, no imageSize for 2.5 Flash
    assert emu.log[-1][1] == "/v1beta/models/gemini-2.5-flash-image:generateContent"
    model, body = emu.bodies[-1]
    parts = body["contents"][0]["parts"]
    assert "inlineData" in parts[0] and parts[-1]["text"].startswith("Place the mug")
    assert body["generationConfig"]["responseModalities"] == ["TEXT", "IMAGE"]
    assert body["generationConfig"]["imageConfig"] == {"aspectRatio": "4:5"}

    (event,) = request_events(rt)
    assert event.service == "gemini" and event.status_code == 200 and event.request_id == image.request_id
    assert event.url.endswith("/v1beta/models/gemini-2.5-flash-image:generateContent")
    assert "test-key" not in f"{event.url} {event.message} {event.data}"


def test_pro_model_gets_the_size_and_thought_images_are_skipped(emu, provider):
    emu.thoughts = True
    image = provider.generate(make_request(model="gemini-3-pro-image-preview", output_size=2048, aspect_ratio="16:9"))
    assert (image.width, image.height) == (2048, 1152)  # the final image, not the 256 px thought draft
    assert emu.bodies[-1][1]["generationConfig"]["imageConfig"] == {"aspectRatio": "16:9", "imageSize": "2K"}
    assert image.usage["output_tokens"] == 1120
    assert image.cost == pytest.approx((image.usage["input_tokens"] * 2.0 + 1120 * 120.0) / 1e6, abs=1e-6)


def test_the_emulator_answers_the_sdk_on_v1_as_well_as_v1beta(emu):
    from google import genai
    from google.genai import types

    client = genai.Client(api_key="test-key", http_options=types.HttpOptions(base_url=emu.url, api_version="v1"))
    resp = client.models.generate_content(
        model="gemini-2.5-flash-image",
        contents=[
            types.Part.from_bytes(data=product_png(), mime_type="image/png"),
            "Place the mug on a marble counter.",
        ],
        config=types.GenerateContentConfig(
            response_modalities=["TEXT", "IMAGE"], image_config=types.ImageConfig(aspect_ratio="1:1")
        ),
    )
    assert emu.log[-1][1] == "/v1/models/gemini-2.5-flash-image:generateContent"
    [image] = [p.inline_data.data for p in resp.parts or [] if p.inline_data and not p.thought]
    assert Image.open(io.BytesIO(image)).size == (1024, 1024)
    assert resp.usage_metadata.candidates_token_count == 1290


def test_reference_images_are_sent_after_the_source(emu, provider):
    ref = product_png("tomato")
    provider.generate(make_request(reference_images=(ref,)))
    parts = emu.bodies[-1][1]["contents"][0]["parts"]
    assert [("inlineData" in p) for p in parts] == [True, True, False]


def test_prices_come_from_settings(tmp_path, emu):
    settings = Settings.load(
        secrets_file=None,
        imagegecko_home=tmp_path,
        gemini_api_key="test-key",
        gemini_base_url=emu.url,
        gemini_models=["gemini-3.1-flash-image-preview"],
        prices={
            "gemini-3.1-flash-image-preview": ModelPrice(
                input_per_mtok=1.0, output_per_mtok=60.0, image_tokens=1120, input_tokens=500
            )
        },
    )
    p = gemini.GeminiProvider(settings)
    assert p.models() == ["gemini-3.1-flash-image-preview"]
    assert p.estimate_cost("gemini-3.1-flash-image-preview", 10) == pytest.approx(10 * (1120 * 60 + 500) / 1e6)
    assert p.estimate_cost("gemini-3.1-flash-image-preview", 10, batch=True) == pytest.approx(
        5 * (1120 * 60 + 500) / 1e6
    )
    image = p.generate(make_request(model="gemini-3.1-flash-image-preview"))
    assert image.cost == pytest.approx((image.usage["input_tokens"] * 1.0 + 1120 * 60.0) / 1e6, abs=1e-6)


# Retryable errors ---------------------------------------------------------------------------------------


def test_429_is_a_quota_error_with_the_servers_retry_delay(rt, emu, provider):
    emu.retry_delay = "47s"
    emu.queue("429")
    with pytest.raises(ProviderQuota) as info:
        provider.generate(make_request())
    assert info.value.retry_after == 47.0
    assert "rate limit" in info.value.message
    assert emu.counts["generateContent"] == 1  # no SDK retries: the worker owns them
    (event,) = request_events(rt)
    assert event.status_code == 429 and event.data["retry_after"] == 47.0


@pytest.mark.parametrize("code", ["503", "500", "504"])
def test_server_errors_are_retryable(emu, provider, code):
    emu.retry_delay = "3.5s"
    emu.queue(code)
    with pytest.raises(ProviderRetryable) as info:
        provider.generate(make_request())
    assert not isinstance(info.value, ProviderQuota)
    assert info.value.retryable
    assert info.value.retry_after == (3.5 if code == "503" else None)
    assert emu.counts["generateContent"] == 1


def test_per_minute_quota_answers_429_with_the_wait(emu, provider):
    emu.quota_rpm = 2
    provider.generate(make_request("one"))
    provider.generate(make_request("two"))
    with pytest.raises(ProviderQuota) as info:
        provider.generate(make_request("three"))
    assert info.value.retry_after is not None and 0 < info.value.retry_after <= 60


def test_timeouts_and_unreachable_servers_are_retryable(tmp_path, emu):
    emu.latency = 1.5
    slow = gemini.GeminiProvider(
        Settings.load(
            secrets_file=None,
            imagegecko_home=tmp_path,
            gemini_api_key="test-key",
            gemini_base_url=emu.url,
            gemini_timeout_seconds=0.3,
        )
    )
    with pytest.raises(ProviderRetryable, match="did not answer in time"):
        slow.generate(make_request())

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()  # nothing listens there now
    gone = gemini.GeminiProvider(
        Settings.load(
            secrets_file=None,
            imagegecko_home=tmp_path,
            gemini_api_key="test-key",
            gemini_base_url=f"http://127.0.0.1:{port}",
        )
    )
    with pytest.raises(ProviderRetryable, match="could not be reached"):
        gone.generate(make_request())


def test_fault_ratio_is_deterministic_and_every_request_gets_through(emu, provider):
    emu.fault_ratio = 0.3
    faults: list[float | None] = []
    for n in range(20):
        for _attempt in range(5):
            try:
                provider.generate(make_request(f"prompt number {n}"))
                break
            except ProviderRetryable as exc:
                faults.append(exc.retry_after)
        else:
            pytest.fail(f"request {n} never succeeded")
    assert 2 <= len(faults) <= 16
    assert set(faults) == {2.0}
    assert emu.counts["generateContent"] == 20 + len(faults)


# Permanent errors and refusals ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("outcome", "kind", "words"),
    [
        ("blocked", SafetyBlocked, "refused the request for this product"),
        ("image_safety", SafetyBlocked, "safety filter refused to make this image"),
        ("image_prohibited", SafetyBlocked, "prohibited"),
        ("safety", SafetyBlocked, "safety filter"),
        ("no_image", ProviderPermanent, "answered without making an image"),
        ("image_other", ProviderPermanent, "could not make an image"),
        ("image_recitation", ProviderPermanent, "too close to an existing image"),
        ("text_only", ProviderPermanent, "replied with text instead of an image"),
        ("400", ProviderPermanent, "Gemini refused the request"),
    ],
)
def test_refusals_are_permanent_with_a_sentence(rt, emu, provider, outcome, kind, words):
    emu.queue(outcome)
    with pytest.raises(kind) as info:
        provider.generate(make_request())
    err = info.value
    assert not err.retryable and not isinstance(err, ProviderAuthError)
    assert words in err.message and err.message.endswith((".", "\u201d"))
    (event,) = request_events(rt)
    assert event.data["error"] == kind.__name__


def test_unknown_model_is_permanent(provider):
    with pytest.raises(ProviderPermanent, match="does not offer the model"):
        provider.generate(make_request(model="gemini-9-imaginary"))


# Keys -----------------------------------------------------------------------------------------------------


def test_bad_key_and_missing_key_are_auth_errors(tmp_path, emu):
    bad = gemini.GeminiProvider(
        Settings.load(secrets_file=None, imagegecko_home=tmp_path, gemini_api_key="nope", gemini_base_url=emu.url)
    )
    with pytest.raises(ProviderAuthError) as info:
        bad.generate(make_request())
    assert "rejected this Gemini API key" in info.value.message and "nope" not in info.value.message

    emu.queue("403")
    good = gemini.GeminiProvider(
        Settings.load(secrets_file=None, imagegecko_home=tmp_path, gemini_api_key="test-key", gemini_base_url=emu.url)
    )
    with pytest.raises(ProviderAuthError, match="permission denied"):
        good.generate(make_request())
    emu.queue("401")
    with pytest.raises(ProviderAuthError, match="rejected this Gemini API key"):
        good.generate(make_request())

    rt = Runtime.build(Settings.load(secrets_file=None, imagegecko_home=tmp_path, gemini_base_url=emu.url))
    with pytest.raises(ProviderAuthError, match="Add a Gemini API key on the Connect page"):
        rt.provider("gemini").generate(make_request())


def test_key_from_the_active_connection_is_used_and_never_recorded(tmp_path, emu):
    rt = Runtime.build(Settings.load(secrets_file=None, imagegecko_home=tmp_path))
    provider = rt.provider("gemini")
    with pytest.raises(ProviderAuthError):
        provider.generate(make_request())
    save_connection(rt.db, rt.vault, kind="gemini", name="Gemini", secret={"api_key": "test-key"}, base_url=emu.url)
    image = provider.generate(make_request())  # the new key takes effect without a restart
    assert image.width == 1024
    for event in request_events(rt):
        assert "test-key" not in f"{event.url} {event.message} {event.data} {event.request_id}"


def test_test_key(tmp_path, emu, provider):
    provider.test_key("test-key")
    assert emu.counts["models.get"] == 1 and emu.counts["generateContent"] == 0
    with pytest.raises(ProviderAuthError, match="Google rejected this API key"):
        provider.test_key("wrong-key")
    with pytest.raises(ProviderAuthError, match="Paste a Gemini API key"):
        provider.test_key("  ")
    settings = Settings.load(secrets_file=None, imagegecko_home=tmp_path, gemini_base_url=emu.url)
    gemini.test_key(settings, "test-key")


# Alt text -------------------------------------------------------------------------------------------------


def test_describe_returns_short_concrete_alt_text(emu, provider):
    text = provider.describe(product_png(), PRODUCT)
    assert text == "Blue ceramic mug on a light stone counter beside a window"
    model, body = emu.bodies[-1]
    assert model == "gemini-2.5-flash"
    assert "IMAGE" not in str(body.get("generationConfig", {}).get("responseModalities"))


def test_describe_cuts_long_answers_at_a_word(emu, provider):
    emu.describe_text = "A picture of {name} " + "standing on an oak table with linen and green leaves " * 5
    text = provider.describe(product_png(), PRODUCT)
    assert len(text) <= 125
    assert text.startswith("Blue ceramic mug standing") and not text.endswith(" ")
    assert text.split()[-1] in "standing on an oak table with linen and green leaves".split()


def test_describe_falls_back_to_the_template(emu, provider):
    emu.queue("503")
    text = provider.describe(product_png(), PRODUCT)
    assert text == gemini.template_alt(PRODUCT)
    assert text and len(text) <= 125 and "image of" not in text.lower()


def test_describe_gives_up_after_its_timeout(emu, provider):
    assert provider.describe(product_png(), PRODUCT, timeout=5.0).startswith("Blue ceramic mug on a light stone")
    assert emu.log[-1][1] == "/v1beta/models/gemini-2.5-flash:generateContent"  # still the emulator, same path
    emu.text_latency = 3.0
    assert provider.describe(product_png(), PRODUCT, timeout=1.0) == gemini.template_alt(PRODUCT)


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ('"Image of a red kettle on a stove."', "A red kettle on a stove."),
        ("Alt text: Photo of white sneakers on concrete", "White sneakers on concrete"),
        ("A close-up photo of a candle\nSecond line", "A candle"),
        ("", ""),
    ],
)
def test_clean_alt(raw, clean):
    assert gemini.clean_alt(raw) == clean
