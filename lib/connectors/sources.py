"""The product sources and stores: demo store, uploads, WooCommerce, Google Drive."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

from lib.checks import Check
from lib.connections import get_connection, read_secret
from lib.connectors.base import SourceConnector, failed
from lib.errors import AppError, InputError
from lib.kinds import Kind
from lib.sources import demo, drive, upload, wc_check, woocommerce
from lib.sources.base import ProductQuery

if TYPE_CHECKING:
    from lib.models import Connection
    from lib.runtime import Runtime
    from lib.sources.base import ProductSource, PublishTarget


class DemoConnector(SourceConnector[None]):
    """The built-in sample catalogue; a store too (publishing and rollback work offline)."""

    kind: ClassVar[Kind] = Kind.DEMO
    publishes: ClassVar[bool] = True

    def check(self, runtime: Runtime, connection: Connection | None) -> list[Check]:
        try:
            total = demo.open_source(runtime).list_products(ProductQuery(per_page=1)).total
        except AppError as exc:
            return failed("Demo store answers", exc)
        return [Check("Demo store answers", True, f"The demo store answers: {total:,} products.")]

    def open_source(self, runtime: Runtime, connection: Connection | None) -> ProductSource:
        return demo.open_source(runtime)

    def open_target(self, runtime: Runtime, connection: Connection | None) -> PublishTarget:
        return demo.open_target(runtime)


class UploadConnector(SourceConnector[None]):
    """Photos dropped on the Products page, kept in this app's blob store."""

    kind: ClassVar[Kind] = Kind.UPLOAD

    def check(self, runtime: Runtime, connection: Connection | None) -> list[Check]:
        total = upload.open_source(runtime).list_products(ProductQuery(per_page=1)).total
        return [Check("Uploads", True, f"{total:,} uploaded products on this machine.")]

    def open_source(self, runtime: Runtime, connection: Connection | None) -> ProductSource:
        return upload.open_source(runtime)


@dataclass(frozen=True)
class WooForm:
    base_url: str
    consumer_key: str
    consumer_secret: str
    wp_user: str = ""
    app_password: str = ""
    name: str = ""


class WooConnector(SourceConnector[WooForm]):
    kind: ClassVar[Kind] = Kind.WOOCOMMERCE
    publishes: ClassVar[bool] = True

    def save(self, runtime: Runtime, *, form: WooForm, connection_id: int | None = None) -> Connection:
        if connection_id is not None:
            raise InputError("A saved store is changed by removing it and adding it again.")
        return wc_check.save_woocommerce(
            runtime,
            name=form.name,
            base_url=form.base_url,
            consumer_key=form.consumer_key,
            consumer_secret=form.consumer_secret,
            wp_user=form.wp_user,
            app_password=form.app_password,
        )

    def check_form(self, runtime: Runtime, form: WooForm) -> list[Check]:
        return wc_check.check_connection(
            form.base_url,
            form.consumer_key,
            form.consumer_secret,
            form.wp_user,
            form.app_password,
            timeout=runtime.settings.http_timeout_seconds,
            private_hosts=runtime.settings.private_store_hosts,  # an address the admin allowed, though private
        )

    def check(self, runtime: Runtime, connection: Connection | None) -> list[Check]:
        if connection is None:
            raise InputError("No WooCommerce store is connected. Add one on the Connect page.")
        return wc_check.test_connection(runtime, connection)

    def open_source(self, runtime: Runtime, connection: Connection | None) -> ProductSource:
        return woocommerce.open_source(runtime, connection)

    def open_target(self, runtime: Runtime, connection: Connection | None) -> PublishTarget:
        return woocommerce.open_target(runtime, connection)


@dataclass(frozen=True)
class DriveForm:
    credentials_json: str
    root_folder_id: str = ""
    mode: str = "folders"
    name: str = ""
    shared_drive_id: str | None = None


class DriveConnector(SourceConnector[DriveForm]):
    kind: ClassVar[Kind] = Kind.DRIVE

    def save(self, runtime: Runtime, *, form: DriveForm, connection_id: int | None = None) -> Connection:
        return drive.save_drive(
            runtime,
            credentials_json=form.credentials_json,
            root_folder_id=form.root_folder_id,
            mode=form.mode,
            name=form.name or None,
            shared_drive_id=form.shared_drive_id,
            connection_id=connection_id,
        )

    def check_form(self, runtime: Runtime, form: DriveForm) -> list[Check]:
        raise InputError("Save the Drive connection to test it: the test lists the chosen folder.")

    def check(self, runtime: Runtime, connection: Connection | None) -> list[Check]:
        if connection is None:
            raise InputError("No Google Drive connection is set up. Add one on the Connect page.")
        try:
            sentence = drive.test_connection(runtime, connection)
        except AppError as exc:
            return failed("Drive folder readable", exc)
        return [Check("Drive folder readable", True, sentence)]

    def choose_folder(
        self, runtime: Runtime, *, connection_id: int, folder_id: str, shared_drive_id: str | None
    ) -> Connection:
        """Point a saved Drive connection at another folder, keeping its saved credentials."""
        conn = get_connection(runtime.db, connection_id)
        secret = read_secret(runtime.vault, conn)
        return drive.save_drive(
            runtime,
            credentials_json=str(secret.get("credentials_json") or ""),
            root_folder_id=folder_id,
            mode=conn.settings.get("mode") or "folders",
            name=conn.name,
            shared_drive_id=shared_drive_id,
            connection_id=connection_id,
        )

    def open_source(self, runtime: Runtime, connection: Connection | None) -> ProductSource:
        return drive.open_source(runtime, connection)
