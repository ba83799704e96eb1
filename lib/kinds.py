"""The kinds of things ImageGecko connects to: product sources, publish targets and image providers.

A Kind is a StrEnum, so it is stored in and compared with the plain strings the database holds
(`Job.source_kind`, `Job.provider`, `Connection.kind`). What each kind can do lives with its connector class
(lib/connectors/registry.py); this module only names them, so every layer can import it.
"""

from __future__ import annotations

from enum import StrEnum

from lib.errors import InputError


class Kind(StrEnum):
    DEMO = "demo"
    UPLOAD = "upload"
    WOOCOMMERCE = "woocommerce"
    SHOPIFY = "shopify"
    DRIVE = "drive"
    GEMINI = "gemini"
    STUDIO = "studio"

    @property
    def label(self) -> str:
        """How the screens name it."""
        return _LABELS[self]

    @property
    def saved(self) -> bool:
        """True when it needs a saved Connection (credentials in the vault) before it can be opened."""
        return self in SAVED

    @classmethod
    def parse(cls, value: str, what: str = "kind") -> Kind:
        """The Kind for a stored or typed string; an InputError that names `what` for anything else."""
        try:
            return cls(value)
        except ValueError:
            raise InputError(f"Unknown {what} {value!r}.") from None


_LABELS = {
    Kind.DEMO: "Demo store",
    Kind.UPLOAD: "Uploads",
    Kind.WOOCOMMERCE: "WooCommerce",
    Kind.SHOPIFY: "Shopify",
    Kind.DRIVE: "Google Drive",
    Kind.GEMINI: "Google Gemini",
    Kind.STUDIO: "Studio engine (offline)",
}
SAVED = frozenset({Kind.WOOCOMMERCE, Kind.SHOPIFY, Kind.DRIVE, Kind.GEMINI})
SOURCES = (Kind.DEMO, Kind.WOOCOMMERCE, Kind.SHOPIFY, Kind.DRIVE, Kind.UPLOAD)  # in the order the screens list them
PROVIDERS = (Kind.STUDIO, Kind.GEMINI)
