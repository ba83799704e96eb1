"""Gemini image generation through the google-genai SDK (online calls); the Batch API lives in batch.py.

One request = the product photo (+ optional reference images) + the prompt, with the aspect ratio and size in
`ImageConfig`. Answers are mapped to the ProviderError family (see lib/generation/base.py):

    429                                   ProviderQuota(retry_after from RetryInfo)   -> retried by the worker
    408/500/502/503/504, timeouts, resets ProviderRetryable(retry_after if given)     -> retried by the worker
    401/403, 400 API_KEY_INVALID, no key  ProviderAuthError                            -> the job pauses
    400/404, blocked prompt, refusal,     ProviderPermanent / SafetyBlocked            -> the item fails at once
    no image part

The SDK's own retries stay off (its default): the worker owns retries, backoff and the rate limit.
Every outbound call is recorded as an Event (kind="request", service="gemini"), so the provider is a
RecordingProvider (base.py): generate() and describe() take job_id/item_id so the events link to the item, and the
worker does not log the call again. A generate event's data is {"usage", "cost"}, the shape the worker gives other
providers' calls; GeneratedImage.usage carries status, duration and request id.
"""

from __future__ import annotations

import io
import logging
import re
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import httpx2
from google import genai
from google.genai import errors as genai_errors
from google.genai import types
from PIL import Image

from lib.connections import active_connection, read_secret
from lib.errors import (
    AppError,
    ProviderAuthError,
    ProviderError,
    ProviderPermanent,
    ProviderQuota,
    ProviderRetryable,
    SafetyBlocked,
    VaultError,
)
from lib.generation.base import GeneratedImage, GenerationRequest, ProductInfo
from lib.kinds import Kind

if TYPE_CHECKING:
    from lib.config import Settings
    from lib.db import Database
    from lib.runtime import Runtime

log = logging.getLogger(__name__)

DEFAULT_BASE_URL = "https://generativelanguage.googleapis.com"
API_VERSION = "v1beta"
NO_KEY_MESSAGE = "Add a Gemini API key on the Connect page to generate with Gemini; the job is paused until then."
BAD_KEY_MESSAGE = (
    "Google rejected this Gemini API key. Copy it again from Google AI Studio "
    "(aistudio.google.com/apikey) and paste it on the Connect page; the job is paused until then."
)
ALT_MAX = 125

# Models that ignore or refuse ImageConfig.image_size (they always make ~1024 px images).
_FIXED_SIZE_PREFIXES = ("gemini-2.5-", "gemini-2.0-")
# How many input images a model takes (source + references); unknown models get the larger limit.
_MAX_INPUT_IMAGES = {"gemini-2.5-": 3}

_SAFETY_REASONS = {"SAFETY", "IMAGE_SAFETY"}
_PROHIBITED_REASONS = {
    "PROHIBITED_CONTENT",
    "IMAGE_PROHIBITED_CONTENT",
    "BLOCKLIST",
    "SPII",
    "JAILBREAK",
    "MODEL_ARMOR",
}


# Request ------------------------------------------------------------------------------------------


def size_name(output_size: int) -> str:
    """Gemini's size names for a long side in px: "1K" | "2K" | "4K" (uppercase K; lowercase is rejected)."""
    if output_size <= 1024:
        return "1K"
    return "2K" if output_size <= 2048 else "4K"


def supports_image_size(model: str) -> bool:
    return not model.startswith(_FIXED_SIZE_PREFIXES)


def _sniff_mime(data: bytes, default: str = "image/png") -> str:
    if data[:3] == b"\xff\xd8\xff":
        return "image/jpeg"
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        return "image/png"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return default


