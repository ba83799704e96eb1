"""The image providers: the offline studio engine and Google Gemini."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

from lib.checks import Check
from lib.connections import mark_verified, read_secret, save_connection
from lib.connectors.base import ProviderConnector, failed
from lib.errors import AppError, InputError
from lib.generation import gemini, studio
from lib.kinds import Kind

if TYPE_CHECKING:
    from lib.generation.base import ImageProvider
    from lib.models import Connection
    from lib.runtime import Runtime


class StudioConnector(ProviderConnector[None]):
    kind: ClassVar[Kind] = Kind.STUDIO

    def check(self, runtime: Runtime, connection: Connection | None) -> list[Check]:
        try:
            studio.preset_preview("marble_counter", 128)
        except AppError as exc:
            return failed("Studio engine renders", exc)
        return [Check("Studio engine renders", True, "The studio engine works on this machine.")]

    def open_provider(self, runtime: Runtime) -> ImageProvider:
        return studio.open_provider(runtime)


@dataclass(frozen=True)
class GeminiForm:
    api_key: str
    name: str = "Gemini"


class GeminiConnector(ProviderConnector[GeminiForm]):
    kind: ClassVar[Kind] = Kind.GEMINI
    LABEL = "Google accepts the key"

    def save(self, runtime: Runtime, *, form: GeminiForm, connection_id: int | None = None) -> Connection:
        key = form.api_key.strip()
        if not key:
            raise InputError("Paste the Gemini API key first.")
        conn = save_connection(
            runtime.db,
            runtime.vault,
            kind=self.kind,
            name=form.name or "Gemini",
            secret={"api_key": key},
            connection_id=connection_id,
        )
        runtime.forget_provider(self.kind)  # the next job uses the new key
        return conn

    def _test(self, runtime: Runtime, api_key: str) -> list[Check]:
        try:
            # through the module attribute, so a test can stand in for Google
            gemini.test_key(runtime.settings, api_key, base_url=runtime.settings.gemini_base_url, db=runtime.db)
        except AppError as exc:
            return failed(self.LABEL, exc)
        return [Check(self.LABEL, True, "Google accepted the key.")]

    def check_form(self, runtime: Runtime, form: GeminiForm) -> list[Check]:
        return self._test(runtime, form.api_key.strip())

    def check(self, runtime: Runtime, connection: Connection | None) -> list[Check]:
        if connection is None:
            value = runtime.settings.gemini_api_key
            if value is None:
                raise InputError("No Gemini key is set up. Add one on the Connect page.")
            return self._test(runtime, value.get_secret_value())
        try:
            key = str(read_secret(runtime.vault, connection).get("api_key", ""))
        except AppError as exc:
            checks = failed(self.LABEL, exc)
        else:
            checks = self._test(runtime, key)
        if connection.id is not None:
            mark_verified(runtime.db, connection.id, None if checks[0].ok else checks[0].detail)
        return checks

    def open_provider(self, runtime: Runtime) -> ImageProvider:
        return gemini.open_provider(runtime)
