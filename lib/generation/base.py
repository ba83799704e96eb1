"""How images are made: one protocol (`ImageProvider`), one module per provider (studio, gemini).

Providers raise the `ProviderError` family from lib.errors:
  ProviderRetryable(retry_after)  transient / overloaded: the worker retries with backoff
  ProviderQuota(retry_after)      429 or quota: retried, honouring the server's delay
  ProviderAuthError               bad or missing key: the job pauses
  ProviderPermanent / SafetyBlocked  bad input, safety refusal, no image: the item fails at once
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeGuard, runtime_checkable

ASPECT_RATIOS = ("1:1", "4:5", "5:4", "3:4", "4:3", "2:3", "3:2", "9:16", "16:9", "21:9")
OUTPUT_SIZES = (1024, 2048, 4096)  # long side in px; Gemini "1K" | "2K" | "4K"


def aspect_size(aspect_ratio: str, long_side: int) -> tuple[int, int]:
    """Width and height for an aspect ratio like '4:5' with the given long side."""
    w_s, h_s = aspect_ratio.split(":")
    w, h = float(w_s), float(h_s)
    if w >= h:
        return long_side, max(1, round(long_side * h / w))
    return max(1, round(long_side * w / h)), long_side


@dataclass(frozen=True)
class ProductInfo:
    """What a prompt (and an alt text) may say about the product."""

    name: str
    sku: str = ""
    category: str = ""
    description: str = ""
    attributes: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class GenerationRequest:
    source_image: bytes  # the product photo (normalised JPEG or PNG bytes)
    prompt: str  # the full prompt built by prompts.build_prompt
    product: ProductInfo
    style: str  # preset key
    model: str
    aspect_ratio: str = "1:1"
    output_size: int = 1024
    variant_index: int = 0
    seed: int = 0
    source_mime: str = "image/png"
    reference_images: tuple[bytes, ...] = ()  # e.g. an approved earlier result, for consistency

    def fingerprint(self, provider: str) -> str:
        """Identical requests (same source, prompt, model, aspect, size, variant) share a result."""
        h = hashlib.sha256()
        h.update(hashlib.sha256(self.source_image).digest())
        for ref in self.reference_images:
            h.update(hashlib.sha256(ref).digest())
        meta = [
            provider,
            self.model,
            self.prompt,
            self.style,
            self.aspect_ratio,
            self.output_size,
            self.variant_index,
            self.seed,
        ]
        h.update(json.dumps(meta).encode())
        return h.hexdigest()


@dataclass
class GeneratedImage:
    data: bytes
    mime: str
    width: int
    height: int
    model: str
    cost: float = 0.0  # USD actually charged for this image
    usage: dict[str, Any] = field(default_factory=dict)  # provider's usage numbers (tokens...)
    text: str | None = None  # any text the model returned beside the image
    request_id: str | None = None


@runtime_checkable
class ImageProvider(Protocol):
    """An image maker. A provider may also declare `cpu_bound = True` (see `is_cpu_bound`)."""

    name: str  # studio | gemini

    def models(self) -> list[str]: ...

    def generate(self, request: GenerationRequest) -> GeneratedImage: ...

    def estimate_cost(self, model: str, images: int, *, batch: bool = False) -> float: ...


@runtime_checkable
class RecordingProvider(ImageProvider, Protocol):
    """A provider that records each of its own outbound calls as a "request" Event (gemini). Callers pass the
    item's ids so those events link to it, and the id of the event they wrote before the call (`call_id`), which
    the provider completes with the answer; other providers' calls are completed by the worker."""

    records_requests: bool

    def generate(
        self,
        request: GenerationRequest,
        *,
        job_id: int | None = None,
        item_id: int | None = None,
        call_id: int | None = None,
    ) -> GeneratedImage: ...


@runtime_checkable
class AltTextProvider(Protocol):
    """A provider that also writes the alt text for an image it made. Never raises: None when its model gave no
    usable answer (offline, quota, timeout), and the caller then stores the template and may ask again later
    (lib/worker/alt_texts.py). job_id / item_id link a recording provider's request events to the item."""

    def model_alt_text(
        self,
        image: bytes,
        product: ProductInfo,
        *,
        job_id: int | None = None,
        item_id: int | None = None,
        timeout: float | None = None,
    ) -> str | None: ...


def is_cpu_bound(provider: object) -> bool:
    """A provider that computes its images on this machine's CPU (the studio engine) gets about one call in flight
    per core; others (network calls that mostly wait, like Gemini) get as many as their rate limit needs."""
    return getattr(provider, "cpu_bound", False) is True


def records_own_requests(provider: ImageProvider) -> TypeGuard[RecordingProvider]:
    """True when the provider logs its own calls (see RecordingProvider)."""
    return isinstance(provider, RecordingProvider) and provider.records_requests is True
