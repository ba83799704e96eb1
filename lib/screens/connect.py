"""The Connect screen: saved stores, Drive folders and AI keys as cards, their tests, saving new ones, and the Drive
folder picker. Secrets stay here: a card carries the masked form of a key (its last characters), never the key."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from lib import connections
from lib.checks import Check
from lib.connectors import registry
from lib.connectors.providers import GeminiForm
from lib.connectors.shopify import ShopifyForm
from lib.connectors.sources import DriveConnector, DriveForm, WooForm
from lib.errors import AppError
from lib.kinds import Kind
from lib.models import Connection
from lib.screens.generate import provider_choices
from lib.sources import drive
from lib.sources.drive_connect import Folder, credentials_hint
from lib.vault import mask

if TYPE_CHECKING:
    from lib.runtime import Runtime


@dataclass(frozen=True)
class ConnectionCard:
    """What the page shows of a saved connection."""

    id: int
    kind: Kind
    name: str
    base_url: str
    active: bool
    verified_at: datetime | None
    last_error: str | None
    key_hint: str  # the masked key ("••••••••wxyz"), or why the key cannot be read
    wp_user: str = ""
    account: str = ""  # the service account's e-mail a Drive folder must be shared with
    root_folder_id: str = ""
    one_per_folder: bool = True  # Drive: one product per folder (else one per photo)
    user_credentials: bool = False  # Drive: signs in as a person, not a service account

    @property
    def status(self) -> str:
        if self.verified_at is None:
            return "not tested"
        return "problem" if self.last_error else "working"


class ConnectScreen:
    SHARED_WITH_ME = drive.SHARED_WITH_ME
    DRIVE_MODES = drive.MODES
    WooForm = WooForm
    ShopifyForm = ShopifyForm
    DriveForm = DriveForm
    GeminiForm = GeminiForm

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime

    # Saved connections

    def cards(self, kind: Kind) -> list[ConnectionCard]:
        return [self._card(conn) for conn in connections.list_connections(self.runtime.db, kind)]

    def _card(self, conn: Connection) -> ConnectionCard:
        assert conn.id is not None
        settings: dict[str, Any] = dict(conn.settings or {})
        secret_field = {Kind.WOOCOMMERCE: "consumer_key", Kind.GEMINI: "api_key", Kind.SHOPIFY: "access_token"}.get(
            Kind(conn.kind)
        )
        if Kind(conn.kind) == Kind.SHOPIFY and settings.get("client_id"):
            secret_field = None  # a client id is no secret: the card names it; the secret stays hidden
            key_hint_override = f"App client id {settings['client_id']} (client-credentials tokens, renewed daily)"
        else:
            key_hint_override = ""
        key_hint, wp_user = "", str(settings.get("wp_user") or "")
        if secret_field is not None:
            try:
                secret = connections.read_secret(self.runtime.vault, conn)
            except AppError as exc:
                key_hint = exc.message
            else:
                key_hint = mask(str(secret.get(secret_field, "")))
                wp_user = wp_user or str(secret.get("wp_user") or "")
        return ConnectionCard(
            id=conn.id,
            kind=Kind(conn.kind),
            name=conn.name,
            base_url=conn.base_url or "",
            active=conn.is_active,
            verified_at=conn.verified_at,
            last_error=conn.last_error,
            key_hint=key_hint_override
            or (f"Admin API token {key_hint}" if Kind(conn.kind) == Kind.SHOPIFY else key_hint),
            wp_user=wp_user,
            account=str(settings.get("account") or ""),
            root_folder_id=str(settings.get("root_folder_id") or ""),
            one_per_folder=settings.get("mode", "folders") == "folders",
            user_credentials=settings.get("auth") == "authorized_user",
        )

    @property
    def env_key_hint(self) -> str | None:
        """The masked Gemini key set in the app's settings, if one is."""
        value = self.runtime.settings.gemini_api_key
        return None if value is None else mask(value.get_secret_value())

    def activate(self, *, connection_id: int) -> None:
        connections.activate(self.runtime.db, connection_id)

    def remove(self, *, connection_id: int) -> None:
        conn = connections.get_connection(self.runtime.db, connection_id)
        connections.delete_connection(self.runtime.db, connection_id)
        if Kind(conn.kind) in registry.PROVIDERS:
            self.runtime.forget_provider(conn.kind)  # the next job does not use the removed key

    # Tests and saving, through each kind's connector

    def check(self, kind: Kind, connection_id: int | None = None) -> list[Check]:
        """Test a saved connection (or, for the demo store and the studio engine, the built-in one)."""
        conn = connections.get_connection(self.runtime.db, connection_id) if connection_id is not None else None
        return registry.connector(kind).check(self.runtime, conn)

    def check_form(self, kind: Kind, form: Any) -> list[Check]:
        """Test credentials typed in but not saved yet."""
        return registry.connector(kind).check_form(self.runtime, form)

    def save(self, kind: Kind, *, form: Any, connection_id: int | None = None) -> ConnectionCard:
        return self._card(registry.connector(kind).save(self.runtime, form=form, connection_id=connection_id))

    def provider_note(self, kind: Kind) -> str:
        return next(p.note for p in provider_choices(self.runtime) if p.name == kind)

    # Drive folder picker (each call is a request to Drive)

    def _drive(self, connection_id: int) -> Connection:
        return connections.get_connection(self.runtime.db, connection_id)

    @staticmethod
    def credentials_hint(credentials_json: str) -> str:
        return credentials_hint(credentials_json)

    def folders(self, *, connection_id: int, parent_id: str) -> list[Folder]:
        return drive.list_folders(self.runtime, self._drive(connection_id), parent_id)

    def breadcrumbs(self, *, connection_id: int, folder_id: str) -> list[Folder]:
        if folder_id == self.SHARED_WITH_ME:
            return []
        return drive.breadcrumbs(self.runtime, self._drive(connection_id), folder_id)

    def choose_folder(self, *, connection_id: int, folder_id: str, shared_drive_id: str | None) -> None:
        connector = registry.SOURCES[Kind.DRIVE]
        assert isinstance(connector, DriveConnector)
        connector.choose_folder(
            self.runtime, connection_id=connection_id, folder_id=folder_id, shared_drive_id=shared_drive_id
        )
