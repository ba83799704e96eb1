"""Every error the product raises on purpose, each with a sentence a merchant can act on.

AppError                      .message is shown to the user as is; .retryable drives the worker
├── ConfigError               settings or secrets are missing or malformed
├── VaultError                a stored credential cannot be decrypted (key lost or changed)
├── ImageError                an input image is refused (permanent)
│   ├── ImageUnreadable       not an image, truncated, or an unsupported format
│   ├── ImageTooLarge         over the byte or pixel limit (decompression bombs land here)
│   └── ImageTooSmall         under the minimum side length
├── StorageError              the blob store cannot read or write
│   └── StorageUnavailable    its disk full, read-only or missing: retryable
├── DatabaseUnavailable       the job log cannot take writes (disk full, read-only, missing): retryable
├── SourceError               a product source (store, Drive, upload, demo) failed
│   ├── SourceAuthError       credentials rejected (401/403)
│   ├── SourceNotFound        product, file or folder does not exist (404)
│   ├── NotAStoreError        the URL answers but is not a WooCommerce store
│   ├── OutboundRefused       an address the outbound policy (lib/outbound.py) does not let the server open
│   └── SourceUnavailable     timeout, 429, 5xx: retryable
├── ProviderError             an image provider failed
│   ├── ProviderRetryable     overloaded / transient; .retry_after seconds if the server said
│   │   └── ProviderQuota     rate limit or quota (429); .retry_after
│   ├── ProviderAuthError     key missing, invalid or not allowed: the job pauses
│   └── ProviderPermanent     the request itself is refused: bad input, safety block, no image
│       └── SafetyBlocked     the prompt or the image was refused by the provider's safety filter
├── PublishError              writing to a store failed
│   ├── PublishConflict       the product's images changed since we published: ask before overwriting
│   ├── PublishVerifyError    the store did not end up with the image list we set
│   └── DriveQuotaError       a service account cannot create files in a personal My Drive (no storage quota)
├── JobError                  a job or item action that does not apply (not found, wrong state)
└── InputError                a form or CLI value is invalid; nothing was changed
"""

from __future__ import annotations


class AppError(Exception):
    """Something went wrong."""

    retryable: bool = False

    def __init__(self, message: str | None = None, *, detail: str | None = None) -> None:
        self.message = message or (self.__class__.__doc__ or "Something went wrong.").strip()
        # `detail` is for logs and the job log page, never secrets.
        self.detail = detail
        super().__init__(self.message)

    @property
    def kind(self) -> str:
        return self.__class__.__name__


class ConfigError(AppError):
    """The settings are incomplete or invalid."""


class VaultError(AppError):
    """A saved credential could not be decrypted. Re-enter it on the Connect page."""


class ImageError(AppError):
    """This image cannot be used."""


class ImageUnreadable(ImageError):
    """This file is not an image we can read (it may be damaged or in an unsupported format)."""


class ImageTooLarge(ImageError):
    """This image is too large to process safely."""


class ImageTooSmall(ImageError):
    """This image is too small to make a good lifestyle shot."""


class StorageError(AppError):
    """The image store on disk could not be read or written."""


class StorageUnavailable(StorageError):
    """The image store's disk is full, read-only or missing; the work waits and tries again."""

    retryable = True


class DatabaseUnavailable(AppError):
    """The job log's database cannot take writes (its disk full, read-only or missing); the work waits and tries
    again."""

    retryable = True


class SourceError(AppError):
    """The product source could not be read."""


class SourceAuthError(SourceError):
    """The store or Drive refused our credentials. Check the key and its permissions on the Connect page."""


class SourceNotFound(SourceError):
    """That product or file no longer exists at the source."""


class NotAStoreError(SourceError):
    """That address answers, but it is not a WooCommerce store (no /wp-json/wc/v3 API)."""


class OutboundRefused(SourceError):
    """That address is not one the server may open (another host, a private network or a metadata service)."""


class SourceUnavailable(SourceError):
    """The source did not answer in time or is overloaded; try again in a moment."""

    retryable = True

    def __init__(self, message: str | None = None, *, retry_after: float | None = None, **kw: str) -> None:
        super().__init__(message, **kw)
        self.retry_after = retry_after


class ProviderError(AppError):
    """The image provider failed."""


class ProviderRetryable(ProviderError):
    """The image provider is busy. We will try again shortly."""

    retryable = True

    def __init__(self, message: str | None = None, *, retry_after: float | None = None, **kw: str) -> None:
        super().__init__(message, **kw)
        self.retry_after = retry_after


class ProviderQuota(ProviderRetryable):
    """The provider's rate limit or quota was reached. We will wait and try again."""


class ProviderAuthError(ProviderError):
    """The AI provider refused the API key. Check it on the Connect page; the job is paused until then."""


class ProviderPermanent(ProviderError):
    """The provider refused this request."""


class SafetyBlocked(ProviderPermanent):
    """The provider's safety filter refused this image or prompt. Try another style or prompt."""


class PublishError(AppError):
    """Publishing to the store failed."""


class PublishConflict(PublishError):
    """The product's images were changed by someone else since we published. Confirm to overwrite them."""


class PublishVerifyError(PublishError):
    """The store did not keep the image list we sent. Nothing was lost; check the product in the store."""

    retryable = True


class DriveQuotaError(PublishError):
    """A service account cannot create files in a personal My Drive (no storage quota)."""

    def __init__(self, message: str | None = None, **kw: str) -> None:
        super().__init__(
            message
            or (
                "A service account cannot create files in a personal My Drive (it has no storage quota). Export to a "
                "folder in a shared drive, or connect Drive with user credentials (authorized-user JSON) instead."
            ),
            **kw,
        )


class JobError(AppError):
    """That action does not apply to this job."""


class InputError(AppError):
    """That value is not valid. Nothing was changed."""