def request_parts(req: GenerationRequest) -> list[types.Part]:
    """Images first, then the prompt (as in Google's examples)."""
    limit = next((n for prefix, n in _MAX_INPUT_IMAGES.items() if req.model.startswith(prefix)), 14)
    parts = [types.Part.from_bytes(data=req.source_image, mime_type=req.source_mime or _sniff_mime(req.source_image))]
    for ref in req.reference_images[: max(0, limit - 1)]:
        parts.append(types.Part.from_bytes(data=ref, mime_type=_sniff_mime(ref)))
    parts.append(types.Part.from_text(text=req.prompt))
    return parts


def request_config(req: GenerationRequest) -> types.GenerateContentConfig:
    image_config = types.ImageConfig(aspect_ratio=req.aspect_ratio)
    if supports_image_size(req.model):
        image_config.image_size = size_name(req.output_size)
    return types.GenerateContentConfig(response_modalities=["TEXT", "IMAGE"], image_config=image_config)


# Response -----------------------------------------------------------------------------------------


def _enum_name(value: Any) -> str:
    if value is None:
        return ""
    return str(getattr(value, "value", value))


def _reason_words(reason: str) -> str:
    return reason.replace("IMAGE_", "").replace("_", " ").lower()


def usage_numbers(resp: types.GenerateContentResponse) -> dict[str, int]:
    """Tokens that are billed: prompt tokens at the input price, image tokens at the output price."""
    um = resp.usage_metadata
    if um is None:
        return {"input_tokens": 0, "output_tokens": 0, "image_tokens": 0}
    image_tokens = sum(
        d.token_count or 0 for d in (um.candidates_tokens_details or []) if _enum_name(d.modality) == "IMAGE"
    )
    if not um.candidates_tokens_details:
        image_tokens = um.candidates_token_count or 0
    return {
        "input_tokens": um.prompt_token_count or 0,
        "output_tokens": image_tokens,
        "image_tokens": image_tokens,
        "candidates_tokens": um.candidates_token_count or 0,
        "thoughts_tokens": um.thoughts_token_count or 0,
    }


def refusal(resp: types.GenerateContentResponse) -> ProviderPermanent:
    """The error for an answer without a final image, with a sentence saying what happened."""
    rid = resp.response_id
    feedback = resp.prompt_feedback
    if not resp.candidates:
        reason = _enum_name(feedback.block_reason) if feedback else ""
        if reason:
            return SafetyBlocked(
                f"Gemini refused the request for this product ({_reason_words(reason)} filter on the prompt). "
                "Try another style, or remove words from the extra prompt.",
                detail=f"promptFeedback.blockReason={reason} responseId={rid}",
            )
        return ProviderPermanent(
            "Gemini sent back an empty answer for this product. Try again, or try another style.",
            detail=f"no candidates, responseId={rid}",
        )
    cand = resp.candidates[0]
    reason = _enum_name(cand.finish_reason)
    text = " ".join(
        p.text.strip() for p in ((cand.content.parts or []) if cand.content else []) if p.text and not p.thought
    ).strip()
    detail = f"finishReason={reason or 'none'} responseId={rid}"
    if reason in _SAFETY_REASONS:
        return SafetyBlocked(
            "Gemini's safety filter refused to make this image. Try another style or prompt.", detail=detail
        )
    if reason in _PROHIBITED_REASONS:
        return SafetyBlocked(
            "Gemini refused to make this image because it judged the content prohibited. Try another style or prompt.",
            detail=detail,
        )
    if reason in ("IMAGE_RECITATION", "RECITATION"):
        return ProviderPermanent(
            "Gemini stopped because the result looked too close to an existing image "
            "(recitation). Try another style or add details to the prompt.",
            detail=detail,
        )
    if reason == "NO_IMAGE":
        return ProviderPermanent(
            "Gemini answered without making an image. Try again, or simplify the prompt.", detail=detail
        )
    if reason in ("IMAGE_OTHER", "OTHER"):
        return ProviderPermanent(
            "Gemini could not make an image for this product and gave no reason. Try again, or try another style.",
            detail=detail,
        )
    if text:
        return ProviderPermanent(
            f"Gemini replied with text instead of an image: \u201c{text[:160]}\u201d", detail=detail
        )
    if reason and reason != "STOP":
        return ProviderPermanent(
            f"Gemini stopped without an image ({_reason_words(reason)}). Try again.", detail=detail
        )
    return ProviderPermanent("Gemini's answer had no image in it. Try again, or try another style.", detail=detail)


