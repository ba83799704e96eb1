"""A byte-bounded, thread-safe LRU cache that computes each key once even when many threads ask at the same time
("single flight").

The worker runs a product's variants in parallel: with a plain `lru_cache` every one of them misses before the
first has filled the slot, and they all cut the same photo out. Here the first caller computes, the others wait
for its result. Bounded in bytes, not entries, because a 2048 px background weighs four times a 1024 px one.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Generic, TypeVar

V = TypeVar("V")


@dataclass
class CacheStats:
    hits: int = 0
    misses: int = 0  # computed here
    waits: int = 0  # found another thread computing it and took its result
    evictions: int = 0

    def as_dict(self) -> dict[str, int]:
        return {"hits": self.hits, "misses": self.misses, "waits": self.waits, "evictions": self.evictions}


class SingleFlightCache(Generic[V]):
    def __init__(self, budget_bytes: int, size_of: Callable[[V], int]) -> None:
        self.budget = budget_bytes
        self.size_of = size_of
        self.used = 0
        self.stats = CacheStats()
        self._data: OrderedDict[Hashable, tuple[V, int]] = OrderedDict()
        self._flights: dict[Hashable, threading.Event] = {}
        self._lock = threading.Lock()

    def get(self, key: Hashable, compute: Callable[[], V]) -> V:
        waited = False
        while True:
            with self._lock:
                found = self._data.get(key)
                if found is not None:
                    self._data.move_to_end(key)
                    if waited:
                        self.stats.waits += 1
                    else:
                        self.stats.hits += 1
                    return found[0]
                flight = self._flights.get(key)
                if flight is None:
                    flight = self._flights[key] = threading.Event()
                    owner = True
                    self.stats.misses += 1
                else:
                    owner = False
            if not owner:
                # The owner may fail (bad photo): then this caller tries itself and raises the same error.
                flight.wait()
                waited = True
                continue
            try:
                value = compute()
                self._put(key, value)
                return value
            finally:
                with self._lock:
                    self._flights.pop(key, None)
                flight.set()

    def _put(self, key: Hashable, value: V) -> None:
        size = self.size_of(value)
        with self._lock:
            if size > self.budget:
                return  # larger than the whole cache: used once, not kept
            self._data[key] = (value, size)
            self.used += size
            while self.used > self.budget and self._data:
                _, (_, old) = self._data.popitem(last=False)
                self.used -= old
                self.stats.evictions += 1

    def __len__(self) -> int:
        return len(self._data)

    def clear(self) -> None:
        with self._lock:
            self._data.clear()
            self.used = 0
            self.stats = CacheStats()
