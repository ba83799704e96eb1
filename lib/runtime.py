"""The objects a process needs, built once from Settings: job log, blob store, vault, and factories for
sources, publish targets and providers (each opened by its connector, lib/connectors/registry.py). The app caches
one Runtime per process; the CLI and workers build their own."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

from lib.config import Settings
from lib.connections import active_connection, get_connection
from lib.connectors import registry
from lib.db import Database, open_database
from lib.errors import InputError
from lib.generation.base import ImageProvider
from lib.kinds import Kind
from lib.models import Connection
from lib.sources.base import ProductSource, PublishTarget
from lib.storage import BlobStore, LocalBlobStore
from lib.vault import Vault

# Old names some callers still check kinds against (`kind in SOURCE_MODULES`): the connector registries, by Kind.
SOURCE_MODULES = registry.SOURCES
PROVIDER_MODULES = registry.PROVIDERS


@dataclass
class Runtime:
    settings: Settings
    db: Database
    blobs: BlobStore
    vault: Vault
    _providers: dict[str, ImageProvider] = field(default_factory=dict)

    @classmethod
    def build(cls, settings: Settings | None = None) -> Runtime:
        settings = settings or Settings.load()
        settings.ensure_dirs()
        return cls(
            settings=settings,
            db=open_database(settings.db_url),
            blobs=open_blob_store(settings),
            vault=Vault(settings.vault_key_file),
        )

    @cached_property
    def cache_scope(self) -> str:
        """Names this data directory in process-wide caches; read once (settings.db_url resolves a path)."""
        return self.settings.db_url

    def _connection(self, kind: Kind, connection_id: int | None) -> Connection | None:
        if not kind.saved:
            return None
        conn = get_connection(self.db, connection_id) if connection_id else active_connection(self.db, kind)
        if conn is None:
            raise InputError(f"No {kind.label} connection is set up. Add one on the Connect page.")
        return conn

    def source(self, kind: Kind | str, connection_id: int | None = None) -> ProductSource:
        connector = registry.source(kind)
        return connector.open_source(self, self._connection(connector.kind, connection_id))

    def publish_target(self, kind: Kind | str, connection_id: int | None = None) -> PublishTarget:
        connector = registry.source(kind)
        if not connector.publishes:
            raise InputError(f"Images from {connector.kind.label} cannot be published to a store.")
        return connector.open_target(self, self._connection(connector.kind, connection_id))

    def provider(self, name: Kind | str) -> ImageProvider:
        if name not in self._providers:
            self._providers[name] = registry.provider(name).open_provider(self)
        return self._providers[name]

    def set_provider(self, name: str, provider: ImageProvider) -> None:
        """Install a provider instance (tests, benchmarks, or after a key change)."""
        self._providers[name] = provider

    def forget_provider(self, name: str) -> None:
        self._providers.pop(name, None)


def open_blob_store(settings: Settings) -> BlobStore:
    """The bucket when BLOB_STORE_URL names one, else the data directory's own folder."""
    if settings.blob_store_url:
        # Imported here: boto3 costs 0.3-0.5 s at every start, and most installs keep images in the data folder.
        from lib.s3_store import S3BlobStore

        return S3BlobStore.from_settings(settings)
    return LocalBlobStore(settings.blob_dir)
