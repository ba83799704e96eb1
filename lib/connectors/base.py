"""The contract every connector keeps, whatever it connects to.

- `save(runtime, form=..., connection_id=...)` stores the credentials a person typed (encrypted, lib/vault.py)
  and returns the Connection; kinds that need no setup refuse with a sentence.
- `check(runtime, connection)` tests a saved connection (or the built-in thing) and returns a list of Checks;
  a failure is a Check with ok=False, never an exception, and the outcome is remembered on the Connection.
  `check_form(runtime, form)` runs the same checks on credentials not saved yet.
- `open_source` / `open_target` (sources, stores) or `open_provider` (image providers) build the object the rest of
  the code works with, from a saved Connection (None for kinds that need none).

Secrets stay inside the connector: pages hand in what was typed and get back Checks and Connections, never a
decrypted secret.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import TYPE_CHECKING, ClassVar, Generic, TypeVar

from lib.checks import Check
from lib.errors import AppError, InputError
from lib.kinds import Kind

if TYPE_CHECKING:
    from lib.generation.base import ImageProvider
    from lib.models import Connection
    from lib.runtime import Runtime
    from lib.sources.base import ProductSource, PublishTarget

F = TypeVar("F")  # the form a person fills in to connect (a frozen dataclass; None when there is nothing to fill)


class Connector(ABC, Generic[F]):
    kind: ClassVar[Kind]

    def save(self, runtime: Runtime, *, form: F, connection_id: int | None = None) -> Connection:
        raise InputError(f"{self.kind.label} needs no setup.")

    def check_form(self, runtime: Runtime, form: F) -> list[Check]:
        raise InputError(f"{self.kind.label} needs no setup.")

    @abstractmethod
    def check(self, runtime: Runtime, connection: Connection | None) -> list[Check]: ...


class SourceConnector(Connector[F]):
    """Where products come from; `publishes` when approved images can go back there."""

    publishes: ClassVar[bool] = False

    @abstractmethod
    def open_source(self, runtime: Runtime, connection: Connection | None) -> ProductSource: ...

    def open_target(self, runtime: Runtime, connection: Connection | None) -> PublishTarget:
        raise InputError(f"Images from {self.kind.label} cannot be published to a store.")


class ProviderConnector(Connector[F]):
    """What makes the images."""

    @abstractmethod
    def open_provider(self, runtime: Runtime) -> ImageProvider: ...


def failed(label: str, exc: AppError) -> list[Check]:
    """A check that raised a typed error, as a failed Check carrying its sentence."""
    return [Check(label, False, exc.message)]
