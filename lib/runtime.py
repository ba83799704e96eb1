"""The objects a process needs, built once from Settings: job log, blob store, vault, and factories for
sources, publish targets and providers. The app caches one Runtime per process; the CLI and workers
build their own."""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from lib.config import Settings
from lib.connections import active_connection, get_connection
from lib.db import Database, open_database
from lib.errors import InputError
from lib.generation.base import ImageProvider
from lib.s3_store import S3BlobStore
from lib.sources.base import ProductSource, PublishTarget
from lib.storage import BlobStore, LocalBlobStore
from lib.vault import Vault

# kind -> module exposing open_source(runtime, connection) / open_target(runtime, connection)
SOURCE_MODULES = {
    "demo": "lib.sources.demo",
    "upload": "lib.sources.upload",
    "woocommerce": "lib.sources.woocommerce",
    "drive": "lib.sources.drive",
}
# name -> module exposing open_provider(runtime)
PROVIDER_MODULES = {
    "studio": "lib.generation.studio",
    "gemini": "lib.generation.gemini",
}


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

    def _connection(self, kind: str, connection_id: int | None) -> Any:
        if kind in ("demo", "upload"):
            return None
        conn = get_connection(self.db, connection_id) if connection_id else active_connection(self.db, kind)
        if conn is None:
            raise InputError(f"No {kind} connection is set up. Add one on the Connect page.")
        return conn

    def source(self, kind: str, connection_id: int | None = None) -> ProductSource:
        module = SOURCE_MODULES.get(kind)
        if module is None:
            raise InputError(f"Unknown product source {kind!r}.")
        mod = importlib.import_module(module)
        return mod.open_source(self, self._connection(kind, connection_id))  # type: ignore[no-any-return]

    def publish_target(self, kind: str, connection_id: int | None = None) -> PublishTarget:
        module = SOURCE_MODULES.get(kind)
        mod = importlib.import_module(module) if module else None
        if mod is None or not hasattr(mod, "open_target"):
            raise InputError(f"Images from {kind!r} cannot be published to a store.")
        return mod.open_target(self, self._connection(kind, connection_id))  # type: ignore[no-any-return]

    def provider(self, name: str) -> ImageProvider:
        if name not in self._providers:
            module = PROVIDER_MODULES.get(name)
            if module is None:
                raise InputError(f"Unknown image provider {name!r}.")
            self._providers[name] = importlib.import_module(module).open_provider(self)
        return self._providers[name]

    def set_provider(self, name: str, provider: ImageProvider) -> None:
        """Install a provider instance (tests, benchmarks, or after a key change)."""
        self._providers[name] = provider

    def forget_provider(self, name: str) -> None:
        self._providers.pop(name, None)


def open_blob_store(settings: Settings) -> BlobStore:
    """The bucket when BLOB_STORE_URL names one, else the data directory's own folder."""
    if settings.blob_store_url:
        return S3BlobStore.from_settings(settings)
    return LocalBlobStore(settings.blob_dir)
