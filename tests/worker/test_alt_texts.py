"""Alt texts the text model did not write the first time are asked for again (lib/worker/alt_texts.py), through the real
SDK against the Gemini emulator: a batch whose alt-text time ran out, an online job whose text calls failed."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest
from sqlmodel import select

from lib import jobs
from lib.config import Settings
from lib.generation import prompts
from lib.models import Asset, ItemStatus, JobItem, utcnow
from lib.runtime import Runtime
from lib.sources.base import Product, ProductQuery
from lib.worker import Worker, alt_texts, batch, runner, start_embedded
from tests.emulators.gemini import GeminiEmulator

ALT_PROMPT = "Write the alt text"  # what every alt-text request says (gemini._alt_prompt)


@pytest.fixture
def emu() -> Iterator[GeminiEmulator]:
    with GeminiEmulator(image_side=256) as e:
        e.use_studio = False
        yield e


@pytest.fixture
def rt(tmp_path, emu) -> Iterator[Runtime]:
    runtime = Runtime.build(
        Settings.load(
            secrets_file=None,
            imagegecko_home=tmp_path,
            gemini_api_key="test-key",
            gemini_base_url=emu.url,
            poll_seconds=0.05,
        )
    )
    yield runtime
    runtime.db.dispose()


def _job(rt: Runtime, products: int, mode: str) -> int:
    items = rt.source("demo").list_products(ProductQuery(per_page=100)).items[:products]
    spec = jobs.JobSpec(
        source_kind="demo", provider="gemini", model="gemini-2.5-flash-image", style="marble_counter", mode=mode
    )
    job = jobs.create_job(rt, spec=spec, selections=[jobs.Selection(p) for p in items])
    assert job.id is not None
    return job.id


def _assets(rt: Runtime, job_id: int) -> list[tuple[Asset, JobItem]]:
    with rt.db.session() as s:
        return list(
            s.exec(
                select(Asset, JobItem)
                .join(JobItem, JobItem.id == Asset.item_id)
                .where(Asset.job_id == job_id)
                .order_by(Asset.id)
            ).all()
        )


def _template(item: JobItem) -> str:
    return prompts.alt_text(prompts.product_info(Product.from_dict(item.product), item.variation_id), "marble_counter")


def _model_text(item: JobItem) -> str:
    return f"{item.product['name']} on a light stone counter beside a window"  # the emulator's answer


def _alt_calls(emu: GeminiEmulator) -> int:
    return sum(1 for _m, path, _s in emu.log if ":generateContent" in path and "image" not in path)


@pytest.fixture
def batch_without_alt_texts(rt, emu, monkeypatch) -> int:
    """A batch job of 4 collected with no time left for alt texts: every image carries the template."""
    monkeypatch.setattr(batch, "ALT_TEXT_BUDGET_SECONDS", 0.0)
    job_id = _job(rt, 4, "batch")
    batch.tick(rt, background=False)
    emu.advance(to="succeeded")
    batch.tick(rt, background=False, now=utcnow().replace(year=utcnow().year + 1))
    rows = _assets(rt, job_id)
    assert len(rows) == 4 and all(a.alt_text == _template(i) for a, i in rows)
    assert _alt_calls(emu) == 0
    return job_id


def test_alt_texts_left_to_the_template_by_a_batch_are_written_by_the_text_model_later(
    rt, emu, batch_without_alt_texts
):
    assert alt_texts.pending_count(rt) == 4

    written, failed = alt_texts.fill_pending(rt)

    assert (written, failed) == (4, 0)
    assert [a.alt_text for a, _ in _assets(rt, batch_without_alt_texts)] == [
        _model_text(i) for _, i in _assets(rt, batch_without_alt_texts)
    ]
    assert alt_texts.pending_count(rt) == 0
    assert alt_texts.fill_pending(rt) == (0, 0) and _alt_calls(emu) == 4  # nothing asked twice


def test_alt_text_someone_wrote_is_never_replaced(rt, emu, batch_without_alt_texts):
    first = _assets(rt, batch_without_alt_texts)[0][0]
    assert first.id is not None
    jobs.set_alt_text(rt.db, asset_id=first.id, text="Our bestselling mug, hand glazed")

    written, _ = alt_texts.fill_pending(rt)

    assert written == 3 and _alt_calls(emu) == 3  # the edited one was not even asked about
    assert _assets(rt, batch_without_alt_texts)[0][0].alt_text == "Our bestselling mug, hand glazed"


def test_a_text_model_that_keeps_failing_leaves_the_template_after_a_few_tries(rt, emu, batch_without_alt_texts):
    emu.rules = [(ALT_PROMPT, "429")]
    rounds = [alt_texts.fill_pending(rt) for _ in range(alt_texts.ALT_TEXT_TRIES + 1)]

    assert rounds == [(0, 4)] * alt_texts.ALT_TEXT_TRIES + [(0, 0)]
    assert _alt_calls(emu) == 4 * alt_texts.ALT_TEXT_TRIES
    assert all(a.alt_text == _template(i) for a, i in _assets(rt, batch_without_alt_texts))
    assert alt_texts.pending_count(rt) == 0


def test_a_round_stops_when_the_rate_limit_says_so(rt, emu, batch_without_alt_texts):
    tokens = iter([True, True])  # two calls allowed, then the worker is stopping

    written, failed = alt_texts.fill_pending(rt, acquire=lambda: next(tokens, False))

    assert (written, failed) == (2, 0) and alt_texts.pending_count(rt) == 2


def test_the_worker_writes_alt_texts_that_failed_online_once_the_text_model_answers(rt, emu, monkeypatch):
    emu.rules = [(ALT_PROMPT, "503")]  # images come back, their alt texts do not
    job_id = _job(rt, 3, "online")
    # An idle poll may look for pending alt texts at once (however long the run takes, as on a loaded machine);
    # a run to idle still leaves them to a running worker.
    monkeypatch.setattr(runner, "ALT_TEXT_CHECK_SECONDS", 0.0)
    Worker(rt).run(until_idle=True)
    rows = _assets(rt, job_id)
    assert {i.status for _, i in rows} == {ItemStatus.SUCCEEDED}
    assert all(a.alt_text == _template(i) and a.alt_tries_left == alt_texts.ALT_TEXT_TRIES for a, i in rows)

    emu.rules = []
    embedded = start_embedded(rt)  # the app's worker, idle: no items left
    try:
        deadline, tick = time.monotonic() + 30, threading.Event()
        while alt_texts.pending_count(rt) and time.monotonic() < deadline:  # waits for a condition, at most 30 s
            tick.wait(0.05)
    finally:
        embedded.stop()

    assert [a.alt_text for a, _ in _assets(rt, job_id)] == [_model_text(i) for _, i in rows]
