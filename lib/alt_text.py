"""Alt text the text model could not write the first time, asked for again later.

A generated image whose alt text did not come back (the text model over quota or slow, Gemini unreachable, a
collected batch's alt-text time used up) is stored with the template and `Asset.alt_tries_left` = ALT_TEXT_TRIES.
The worker, when it has nothing else to do, asks the text model again for a few of them at a time, within the
text model's own rate limit (settings.rate_limits["gemini_text"]). An answer replaces the template only while the
mark is still set: a person who edits the alt text clears it (jobs.set_alt_text), so their words always win.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING

from sqlalchemy import update
from sqlmodel import col, func, select

from lib.errors import AppError
from lib.generation.base import AltTextProvider
from lib.models import Asset, AssetKind, JobItem

if TYPE_CHECKING:
    from lib.runtime import Runtime

log = logging.getLogger(__name__)

ALT_TEXT_TRIES = 3  # asks of the text model per image after the first; then the template stays
ROUND_SIZE = 8  # images asked about per round
THREADS = 4
CALL_TIMEOUT_SECONDS = 30.0
PROVIDER = "gemini"  # the only provider with a text model today


def pending_count(runtime: Runtime) -> int:
    with runtime.db.session() as s:
        query = select(func.count()).select_from(Asset).where(col(Asset.alt_tries_left) > 0)
        return int(s.exec(query).one())


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
    with runtime.db.session() as s:
        rows = s.exec(
            select(Asset, JobItem)
            .join(JobItem, col(JobItem.id) == col(Asset.item_id))
            .where(col(Asset.alt_tries_left) > 0, Asset.kind == AssetKind.GENERATED)
            .order_by(col(Asset.alt_tries_left).desc(), col(Asset.id))
            .limit(limit)
        ).all()

    def ask(row: tuple[Asset, JobItem]) -> bool | None:
        asset, item = row
        if not acquire():
            return None
        from lib.generation import prompts
        from lib.sources.base import Product

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
        still_pending = col(Asset.id) == asset.id, col(Asset.alt_tries_left) > 0
        with runtime.db.transaction() as s:
            if text:
                done = s.exec(update(Asset).where(*still_pending).values(alt_text=text, alt_tries_left=0))
                return True if done.rowcount else None  # None: someone wrote their own meanwhile
            s.exec(update(Asset).where(*still_pending).values(alt_tries_left=col(Asset.alt_tries_left) - 1))
            return False

    with ThreadPoolExecutor(max_workers=THREADS, thread_name_prefix="gecko-alt-text") as pool:
        outcomes = list(pool.map(ask, rows))
    return sum(1 for o in outcomes if o), sum(1 for o in outcomes if o is False)
