"""The Connect screen: saved stores, Drive folders and AI keys as cards, their tests, saving new ones, and the Drive
folder picker. Secrets stay here: a card carries the masked form of a key (its last characters), never the key."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from lib import actions, connections
from lib.auth import users
from lib.auth.roles import Actor, Permission, Role
from lib.auth.tables import User
from lib.checks import Check, first_failure, summary
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


@dataclass(frozen=True)
class SaveAttempt:
    """Saving a store typed in: saved (`card`), or not, because its test failed and nobody said "save anyway"."""

    card: ConnectionCard | None
    checks: list[Check]

    @property
    def problem(self) -> str:
        """What failed, in a sentence ("" when every check passed)."""
        failed = first_failure(self.checks)
        return "" if failed is None else " ".join(x for x in (f"{failed.label}: {failed.detail}", failed.advice) if x)


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

    def activate(self, *, actor: Actor, connection_id: int) -> None:
        actions.activate_connection(self.runtime, actor=actor, connection_id=connection_id)

    def remove(self, *, actor: Actor, connection_id: int) -> None:
        """The next job does not use a removed key (lib.actions forgets the provider)."""
        actions.remove_connection(self.runtime, actor=actor, connection_id=connection_id)

    @staticmethod
    def may_change(actor: Actor, kind: Kind) -> bool:
        """Whether this person may save, test, activate or remove connections of this kind (AI keys: admins)."""
        return actor.can(Permission.KEYS if kind in registry.PROVIDERS else Permission.CONNECTIONS)

    # Tests and saving, through each kind's connector

    def check(self, kind: Kind, connection_id: int | None = None, *, actor: Actor) -> list[Check]:
        """Test a saved connection (or, for the demo store and the studio engine, the built-in one)."""
        conn = connections.get_connection(self.runtime.db, connection_id) if connection_id is not None else None
        if conn is None and not Kind(kind).saved:  # the built-in demo store or studio engine: nothing to guard
            return registry.connector(kind).check(self.runtime, None)
        return actions.check_connection(
            self.runtime,
            actor=actor,
            kind=kind,
            connection_id=connection_id,
            check=lambda: registry.connector(kind).check(self.runtime, conn),
        )

    def check_form(self, kind: Kind, form: Any, *, actor: Actor) -> list[Check]:
        """Test credentials typed in but not saved yet."""
        return actions.check_connection(
            self.runtime,
            actor=actor,
            kind=kind,
            connection_id=None,
            check=lambda: registry.connector(kind).check_form(self.runtime, form),
        )

    def save(self, kind: Kind, *, actor: Actor, form: Any, connection_id: int | None = None) -> ConnectionCard:
        conn = actions.save_connection(
            self.runtime,
            actor=actor,
            kind=kind,
            connection_id=connection_id,
            save=lambda: registry.connector(kind).save(self.runtime, form=form, connection_id=connection_id),
        )
        return self._card(conn)

    def save_store(
        self, kind: Kind, *, actor: Actor, form: Any, checks: list[Check] | None = None, anyway: bool = False
    ) -> SaveAttempt:
        """Test a store typed in, then save it. When a check fails nothing is saved unless `anyway` (the page asked
        "Save anyway?" first). `checks`: the test just run on this same form, so the store is not asked twice. The
        saved connection remembers the test's outcome (its card says "working" or "problem")."""
        if checks is None:
            checks = self.check_form(kind, form, actor=actor)
        if first_failure(checks) is not None and not anyway:
            return SaveAttempt(None, checks)
        card = self.save(kind, actor=actor, form=form)
        connections.mark_verified(self.runtime.db, card.id, summary(checks))
        return SaveAttempt(self._card(connections.get_connection(self.runtime.db, card.id)), checks)

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

    def choose_folder(self, *, actor: Actor, connection_id: int, folder_id: str, shared_drive_id: str | None) -> None:
        connector = registry.SOURCES[Kind.DRIVE]
        assert isinstance(connector, DriveConnector)
        actions.change_connection(
            self.runtime,
            actor=actor,
            connection_id=connection_id,
            what=f"folder {folder_id} chosen",
            change=lambda: connector.choose_folder(
                self.runtime, connection_id=connection_id, folder_id=folder_id, shared_drive_id=shared_drive_id
            ),
        )

    # People (admins): registered users, their roles and passwords (lib.auth.users checks the role itself)

    ROLES = tuple(r.value for r in Role)

    @staticmethod
    def may_manage_people(actor: Actor) -> bool:
        return actor.can(Permission.USERS)

    def people(self) -> list[User]:
        return users.list_users(self.runtime.db)

    def add_person(self, *, actor: Actor, name: str, role: str, email: str | None, password: str | None) -> None:
        users.add_user(self.runtime.db, actor=actor, name=name, role=role, email=email, password=password)

    def set_role(self, *, actor: Actor, name: str, role: str) -> None:
        users.set_role(self.runtime.db, actor=actor, name=name, role=role)

    def set_password(self, *, actor: Actor, name: str, password: str) -> None:
        users.set_password(self.runtime.db, actor=actor, name=name, password=password)

    def remove_person(self, *, actor: Actor, name: str) -> None:
        users.remove_user(self.runtime.db, actor=actor, name=name)