def parse_response(
    resp: types.GenerateContentResponse, model: str, settings: Settings, *, batch: bool = False
) -> GeneratedImage:
    """The final image of an answer (thought images skipped), its size and cost; or the refusal error."""
    images: list[types.Part] = []
    texts: list[str] = []
    if resp.candidates and resp.candidates[0].content:
        for part in resp.candidates[0].content.parts or []:
            if part.thought:
                continue  # interim "thinking" images of Gemini 3 are not results
            blob = part.inline_data
            if blob is not None and blob.data and (blob.mime_type or "image/").startswith("image/"):
                images.append(part)
            elif part.text:
                texts.append(part.text.strip())
    if not images:
        raise refusal(resp)
    blob = images[-1].inline_data
    assert blob is not None and blob.data is not None
    data = blob.data
    try:
        with Image.open(io.BytesIO(data)) as im:
            width, height = im.size
    except Exception as exc:
        raise ProviderRetryable(
            "Gemini sent an image that could not be read. We will try again.", detail=f"{type(exc).__name__}: {exc}"
        ) from exc
    usage = usage_numbers(resp)
    cost = settings.price(model).from_usage(
        input_tokens=usage["input_tokens"], output_tokens=usage["output_tokens"], batch=batch
    )
    return GeneratedImage(
        data=data,
        mime=blob.mime_type or _sniff_mime(data),
        width=width,
        height=height,
        model=resp.model_version or model,
        cost=round(cost, 6),
        usage={**usage, "batch": batch},
        text=" ".join(t for t in texts if t) or None,
        request_id=resp.response_id,
    )


# Errors -------------------------------------------------------------------------------------------


def _parse_duration(value: Any) -> float | None:
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, dict):  # {"seconds": 47, "nanos": 170000000}
        return float(value.get("seconds", 0)) + float(value.get("nanos", 0)) / 1e9
    if isinstance(value, str):
        m = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*s?\s*", value)
        return float(m.group(1)) if m else None
    return None


def retry_after(exc: genai_errors.APIError) -> float | None:
    """The delay the server asked for: RetryInfo.retryDelay, else 'retry in 47.17s', else Retry-After."""
    details = exc.details if isinstance(exc.details, dict) else {}
    body = details.get("error", details) if isinstance(details, dict) else {}
    for d in (body.get("details") or []) if isinstance(body, dict) else []:
        if isinstance(d, dict) and str(d.get("@type", "")).endswith("google.rpc.RetryInfo"):
            delay = _parse_duration(d.get("retryDelay"))
            if delay is not None:
                return delay
    m = re.search(r"retry in ([0-9]*\.?[0-9]+)\s*s", exc.message or "", re.IGNORECASE)
    if m:
        return float(m.group(1))
    headers = getattr(getattr(exc, "response", None), "headers", None)
    if headers is not None:
        value = headers.get("retry-after")
        if value:
            return _parse_duration(value)
    return None


def _error_reasons(exc: genai_errors.APIError) -> set[str]:
    details = exc.details if isinstance(exc.details, dict) else {}
    body = details.get("error", details)
    return {str(d.get("reason")) for d in (body.get("details") or []) if isinstance(d, dict) and d.get("reason")}


