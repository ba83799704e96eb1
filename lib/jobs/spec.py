"""What a job asks for (JobSpec, Selection), its checks, its mode and its cost estimate. Nothing here writes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from lib.connectors import registry
from lib.errors import InputError
from lib.generation import prompts
from lib.generation.base import ASPECT_RATIOS
from lib.sources.base import Product

if TYPE_CHECKING:
    from lib.runtime import Runtime

MAX_VARIANTS = 4
MAX_FIDELITY_RETRIES = 3  # automatic re-tries of an image the fidelity check calls redrawn
STUDIO_MODEL = "studio-v1"
REFERENCE_PROVIDERS = {"gemini"}  # providers that take reference images (the studio engine has no use for them)
BATCH_PROVIDERS = {"gemini"}  # providers with a batch API


@dataclass(frozen=True)
class JobSpec:
    source_kind: str
    connection_id: int | None = None
    provider: str = "studio"
    model: str = STUDIO_MODEL
    style: str = "auto"  # a preset key, or "auto" = each product's category default
    prompt_extra: str = ""
    aspect_ratio: str = "1:1"
    output_size: int = 1024
    variants: int = 1
    mode: str = "online"  # online | batch
    # Variants after the first also get the product's first approved shot, so a product's images stay alike.
    use_reference: bool = False
    # Images the fidelity check calls "redrawn" are made again (with the finding as a correction) up to N times.
    fidelity_retries: int = 0


@dataclass(frozen=True)
class Selection:
    product: Product
    variation_id: str | None = None


def validate_spec(rt: Runtime, spec: JobSpec) -> None:
    if spec.source_kind not in registry.SOURCES:
        raise InputError(f"Unknown product source {spec.source_kind!r}.")
    if spec.provider not in registry.PROVIDERS:
        raise InputError(f"Unknown image provider {spec.provider!r}.")
    if spec.style != "auto" and spec.style not in prompts.PRESETS:
        raise InputError(f"Unknown style {spec.style!r}. Choose one of: {', '.join(prompts.PRESETS)}.")
    if spec.aspect_ratio not in ASPECT_RATIOS:
        raise InputError(f"Aspect ratio {spec.aspect_ratio!r} is not supported. Use one of {', '.join(ASPECT_RATIOS)}.")
    if not 1 <= spec.variants <= MAX_VARIANTS:
        raise InputError(f"Variants per product must be between 1 and {MAX_VARIANTS}.")
    if spec.mode not in ("online", "batch"):
        raise InputError("Mode must be online or batch.")
    if spec.provider == "gemini" and spec.model not in rt.settings.gemini_models:
        models = ", ".join(rt.settings.gemini_models)
        raise InputError(f"Model {spec.model!r} is not configured. Choose one of {models}.")
    if len(spec.prompt_extra) > 2000:
        raise InputError("The extra prompt is too long (2,000 characters at most).")
    if not 0 <= spec.fidelity_retries <= MAX_FIDELITY_RETRIES:
        raise InputError(f"Automatic re-tries of redrawn images: choose 0 to {MAX_FIDELITY_RETRIES}.")
    if spec.use_reference and spec.provider not in REFERENCE_PROVIDERS:
        raise InputError("Reference shots are only used by Gemini; choose Gemini or leave the option off.")


def suggested_mode(rt: Runtime, provider: str, n_items: int) -> str:
    """Batch for jobs of at least `batch_threshold` items on a provider with a batch API, else online."""
    if provider in BATCH_PROVIDERS and n_items >= rt.settings.batch_threshold:
        return "batch"
    return "online"


def model_for(spec: JobSpec) -> str:
    return STUDIO_MODEL if spec.provider == "studio" else spec.model


def estimate_cost(rt: Runtime, spec: JobSpec, n_selections: int) -> float:
    """USD for n products × variants at the price table (studio is free; batch at the batch discount)."""
    if spec.provider == "studio":
        return 0.0
    price = rt.settings.price(spec.model)
    return round(price.per_image(batch=spec.mode == "batch") * n_selections * spec.variants, 4)
