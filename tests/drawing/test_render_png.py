"""The demo catalogue's photos are drawn once per photo, however many products a job has and however many of its
variants ask at the same time."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator

import pytest

import lib.drawing as drawing


@pytest.fixture
def draws(monkeypatch: pytest.MonkeyPatch) -> Iterator[Counter[str]]:
    drawing.clear_caches()
    seen: Counter[str] = Counter()
    real = drawing.draw

    def counting(kind, palette=None, size=1024, *, mirror=False):  # type: ignore[no-untyped-def]
        seen[kind] += 1
        return real(kind, palette, size, mirror=mirror)

    monkeypatch.setattr(drawing, "draw", counting)
    yield seen
    drawing.clear_caches()


def test_a_catalogue_larger_than_fifty_photos_is_drawn_once_when_a_job_walks_it_twice(draws):
    kind = drawing.KINDS[0]
    key = next(iter(drawing.palette_for(kind, None)))
    photos = [((key, (i, 100, 200)),) for i in range(60)]
    first = [drawing.render_png(kind, p, 64) for p in photos]
    second = [drawing.render_png(kind, p, 64) for p in photos]
    assert first == second
    assert sum(draws.values()) == 60


def test_variants_asking_for_one_photo_at_once_draw_it_once(draws):
    kind = drawing.KINDS[1]
    results: list[bytes] = []
    start = threading.Barrier(4)

    def ask() -> None:
        start.wait()
        results.append(drawing.render_png(kind, (), 96))

    threads = [threading.Thread(target=ask) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(results)) == 1
    assert sum(draws.values()) == 1