def map_error(exc: BaseException, model: str = "") -> AppError:
    """An SDK or transport exception as one of our typed errors (never carries the key)."""
    if isinstance(exc, AppError):
        return exc
    if isinstance(exc, genai_errors.APIError):
        code = exc.code or 0
        message = (exc.message or "").strip()
        detail = f"{code} {exc.status}: {message[:500]}"
        delay = retry_after(exc)
        if code == 429:
            if "limit: 0" in message:
                return ProviderAuthError(
                    f"This Gemini key's project has no quota for {model or 'this model'} (the free tier has none "
                    "for image models). Enable billing for the key's project in Google AI Studio; the job is "
                    "paused until then.",
                    detail=detail,
                )
            wait = f" in {delay:.0f} s" if delay else ""
            return ProviderQuota(
                f"Gemini's rate limit was reached; we will try again{wait}.", retry_after=delay, detail=detail
            )
        if code in (408, 500, 502, 503, 504):
            what = {503: "is overloaded", 408: "did not answer in time", 504: "did not answer in time"}.get(
                code, "had an error"
            )
            return ProviderRetryable(f"Gemini {what}; we will try again shortly.", retry_after=delay, detail=detail)
        if code in (401, 403) or "API_KEY_INVALID" in _error_reasons(exc) or "API key not valid" in message:
            return ProviderAuthError(
                BAD_KEY_MESSAGE
                if code != 403
                else "Google refused this Gemini API key for this request (permission denied). "
                "Check the key and its project on the Connect page; the job is paused until "
                "then.",
                detail=detail,
            )
        if code == 404:
            return ProviderPermanent(
                f"Gemini does not offer the model {model!r} to this key. Choose another model.", detail=detail
            )
        if 400 <= code < 500:
            return ProviderPermanent(f"Gemini refused the request: {message[:300] or exc.status}.", detail=detail)
        return ProviderRetryable("Gemini had an error; we will try again shortly.", retry_after=delay, detail=detail)
    if isinstance(exc, httpx2.TransportError):  # google-genai's transport: a dropped connection, a timeout
        slow = "Timeout" in type(exc).__name__
        return ProviderRetryable(
            "Gemini did not answer in time; we will try again."
            if slow
            else "Gemini could not be reached; we will try again shortly.",
            detail=f"{type(exc).__name__}: {exc}",
        )
    if isinstance(exc, OSError):
        return ProviderRetryable(
            "Gemini could not be reached; we will try again shortly.", detail=f"{type(exc).__name__}: {exc}"
        )
    return ProviderPermanent("The request to Gemini could not be made.", detail=f"{type(exc).__name__}: {exc}")


def _status_of(err: AppError) -> int | None:
    m = re.match(r"(\d{3}) ", err.detail or "")
    return int(m.group(1)) if m else None


# Alt text -----------------------------------------------------------------------------------------

_LEADING = re.compile(
    r"^(alt(\s*text)?\s*[:\-]\s*)?((an?|the)\s+)?(close[- ]up\s+)?"
    r"(image|picture|photo|photograph|shot|product photo)\s+(of|showing)\s+",
    re.IGNORECASE,
)


def clean_alt(text: str) -> str:
    """One short concrete sentence: no quotes, no 'image of', at most ALT_MAX characters (cut at a word)."""
    text = " ".join((text or "").strip().splitlines()[0].split()) if (text or "").strip() else ""
    text = text.strip(" \"'\u201c\u201d*`")
    for _ in range(2):
        text = _LEADING.sub("", text).strip()
    if not text:
        return ""
    text = text[0].upper() + text[1:]
    if len(text) > ALT_MAX:
        cut = text[: ALT_MAX + 1].rsplit(" ", 1)[0]
        text = cut.rstrip(" ,;:-")
    return text.rstrip(" ,;:-")


def template_alt(product: ProductInfo, style: str = "") -> str:
    """The offline alt text (prompts.alt_text), or a plain local one if prompts.py is not importable."""
    try:
        from lib.generation import prompts

        return prompts.alt_text(product, style or prompts.DEFAULT_STYLE)
    except Exception:
        parts = [product.name.strip() or "Product"]
        if product.category:
            parts.append(product.category.strip().lower())
        return clean_alt(", ".join(parts) + " in a lifestyle setting")


