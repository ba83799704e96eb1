"""A provider for fidelity tests: the studio engine, made to redraw the product the way a careless generator does."""

from __future__ import annotations

from dataclasses import replace

from lib.generation.base import GeneratedImage, GenerationRequest
from lib.generation.studio import StudioEngine
from lib.sources.demo import DemoSource


class RedrawingProvider:
    """Answers every request with a studio shot of another product: what a generator that redraws does."""

    name = "studio"

    def __init__(self, *, redraw: bool = True, only: str | None = None) -> None:
        self.engine = StudioEngine(min_side=512)
        self.redraw = redraw
        self.only = only  # redraw only this product (by name)
        self.requests: list[GenerationRequest] = []
        source = DemoSource(None)
        self.other = source.fetch_image(source.get_product("2").images[0])

    def models(self) -> list[str]:
        return ["studio-v1"]

    def estimate_cost(self, model: str, images: int, *, batch: bool = False) -> float:
        return 0.01 * images

    def generate(self, request: GenerationRequest) -> GeneratedImage:
        self.requests.append(request)
        mine = self.only is None or request.product.name == self.only
        if self.redraw and mine and "Correction:" not in request.prompt:
            request = replace(request, source_image=self.other)
        return self.engine.generate(request)
