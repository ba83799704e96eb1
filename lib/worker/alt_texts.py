"""Alt text the text model could not write the first time, asked for again later.

A generated image whose alt text did not come back (the text model over quota or slow, Gemini unreachable, a
collected batch's alt-text time used up) is stored with the template and `Asset.alt_tries_left` = ALT_TEXT_TRIES.
The worker, when it has nothing else to do, asks the text model again for a few of them at a time, within the
text model's own rate limit (settings.rate_limits["gemini_text"]). An answer replaces the template only while the
mark is still set: a person who edits the alt text clears it (lib.jobs.set_alt_text), so their words always win.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING

from lib.errors import AppError
from lib.generation import prompts
from lib.generation.base import AltTextProvider
from lib.jobs import queries, transitions
from lib.jobs.transitions import ALT_TEXT_TRIES
from lib.models import Asset, JobItem
from lib.sources.base import Product

if TYPE_CHECKING:
    from lib.runtime import Runtime

log = logging.getLogger(__name__)

__all__ = ["ALT_TEXT_TRIES", "fill_pending", "pending_count"]

ROUND_SIZE = 8  # images asked about per round
THREADS = 4
CALL_TIMEOUT_SECONDS = 30.0
PROVIDER = "gemini"  # the only provider with a text model today


def pending_count(runtime: Runtime) -> int:
    return queries.pending_alt_text_count(runtime.db)


def _provider(runtime: Runtime) -> AltTextProvider | None:
    try:
        provider = runtime.provider(PROVIDER)
    except AppError:  # no key any more: the templates stay until there is one
        return None
    return provider if isinstance(provider, AltTextProvider) else None


def fill_pending(
    runtime: Runtime, *, limit: int = ROUND_SIZE, acquire: Callable[[], bool] = lambda: True
) -> tuple[int, int]:
    """One round: ask the text model for up to `limit` pending alt texts. `acquire` is called before each call
    (the worker's rate limit; False stops the round). Returns (written, failed)."""
    provider = _provider(runtime)
    if provider is None:
        return 0, 0
    rows = queries.pending_alt_texts(runtime.db, limit)

    def ask(row: tuple[Asset, JobItem]) -> bool | None:
        asset, item = row
        assert asset.id is not None
        if not acquire():
            return None
        try:
            image = runtime.blobs.get(asset.sha256)
            info = prompts.product_info(Product.from_dict(item.product), item.variation_id)
        except (AppError, KeyError, TypeError, ValueError):
            log.warning("alt text for asset %s: cannot read its image or product", asset.id, exc_info=True)
            text = None
        else:
            text = provider.model_alt_text(
                image, info, job_id=item.job_id, item_id=item.id, timeout=CALL_TIMEOUT_SECONDS
            )
        return transitions.write_model_alt_text(runtime.db, asset_id=asset.id, text=text)

    with ThreadPoolExecutor(max_workers=THREADS, thread_name_prefix="gecko-alt-text") as pool:
        outcomes = list(pool.map(ask, rows))
    return sum(1 for o in outcomes if o), sum(1 for o in outcomes if o is False)