def _alt_prompt(product: ProductInfo) -> str:
    return (
        "Write the alt text for this product photo in an online shop.\n"
        f"Product: {product.name}\n"
        "Rules: one sentence of at most 120 characters; name the product and what is around it, with concrete "
        "nouns and colours; do not start with 'image of', 'picture of' or 'photo of'; no marketing words; "
        "no quotes."
    )


# The provider ---------------------------------------------------------------------------------------

KeyLoader = Callable[[], tuple[str | None, str | None]]  # -> (api_key, base_url)


class GeminiProvider:
    """ImageProvider over google-genai. The key is looked up on each call (a new key on the Connect page
    takes effect without a restart); clients are cached per (key, base URL)."""

    name: str = Kind.GEMINI
    cpu_bound = False  # network calls that mostly wait: as many in flight as the rate limit needs
    records_requests = True  # each HTTP call is already an Event (callers need not log it again)

    def __init__(
        self,
        settings: Settings,
        *,
        api_key: str | None = None,
        base_url: str | None = None,
        db: Database | None = None,
        key_loader: KeyLoader | None = None,
    ) -> None:
        self.settings = settings
        self.db = db
        self._api_key = api_key
        self._base_url = base_url
        self._key_loader = key_loader
        self._clients: dict[tuple[str, str | None], genai.Client] = {}
        self._lock = threading.Lock()
        self._sent_to: str | None = None  # base URL of the last client handed out: where the calls being logged went

    # plumbing -------------------------------------------------------------------------------------
    def _credentials(self) -> tuple[str, str | None]:
        key, base = self._api_key, self._base_url
        if not key and self._key_loader is not None:
            key, loaded_base = self._key_loader()
            base = base or loaded_base
        if not key and self.settings.gemini_api_key is not None:
            key = self.settings.gemini_api_key.get_secret_value()
        if not key:
            raise ProviderAuthError(NO_KEY_MESSAGE)
        return key, base or self.settings.gemini_base_url

    def base_url(self) -> str:
        try:
            return (self._credentials()[1] or DEFAULT_BASE_URL).rstrip("/")
        except ProviderAuthError:
            return DEFAULT_BASE_URL

    def client(self, api_key: str | None = None) -> genai.Client:
        if api_key is None:
            api_key, base = self._credentials()
        else:
            base = self._base_url or self.settings.gemini_base_url
        with self._lock:
            c = self._clients.get((api_key, base))
            if c is None:
                c = make_client(self.settings, api_key, base)
                self._clients[(api_key, base)] = c
            self._sent_to = (base or DEFAULT_BASE_URL).rstrip("/")
            return c

    def record(
        self,
        *,
        method: str,
        path: str,
        status: int | None,
        duration_ms: float,
        message: str,
        job_id: int | None = None,
        item_id: int | None = None,
        request_id: str | None = None,
        data: dict[str, Any] | None = None,
        event_id: int | None = None,
    ) -> None:
        """One Event per outbound call; a failure to record never fails the call itself. `event_id`: the call was
        recorded before it was sent (the worker's begin_call); its outcome completes that event."""
        if self.db is None:
            return
        try:
            from lib import events

            with self.db.transaction() as s:
                if event_id is not None:
                    events.complete(
                        s,
                        event_id,
                        message,
                        url=f"{self._sent_to or self.base_url()}/{API_VERSION}/{path}",
                        status_code=status,
                        duration_ms=round(duration_ms, 1),
                        request_id=request_id,
                        data=data,
                    )
                    return
                events.record(
                    s,
                    "request",
                    message,
                    job_id=job_id,
                    item_id=item_id,
                    service="gemini",
                    method=method,
                    url=f"{self._sent_to or self.base_url()}/{API_VERSION}/{path}",
                    status_code=status,
                    duration_ms=round(duration_ms, 1),
                    request_id=request_id,
                    data=data,
                )
        except Exception:  # the job log being busy must not lose a paid result
            log.warning("could not record a gemini request event", exc_info=True)

    # ImageProvider -----------------------------------------------------------------------------------
    def models(self) -> list[str]:
        return list(self.settings.gemini_models)

    def estimate_cost(self, model: str, images: int, *, batch: bool = False) -> float:
        return round(self.settings.price(model).per_image(batch=batch) * images, 6)

    def generate(
        self,
        request: GenerationRequest,
        *,
        job_id: int | None = None,
        item_id: int | None = None,
        call_id: int | None = None,
    ) -> GeneratedImage:
        """One generateContent call. `call_id`: the event the caller recorded before sending; it is completed with
        the answer instead of a second event being written."""
        client = self.client()
        path = f"models/{request.model}:generateContent"
        t0 = time.monotonic()
        try:
            contents: list[types.PartUnionDict] = list(request_parts(request))  # the SDK's (invariant) list type
            resp = client.models.generate_content(
                model=request.model, contents=contents, config=request_config(request)
            )
        except Exception as exc:
            err = map_error(exc, request.model)
            status = _status_of(err)
            self.record(
                method="POST",
                path=path,
                status=status,
                duration_ms=(time.monotonic() - t0) * 1000,
                message=f"generateContent {request.model}: {status or type(exc).__name__}",
                job_id=job_id,
                item_id=item_id,
                data={"error": err.kind, "retry_after": getattr(err, "retry_after", None)},
                event_id=call_id,
            )
            raise err from exc
        duration = (time.monotonic() - t0) * 1000
        try:
            image = parse_response(resp, request.model, self.settings)
        except ProviderError as err:
            self.record(
                method="POST",
                path=path,
                status=200,
                duration_ms=duration,
                job_id=job_id,
                item_id=item_id,
                message=f"generateContent {request.model}: 200, no image ({err.detail})",
                request_id=resp.response_id,
                data={"error": err.kind, **usage_numbers(resp)},
                event_id=call_id,
            )
            raise
        image.usage.update(status_code=200, duration_ms=round(duration, 1))
        self.record(
            method="POST",
            path=path,
            status=200,
            duration_ms=duration,
            job_id=job_id,
            item_id=item_id,
            message=f"generateContent {request.model}: 200, {image.width}x{image.height}",
            request_id=image.request_id,
            data={"usage": image.usage, "cost": image.cost},
            event_id=call_id,
        )
        return image

    # Alt text ----------------------------------------------------------------------------------------
    def describe(
        self,
        image: bytes,
        product: ProductInfo,
        *,
        style: str = "",
        job_id: int | None = None,
        item_id: int | None = None,
        timeout: float | None = None,
    ) -> str:
        """Alt text from the text model; the template on any error (offline, no key, refusal, junk) or when no
        answer comes within `timeout` seconds (default: settings.gemini_timeout_seconds)."""
        return self.model_alt_text(image, product, job_id=job_id, item_id=item_id, timeout=timeout) or template_alt(
            product, style
        )

    def model_alt_text(
        self,
        image: bytes,
        product: ProductInfo,
        *,
        job_id: int | None = None,
        item_id: int | None = None,
        timeout: float | None = None,
    ) -> str | None:
        """Alt text from the text model, or None on any error, refusal or junk answer (every call is logged)."""
        model = self.settings.gemini_text_model
        path = f"models/{model}:generateContent"
        t0 = time.monotonic()
        try:
            client = self.client()
            config = types.GenerateContentConfig(temperature=0.2, max_output_tokens=200)
            if timeout is not None:
                config.http_options = types.HttpOptions(timeout=max(1, int(timeout * 1000)))  # milliseconds
            if "flash" in model and model.startswith("gemini-2.5"):
                config.thinking_config = types.ThinkingConfig(thinking_budget=0)  # short answers, no thinking
            parts: list[types.PartUnionDict] = [
                types.Part.from_bytes(data=image, mime_type=_sniff_mime(image)),
                types.Part.from_text(text=_alt_prompt(product)),
            ]
            resp = client.models.generate_content(model=model, contents=parts, config=config)
            text = clean_alt(resp.text or "")
            self.record(
                method="POST",
                path=path,
                status=200,
                duration_ms=(time.monotonic() - t0) * 1000,
                message=f"alt text {model}: 200",
                job_id=job_id,
                item_id=item_id,
                request_id=resp.response_id,
                data=usage_numbers(resp),
            )
            if len(text) >= 3:
                return text
        except Exception as exc:
            err = map_error(exc, model)
            self.record(
                method="POST",
                path=path,
                status=_status_of(err),
                duration_ms=(time.monotonic() - t0) * 1000,
                job_id=job_id,
                item_id=item_id,
                message=f"alt text {model}: {err.kind}",
            )
        return None

    # Connect page --------------------------------------------------------------------------------------
    def test_key(self, api_key: str) -> None:
        """One cheap call (models.get) with this key. Raises ProviderAuthError (plain sentence) if it is bad."""
        api_key = (api_key or "").strip()
        if not api_key:
            raise ProviderAuthError("Paste a Gemini API key first.")
        model = (self.settings.gemini_models or ["gemini-2.5-flash-image"])[0]
        t0 = time.monotonic()
        try:
            self.client(api_key).models.get(model=model)
        except Exception as exc:
            err = map_error(exc, model)
            self.record(
                method="GET",
                path=f"models/{model}",
                status=_status_of(err),
                duration_ms=(time.monotonic() - t0) * 1000,
                message=f"key test: {err.kind}",
            )
            if isinstance(err, ProviderAuthError):
                raise ProviderAuthError(
                    "Google rejected this API key. Copy it again from Google AI Studio (aistudio.google.com/apikey)"
                    " and paste it here.",
                    detail=err.detail,
                ) from exc
            if isinstance(err, ProviderPermanent):
                raise ProviderAuthError(
                    f"The key works, but {model} is not available to it. {err.message}", detail=err.detail
                ) from exc
            raise err from exc
        self.record(
            method="GET",
            path=f"models/{model}",
            status=200,
            duration_ms=(time.monotonic() - t0) * 1000,
            message="key test: ok",
        )


def make_client(settings: Settings, api_key: str, base_url: str | None = None) -> genai.Client:
    """A google-genai client without SDK retries (the worker owns retries)."""
    options = types.HttpOptions(
        base_url=base_url or settings.gemini_base_url or DEFAULT_BASE_URL,
        api_version=API_VERSION,
        timeout=int(settings.gemini_timeout_seconds * 1000),  # milliseconds
    )
    return genai.Client(api_key=api_key, http_options=options)


def test_key(settings: Settings, api_key: str, *, base_url: str | None = None, db: Database | None = None) -> None:
    """Module-level form of GeminiProvider.test_key for the Connect page."""
    GeminiProvider(settings, base_url=base_url, db=db).test_key(api_key)


test_key.__test__ = False  # type: ignore[attr-defined]  # not a pytest test when imported into a test module


def key_loader_for(runtime: Runtime) -> KeyLoader:
    """The active "gemini" Connection's key (from the vault), else Settings.gemini_api_key."""

    def load() -> tuple[str | None, str | None]:
        conn = active_connection(runtime.db, Kind.GEMINI)
        if conn is not None:
            try:
                secret = read_secret(runtime.vault, conn)
            except VaultError as exc:
                raise ProviderAuthError(exc.message) from exc
            key = str(secret.get("api_key") or "").strip()
            if key:
                return key, conn.base_url or None
        value = runtime.settings.gemini_api_key
        return (value.get_secret_value() if value is not None else None), None

    return load


def open_provider(runtime: Runtime) -> GeminiProvider:
    return GeminiProvider(runtime.settings, db=runtime.db, key_loader=key_loader_for(runtime))
